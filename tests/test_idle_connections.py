"""The autocommit engine's idle connections (shared.db.engine.run_autocommit): reused, bounded by
the pool's size, and closed with the engine, so that a process never holds more connections than
its calls need at once (PostgreSQL's max_connections is shared by every worker and tracker); and
dropped, with the session engine's, when the database restarts, so that no call after it fails."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import pytest
from flask.testing import FlaskClient
from helpers import application_name, backends, terminate_backends, with_application_name
from sqlalchemy import Connection, Engine, event, text

from api.http.runtime import EXTENSION
from config.settings import Settings
from shared.db.engine import make_engine, run_autocommit

POOL_SIZE = 2
AT_ONCE = 6


class OpenConnections:
    """Counts the engine's driver connections as they are opened and closed."""

    def __init__(self, engine: Engine) -> None:
        self.open = 0
        self.lock = threading.Lock()
        event.listen(engine, "connect", self._opened)
        event.listen(engine.pool, "close", self._closed)
        event.listen(engine.pool, "close_detached", self._closed)

    def _opened(self, *_: Any) -> None:
        with self.lock:
            self.open += 1

    def _closed(self, *_: Any) -> None:
        with self.lock:
            self.open -= 1


@pytest.fixture
def autocommit(settings: Settings, engine: Engine) -> Iterator[Engine]:
    made = make_engine(
        settings.database_url, autocommit=True, timeout=5, pool_size=POOL_SIZE, max_overflow=10
    )
    yield made
    made.dispose()


def backend(connection: Connection) -> Any:
    """Something that tells one driver connection from another."""
    return id(connection.connection.dbapi_connection)


def test_calls_one_after_another_reuse_one_connection(autocommit: Engine) -> None:
    seen = {run_autocommit(autocommit, backend) for _ in range(20)}
    assert len(seen) == 1


def test_a_burst_opens_what_it_needs_and_keeps_only_the_pool_size_open(autocommit: Engine) -> None:
    counted = OpenConnections(autocommit)
    all_in = threading.Barrier(AT_ONCE, timeout=10)

    def held_at_once(connection: Connection) -> Any:
        all_in.wait()  # every call holds its connection at the same time
        connection.execute(text("SELECT 1"))
        return backend(connection)

    with ThreadPoolExecutor(AT_ONCE) as pool:
        seen = set(pool.map(lambda _: run_autocommit(autocommit, held_at_once), range(AT_ONCE)))
    assert len(seen) == AT_ONCE
    assert counted.open == POOL_SIZE

    # What is kept serves the calls that follow, one at a time or as many as are kept.
    again = {run_autocommit(autocommit, backend) for _ in range(10)}
    assert again <= seen and counted.open == POOL_SIZE

    autocommit.dispose()
    assert counted.open == 0


def test_a_connection_given_back_after_the_engine_was_disposed_is_closed(
    autocommit: Engine,
) -> None:
    counted = OpenConnections(autocommit)
    holding, disposed = threading.Event(), threading.Event()

    def held_across_the_dispose(connection: Connection) -> None:
        connection.execute(text("SELECT 1"))
        holding.set()
        assert disposed.wait(10)

    with ThreadPoolExecutor(1) as pool:
        call = pool.submit(run_autocommit, autocommit, held_across_the_dispose)
        assert holding.wait(10)
        autocommit.dispose()
        disposed.set()
        call.result(timeout=10)
    assert counted.open == 0


def test_an_in_memory_sqlite_database_lives_on_between_calls() -> None:
    # Its pool holds the one connection the database lives in: never closed by a call.
    memory = make_engine("sqlite://", autocommit=True)
    try:
        run_autocommit(memory, lambda c: c.execute(text("CREATE TABLE t (x INTEGER)")))
        run_autocommit(memory, lambda c: c.execute(text("INSERT INTO t VALUES (7)")))
        assert run_autocommit(memory, lambda c: c.execute(text("SELECT x FROM t")).all()) == [(7,)]
    finally:
        memory.dispose()


IDLE = 3  # connections each engine keeps idle before the restart


def test_after_the_database_restarts_the_next_calls_are_served_not_503(
    postgresql_url: str, make_client: Callable[..., FlaskClient], engine: Engine
) -> None:
    """Every backend of the API's connections ends, as in a restart of the server, while both
    engines keep idle connections: the next calls on each engine are served all the same (the
    autocommit engine drops its idle stack at the first dead connection; the session engine's
    pool pings each connection it hands out)."""
    name = application_name()
    client = make_client(database_url=with_application_name(postgresql_url, name))
    runtime = client.application.extensions[EXTENSION]
    number = client.post("/api/sim/orders", json={}).get_json()["orderNumber"]

    # IDLE connections of each engine used at once and given back, as a server keeps them after
    # serving that many calls at once.
    with ExitStack() as held:
        for _ in range(IDLE):
            held.enter_context(runtime.engine.connect()).execute(text("SELECT 1"))

    def nested(depth: int) -> Callable[[Connection], None]:
        def work(connection: Connection) -> None:
            connection.execute(text("SELECT 1"))
            if depth > 1:
                run_autocommit(runtime.autocommit_engine, nested(depth - 1))

        return work

    run_autocommit(runtime.autocommit_engine, nested(IDLE))
    assert len(backends(engine, name)) >= 2 * IDLE

    assert terminate_backends(engine, name) >= 2 * IDLE

    answers = [
        ("status", client.get(f"/api/v2/orders/{number}/status").status_code),  # autocommit
        ("list", client.get("/api/v2/orders").status_code),  # the session engine, reading
        ("create", client.post("/api/sim/orders", json={}).status_code),  # ... and writing
        ("complete", client.post(f"/api/v2/orders/{number}/complete").status_code),
    ]
    assert answers == [("status", 200), ("list", 200), ("create", 201), ("complete", 201)]


def test_a_call_that_finds_every_connection_busy_takes_the_first_one_given_back(
    settings: Settings, engine: Engine
) -> None:
    # No overflow: the one connection, given back to the stack by one call, must reach the call
    # waiting for it, which the pool (that never sees it come back) would leave to time out.
    single = make_engine(settings.database_url, autocommit=True, timeout=5, pool_size=1)
    holding = threading.Event()

    def held_a_while(connection: Connection) -> Any:
        holding.set()
        time.sleep(0.3)
        return backend(connection)

    try:
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(run_autocommit, single, held_a_while)
            assert holding.wait(10)
            started = time.monotonic()
            second = run_autocommit(single, backend)
            waited = time.monotonic() - started
            assert second == first.result(timeout=10)
        assert waited < 2, f"waited {waited:.2f}s for the connection given back"
    finally:
        single.dispose()
