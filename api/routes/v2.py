"""Rx-Universe's v2 endpoints, as documented."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy.orm import Session

from api.metrics import count_completion
from api.runtime import require_tracker, runtime, transactional
from api.schemas import CompletionAcceptedSchema, OrderStatusSchema
from shared.completion.flag import request_completion
from shared.db.engine import run_autocommit
from shared.domain.clock import utcnow
from shared.domain.errors import CompletionRejected, TrackerNotRunning
from shared.orders import get_order_state

v2 = Blueprint("v2", __name__, url_prefix="/api/v2")


_accepted = CompletionAcceptedSchema()
_order_status = OrderStatusSchema()


@v2.post("/orders/<identifier:order_identifier>/complete")
def complete_order(order_identifier: str) -> tuple[dict[str, Any], int]:
    """Flag an order for completion by the Job Tracker."""
    app = runtime()
    try:
        if app.settings.complete_requires_tracker:
            require_tracker(app.autocommit_engine)
        number = run_autocommit(
            app.autocommit_engine,
            lambda connection: request_completion(connection, order_identifier, app.lab, utcnow()),
        )
    except (CompletionRejected, TrackerNotRunning) as refusal:
        count_completion(refused_with=refusal.code)
        raise
    count_completion()
    return _accepted.dump({"order_number": number}), 201


@v2.get("/orders/<identifier:order_identifier>/status")
@transactional(write=False)
def order_status(session: Session, order_identifier: str) -> dict[str, Any]:
    """An order's status, current station and completion progress."""
    return _order_status.dump(get_order_state(session, order_identifier, runtime().lab))
