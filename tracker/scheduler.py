"""The tracker's scheduler: one interval job in its own process, stopped cleanly by a signal."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType

import sqlalchemy.exc
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from shared.db.engine import make_session_factory
from shared.domain.clock import utcnow
from shared.wakeup import start_listener
from tracker.jobs import TrackerConfig, run_cycle, stop

log = logging.getLogger(__name__)

POLL_JOB_ID = "process-flagged-orders"
# The longest wait between two tries while the database is unreachable.
MAX_BACKOFF = 30.0


def build_scheduler(poll: Callable[[], None], interval: float) -> BlockingScheduler:
    """A scheduler running `poll` now and every `interval` seconds, never two at once.

    One worker thread runs the polls in turn, and one more may wait behind the running one: a
    wake-up that comes as a poll is ending (past its last look at `Poller.woken`) is a run the
    scheduler must queue, not skip as it skips a job at its `max_instances`, or the order it
    announces would wait for the next interval."""
    scheduler = BlockingScheduler(
        executors={"default": ThreadPoolExecutor(max_workers=1)}, timezone=UTC
    )
    scheduler.add_job(
        poll,
        "interval",
        seconds=interval,
        id=POLL_JOB_ID,
        max_instances=2,
        coalesce=True,
        misfire_grace_time=None,
        next_run_time=datetime.now(UTC),
    )
    return scheduler


class Poller:
    """The scheduled job: a drain of the queue, again at once if woken meanwhile, and backing
    off while the database is unreachable."""

    def __init__(self, session_factory: sessionmaker[Session], config: TrackerConfig) -> None:
        self.session_factory = session_factory
        self.config = config
        self.stopping = threading.Event()
        self.woken = threading.Event()
        self.busy = threading.Lock()
        self.unwritable: set[int] = set()
        self.failures = 0
        self.retry_at = 0.0
        self.beat_at: datetime | None = None  # the last heartbeat written
        self.started = -math.inf  # time.monotonic() when the last cycle began

    def __call__(self) -> None:
        with self.busy:
            if time.monotonic() < self.retry_at:
                return
            if (
                not self.woken.is_set()
                and time.monotonic() - self.started < self.config.interval / 2
            ):
                return  # queued behind a poll that saw its wake-up: nothing is left for it
            try:
                while not self.stopping.is_set():
                    self.woken.clear()
                    self.started = time.monotonic()
                    summary = run_cycle(
                        self.session_factory,
                        self.config,
                        should_stop=self.stopping.is_set,
                        unwritable=self.unwritable,
                        beat_at=self.beat_at,
                    )
                    self.beat_at = summary.beat_at
                    if not self.woken.is_set():
                        break
            except (OperationalError, sqlalchemy.exc.TimeoutError) as error:
                self._back_off(error)
            except Exception:
                log.exception("Poll failed; retrying at the next poll")
            else:
                if self.failures:
                    log.info("Database reachable again")
                self.failures, self.retry_at = 0, 0.0

    def _back_off(self, error: OperationalError | sqlalchemy.exc.TimeoutError) -> None:
        delay = min(self.config.interval * 2**self.failures, MAX_BACKOFF)
        self.failures += 1
        self.retry_at = time.monotonic() + delay
        reason = error.orig if isinstance(error, OperationalError) else error
        log.warning("Database unavailable (%s); retrying in %.1fs", str(reason).strip(), delay)


def wake(poller: Poller, scheduler: BaseScheduler) -> None:
    """A flag was announced: the running poll goes round once more, or a poll starts now."""
    poller.woken.set()
    with contextlib.suppress(JobLookupError, SchedulerNotRunningError):
        scheduler.modify_job(POLL_JOB_ID, next_run_time=datetime.now(UTC))


def run_forever(
    engine: Engine, config: TrackerConfig, *, stop_grace: float = 20.0, wake_up: bool = True
) -> None:
    """Poll until SIGTERM or SIGINT, then finish the batch in hand and record the stop.

    A batch stuck on a database that stopped answering is given `stop_grace` seconds; then the
    process exits anyway (code 1), and the database rolls the batch back when the link drops.
    Without `wake_up`, flag announcements (NOTIFY, SQLite's doorbell) are not listened to: only
    the interval poll completes orders (the benchmark measures what the wake-up is worth so).
    """
    poller = Poller(make_session_factory(engine), config)
    scheduler = build_scheduler(poller, config.interval)

    def on_flag() -> None:
        wake(poller, scheduler)

    def shut_down() -> None:
        with contextlib.suppress(SchedulerNotRunningError):  # a second signal: already stopping
            scheduler.shutdown(wait=False)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("Received %s: stopping after the batch in hand", signal.Signals(signum).name)
        poller.stopping.set()
        # Not here: the handler runs on the main thread, which may be inside the scheduler's own
        # loop, holding its job-store lock; shutting down under it empties the store the loop
        # then updates (JobLookupError, exit 1). Another thread waits for the lock instead.
        threading.Thread(target=shut_down, name="shutdown").start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if wake_up:
        start_listener(engine, on_flag, poller.stopping)
    log.info("Job Tracker %s polling every %gs", config.tracker_id, config.interval)
    scheduler.start()
    if not poller.busy.acquire(timeout=stop_grace):  # wait for the batch in hand, if any
        log.warning("The batch in hand did not finish in %gs; exiting without it", stop_grace)
        logging.shutdown()
        os._exit(1)  # the stuck worker thread would otherwise hold the interpreter open
    poller.busy.release()
    try:
        stop(poller.session_factory, config, utcnow())
    except (OperationalError, sqlalchemy.exc.TimeoutError) as error:
        log.warning("Could not record the stop: %s", getattr(error, "orig", error))
    log.info("Job Tracker stopped")
