"""The tracker's work as plain functions of a session factory and the time: callable from tests."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from sqlalchemy.orm import Session, sessionmaker

from shared.db.engine import transaction
from shared.domain.clock import local_date, utcnow
from shared.domain.lab_setup import Lab
from shared.monitoring import heartbeats
from shared.orders import submissions
from shared.orders.batch import BatchOutcome, Waiting, complete_flagged_orders, work_waiting
from shared.orders.submissions import ImportOutcome
from shared.sim import faults
from tracker import metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackerConfig:
    """What one tracker process needs to know to do its work."""

    tracker_id: str
    lab: Lab
    interval: float
    batch_size: int
    timezone: tzinfo
    # The Remote Order Processor: import submitted orders before completing flagged ones.
    import_orders: bool = True


@dataclass
class CycleSummary:
    imported: int = 0
    batches: int = 0
    completed: int = 0
    rejected: int = 0
    # The last heartbeat this cycle wrote, or was given: the tracker's state, not the cycle's work.
    beat_at: datetime | None = field(default=None, compare=False)


def process_batch(
    session_factory: sessionmaker[Session],
    config: TrackerConfig,
    *,
    clock: Callable[[], datetime] = utcnow,
    skip: Collection[int] = (),
    reject_all: tuple[str, str] | None = None,
) -> BatchOutcome:
    """Complete or reject up to one batch of flagged orders, in one transaction."""
    with transaction(session_factory) as session:
        # On SQLite the transaction holds the write lock from its BEGIN, so no write committed
        # after this read can carry an earlier time. On PostgreSQL BEGIN takes no lock: the
        # orders are locked by the queue's SELECT ... FOR UPDATE, after this read, so a write
        # committed in between may carry a later time than `now`; the checks still see it (they
        # read in that SELECT), only the times of the two may be out of order.
        now = clock()
        return complete_flagged_orders(
            session,
            config.lab,
            now=now,
            today=local_date(now, config.timezone),
            limit=config.batch_size,
            skip=skip,
            reject_all=reject_all,
        )


def import_batch(
    session_factory: sessionmaker[Session],
    config: TrackerConfig,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> ImportOutcome:
    """The Remote Order Processor's step: import up to one batch of submitted orders, in one
    transaction (nothing while it is paused through POST /api/sim/processor)."""
    with transaction(session_factory) as session:
        if submissions.processor_paused(session.connection()):
            return ImportOutcome(0, {})
        now = clock()
        return submissions.import_submitted_orders(
            session,
            config.lab,
            now=now,
            today=local_date(now, config.timezone),
            limit=config.batch_size,
        )


def beat(
    session_factory: sessionmaker[Session], config: TrackerConfig, now: datetime
) -> faults.TrackerFault | None:
    """Write this tracker's heartbeat; answer the tracker fault in force (POST /api/sim/faults)."""
    with transaction(session_factory) as session:
        heartbeats.record_heartbeat(session, config.tracker_id, now, config.interval)
        fault = faults.tracker_fault(session)
    metrics.observe_heartbeat(now)
    return fault


def fault_and_work(
    session_factory: sessionmaker[Session],
) -> tuple[faults.TrackerFault | None, Waiting]:
    """The tracker fault in force, and whether either queue holds anything, read without a
    heartbeat (a read: no write lock taken)."""
    with transaction(session_factory, write=False) as session:
        return faults.tracker_fault(session), work_waiting(session)


def run_cycle(
    session_factory: sessionmaker[Session],
    config: TrackerConfig,
    *,
    clock: Callable[[], datetime] = utcnow,
    should_stop: Callable[[], bool] = lambda: False,
    unwritable: set[int] | None = None,
    beat_at: datetime | None = None,
) -> CycleSummary:
    """One poll: heartbeat, then batches until the queues are drained or a stop is asked for:
    the submitted orders' imports first (unless `import_orders` is off), then the completions.

    Orders the database refused to write are added to `unwritable` and passed over from then on;
    a tracker keeps that set across its polls, so they cannot hold up the queue behind them.

    `beat_at` is when the tracker last wrote its heartbeat: a poll less than half an interval
    after it (a wake-up, which can come every few milliseconds under load) only reads the fault
    in force and whether the queues hold anything, rather than take the write lock for a
    heartbeat nobody needs yet, and takes a queue's write transaction only if it does: under load
    most wake-ups find the queues emptied by the poll before. A flag committed after that read
    rings again, and the scheduler's Poller runs the cycle once more.
    """
    unwritable = set() if unwritable is None else unwritable
    summary = CycleSummary()
    now = clock()
    if beat_at is not None and (now - beat_at).total_seconds() < config.interval / 2:
        last_beat = beat_at
        fault, waiting = fault_and_work(session_factory)
    else:
        last_beat = now
        fault = beat(session_factory, config, last_beat)
        waiting = Waiting(imports=True, completions=True)  # not read: the batches will see
    summary.beat_at = last_beat
    if fault is not None and fault.action == faults.PAUSE:
        log.debug("Paused by fault %d: taking nothing until it is cleared", fault.id)
        return summary
    reject_all = faults.forced_rejection(fault)
    while config.import_orders and waiting.imports:
        imports = import_batch(session_factory, config, clock=clock)
        _log_import(config, imports)
        summary.imported += len(imports.imported)
        if imports.taken < config.batch_size or should_stop():
            break
    while waiting.completions and not should_stop():
        now = clock()
        if (now - last_beat).total_seconds() >= config.interval:
            # A long drain must not look like a dead tracker, and obeys a pause set meanwhile.
            fault = beat(session_factory, config, now)
            last_beat = summary.beat_at = now
            if fault is not None and fault.action == faults.PAUSE:
                break
        started = time.perf_counter()
        outcome = process_batch(
            session_factory, config, clock=clock, skip=unwritable, reject_all=reject_all
        )
        _log_batch(config, outcome, time.perf_counter() - started)
        unwritable.update(outcome.left_flagged)
        summary.batches += 1
        summary.completed += len(outcome.completed)
        summary.rejected += len(outcome.rejected)
        # Every order taken was completed, rejected or added to `unwritable`: the queue shrinks.
        if outcome.taken < config.batch_size:
            break
    return summary


def _log_import(config: TrackerConfig, outcome: ImportOutcome) -> None:
    """One line per import batch that took any submission (an idle poll logs nothing)."""
    if not outcome.taken:
        return
    metrics.observe_import(outcome)
    numbers = sorted(outcome.imported.values())
    log.info(
        "Imported %d submitted orders: %s",
        len(numbers),
        ", ".join(map(str, numbers)),
        extra={"tracker_id": config.tracker_id, "imported": len(numbers)},
    )


def _log_batch(config: TrackerConfig, outcome: BatchOutcome, seconds: float) -> None:
    """One line per batch that took any order (an idle poll logs nothing), with its counts."""
    if not outcome.taken:
        return
    metrics.observe_batch(outcome, seconds)
    completed, rejected, left = (
        len(outcome.completed),
        len(outcome.rejected),
        len(outcome.left_flagged),
    )
    millis = round(seconds * 1000, 3)
    log.info(
        "Batch of %d: %d completed, %d rejected, %d left flagged, in %.1f ms",
        outcome.taken,
        completed,
        rejected,
        left,
        millis,
        extra={
            "tracker_id": config.tracker_id,
            "taken": outcome.taken,
            "completed": completed,
            "rejected": rejected,
            "left_flagged": left,
            "duration_ms": millis,
        },
    )


def stop(session_factory: sessionmaker[Session], config: TrackerConfig, now: datetime) -> None:
    """Record a clean stop, so the API stops reporting this tracker as running at once."""
    with transaction(session_factory) as session:
        heartbeats.record_stop(session, config.tracker_id, now)
