"""What the metrics read from the database at scrape time: the queue, the heartbeats."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.db.models import TrackerHeartbeat
from shared.monitoring.heartbeats import tracker_status


@dataclass(frozen=True)
class MetricFacts:
    pending: int
    running: bool
    heartbeats: list[tuple[str, datetime]]


def read_metric_facts(session: Session, now: datetime) -> MetricFacts:
    """The queue depth and each tracker's last heartbeat."""
    status = tracker_status(session, now)
    beats = session.execute(
        select(TrackerHeartbeat.tracker_id, TrackerHeartbeat.last_heartbeat).order_by(
            TrackerHeartbeat.tracker_id
        )
    ).all()
    return MetricFacts(
        pending=status.pending,
        running=status.running,
        heartbeats=[(tracker_id, at) for tracker_id, at in beats],
    )
