"""`POST /api/v2/orders/{orderIdentifier}/complete`: check the order and flag it for the Job
Tracker."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NoReturn

from flask import Blueprint
from marshmallow import Schema, fields
from prometheus_client import Counter
from sqlalchemy import Connection

from api.http.endpoints import Answer, endpoint
from api.http.errors import (
    API_KEY_REFUSED,
    COMPLETION_FAILED,
    DATABASE_DOWN,
    ORDER_CONTENDED_DETAIL,
    OURS,
    SERVICE_UNAVAILABLE,
    ErrorSchema,
    error_body,
    refusal_details,
)
from api.http.runtime import autocommitting, require_tracker, runtime
from api.v2 import TAG
from shared.domain.clock import utcnow
from shared.domain.errors import (
    CompletionRejected,
    JobFlowIncomplete,
    OrderAlreadyCompleted,
    OrderDeleted,
    OrderNotFound,
    OrderOnHold,
    OrderUnvalid,
    TrackerNotRunning,
)
from shared.orders.flag import request_completion

blueprint = Blueprint("v2_completion", __name__, url_prefix="/api/v2")


class OrderIdentifierPath(Schema):
    """The completion call's `{orderIdentifier}`: the order number, as Rx-Universe's page says."""

    order_identifier = fields.String(
        data_key="orderIdentifier",
        metadata={
            "description": "The order number (leading zeros are ignored). Anything else "
            "answers 404 with error code 01, unless the lab file says `completion_identifiers = "
            '"any"` (ours; the default is the completion contract\'s order number only): then, '
            "as on the other order pages, the tray number of an active order or a PO number that "
            "names one order too.",
            "example": "33719",
        },
    )


class CompletionAcceptedSchema(Schema):
    """`POST /api/v2/orders/{id}/complete` accepted: the order is flagged."""

    orderNumber = fields.String(attribute="order_number", metadata={"example": "33719"})
    message = fields.Constant("Successful", metadata={"type": "string", "enum": ["Successful"]})


COMPLETION_CALLS = Counter(
    "rx_completion_calls_total",
    "Completion calls answered by the API: accepted (201) or refused, by Rx-Universe code",
    ["outcome", "code"],
)


def count_completion(refused_with: str | None = None) -> None:
    """Note a completion call's answer: accepted, or refused with Rx-Universe's code."""
    _completion_series(refused_with)()


@functools.cache
def _completion_series(refused_with: str | None) -> Callable[[], None]:
    if refused_with is None:
        return COMPLETION_CALLS.labels("accepted", "").inc
    return COMPLETION_CALLS.labels("refused", refused_with).inc


def _refusal(e: CompletionRejected | TrackerNotRunning) -> dict[str, Any]:
    return error_body(COMPLETION_FAILED, refusal_details(e))


ORDER_NOT_FOUND = Answer(
    404,
    "Error code 01: no order has this number.",
    ErrorSchema,
    {"Order not found (01)": _refusal(OrderNotFound())},
)
COMPLETION_REFUSED = Answer(
    400,
    "The order cannot be completed; the checks run in the order of the examples and the first "
    "that fails answers. Code 20 names the first process the order still needs (`Needs AR!`, "
    "`Needs Hard Coat!` ... as the lab file words them).",
    ErrorSchema,
    {
        f"{e.message} ({e.code})": _refusal(e)
        for e in (
            OrderDeleted(),
            OrderUnvalid(),
            OrderAlreadyCompleted(),
            OrderOnHold(),
            JobFlowIncomplete("Needs Backside Coat!"),
        )
    },
)
ORDER_CONTENDED = Answer(
    503,
    OURS + "the order kept changing under five attempts in a row; try again.",
    ErrorSchema,
    {"The order keeps changing": error_body(SERVICE_UNAVAILABLE, [ORDER_CONTENDED_DETAIL])},
)
TRACKER_NOT_RUNNING = Answer(
    503,
    OURS + "with `COMPLETE_REQUIRES_TRACKER=on`, while no Job Tracker's heartbeat is fresh: "
    "the order is not flagged (nothing is changed); `Retry-After` says when to try again. "
    "Rx-Universe's error shape, with our internal-error code 99.",
    ErrorSchema,
    {"No Job Tracker running (99)": _refusal(TrackerNotRunning())},
)


@endpoint(
    blueprint,
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


@blueprint.post("/orders/<identifier:order_identifier>/complete/")
def complete_order_trailing_slash(order_identifier: str) -> NoReturn:
    """Not the documented path (a trailing slash): answered as Rx-Universe answers any call that
    names no order, 404 code 01, rather than with a routing 404 a client has no code for. Not an
    operation of its own, so not in the OpenAPI document."""
    raise OrderNotFound()
