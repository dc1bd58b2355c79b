"""The autocommit engine's idle connections (shared.db.engine.run_autocommit): reused, bounded by
the pool's size, and closed with the engine, so that a process never holds more connections than
its calls need at once (PostgreSQL's max_connections is shared by every worker and tracker)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, text

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
