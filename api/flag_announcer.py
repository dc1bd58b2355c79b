"""PostgreSQL's wake-up for the Job Tracker: an API process announces new flags with NOTIFY.

A NOTIFY sent in each flag's own statement cost the completion call about a seventh of its
throughput (docs/benchmarks.md): PostgreSQL takes one database-wide lock from a NOTIFY until its
transaction's commit is flushed, so every flagging call waited for every other's commit. Here a
flag only wakes this process's announcer thread, which sends one NOTIFY for every flag committed
since its last; after sending it waits ANNOUNCE_GAP before the next, so a process sends at most
twenty a second however many orders it flags. The first flag after a quiet spell is announced at
once; under load a flag waits at most ANNOUNCE_GAP for its announcement, and a tracker busy with
earlier flags finds it in its next batch anyway. A NOTIFY that fails (the database is down) only
leaves the order to the tracker's next poll, as a lost notification always did.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from shared.completion.flag import FLAGGED_CHANNEL

log = logging.getLogger(__name__)
_NOTIFY = f"NOTIFY {FLAGGED_CHANNEL}"

# Seconds between two announcements from one process.
ANNOUNCE_GAP = 0.05
# An announcer with nothing to announce for this long ends its thread; the next flag starts one.
IDLE_SECONDS = 60.0


class FlagAnnouncer:
    """One API process's announcements of new flags; `flagged()` costs the call an Event's set."""

    def __init__(self, engine: Engine, *, gap: float = ANNOUNCE_GAP) -> None:
        self.engine = engine
        self.gap = gap
        self.wanted = threading.Event()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def flagged(self) -> None:
        """Call once a flag has been committed: the NOTIFY goes out after it."""
        with self.lock:
            self.wanted.set()
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="flag-announcer", daemon=True)
                self.thread.start()

    def _run(self) -> None:
        while True:
            if not self.wanted.wait(IDLE_SECONDS):
                with self.lock:
                    if not self.wanted.is_set():
                        self.thread = None
                        return
            # Every flag that set `wanted` before this clear committed before the NOTIFY below.
            self.wanted.clear()
            self._notify()
            time.sleep(self.gap)

    def _notify(self) -> None:
        try:
            with self.engine.begin() as connection:  # commits on any engine
                connection.exec_driver_sql(_NOTIFY)
        except SQLAlchemyError as error:
            log.warning("Could not announce flagged orders to the tracker (%s)", error)
