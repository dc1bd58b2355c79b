"""Rx-Universe's v2 endpoints, as documented."""

from __future__ import annotations

from typing import NoReturn

from flask import Blueprint
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from api.endpoints import Answer, endpoint
from api.errors import (
    API_KEY_REFUSED,
    COMPLETION_REFUSED,
    DATABASE_DOWN,
    NO_RECORD,
    ORDER_CONTENDED,
    ORDER_NOT_FOUND,
    TRACKER_NOT_RUNNING,
)
from api.metrics import count_completion
from api.runtime import autocommitting, require_tracker, runtime, transactional
from api.schemas import (
    CompletionAcceptedSchema,
    OrderIdentifierPath,
    OrderNumberPath,
    OrderStatusSchema,
)
from shared.completion.flag import request_completion
from shared.domain.clock import utcnow
from shared.domain.errors import CompletionRejected, OrderNotFound, TrackerNotRunning
from shared.orders import OrderState, get_order_state

v2 = Blueprint("v2", __name__, url_prefix="/api/v2")
TAG = "Rx-Universe v2"
STATUS_EXAMPLE = {
    "orderNumber": "33719",
    "trayNumber": "123",
    "poNumber": "PO-7",
    "status": "P",
    "statusDesc": "Process",
    "onHold": False,
    "unvalidMessage": None,
    "calculationDesc": "Both eyes calculated",
    "rtCalculated": True,
    "ltCalculated": True,
    "currentStation": "BSC",
    "currentStationDesc": "BACKSIDE COATER",
    "currentStationCustomerDesc": "IN COATING",
    "currentStationDateTime": "2026-11-27T17:26:21.123Z",
    "pendingCompletion": True,
    "completionError": None,
}


@endpoint(
    v2,
    "POST",
    "/orders/<identifier:order_identifier>/complete",
    tag=TAG,
    summary="Flag an order for completion by the Job Tracker",
    description="The order is flagged, not completed: the Job Tracker completes it (or records "
    "why not, shown as `completionError` by the status endpoint). A repeat call while the order "
    "is still flagged answers 201 again and changes nothing, so a client may retry. No body.",
    path=OrderIdentifierPath,
    ok=Answer(
        201,
        "The order is flagged for completion.",
        CompletionAcceptedSchema,
        {"Successful": {"orderNumber": "33719", "message": "Successful"}},
    ),
    errors=(
        ORDER_NOT_FOUND,
        COMPLETION_REFUSED,
        API_KEY_REFUSED,
        TRACKER_NOT_RUNNING,
        ORDER_CONTENDED,
        DATABASE_DOWN,
    ),
)
@autocommitting
def complete_order(connection: Connection, order_identifier: str) -> dict[str, int]:
    """Flag an order for completion by the Job Tracker."""
    app = runtime()
    try:
        if app.settings.complete_requires_tracker:
            require_tracker(connection)
        number = request_completion(connection, order_identifier, app.lab, utcnow())
    except (CompletionRejected, TrackerNotRunning) as refusal:
        count_completion(refused_with=refusal.code)
        raise
    count_completion()
    return {"order_number": number}


@endpoint(
    v2,
    "GET",
    "/orders/<identifier:order_identifier>/status",
    tag=TAG,
    summary="An order's status, current station and completion progress",
    description="Rx-Universe's fields, then two that are ours, not Rx-Universe's: "
    "`pendingCompletion` (flagged, waiting for the Job Tracker) and `completionError` (why the "
    "tracker last refused to complete it).",
    path=OrderNumberPath,
    ok=Answer(200, "The order's status.", OrderStatusSchema, {"In coating": STATUS_EXAMPLE}),
    errors=(NO_RECORD, API_KEY_REFUSED, DATABASE_DOWN),
)
@transactional(write=False)
def order_status(session: Session, order_identifier: str) -> OrderState:
    """An order's status, current station and completion progress."""
    return get_order_state(session, order_identifier, runtime().lab)


@v2.post("/orders/<identifier:order_identifier>/complete/")
def complete_order_trailing_slash(order_identifier: str) -> NoReturn:
    """Not the documented path (a trailing slash): answered as Rx-Universe answers any call that
    names no order, 404 code 01, rather than with a routing 404 a client has no code for. Not an
    operation of its own, so not in the OpenAPI document."""
    raise OrderNotFound()
