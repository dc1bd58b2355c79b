"""The wake-up protocol, both ends: an API process announces new flags after their commit, a
tracker listens and polls at once; the tracker's poll stays the fallback for any lost signal.

On PostgreSQL the announcement is a NOTIFY on FLAGGED_CHANNEL and the listener a LISTEN. On
SQLite it is a datagram to each tracker's socket beside the database file (shared.doorbell).

A NOTIFY sent in each flag's own statement cost the completion call about a seventh of its
throughput (docs/benchmarks.md): PostgreSQL takes one database-wide lock from a NOTIFY until its
transaction's commit is flushed, so every flagging call waited for every other's commit. Here a
process sends at most one NOTIFY every ANNOUNCE_GAP, each after the commits of the flags it
covers: a flag that finds the last one at least that old sends its own at once, once committed,
from the request and on its connection; any other leaves it to the process's announcer thread,
which sends one for all of them when the gap has passed. So a lone flag wakes the tracker at
once, a flag under load waits at most ANNOUNCE_GAP for its announcement (a tracker busy with
earlier flags finds it in its next batch anyway), and a process sends at most twenty a second
however many orders it flags. On SQLite a ring costs a few microseconds and holds no lock, so
the gap is the tracker's own spacing between two wake-ups (shared.doorbell.WAKE_SPACING, 5 ms).
A NOTIFY that fails (the database is down), or one still waiting
for its gap when the process stops, only leaves the order to the tracker's next poll, as a lost
notification always did.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

from sqlalchemy import Connection, Engine

from shared import doorbell
from shared.db.engine import run_autocommit

# PostgreSQL channel on which flags are announced, so a tracker need not wait for its next poll.
FLAGGED_CHANNEL = "rx_jobtracker_flagged"


log = logging.getLogger(__name__)
_NOTIFY = f"NOTIFY {FLAGGED_CHANNEL}"


# Seconds between two announcements from one process.
ANNOUNCE_GAP = 0.05


# An announcer with nothing to announce for this long ends its thread; the next flag starts one.
IDLE_SECONDS = 60.0


def announcer_for(engine: Engine) -> Callable[[Connection], None]:
    """What the API calls with its connection once a flag is committed on it: announces it on
    PostgreSQL and on a SQLite file; does nothing on a SQLite database in memory."""
    if engine.dialect.name == "postgresql":
        return FlagAnnouncer(engine).flagged
    if doorbell.folder_for(engine.url) is not None:
        return FlagAnnouncer(engine, gap=doorbell.WAKE_SPACING).flagged
    return lambda connection: None


class FlagAnnouncer:
    """One API process's announcements of new flags, on an autocommit engine (PostgreSQL), or
    on a SQLite file's doorbells."""

    def __init__(self, engine: Engine, *, gap: float = ANNOUNCE_GAP) -> None:
        self.engine = engine
        folder = doorbell.folder_for(engine.url)
        self.ringer = None if folder is None else doorbell.Ringer(folder)
        self.gap = gap
        self.lock = threading.Lock()
        self.last = -math.inf  # time.monotonic() when the last NOTIFY was begun
        self.pending = False  # a flag committed since then waits for the thread's NOTIFY
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None

    def flagged(self, connection: Connection) -> None:
        """Call once a flag has been committed on `connection` (autocommit): a NOTIFY goes out
        after it, on that same connection when it goes at once: a second connection for it would
        make a request hold two, and a process's connections are counted (docs/deploying.md)."""
        with self.lock:
            now = time.monotonic()
            at_once = now - self.last >= self.gap
            if at_once:
                self.last = now
                self.pending = False  # this NOTIFY comes after every flag committed so far
            else:
                self.pending = True
                self.wake.set()
                self._start_thread()
        if at_once:
            if self.ringer is not None:
                self.ringer.ring()
                return
            try:
                connection.exec_driver_sql(_NOTIFY)
            except Exception as error:  # the flag is committed; the tracker's poll will find it
                log.warning("Could not announce flagged orders to the tracker (%s)", error)

    def _start_thread(self) -> None:
        """Under the lock: start the thread unless it runs; should that fail, the next flag
        tries again (a flag committed is never refused for its announcement)."""
        if self.thread is not None:
            return
        thread = threading.Thread(target=self._run, name="flag-announcer", daemon=True)
        try:
            thread.start()
        except RuntimeError as error:  # "can't start new thread"
            log.warning("Could not start the flag announcer's thread (%s)", error)
            return
        self.thread = thread

    def _run(self) -> None:
        try:
            self._announce_until_idle()
        finally:
            with self.lock:
                self.thread = None
                if self.pending:  # left by a thread that failed: another takes over
                    self._start_thread()

    def _announce_until_idle(self) -> None:
        while True:
            if not self.wake.wait(IDLE_SECONDS):
                with self.lock:
                    if not self.wake.is_set():
                        return
                continue
            self.wake.clear()
            while True:  # until the gap since the last NOTIFY, whoever sent it, has passed
                with self.lock:
                    wait = self.last + self.gap - time.monotonic()
                if wait <= 0:
                    break
                time.sleep(wait)
            with self.lock:
                if not self.pending:
                    continue
                self.pending = False
                self.last = time.monotonic()
            self._notify()

    def _notify(self) -> None:
        if self.ringer is not None:
            self.ringer.ring()
            return
        try:
            run_autocommit(self.engine, lambda connection: connection.exec_driver_sql(_NOTIFY))
        except Exception as error:  # the tracker's poll is the safety net
            log.warning("Could not announce flagged orders to the tracker (%s)", error)


_RECONNECT_DELAYS = (0.5, 1, 2, 5, 10)


def start_listener(engine: Engine, on_flag: Callable[[], None], stopping: threading.Event) -> None:
    """Call `on_flag` whenever an order is flagged, from a thread of its own: LISTEN on
    PostgreSQL, a doorbell on a SQLite file (shared.doorbell), nothing in memory.

    The poll stays the safety net: a notification lost while the listener reconnects only
    delays an order until the next poll.
    """
    folder = doorbell.folder_for(engine.url)
    if folder is not None:
        doorbell.listen(folder, on_flag, stopping)
        return
    if engine.dialect.name != "postgresql":
        return
    thread = threading.Thread(
        target=_listen, args=(engine, on_flag, stopping), name="wakeup", daemon=True
    )
    thread.start()


def _listen(engine: Engine, on_flag: Callable[[], None], stopping: threading.Event) -> None:
    failures = 0
    while not stopping.is_set():
        try:
            # A connection of its own, outside the pool: it stays in LISTEN for ever.
            cargs, cparams = engine.dialect.create_connect_args(engine.url)
            with engine.dialect.loaded_dbapi.connect(*cargs, **cparams, autocommit=True) as conn:
                conn.execute(f"LISTEN {FLAGGED_CHANNEL}")
                if failures:
                    log.info("Listening for flagged orders again")
                failures = 0
                on_flag()  # anything flagged while we were not listening
                while not stopping.is_set():
                    for _ in conn.notifies(timeout=1.0, stop_after=1):
                        on_flag()
        except Exception as error:
            delay = _RECONNECT_DELAYS[min(failures, len(_RECONNECT_DELAYS) - 1)]
            failures += 1
            log.warning("Wake-up listener lost its connection (%s); retrying in %ss", error, delay)
            stopping.wait(delay)
