"""`GET /healthz`: what a load balancer or an orchestrator asks before sending traffic."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint
from marshmallow import Schema, fields
from sqlalchemy.exc import SQLAlchemyError

from api.http.endpoints import Answer, endpoint
from api.http.errors import OURS
from api.http.fields import Gathered, UTCMillis
from api.http.runtime import runtime
from api.web import WATCH_TAG
from shared.db.engine import transaction
from shared.domain.clock import utcnow
from shared.monitoring.health import UNREACHABLE, Health, read_health

# The schema revision the document's examples show: this release's, held equal to the
# migrations' head by tests/test_health.py (read here, it would cost a scan of them at import).
HEAD_REVISION = "0007"

blueprint = Blueprint("health", __name__)


class DatabaseHealthSchema(Schema):
    """Whether the database answered, and whether its schema is this release's."""

    reachable = fields.Boolean()
    schema_revision = fields.String(
        data_key="schemaRevision", allow_none=True, metadata={"example": HEAD_REVISION}
    )
    schema_current = fields.Boolean(data_key="schemaCurrent")


class TrackerHealthSchema(Schema):
    """The Job Trackers' heartbeat, as `GET /api/sim/tracker` reports it, and its age."""

    running = fields.Boolean()
    last_heartbeat = UTCMillis(data_key="lastHeartbeat", allow_none=True)
    heartbeat_age_seconds = fields.Float(
        data_key="heartbeatAgeSeconds", allow_none=True, metadata={"example": 1.52}
    )


class ImporterHealthSchema(Schema):
    """The Remote Order Processor: paused or not, and its queue (`/api/sim/processor`)."""

    paused = fields.Boolean()
    waiting = fields.Integer(metadata={"minimum": 0})
    oldest_wait_seconds = fields.Float(
        data_key="oldestWaitSeconds", allow_none=True, metadata={"example": 0.42}
    )


class HealthSchema(Schema):
    """`GET /healthz`: `status` is `ok` (200) or `unavailable` (503, with the `problems`)."""

    status = fields.String(metadata={"enum": ["ok", "unavailable"]})
    # The report's database facts, gathered into one object.
    database = Gathered(DatabaseHealthSchema)
    tracker = fields.Nested(TrackerHealthSchema, allow_none=True)
    pending = fields.Integer(allow_none=True, metadata={"minimum": 0})
    importer = fields.Nested(ImporterHealthSchema, allow_none=True)
    problems = fields.List(fields.String())


log = logging.getLogger(__name__)


_health = HealthSchema()
DATABASE_OK = {"reachable": True, "schemaRevision": HEAD_REVISION, "schemaCurrent": True}
HEALTHY = {
    "status": "ok",
    "database": DATABASE_OK,
    "tracker": {
        "running": True,
        "lastHeartbeat": "2026-11-27T17:26:21.123Z",
        "heartbeatAgeSeconds": 1.52,
    },
    "pending": 0,
    "importer": {"paused": False, "waiting": 0, "oldestWaitSeconds": None},
    "problems": [],
}
UNHEALTHY = {
    "status": "unavailable",
    "database": {"reachable": False, "schemaRevision": None, "schemaCurrent": False},
    "tracker": None,
    "pending": None,
    "importer": None,
    "problems": ["The database is unavailable"],
}
OUTDATED = {
    "status": "unavailable",
    "database": {"reachable": True, "schemaRevision": "0002", "schemaCurrent": False},
    "tracker": None,
    "pending": None,
    "importer": None,
    "problems": [f"The database is at revision 0002; this release needs {HEAD_REVISION}"],
}


class Unhealthy(Exception):
    """This API cannot serve: answered 503 with the same health document, not the error shape."""

    def __init__(self, report: Health) -> None:
        super().__init__(report.problems)
        self.report = report


@blueprint.errorhandler(Unhealthy)
def _unhealthy(e: Unhealthy) -> tuple[dict[str, Any], int]:
    return _health.dump(e.report), 503


@endpoint(
    blueprint,
    "GET",
    "/healthz",
    tag=WATCH_TAG,
    summary="Whether this API can serve",
    description=OURS + "200 when the database answers and its schema is this release's; "
    "otherwise 503, with the reasons in `problems`. A stopped tracker is reported but does not "
    "make the API unhealthy: completions are still accepted (they wait). Always open: no key, "
    "never faulted.",
    ok=Answer(200, "The API can serve.", HealthSchema, {"Healthy": HEALTHY}),
    errors=(
        Answer(
            503,
            OURS + "the API cannot serve; the same health document (not the error shape), "
            "with the reasons in `problems`.",
            HealthSchema,
            {"The database is down": UNHEALTHY, "The schema is outdated": OUTDATED},
        ),
    ),
)
def healthz() -> Health:
    """200 when this API can serve (database reachable, schema current), else 503.

    A stopped tracker is reported but does not make the API unhealthy: the API still accepts
    completions (they wait), and taking it out of a load balancer would not start a tracker.
    """
    try:
        with transaction(runtime().session_factory, write=False) as session:
            report = read_health(session, utcnow())
    except SQLAlchemyError as error:
        log.warning("Health check: the database is unavailable: %s", getattr(error, "orig", error))
        report = UNREACHABLE
    if not report.ok:
        raise Unhealthy(report)
    return report
