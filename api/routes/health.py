"""`GET /healthz`: what a load balancer or an orchestrator asks before sending traffic."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint
from sqlalchemy.exc import SQLAlchemyError

from api.ops_schemas import HealthSchema
from api.runtime import runtime
from shared.db.engine import transaction
from shared.domain.clock import utcnow
from shared.health import UNREACHABLE, read_health

health = Blueprint("health", __name__)
log = logging.getLogger(__name__)

_health = HealthSchema()


@health.get("/healthz")
def healthz() -> tuple[dict[str, Any], int]:
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
    return _health.dump(report), 200 if report.ok else 503
