"""The lab's HTTP client against a real socket server: a request that may have been applied is
never sent twice, one that may be sent twice still is, on a kept-alive connection gone stale."""

from __future__ import annotations

import asyncio
import socket
import threading
from types import TracebackType

import pytest

from lab.client import Client, TransportError
from lab.runner import LabRun, Options
from lab.tally import Tally
from shared.domain.lab_setup import Lab

# How often the server's blocking calls look up to see whether the test is over.
POLL_SECONDS = 0.05
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


class Server:
    """HTTP/1.1 on a thread, one connection at a time: every request answered 200, the connection
    kept alive; but the first connection is closed by the server after `answered` answers, at once
    (`read_next` false: a kept-alive connection the server closed while idle) or once it has read
    one more request (true: a request it got and never answered)."""

    def __init__(self, answered: int, read_next: bool) -> None:
        self.answered = answered
        self.read_next = read_next
        self.received: list[tuple[str, str]] = []  # (method, path) of each request read
        self.first_closed = threading.Event()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(POLL_SECONDS)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Server:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()

    def _serve(self) -> None:
        limit: int | None = self.answered
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(POLL_SECONDS)
                self._talk(connection, limit)
            if limit is not None:
                self.first_closed.set()
            limit = None

    def _talk(self, connection: socket.socket, limit: int | None) -> None:
        buffer = b""
        answered = 0
        while limit is None or answered < limit or self.read_next:
            request, buffer = self._read(connection, buffer)
            if request is None:
                return
            self.received.append(request)
            if answered == limit:
                return  # read, and closed without an answer
            connection.sendall(ANSWER)
            answered += 1

    def _read(
        self, connection: socket.socket, buffer: bytes
    ) -> tuple[tuple[str, str] | None, bytes]:
        """One whole request (its method and path) and what follows it; None once the client
        closed the connection or the test is over."""
        while b"\r\n\r\n" not in buffer or len(buffer) < _request_length(buffer):
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                if self._stop.is_set():
                    return None, buffer
                continue
            if not chunk:
                return None, buffer
            buffer += chunk
        length = _request_length(buffer)
        method, path, _ = buffer.split(b" ", 2)
        return (method.decode(), path.decode()), buffer[length:]


def _request_length(buffer: bytes) -> int:
    """The length of the request at the start of `buffer`, its head read whole."""
    head, _, _ = buffer.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return len(head) + 4 + length


@pytest.mark.database_free
@pytest.mark.parametrize("method", ["POST", "DELETE", "PATCH"])
def test_a_write_the_server_read_and_never_answered_is_not_sent_again(method: str) -> None:
    async def exchange(server: Server) -> None:
        client = Client(server.url, connections=1)
        try:
            await client.request("GET", "/api/sim/tracker")  # kept alive
            with pytest.raises(TransportError, match=f"without an answer; a {method} is not sent"):
                await client.request(method, "/api/v2/orders/55001", {"operator": "JD"})
        finally:
            await client.close()

    with Server(answered=1, read_next=True) as server:
        asyncio.run(exchange(server))
    assert server.received == [("GET", "/api/sim/tracker"), (method, "/api/v2/orders/55001")]


@pytest.mark.database_free
def test_a_get_whose_kept_alive_connection_closed_unanswered_is_sent_again() -> None:
    async def exchange(server: Server) -> int:
        client = Client(server.url, connections=1)
        try:
            await client.request("GET", "/api/sim/tracker")  # kept alive
            return (await client.request("GET", "/api/v2/orders/55001/status")).status
        finally:
            await client.close()

    with Server(answered=1, read_next=True) as server:
        assert asyncio.run(exchange(server)) == 200
    status = ("GET", "/api/v2/orders/55001/status")
    assert server.received == [("GET", "/api/sim/tracker"), status, status]


@pytest.mark.database_free
def test_a_post_goes_on_a_new_connection_when_its_kept_alive_one_was_closed_before_it() -> None:
    async def exchange(server: Server) -> int:
        client = Client(server.url, connections=1)
        try:
            await client.request("GET", "/api/sim/tracker")
            await asyncio.to_thread(server.first_closed.wait, 5)
            await asyncio.sleep(0.05)  # the loop reads the server's end of the connection
            return (await client.request("POST", "/api/v2/orders/55001/complete")).status
        finally:
            await client.close()

    with Server(answered=1, read_next=False) as server:
        assert asyncio.run(exchange(server)) == 200
    complete = ("POST", "/api/v2/orders/55001/complete")
    assert server.received == [("GET", "/api/sim/tracker"), complete]


@pytest.mark.database_free
def test_the_lab_counts_a_submission_whose_answer_was_lost_as_an_error_and_sends_it_once(
    lab: Lab,
) -> None:
    tally = Tally(seed=7)
    options = Options(
        orders=1, duration=None, rate=0.0, station_time=0.0, concurrency=1, seed=7, run="a"
    )

    async def run(server: Server) -> None:
        client = Client(server.url, options.concurrency)
        try:
            await client.request("GET", "/api/sim/tracker")  # run_lab.py's first look at the API
            await LabRun(lab, client, options, tally).run()
        finally:
            await client.close()

    with Server(answered=1, read_next=True) as server:
        asyncio.run(run(server))
    assert server.received == [("GET", "/api/sim/tracker"), ("POST", "/api/v2/orders")]
    assert list(tally.last_errors) == [
        "POST /api/v2/orders: the server closed the connection without an answer; "
        "a POST is not sent twice"
    ]
    summary = tally.summary()
    assert (summary["errors"], summary["requests"], summary["created"]) == (1, 0, 0)
