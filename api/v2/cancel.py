"""`DELETE /api/v2/orders/{orderIdentifier}`: flag an order for deletion, with Rx-Universe's
refusals."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy.orm import Session

from api.http.endpoints import Answer, endpoint
from api.http.errors import (
    API_KEY_REFUSED,
    DATABASE_DOWN,
    INVALID_QUERY,
    NO_RECORD,
    ErrorSchema,
    error_body,
)
from api.http.runtime import runtime, transactional
from api.v2 import TAG, OrderAnyIdentifierPath
from shared.domain.errors import (
    CancelOrderCompleted,
    CancelRefused,
    DeleteReasonsEmpty,
    DeleteReasonUnknown,
    JobTrackerModuleRequired,
    NonCancelStationPassed,
)
from shared.orders.cancel import CancelDone, cancel_order

blueprint = Blueprint("v2_cancel", __name__, url_prefix="/api/v2")


class CancelQuery(Schema):
    class Meta:
        unknown = RAISE

    delete_reason = fields.String(
        data_key="deleteReason",
        validate=validate.Length(max=20),
        metadata={"description": "A delete reason code from the lab file."},
    )


class CancelDoneSchema(Schema):
    """A cancel performed; `message` is empty, or a warning."""

    orderNumber = fields.String(attribute="order.order_number", metadata={"example": "33719"})
    trayNumber = fields.String(attribute="order.tray_number", allow_none=True)
    poNumber = fields.String(attribute="order.po_number", allow_none=True)
    message = fields.String(
        metadata={
            "enum": ["", "deleteReason ignored"],
            "description": "Empty; or `deleteReason ignored` (a reason the lab does not ask "
            "for; the warning's wording is ours, Rx-Universe documents none).",
        }
    )


def _cancel(e: CancelRefused) -> dict[str, Any]:
    return error_body(e.error, e.details)


CANCEL_REFUSED = Answer(
    400,
    "The order cannot be cancelled: the lab has no Job Tracker module (the lab file's "
    "`job_tracker_module`), the order is already cancelled or completed (both `Order already "
    "completed`, as Rx-Universe answers), it has passed a non-cancel station, or the lab "
    "requires a delete reason and none of its reasons was given.",
    ErrorSchema,
    {
        e.error: _cancel(e)
        for e in (
            JobTrackerModuleRequired(),
            CancelOrderCompleted(),
            NonCancelStationPassed(),
            DeleteReasonUnknown("9999"),
            DeleteReasonsEmpty(),
        )
    },
)


@endpoint(
    blueprint,
    "DELETE",
    "/orders/<segment:order_identifier>",
    tag=TAG,
    summary="Cancel an order (flag it for deletion)",
    description="The order stays, marked for cancelation: its status read then answers "
    "`Order marked for cancelation`, a completion call code 02. `deleteReason` (a query "
    "parameter) is required when the lab requires one, and ignored with a warning in `message` "
    "otherwise. A second cancel is refused (`Order already completed`). An order with a "
    "completion flag keeps it: the Job Tracker rejects it with 02.",
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
