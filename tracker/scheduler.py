"""The tracker's scheduler: one interval job in its own process, stopped cleanly by a signal."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from shared.clock import utcnow
from tracker.jobs import TrackerConfig, run_cycle, stop

log = logging.getLogger(__name__)

POLL_JOB_ID = "process-flagged-orders"


def build_scheduler(poll: Callable[[], None], interval: float) -> BlockingScheduler:
    """A scheduler running `poll` now and every `interval` seconds, never two at once."""
    scheduler = BlockingScheduler(
        executors={"default": ThreadPoolExecutor(max_workers=1)}, timezone=UTC
    )
    scheduler.add_job(
        poll,
        "interval",
        seconds=interval,
        id=POLL_JOB_ID,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        next_run_time=datetime.now(UTC),
    )
    return scheduler


def run_forever(session_factory: sessionmaker[Session], config: TrackerConfig) -> None:
    """Poll until SIGTERM or SIGINT, then finish the batch in hand and record the stop."""
    stopping = threading.Event()
    busy = threading.Lock()
    unwritable: set[int] = set()

    def poll() -> None:
        with busy:
            try:
                run_cycle(
                    session_factory, config, should_stop=stopping.is_set, unwritable=unwritable
                )
            except OperationalError as error:
                log.warning("Database unavailable, retrying at the next poll: %s", error.orig)
            except Exception:
                log.exception("Poll failed; retrying at the next poll")

    scheduler = build_scheduler(poll, config.interval)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("Received %s: stopping after the batch in hand", signal.Signals(signum).name)
        stopping.set()
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("Job Tracker %s polling every %gs", config.tracker_id, config.interval)
    scheduler.start()
    with busy:  # wait for the batch in hand, if any
        pass
    try:
        stop(session_factory, config, utcnow())
    except OperationalError as error:
        log.warning("Could not record the stop: %s", error.orig)
    log.info("Job Tracker stopped")
