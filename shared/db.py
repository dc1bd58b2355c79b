"""Engines, sessions and transactions: the caller owns them, built per process from a URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from shared.models import Base

_READ_ONLY = "rx_read_only"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(url: str, **options: Any) -> Engine:
    """An engine for `url`; SQLite is set up so two processes can write at once."""
    engine = create_engine(url, **options)
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        _prepare_sqlite(engine)
    return engine


def _prepare_sqlite(engine: Engine) -> None:
    # WAL lets readers go on while one process writes; the busy timeout makes a writer wait for
    # the lock instead of failing; and taking the write lock at BEGIN (IMMEDIATE) means a write
    # transaction never has to upgrade a read lock half way, the one case a timeout cannot save.
    # pysqlite's own transaction handling is switched off so that our BEGIN is the one issued.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(_READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """The session factory both processes use; objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session], *, write: bool = True) -> Iterator[Session]:
    """One transaction, begun at once: committed when the block ends, rolled back if it raises.

    Beginning at once matters on SQLite, where a write transaction waits here for the write lock:
    a time read inside the block is then a time at which this transaction holds it.
    """
    with factory() as session, session.begin():
        session.connection(execution_options={_READ_ONLY: True} if not write else None)
        yield session


def ensure_schema(engine: Engine) -> None:
    """Create any missing table; safe when two processes start on a new database at once."""
    with engine.begin() as connection:
        Base.metadata.create_all(connection)
