"""The watchdog (shared/db/watchdog.py): a connection held past its deadline has its socket shut
down, which wakes the call blocked on it; one released in time is left alone. A socket pair
stands in for a driver connection; the frozen PostgreSQL server is tests/test_outage.py's."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.db.watchdog import TICK, WATCHDOG


class SocketConnection:
    """What the watchdog needs of a driver connection: its socket's descriptor."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno()


@pytest.fixture
def link() -> Iterator[tuple[socket.socket, socket.socket]]:
    """Our end and a server's that never answers."""
    ours, server = socket.socketpair()
    yield ours, server
    ours.close()
    server.close()


@pytest.mark.database_free
def test_a_call_blocked_past_its_deadline_is_woken_by_the_watchdog(
    link: tuple[socket.socket, socket.socket],
) -> None:
    ours, _server = link
    connection = SocketConnection(ours)
    started = time.monotonic()
    WATCHDOG.watch(connection, 0.3)
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(ours.recv, 1)  # as a driver waits for a server that never answers
        assert answer.result(timeout=5) == b""  # woken: the link is shut
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 0.3 + TICK + 1.0, f"woken after {elapsed:.2f}s"
    assert ours.fileno() >= 0  # shut down, not closed: the descriptor is still its owner's
    WATCHDOG.release(connection)


@pytest.mark.database_free
def test_a_connection_released_before_its_deadline_is_left_alone(
    link: tuple[socket.socket, socket.socket],
) -> None:
    ours, server = link
    connection = SocketConnection(ours)
    WATCHDOG.watch(connection, 0.2)
    WATCHDOG.release(connection)
    time.sleep(0.2 + 3 * TICK)
    server.sendall(b"x")
    assert ours.recv(1) == b"x"
    ours.sendall(b"y")
    assert server.recv(1) == b"y"
