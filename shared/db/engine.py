"""Engines, sessions and transactions: the caller owns them, built per process from a URL."""

from __future__ import annotations

import functools
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, NamedTuple, TypeVar

import sqlalchemy.exc
from sqlalchemy import Connection, Dialect, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from shared.db.driver import DriverStatement
from shared.db.watchdog import WATCHDOG

_READ_ONLY = "rx_read_only"
_FRESH = "rx_fresh"
# How long past `timeout` the watchdog waits: a server that runs ends its own waits first (with a
# clean error, the connection kept); only one that cannot is cut off.
WATCHDOG_GRACE = 1.0
T = TypeVar("T")


def make_engine(
    url: str,
    *,
    timeout: float = 10.0,
    autocommit: bool = False,
    pool_size: int | None = None,
    watchdog: bool = False,
    **options: Any,
) -> Engine:
    """An engine for `url` on which no wait (connect, lock, statement) outlasts `timeout` s.

    With `autocommit`, each statement commits on its own and no transaction is ever begun; such
    an engine is used through `run_autocommit`, which stands in for the ping before each use.

    With `pool_size`, the engine never holds more than that many connections (no overflow), and
    a call that finds them all busy waits for one at most `timeout` s, then raises
    sqlalchemy.exc.TimeoutError: a process's connections are a fixed part of the server's
    `max_connections` (docs/deploying.md adds them up).

    With `watchdog` (PostgreSQL), a connection held for longer than `timeout` plus
    WATCHDOG_GRACE, from its checkout to its return, has its socket shut down by the process's
    watchdog (`shared.db.watchdog` says why): the one deadline a frozen server cannot miss.

    SQLite is set up so two processes can write at once; PostgreSQL so that a process that
    stalls inside a transaction (frozen, or cut off) loses it, and with it its row locks.
    """
    parsed = make_url(url)
    if pool_size is not None:
        options = {"pool_size": pool_size, "max_overflow": 0, "pool_timeout": timeout, **options}
    watched = False
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
        # never answers is left to the watchdog.
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
        watched = watchdog
        # A watched engine pings in its own checkout listener (_watch_checkouts), under the
        # watchdog: the pool's pre-ping runs before any listener could start the watch.
        ping = not autocommit and not watched
        options = {"pool_pre_ping": ping, "pool_timeout": timeout, **options}
    if autocommit:
        # Nothing is ever left to roll back, so a connection goes back to the pool as it is.
        options = {"isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None, **options}
    engine = create_engine(parsed, **options)
    if engine.dialect.name == "sqlite":
        # A SQLite file's folder must exist: no folder is created here, so that a mistyped path
        # fails instead of growing a directory tree (config.settings creates the default one).
        _prepare_sqlite(engine, busy_timeout_ms=int(timeout * 1000), autocommit=autocommit)
    seconds = timeout + WATCHDOG_GRACE if watched else None
    if autocommit:
        _install_idle_connections(engine, seconds)
    elif seconds is not None:
        _watch_checkouts(engine, seconds)
    if seconds is not None:
        # Before the driver closes a connection: its socket's number may be reused at once.
        event.listen(
            engine.pool,
            "close",
            lambda dbapi_connection, _record: WATCHDOG.release(dbapi_connection),
        )
    return engine


def _watch_checkouts(engine: Engine, seconds: float) -> None:
    """Watch each connection of a transactional engine from its checkout to its return (the
    reset's rollback included), and ping it first, as pool_pre_ping would, but watched: a ping
    that finds the connection dead gets a new one; a ping the watchdog ended gets none, since
    the call has used its time up."""
    dialect = engine.dialect

    @event.listens_for(engine.pool, "connect")
    def _fresh(_dbapi_connection: Any, record: Any) -> None:
        record.info[_FRESH] = True  # just opened: nothing to ping

    @event.listens_for(engine.pool, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        deadline = WATCHDOG.watch(dbapi_connection, seconds)
        if record.info.pop(_FRESH, False):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            WATCHDOG.release(dbapi_connection)
            if time.monotonic() < deadline and dialect.is_disconnect(error, dbapi_connection, None):
                raise DisconnectionError(str(error)) from error  # the pool connects anew
            raise

    @event.listens_for(engine.pool, "checkin")
    def _checkin(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None:
            WATCHDOG.release(dbapi_connection)


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
    every request: on the completion call, a quarter of its time on PostgreSQL. A connection the
    watchdog shut (its deadline passed) is not followed by another: the call has used its time.

    The connection comes from the engine's idle stack (`_IdleConnections` says why), not straight
    from its pool.
    """
    idle = _idle_connections(engine)
    held = idle.take(engine)
    try:
        return work(held.connection)
    except DBAPIError as error:
        if not error.connection_invalidated or time.monotonic() >= held.deadline:
            raise
        idle.drop_all()  # the database went away: every idle connection is as dead
    finally:
        idle.give_back(held)
    held = idle.take(engine)
    try:
        return work(held.connection)
    finally:
        idle.give_back(held)


class _Held(NamedTuple):
    """A connection taken from the idle stack, for one call."""

    connection: Connection
    driver: Any  # its driver connection, which the watchdog watches
    generation: int  # the stack's generation when taken: see drop_all
    deadline: float  # when the watchdog shuts it (infinity when unwatched)


class _IdleConnections:
    """An autocommit engine's idle connections, kept checked out of its pool, last in first out.

    Taking each call's connection from the pool and giving it back (the pool's lock and queue, its
    events, a new Connection) cost the completion call an eighth of its throughput on PostgreSQL
    under gunicorn's threads (docs/benchmarks.md); taking one from this stack is a list's pop. The
    pool still bounds what is open: each connection here was checked out of it, and no more than
    the pool's size and overflow (none, as make_engine sets it with `pool_size`) are ever out. As
    in the pool, no more than its size wait idle (any other is closed), and a process holds as
    many as it has run calls at once; an idle server thread holds none.

    A call that finds none idle and all of them out waits here, not in the pool (which would never
    hear of a connection given back to the stack), at most the pool's timeout, then raises
    sqlalchemy.exc.TimeoutError as the pool would. It is handed the next connection given back (or
    the room to open one, when one is closed) through a queue of its own: with 32 server threads
    and a few connections, calls wait often under load, and a wait on CPython's C queue costs one
    wake-up, where a Condition woke waiters only for a running thread to have taken the connection
    first (a third of its wake-ups, counted under wrk).

    With a watchdog (make_engine's `watchdog`), each connection is watched from its take to its
    give-back.
    """

    def __init__(self, engine: Engine, watch: float | None = None) -> None:
        pool = engine.pool
        # Only a QueuePool keeps connections: the others (SQLite in memory) are left to do as
        # they do, with every connection given back to them.
        self.keep = pool.size() if isinstance(pool, QueuePool) else 0
        # QueuePool has no public reader for its overflow limit (-1: none).
        overflow = getattr(pool, "_max_overflow", -1) if self.keep else -1
        self.capacity = self.keep + overflow if overflow >= 0 else None
        self.wait = pool.timeout() if isinstance(pool, QueuePool) else 0.0
        self.watch = watch
        self.stack: list[tuple[Connection, Any]] = []  # each with its driver connection
        self.lock = threading.Lock()
        # What is handed to waiting calls: a connection given back, or None, room to open one.
        self.handoff: queue.SimpleQueue[tuple[Connection, Any, int] | None] = queue.SimpleQueue()
        self.waiting = 0  # calls waiting for a hand-off
        self.handed = 0  # hand-offs in the queue not yet counted off by their waiter
        self.out = 0  # connections taken from the pool and not closed since: in use, or here
        self.generation = 0  # one more at each drop_all: what was taken before is not kept
        self.counted_from = 0  # the generation `out` counts from (a forked child starts anew)
        self.pid = os.getpid()

    def take(self, engine: Engine) -> _Held:
        with self.lock:
            generation = self.generation
            wait = False
            kept: tuple[Connection, Any] | None = None
            if self.stack:
                kept = self.stack.pop()
            elif self.capacity is None or self.out < self.capacity:
                self.out += 1  # counted before it is opened, so no other call opens it too
            else:
                self.waiting += 1
                wait = True
        if wait:
            handed = self._wait_for_one()
            if handed is not None:
                connection, driver, generation = handed
                kept = connection, driver
        if kept is None:  # room to open one, counted in `out` already
            try:
                connection = engine.connect()
                kept = connection, connection.connection.dbapi_connection
            except BaseException:
                self._closed(generation)
                raise
        connection, driver = kept
        deadline = WATCHDOG.watch(driver, self.watch) if self.watch is not None else _NEVER
        return _Held(connection, driver, generation, deadline)

    def _wait_for_one(self) -> tuple[Connection, Any, int] | None:
        """A connection handed over (or None: room to open one), within the pool's timeout."""
        try:
            handed = self.handoff.get(timeout=self.wait)
        except queue.Empty:
            with self.lock:
                self.waiting -= 1
                # Handed over just as the wait ended: more hand-offs than waiters left, so one
                # is this call's.
                if self.handed <= self.waiting:
                    raise sqlalchemy.exc.TimeoutError(
                        f"all {self.capacity} connections of the pool busy for {self.wait:g} s"
                    ) from None
                self.handed -= 1
                return self.handoff.get_nowait()
        with self.lock:
            self.waiting -= 1
            self.handed -= 1
        return handed

    def _hand_over(self, handed: tuple[Connection, Any, int] | None) -> bool:
        """Under the lock: give a waiting call `handed`, if one waits for it."""
        if self.waiting <= self.handed:
            return False
        self.handoff.put(handed)
        self.handed += 1
        return True

    def give_back(self, held: _Held) -> None:
        connection = held.connection
        if self.watch is not None:
            WATCHDOG.release(held.driver)
        kept = False
        try:
            if self.keep and not (connection.invalidated or connection.closed):
                if connection.in_transaction():
                    connection.rollback()  # as close() would: a driver no-op in autocommit mode
                with self.lock:
                    current = held.generation == self.generation
                    if current and self._hand_over((connection, held.driver, held.generation)):
                        kept = True
                    elif current and len(self.stack) < self.keep:
                        self.stack.append((connection, held.driver))
                        kept = True
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
                self._closed(held.generation)

    def _closed(self, generation: int) -> None:
        """One connection taken in `generation` is closed (or was never opened): its room goes
        to a waiting call, if any."""
        with self.lock:
            if generation < self.counted_from:
                return
            if not self._hand_over(None):
                self.out -= 1

    def drop_all(self, *_engine: Engine) -> None:
        """Close every idle connection: on the engine's dispose, or once the database was lost.
        In a process forked since (a dispose there must not close the parent's sockets), forget
        them only, and every connection its parent had out."""
        forked = os.getpid() != self.pid
        with self.lock:
            dropped, self.stack = self.stack, []
            self.generation += 1
            if forked:
                self.out, self.counted_from, self.pid = 0, self.generation, os.getpid()
                self.waiting = self.handed = 0
                self.handoff = queue.SimpleQueue()
            else:
                self.out -= len(dropped)
        if forked:
            return
        for connection, _driver in dropped:
            with suppress(DBAPIError):
                connection.invalidate()
                connection.close()


_NEVER = math.inf
# Kept on the engine itself: the stacked connections refer to their engine, so a registry beside
# it (even one of weak references) would keep every engine alive.
_IDLE_ATTRIBUTE = "_rx_jobtracker_idle_connections"
_idle_lock = threading.Lock()


def _install_idle_connections(engine: Engine, watch: float | None) -> None:
    idle = _IdleConnections(engine, watch)
    event.listen(engine, "engine_disposed", idle.drop_all)
    engine.__dict__[_IDLE_ATTRIBUTE] = idle


def _idle_connections(engine: Engine) -> _IdleConnections:
    idle: _IdleConnections | None = engine.__dict__.get(_IDLE_ATTRIBUTE)
    if idle is None:  # an engine not made autocommit by make_engine
        with _idle_lock:
            idle = engine.__dict__.get(_IDLE_ATTRIBUTE)
            if idle is None:
                _install_idle_connections(engine, None)
                idle = engine.__dict__[_IDLE_ATTRIBUTE]
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
