"""What a health check reports: the database, its schema, the trackers and the queue."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from shared.db.schema import current_revision_on, head_revision
from shared.monitoring.heartbeats import tracker_status
from shared.orders.submissions import import_queue, processor_paused


@dataclass(frozen=True)
class TrackerHealth:
    running: bool
    last_heartbeat: datetime | None
    heartbeat_age_seconds: float | None


@dataclass(frozen=True)
class ImporterHealth:
    """The Remote Order Processor: paused or not, and its queue."""

    paused: bool
    waiting: int
    oldest_wait_seconds: float | None


@dataclass(frozen=True)
class Health:
    """`ok` when the API can serve; otherwise `problems` says why not."""

    reachable: bool
    schema_revision: str | None = None
    schema_current: bool = False
    tracker: TrackerHealth | None = None
    pending: int | None = None
    importer: ImporterHealth | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def status(self) -> str:
        return "ok" if self.ok else "unavailable"


UNREACHABLE = Health(reachable=False, problems=["The database is unavailable"])


def read_health(session: Session, now: datetime) -> Health:
    """The health of the database `session` is on; the tracker's only once the schema is current
    (an older schema may not have the tables to read it from)."""
    revision, head = current_revision_on(session.connection()), head_revision()
    if revision != head:
        problem = f"The database is at revision {revision}; this release needs {head}"
        return Health(reachable=True, schema_revision=revision, problems=[problem])
    status = tracker_status(session, now)
    age = None
    if status.last_heartbeat is not None:
        age = round((now - status.last_heartbeat).total_seconds(), 3)
    tracker = TrackerHealth(status.running, status.last_heartbeat, age)
    connection = session.connection()
    queue = import_queue(connection)
    waited = None if queue.oldest is None else round((now - queue.oldest).total_seconds(), 3)
    importer = ImporterHealth(processor_paused(connection), queue.waiting, waited)
    return Health(True, revision, True, tracker, status.pending, importer)
