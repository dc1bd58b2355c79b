"""Rx-Universe's v2 endpoints, as documented."""

from __future__ import annotations

from typing import Any, NoReturn

from flask import Blueprint
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from api.endpoints import Answer, endpoint
from api.errors import (
    API_KEY_REFUSED,
    CANCEL_REFUSED,
    CANCELLED_STATUS,
    COMPLETION_REFUSED,
    DATABASE_DOWN,
    INVALID_QUERY,
    NO_RECORD,
    ORDER_CONTENDED,
    ORDER_NOT_FOUND,
    OURS,
    TRACKER_NOT_RUNNING,
)
from api.metrics import count_completion
from api.runtime import autocommitting, require_tracker, runtime, transactional
from api.schemas import (
    CancelDoneSchema,
    CancelQuery,
    CompletionAcceptedSchema,
    HistorySchema,
    OrderAnyIdentifierPath,
    OrderIdentifierPath,
    OrderListSchema,
    OrderSchema,
    OrdersQuery,
    OrderStatusSchema,
)
from shared.cancellation import CancelDone, cancel_order
from shared.completion.flag import request_completion
from shared.domain.clock import utcnow
from shared.domain.errors import CompletionRejected, OrderNotFound, TrackerNotRunning
from shared.orders import (
    OrderDetails,
    OrderHistory,
    OrderPage,
    OrderState,
    list_orders,
    order_history,
    read_details,
    read_state,
)

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
        number = request_completion(
            connection, order_identifier, app.lab, utcnow(), app.announce_flag
        )
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
    path=OrderAnyIdentifierPath,
    ok=Answer(200, "The order's status.", OrderStatusSchema, {"In coating": STATUS_EXAMPLE}),
    errors=(CANCELLED_STATUS, NO_RECORD, API_KEY_REFUSED, DATABASE_DOWN),
)
@autocommitting
def order_status(connection: Connection, order_identifier: str) -> OrderState:
    """An order's status, current station and completion progress."""
    return read_state(connection, order_identifier, runtime().lab)


ORDER_EXAMPLE = {
    "orderNumber": "33719",
    "trayNumber": "123",
    "poNumber": "PO-7",
    "jobType": "F",
    "jobTypeDesc": "Full",
    "status": "P",
    "statusDesc": "Process",
    "onHold": False,
    "unvalidMessage": None,
    "calculationDesc": "Both eyes calculated",
    "rtCalculated": True,
    "ltCalculated": True,
    "dateOrdered": "2026-11-27",
    "dateCompleted": None,
    "currentStation": "BSC",
    "currentStationDesc": "BACKSIDE COATER",
    "currentStationCustomerDesc": "IN COATING",
    "currentStationDateTime": "2026-11-27T17:26:21.123Z",
    "arCode": "AR",
    "arDesc": "ANTI-REFLECTIVE",
    "addons": [{"code": "AR", "desc": "ANTI-REFLECTIVE"}, {"code": "BSC", "desc": "BACKSIDE COAT"}],
    "deleted": False,
    "pendingCompletion": False,
    "completionError": None,
}
OURS_ORDER = (
    " `jobTypeDesc`, `deleted`, `pendingCompletion` and `completionError` are ours, not "
    "Rx-Universe's; `arCode` and `arDesc` name the order's first AR addon (by code)."
)


@endpoint(
    v2,
    "GET",
    "/orders",
    tag=TAG,
    summary="Orders, newest first",
    description="Highest order number first. `status` filters by the shown status (`W`: on "
    "hold), `station` by the current station (the latest check-in). `total` counts every "
    "matching order, ignoring `limit` and `offset`; no `limit` lists them all." + OURS_ORDER,
    query=OrdersQuery,
    ok=Answer(
        200, "The orders.", OrderListSchema, {"Orders": {"total": 1, "orders": [ORDER_EXAMPLE]}}
    ),
    errors=(INVALID_QUERY, API_KEY_REFUSED, DATABASE_DOWN),
)
@transactional(write=False)
def orders(session: Session, query: dict[str, Any]) -> OrderPage:
    """Orders, newest first."""
    return list_orders(session, runtime().lab, **query)


@endpoint(
    v2,
    "GET",
    "/orders/<segment:order_identifier>",
    tag=TAG,
    summary="A whole order",
    description="Its status representation's fields, its job type, dates and addons." + OURS_ORDER,
    path=OrderAnyIdentifierPath,
    ok=Answer(200, "The order.", OrderSchema, {"In coating": ORDER_EXAMPLE}),
    errors=(NO_RECORD, API_KEY_REFUSED, DATABASE_DOWN),
)
@autocommitting
def order(connection: Connection, order_identifier: str) -> OrderDetails:
    """A whole order."""
    return read_details(connection, order_identifier, runtime().lab)


@endpoint(
    v2,
    "GET",
    "/orders/<identifier:order_identifier>/history",
    tag=TAG,
    summary="An order's check-ins, oldest first",
    description=OURS + "an endpoint in the v2 style: every station the order was checked in "
    "at, with the operator and the time, the Job Tracker's completion included.",
    path=OrderAnyIdentifierPath,
    ok=Answer(
        200,
        "The order's check-ins.",
        HistorySchema,
        {
            "Two check-ins": {
                "orderNumber": "33719",
                "checkins": [
                    {
                        "code": "GEN",
                        "desc": "GEN-LOH GENERATOR",
                        "customerDesc": "IN SURFACING",
                        "operator": None,
                        "statusDateTime": "2026-11-27T15:02:11.000Z",
                    },
                    {
                        "code": "FQA",
                        "desc": "FINAL QA",
                        "customerDesc": "IN FINAL INSPECTION",
                        "operator": "JD",
                        "statusDateTime": "2026-11-27T17:26:21.123Z",
                    },
                ],
            }
        },
    ),
    errors=(NO_RECORD, API_KEY_REFUSED, DATABASE_DOWN),
)
@transactional(write=False)
def history(session: Session, order_identifier: str) -> OrderHistory:
    """An order's check-ins, oldest first."""
    return order_history(session, order_identifier, runtime().lab)


@endpoint(
    v2,
    "DELETE",
    "/orders/<segment:order_identifier>",
    tag=TAG,
    summary="Cancel an order (flag it for deletion)",
    description="The order stays, marked for cancelation: its status read then answers "
    "`Order marked for cancelation`, a completion call code 02. `deleteReason` (a query "
    "parameter) is required when the lab requires one, and ignored with a warning in `message` "
    "otherwise. A second cancel answers 200 again with `message` `Order already marked for "
    "cancelation`. An order with a completion flag keeps it: the Job Tracker rejects it with 02.",
    path=OrderAnyIdentifierPath,
    query=CancelQuery,
    ok=Answer(
        200,
        "The order is marked for cancelation.",
        CancelDoneSchema,
        {
            "Cancelled": {
                "orderNumber": "33719",
                "trayNumber": "123",
                "poNumber": "PO-7",
                "message": "",
            },
            "A reason the lab does not ask for": {
                "orderNumber": "33719",
                "trayNumber": "123",
                "poNumber": "PO-7",
                "message": "deleteReason ignored",
            },
        },
    ),
    errors=(CANCEL_REFUSED, NO_RECORD, INVALID_QUERY, API_KEY_REFUSED, DATABASE_DOWN),
)
@transactional(write=True)
def cancel(session: Session, order_identifier: str, query: dict[str, Any]) -> CancelDone:
    """Cancel an order."""
    return cancel_order(session, runtime().lab, order_identifier, query.get("delete_reason"))


@v2.post("/orders/<identifier:order_identifier>/complete/")
def complete_order_trailing_slash(order_identifier: str) -> NoReturn:
    """Not the documented path (a trailing slash): answered as Rx-Universe answers any call that
    names no order, 404 code 01, rather than with a routing 404 a client has no code for. Not an
    operation of its own, so not in the OpenAPI document."""
    raise OrderNotFound()
