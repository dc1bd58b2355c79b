"""Engines, sessions and transactions: the caller owns them, built per process from a URL."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Connection, Dialect, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from shared.db.driver import DriverStatement

_READ_ONLY = "rx_read_only"
T = TypeVar("T")


def make_engine(
    url: str, *, timeout: float = 10.0, autocommit: bool = False, **options: Any
) -> Engine:
    """An engine for `url` on which no wait (connect, lock, statement) outlasts `timeout` s.

    With `autocommit`, each statement commits on its own and no transaction is ever begun; such
    an engine is used through `run_autocommit`, which stands in for the ping before each use.

    SQLite is set up so two processes can write at once; PostgreSQL so that a process that
    stalls inside a transaction (frozen, or cut off) loses it, and with it its row locks.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        millis = int(timeout * 1000)
        limits = " ".join(
            f"-c {name}={millis}"
            for name in ("lock_timeout", "statement_timeout", "idle_in_transaction_session_timeout")
        )
        given = parsed.query.get("options")
        # In the URL, not connect_args, so that a connection made outside the pool (the
        # tracker's LISTEN) has the same limits. tcp_user_timeout and keepalives notice a
        # server that vanished from the network; a server that still acknowledges packets but
        # never answers is not caught (see docs/concepts/completion.md).
        parsed = parsed.update_query_dict(
            {
                "options": f"{given} {limits}" if given else limits,
                "connect_timeout": str(max(1, round(timeout))),
                "tcp_user_timeout": str(millis),
                "keepalives": "1",
                "keepalives_idle": str(max(1, round(timeout))),
                "keepalives_interval": "1",
                "keepalives_count": "3",
            }
        )
        options = {"pool_pre_ping": not autocommit, "pool_timeout": timeout, **options}
    if autocommit:
        # Nothing is ever left to roll back, so a connection goes back to the pool as it is.
        options = {"isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None, **options}
    engine = create_engine(parsed, **options)
    if engine.dialect.name == "sqlite":
        # A SQLite file's folder must exist: no folder is created here, so that a mistyped path
        # fails instead of growing a directory tree (config.settings creates the default one).
        _prepare_sqlite(engine, busy_timeout_ms=int(timeout * 1000), autocommit=autocommit)
    return engine


def _prepare_sqlite(engine: Engine, busy_timeout_ms: int, autocommit: bool) -> None:
    # WAL lets readers go on while one process writes; the busy timeout makes a writer wait for
    # the lock instead of failing; and taking the write lock at BEGIN (IMMEDIATE) means a write
    # transaction never has to upgrade a read lock half way, the one case a timeout cannot save.
    # pysqlite's own transaction handling is switched off so that our BEGIN is the one issued.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    if autocommit:
        return

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


def run_autocommit(engine: Engine, work: Callable[[Connection], T]) -> T:
    """`work` on a connection of an autocommit engine; run once more, on a new connection, if the
    first turned out dead (a database restarted since it was pooled). `work` must be safe to
    repeat. This costs nothing while connections are alive, where a ping costs a round trip on
    every request: on the completion call, a quarter of its time on PostgreSQL.

    The connection comes from the engine's idle stack (`_IdleConnections` says why), not straight
    from its pool.
    """
    idle = _idle_connections(engine)
    connection, generation = idle.take(engine)
    try:
        return work(connection)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        idle.drop_all()  # the database went away: every idle connection is as dead
    finally:
        idle.give_back(connection, generation)
    connection, generation = idle.take(engine)
    try:
        return work(connection)
    finally:
        idle.give_back(connection, generation)


class _IdleConnections:
    """An autocommit engine's idle connections, kept checked out of its pool, last in first out.

    Taking each call's connection from the pool and giving it back (the pool's lock and queue, its
    events, a new Connection) cost the completion call an eighth of its throughput on PostgreSQL
    under gunicorn's threads (docs/benchmarks.md); taking one from this stack is a list's pop. The
    pool still bounds what is open: each connection here was checked out of it, so no more than
    its size and overflow are ever open, and a call that finds the stack empty waits for the pool
    as before. As in the pool, no more than its size wait idle (any other is closed), and a process
    holds as many as it has run calls at once; an idle server thread holds none. (A call waiting
    for the pool is not handed a connection put back here meanwhile: with the default overflow of
    10 over DATABASE_POOL_SIZE, the servers' threads never make one wait.)
    """

    def __init__(self, engine: Engine) -> None:
        # Only a QueuePool keeps connections: the others (SQLite in memory) are left to do as
        # they do, with every connection given back to them.
        self.keep = engine.pool.size() if isinstance(engine.pool, QueuePool) else 0
        self.stack: list[Connection] = []
        self.lock = threading.Lock()
        self.generation = 0  # one more at each drop_all: what was taken before is not kept
        self.pid = os.getpid()

    def take(self, engine: Engine) -> tuple[Connection, int]:
        with self.lock:
            generation = self.generation
            if self.stack:
                return self.stack.pop(), generation
        return engine.connect(), generation

    def give_back(self, connection: Connection, generation: int) -> None:
        kept = False
        try:
            if self.keep and not (connection.invalidated or connection.closed):
                if connection.in_transaction():
                    connection.rollback()  # as close() would: a driver no-op in autocommit mode
                with self.lock:
                    kept = generation == self.generation and len(self.stack) < self.keep
                    if kept:
                        self.stack.append(connection)
        except DBAPIError:
            pass  # closed below, not kept
        finally:
            if not kept:
                with suppress(DBAPIError):
                    # Closed, and not left in a pool that keeps connections: the stack is where
                    # the idle ones wait.
                    if self.keep and not connection.closed:
                        connection.invalidate()
                    connection.close()

    def drop_all(self, *_engine: Engine) -> None:
        """Close every idle connection: on the engine's dispose, or once the database was lost.
        In a process forked since (a dispose there must not close the parent's sockets), forget
        them only."""
        with self.lock:
            dropped, self.stack = self.stack, []
            self.generation += 1
        if os.getpid() != self.pid:
            return
        for connection in dropped:
            with suppress(DBAPIError):
                connection.invalidate()
                connection.close()


# Kept on the engine itself: the stacked connections refer to their engine, so a registry beside
# it (even one of weak references) would keep every engine alive.
_IDLE_ATTRIBUTE = "_rx_jobtracker_idle_connections"
_idle_lock = threading.Lock()


def _idle_connections(engine: Engine) -> _IdleConnections:
    idle: _IdleConnections | None = engine.__dict__.get(_IDLE_ATTRIBUTE)
    if idle is None:
        with _idle_lock:
            idle = engine.__dict__.get(_IDLE_ATTRIBUTE)
            if idle is None:
                idle = _IdleConnections(engine)
                event.listen(engine, "engine_disposed", idle.drop_all)
                engine.__dict__[_IDLE_ATTRIBUTE] = idle
    return idle


def driver_transaction(connection: Connection, work: Callable[[], T]) -> T:
    """`work` in one write transaction on `connection`, a connection of an autocommit engine,
    begun and ended on the driver: for a hot write of a few driver statements (the check-in),
    where a Session's begin, commit and close, and on PostgreSQL its pool's ping, cost more than
    the statements (docs/benchmarks.md). On SQLite the transaction takes the write lock at once.

    Run under `run_autocommit`, it is repeated on a new connection if the first turned out dead
    before the commit was sent; a commit whose answer was lost may have been applied, so its
    error is raised as one not to repeat.
    """
    statements = _transaction_statements(connection.dialect)
    statements.begin.count(connection)
    try:
        result = work()
    except BaseException:
        try:
            statements.rollback.count(connection)
        except DBAPIError:
            # Never back to the pool inside a transaction.
            with suppress(DBAPIError):
                connection.invalidate()
        raise
    try:
        statements.commit.count(connection)
    except DBAPIError as error:
        error.connection_invalidated = False  # run_autocommit must not repeat it
        # Whether the transaction is still open is unknown (SQLite's COMMIT can fail busy and
        # leave it so): the connection is not used again.
        with suppress(DBAPIError):
            connection.invalidate()
        raise
    return result


class _TransactionStatements(NamedTuple):
    begin: DriverStatement
    commit: DriverStatement
    rollback: DriverStatement


@functools.cache
def _transaction_statements(dialect: Dialect) -> _TransactionStatements:
    begin = "BEGIN IMMEDIATE" if dialect.name == "sqlite" else "BEGIN"
    return _TransactionStatements(
        *(DriverStatement.compile(text(sql), dialect) for sql in (begin, "COMMIT", "ROLLBACK"))
    )


def database_place(database_url: str) -> str:
    """Where a database URL points, for a person: `127.0.0.1:5432 (database test)`, or the
    SQLite file; never the password."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    host = url.host or "localhost"
    return f"{host}:{url.port or 5432} (database {url.database})"
