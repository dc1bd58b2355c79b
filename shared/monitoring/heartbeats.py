"""Job Tracker heartbeats: how the API tells whether a tracker is running."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, select
from sqlalchemy.orm import Session

from shared.db.models import TrackerHeartbeat
from shared.orders.batch import count_flagged

# A tracker that has missed this many polls in a row is taken to be stopped.
MISSED_POLLS_BEFORE_DOWN = 3
_FORGET_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class TrackerStatus:
    running: bool
    last_heartbeat: datetime | None
    pending: int


def record_heartbeat(session: Session, tracker_id: str, now: datetime, interval: float) -> None:
    """Note that tracker `tracker_id` is alive and polls every `interval` seconds."""
    beat = session.get(TrackerHeartbeat, tracker_id)
    if beat is None:
        session.add(
            TrackerHeartbeat(
                tracker_id=tracker_id,
                last_heartbeat=now,
                interval_seconds=interval,
                stopped_at=None,
            )
        )
    else:
        beat.last_heartbeat, beat.interval_seconds, beat.stopped_at = now, interval, None
    # Trackers that stopped long ago (earlier process ids) would otherwise pile up.
    session.execute(
        delete(TrackerHeartbeat).where(TrackerHeartbeat.last_heartbeat < now - _FORGET_AFTER)
    )


def record_stop(session: Session, tracker_id: str, now: datetime) -> None:
    """Note that tracker `tracker_id` stopped cleanly, so it no longer counts as running."""
    beat = session.get(TrackerHeartbeat, tracker_id)
    if beat is not None:
        beat.stopped_at = now


def is_fresh(last_heartbeat: datetime, interval_seconds: float, now: datetime) -> bool:
    """Whether a tracker that beat at `last_heartbeat` and polls every `interval_seconds` is
    still taken to be running at `now` (a clean stop aside)."""
    return now - last_heartbeat <= timedelta(seconds=MISSED_POLLS_BEFORE_DOWN * interval_seconds)


def any_tracker_running(connection: Connection, now: datetime) -> bool:
    """Whether any tracker is running, in one small query (the completion call may ask it)."""
    table = TrackerHeartbeat.__table__
    rows = connection.execute(
        select(table.c.last_heartbeat, table.c.interval_seconds).where(table.c.stopped_at.is_(None))
    )
    return any(is_fresh(last, interval, now) for last, interval in rows)


def tracker_status(session: Session, now: datetime) -> TrackerStatus:
    """Whether any tracker is running, its latest heartbeat, and how many orders wait."""
    beats = session.execute(select(TrackerHeartbeat)).scalars().all()
    running = any(
        b.stopped_at is None and is_fresh(b.last_heartbeat, b.interval_seconds, now) for b in beats
    )
    last = max((b.last_heartbeat for b in beats), default=None)
    return TrackerStatus(running=running, last_heartbeat=last, pending=count_flagged(session))
