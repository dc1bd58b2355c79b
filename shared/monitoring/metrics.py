"""What the metrics read from the database at scrape time: the queues, the heartbeats."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.db.models import TrackerHeartbeat
from shared.monitoring.heartbeats import tracker_status
from shared.orders.submissions import import_queue, processor_paused


@dataclass(frozen=True)
class MetricFacts:
    pending: int
    running: bool
    heartbeats: list[tuple[str, datetime]]
    import_waiting: int = 0
    import_oldest_wait_seconds: float = 0.0
    import_paused: bool = False


def read_metric_facts(session: Session, now: datetime) -> MetricFacts:
    """The queue depth and each tracker's last heartbeat."""
    status = tracker_status(session, now)
    beats = session.execute(
        select(TrackerHeartbeat.tracker_id, TrackerHeartbeat.last_heartbeat).order_by(
            TrackerHeartbeat.tracker_id
        )
    ).all()
    connection = session.connection()
    queue = import_queue(connection)
    return MetricFacts(
        pending=status.pending,
        running=status.running,
        heartbeats=[(tracker_id, at) for tracker_id, at in beats],
        import_waiting=queue.waiting,
        import_oldest_wait_seconds=(
            0.0 if queue.oldest is None else max(0.0, (now - queue.oldest).total_seconds())
        ),
        import_paused=processor_paused(connection),
    )
