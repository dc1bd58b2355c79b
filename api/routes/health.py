"""`GET /healthz`: what a load balancer or an orchestrator asks before sending traffic."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint
from sqlalchemy.exc import SQLAlchemyError

from api.endpoints import Answer, endpoint
from api.errors import OURS
from api.ops_schemas import HealthSchema
from api.runtime import runtime
from shared.db.engine import transaction
from shared.domain.clock import utcnow
from shared.health import UNREACHABLE, Health, read_health

health = Blueprint("health", __name__)
log = logging.getLogger(__name__)
TAG = "Watching it (ours)"

_health = HealthSchema()
DATABASE_OK = {"reachable": True, "schemaRevision": "0003", "schemaCurrent": True}
HEALTHY = {
    "status": "ok",
    "database": DATABASE_OK,
    "tracker": {
        "running": True,
        "lastHeartbeat": "2026-11-27T17:26:21.123Z",
        "heartbeatAgeSeconds": 1.52,
    },
    "pending": 0,
    "problems": [],
}
UNHEALTHY = {
    "status": "unavailable",
    "database": {"reachable": False, "schemaRevision": None, "schemaCurrent": False},
    "tracker": None,
    "pending": None,
    "problems": ["The database is unavailable"],
}
OUTDATED = {
    "status": "unavailable",
    "database": {"reachable": True, "schemaRevision": "0002", "schemaCurrent": False},
    "tracker": None,
    "pending": None,
    "problems": ["The database is at revision 0002; this release needs 0003"],
}


class Unhealthy(Exception):
    """This API cannot serve: answered 503 with the same health document, not the error shape."""

    def __init__(self, report: Health) -> None:
        super().__init__(report.problems)
        self.report = report


@health.errorhandler(Unhealthy)
def _unhealthy(e: Unhealthy) -> tuple[dict[str, Any], int]:
    return _health.dump(e.report), 503


@endpoint(
    health,
    "GET",
    "/healthz",
    tag=TAG,
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
