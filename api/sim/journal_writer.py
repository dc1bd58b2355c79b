"""The request journal's writer: a request hands its entry to its process's bounded buffer and
goes; a thread of the process writes what has gathered, many entries in each statement.

Written in the request, each entry was a second write transaction on every call: on SQLite the
completion endpoint lost two fifths of its throughput to it (docs/benchmarks.md). Gathered, up to
MAX_ROWS_PER_INSERT entries cost one INSERT. Each statement commits alone (the autocommit
engine), and on SQLite takes and gives back the write lock inside the one driver call that runs
it, with Python's lock released: a transaction around several statements would hold SQLite's
write lock while its thread waits for Python's, which the API's own threads, busy with requests,
hold for milliseconds at a time, and every completion call would wait for the journal.

What it promises: an entry accepted is written, late if the database is busy or down (the writer
retries with a short backoff, as long as the process lives), and never dropped unseen. An entry is
dropped only when the process's buffer is full (JOURNAL_BUFFER entries, or MAX_BUFFER_CHARS
characters), when the database refuses the entry itself, or when the process exits with entries
the database did not take within EXIT_WAIT; each drop is counted in `rx_journal_dropped_total`
(by reason) and logged. A read of the journal first waits for this process's entries
(`wait_until_written`), so a client of a one-process server reads its own calls at once; another
worker's appear once its writer has run, within about LINGER of the call when the database is
free. (Should a connection die just after an INSERT committed, run_autocommit's one repeat may
write those entries twice: late and twice rather than lost.)
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice

import sqlalchemy.exc
from prometheus_client import Counter, Gauge
from sqlalchemy import Connection, Engine

from shared.db.engine import run_autocommit
from shared.sim import journal
from shared.sim.journal import MAX_ROWS_PER_INSERT, Exchange

log = logging.getLogger(__name__)

DROPPED = Counter(
    "rx_journal_dropped_total",
    "Journal entries dropped, by reason: full (the worker's buffer was full while the database "
    "was busy or down), unstorable (the database refused the entry), exit (the worker exited "
    "before the database took them)",
    ["reason"],
)
# Summed over the live workers under gunicorn; a worker gone takes its own with it.
WAITING = Gauge(
    "rx_journal_waiting",
    "Journal entries accepted and not yet written (updated by each worker's writer)",
    multiprocess_mode="livesum",
)

# The buffer's bound in characters, beside JOURNAL_BUFFER's in entries: at most about a hundred
# entries of the largest kind (api.sim.journal's MAX_ENTRY_CHARS), some thousands of common ones.
MAX_BUFFER_CHARS = 16 * 1024 * 1024
# How long the writer lets entries gather after the first before it writes them: the fewer the
# transactions, the less the writer takes the database's write lock from the requests (SQLite
# has one for the whole file). A read of the journal does not wait for it.
LINGER = 0.1
# Backoff between attempts while the database is busy or down.
RETRY_FIRST, RETRY_MOST = 0.05, 1.0
# A writer thread with nothing to write for this long ends; the next entry starts another.
IDLE = 5.0
# What a process exiting waits, in all, for its writers to write what they hold.
EXIT_WAIT = 5.0

# The database is busy or away (a lock, a timeout, a lost connection, a missing file): the same
# batch may well go through later. Any other error is about the entries themselves.
_BUSY = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    sqlalchemy.exc.DisconnectionError,
)


@dataclass
class _Buffer:
    """One process's entries waiting to be written, and its writer thread, under one lock."""

    pid: int
    changed: threading.Condition = field(
        default_factory=lambda: threading.Condition(threading.Lock())
    )
    pending: deque[tuple[Exchange, int]] = field(default_factory=deque)  # with their characters
    characters: int = 0
    accepted: int = 0  # entries ever accepted; `done` ever written (or dropped once accepted)
    done: int = 0
    gauged: int = 0  # of `accepted`, how many WAITING has been told of
    wanted: int = 0  # a reader waits until `done` reaches this: write now, no lingering
    thread: threading.Thread | None = None
    idle: bool = False  # the thread waits for entries: a new one must wake it
    full_since: float | None = None  # when the buffer was last found full (logged once)


class JournalWriter:
    """Writes an app's journal entries from a thread of each process that records one.

    gunicorn forks its workers after the app may have been built, and a thread does not survive a
    fork: the buffer and its thread belong to the process that made them, and a process that
    finds them its parent's makes its own on first use.
    """

    def __init__(
        self,
        engine: Engine,
        keep: int,
        capacity: int,
        *,
        max_characters: int = MAX_BUFFER_CHARS,
        linger: float = LINGER,
    ) -> None:
        self.engine = engine
        self.keep = keep
        self.capacity = capacity
        self.max_characters = max_characters
        self.linger = linger
        self._buffer: _Buffer | None = None
        _WRITERS.add(self)

    def submit(self, exchange: Exchange) -> None:
        """Take `exchange` to be written (in the background); when the buffer is full, drop it
        and count it."""
        size = exchange.characters()
        buffer = self._buffer
        if buffer is None or buffer.pid != os.getpid():
            buffer = self._here()
        with buffer.changed:
            if (
                len(buffer.pending) < self.capacity
                and buffer.characters + size <= self.max_characters
            ):
                buffer.pending.append((exchange, size))
                buffer.characters += size
                buffer.accepted += 1
                if buffer.thread is None:
                    self._start(buffer)
                elif buffer.idle:
                    buffer.changed.notify()
                return
            first = buffer.full_since is None
            buffer.full_since = time.monotonic()
        DROPPED.labels("full").inc()
        if first:
            log.warning(
                "Journal: the buffer is full (%d entries waiting for the database): new entries "
                "are dropped and counted in rx_journal_dropped_total",
                len(buffer.pending),
            )

    def wait_until_written(self, timeout: float) -> bool:
        """Wait, at most `timeout` s, until this process's entries taken so far are written;
        whether they are."""
        buffer = self._buffer
        if buffer is None or buffer.pid != os.getpid():
            return True
        with buffer.changed:
            target = buffer.accepted
            if buffer.done >= target:
                return True
            buffer.wanted = max(buffer.wanted, target)
            if buffer.thread is None:  # ended by a fault of ours with entries left
                self._start(buffer)
            buffer.changed.notify_all()
            return buffer.changed.wait_for(lambda: buffer.done >= target, timeout)

    def _start(self, buffer: _Buffer) -> None:
        """Under the lock: start the process's writer thread."""
        buffer.thread = threading.Thread(
            target=self._run, args=(buffer,), name="journal-writer", daemon=True
        )
        buffer.thread.start()

    def _here(self) -> _Buffer:
        """This process's buffer, made on its first entry (in a forked worker, its own)."""
        pid = os.getpid()
        with _making:
            buffer = self._buffer
            if buffer is None or buffer.pid != pid:
                buffer = self._buffer = _Buffer(pid)
        return buffer

    def _run(self, buffer: _Buffer) -> None:
        try:
            self._write_while_any(buffer)
        except BaseException:
            # A fault of ours: the next entry starts another thread, which writes what this one
            # left.
            with buffer.changed:
                buffer.thread = None
            raise

    def _write_while_any(self, buffer: _Buffer) -> None:
        while True:
            with buffer.changed:
                if not buffer.pending:
                    buffer.idle = True
                    buffer.changed.wait_for(lambda: buffer.pending, IDLE)
                    buffer.idle = False
                    if not buffer.pending:
                        buffer.thread = None  # decided under the lock a new entry takes
                        return
                # Let more gather, unless a reader waits for what is there.
                buffer.changed.wait_for(lambda: buffer.wanted > buffer.done, self.linger)
                gathered = len(buffer.pending)
                self._gauge(buffer)
            # What gathered, a statement at a time, then the oldest beyond JOURNAL_SIZE dropped
            # once: on SQLite each write statement takes the one write lock the requests need.
            # Only this thread takes entries off the buffer, so the first `gathered` are these.
            written = 0
            while written < gathered:
                with buffer.changed:
                    # A power of two: each size's statement is compiled once (a 64-row one
                    # takes about 15 ms), so seven of them serve every batch.
                    size = 1 << (min(gathered - written, MAX_ROWS_PER_INSERT).bit_length() - 1)
                    batch = [exchange for exchange, _ in islice(buffer.pending, size)]
                self._write(buffer, batch)
                with buffer.changed:
                    for _ in batch:
                        _, characters = buffer.pending.popleft()
                        buffer.characters -= characters
                    buffer.full_since = None
                written += size
                WAITING.dec(size)
            self._trim(buffer)
            # Done once trimmed too: a reader waiting for its entries finds the journal bounded.
            with buffer.changed:
                buffer.done += written
                buffer.changed.notify_all()

    def _gauge(self, buffer: _Buffer) -> None:
        """Under the lock: tell WAITING of the entries accepted since it was last told. Done
        here, once a batch, rather than in each request."""
        if buffer.accepted > buffer.gauged:
            WAITING.inc(buffer.accepted - buffer.gauged)
            buffer.gauged = buffer.accepted

    def _write(self, buffer: _Buffer, batch: list[Exchange]) -> None:
        """Write `batch` in one statement, retrying while the database is busy or away; if the
        database refuses it, write its entries one by one, dropping (and counting) only those it
        refuses alone."""
        refused = self._refusal(buffer, _adding(batch))
        if refused is None:
            return
        if len(batch) == 1:
            refusals = [(batch[0], refused)]
        else:
            alone = ((exchange, self._refusal(buffer, _adding([exchange]))) for exchange in batch)
            refusals = [(exchange, error) for exchange, error in alone if error is not None]
        for exchange, error in refusals:
            DROPPED.labels("unstorable").inc()
            from_database = isinstance(error, sqlalchemy.exc.DBAPIError)
            log.warning(
                "Journal: the entry of %s %s could not be stored, dropped: %s",
                exchange.method,
                exchange.path[:200],
                getattr(error, "orig", None) or error,
                # A fault of ours (not the database's word) shows where it happened.
                exc_info=None if from_database else error,
            )

    def _trim(self, buffer: _Buffer) -> None:
        """Keep the newest JOURNAL_SIZE entries; trying again while the database is busy."""
        keep = self.keep
        refused = self._refusal(buffer, lambda connection: journal.trim(connection, keep))
        if refused is not None:
            log.warning("Journal: the oldest entries could not be dropped: %s", refused)

    def _refusal(self, buffer: _Buffer, work: Callable[[Connection], None]) -> Exception | None:
        """Run `work` (a write), trying again while the database is busy or away; None once it
        is done, else what refused it (the entries themselves, or a fault of ours)."""
        delay, failing_since = RETRY_FIRST, None
        while True:
            try:
                run_autocommit(self.engine, work)
            except _BUSY as error:
                if failing_since is None:
                    failing_since = time.monotonic()
                    log.warning(
                        "Journal: the database is busy or unavailable, retrying (entries are "
                        "kept, up to JOURNAL_BUFFER): %s",
                        getattr(error, "orig", None) or error,
                    )
                with buffer.changed:
                    self._gauge(buffer)
                    # A reader waiting for the entries cuts the backoff short: one more try.
                    buffer.changed.wait(delay)
                delay = min(delay * 2, RETRY_MOST)
                continue
            except Exception as error:  # never tried again: it would fail again
                return error
            if failing_since is not None:
                log.info(
                    "Journal: the database took the entries again, %.1f s late",
                    time.monotonic() - failing_since,
                )
            return None

    def count_left_at_exit(self) -> int:
        """At exit, after waiting: count what is still waiting as dropped; how many."""
        buffer = self._buffer
        if buffer is None or buffer.pid != os.getpid():
            return 0
        with buffer.changed:
            left = len(buffer.pending)
        if left:
            DROPPED.labels("exit").inc(left)
        return left


def _adding(exchanges: list[Exchange]) -> Callable[[Connection], None]:
    """The write that adds `exchanges` (one INSERT)."""
    return lambda connection: journal.add(connection, exchanges)


# Every writer of the process, for the exit flush; weakly, so that an app let go of (a test's)
# takes its writer with it.
_WRITERS: weakref.WeakSet[JournalWriter] = weakref.WeakSet()
# Guards making a process's buffer; made anew in a forked child, where a lock held by another
# of the parent's threads at the fork would never be released.
_making = threading.Lock()


def _new_lock_in_child() -> None:
    global _making
    _making = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_in_child)


@atexit.register
def _write_at_exit() -> None:
    """Give the process's writers up to EXIT_WAIT in all to write what they hold; count what
    they could not as dropped (reason `exit`)."""
    deadline = time.monotonic() + EXIT_WAIT
    for writer in list(_WRITERS):
        writer.wait_until_written(max(0.0, deadline - time.monotonic()))
    lost = sum(writer.count_left_at_exit() for writer in list(_WRITERS))
    if lost:
        log.warning("Journal: %d entries not written before exit (counted as dropped)", lost)
