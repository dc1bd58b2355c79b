"""`POST /api/v2/orders/{orderIdentifier}/tray`: tray assignment, as Rx-Workstations' Tray
Assignment asks Rx-Universe for it. Rx-Universe documents its messages, not its route: the route,
the body and the statuses are ours."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from marshmallow import Schema, fields
from sqlalchemy.orm import Session

from api.http.endpoints import Answer, endpoint
from api.http.errors import (
    API_KEY_REFUSED,
    BODY_TOO_LARGE,
    DATABASE_DOWN,
    INVALID_REQUEST,
    OURS,
    ErrorSchema,
    error_body,
)
from api.http.fields import Flag, Identifier, Input
from api.http.runtime import transactional
from api.v2 import TAG
from shared.db.models import Order
from shared.domain.errors import (
    OrderAlreadyHasTray,
    TrayAssignmentRefused,
    TrayIdentifierMalformed,
    TrayInUse,
    TrayNotNumeric,
    TrayOrderCompleted,
    TrayOrderDeleted,
    TrayOrderNotFound,
    TrayOrderOnHold,
    TrayTooLong,
)
from shared.orders import trays

blueprint = Blueprint("v2_trays", __name__, url_prefix="/api/v2")


class OrderNumberOrPoPath(Schema):
    """`{orderIdentifier}` for tray assignment: an order number or a PO number only."""

    order_identifier = fields.String(
        data_key="orderIdentifier",
        metadata={
            "description": "The order number, or a PO number that names exactly one order (a "
            "tray number is not accepted: the order is being put in one).",
            "example": "33719",
        },
    )


class TrayText(Identifier):
    """A tray number as sent: a string (checked by the assignment, in Rx-Universe's order), or a
    non-negative integer, taken as its digits (ours); read as an order identifier is."""

    def openapi_property(self) -> dict[str, Any]:
        """Digits, at most five of them (anything else is answered by the assignment)."""
        return {
            "oneOf": [{"type": "string"}, {"type": "integer", "minimum": 0}],
            "description": "The tray: digits, at most five.",
            "example": "123",
        }


class TrayAssignmentSchema(Input):
    """The tray, and whether to move an order that already has one (ours: Rx-Universe's
    workstation has a Reassign button, its API documents no flag)."""

    trayNumber = TrayText(required=True)
    reassign = Flag(
        load_default=False,
        metadata={"description": OURS + "true moves an order that already has a tray."},
    )


class TrayAssignedSchema(Schema):
    """The order, in its tray."""

    orderNumber = fields.String(attribute="order_number", metadata={"example": "33719"})
    trayNumber = fields.String(attribute="tray_number", metadata={"example": "123"})
    poNumber = fields.String(attribute="po_number", allow_none=True, metadata={"example": "PO-7"})


_MISSING_TRAY = "trayNumber: Missing data for required field."


def _refused(e: TrayAssignmentRefused) -> dict[str, Any]:
    return error_body(e.error, [e.reason])


TRAY_REFUSED = Answer(
    400,
    "Refused, in Rx-Universe's priority order, with its message as the one detail (the summary "
    "`Tray assignment rejected` is ours): an identifier no order or PO number could be, a "
    "completed order, a tray that is not digits or has more than five, a cancelled order, an "
    "order waiting for the Job Tracker to complete it (`Cannot assign a completed order to a "
    "tray`, as Rx-Universe says), an order on hold, a tray another active order is in (the "
    "message after `Tray is already` is ours: Rx-Universe's is cut off in its docs), an order "
    "that has a tray and no `reassign`.",
    ErrorSchema,
    {
        e.reason: _refused(e)
        for e in (
            TrayIdentifierMalformed(),
            TrayOrderCompleted(),
            TrayNotNumeric(),
            TrayTooLong(),
            TrayOrderDeleted(),
            TrayOrderOnHold(),
            TrayInUse(),
            OrderAlreadyHasTray(),
        )
    }
    | {
        "An invalid body": error_body(
            INVALID_REQUEST, ["trayNumber: Missing data for required field."]
        )
    },
)
TRAY_ORDER_NOT_FOUND = Answer(
    404,
    "No order has this order number, and no single order this PO number.",
    ErrorSchema,
    {"Order not found": _refused(TrayOrderNotFound())},
)


@endpoint(
    blueprint,
    "POST",
    "/orders/<segment:order_identifier>/tray",
    tag=TAG,
    summary="Assign an order to a tray",
    description=OURS + "the route, the body and the statuses: Rx-Universe documents tray "
    "assignment's messages, which are exact here, but not its call. An unvalid order may be "
    "given a tray. A tray is in use while an order in it is active: a completed or cancelled "
    "order's tray is free again.",
    path=OrderNumberOrPoPath,
    body=TrayAssignmentSchema,
    ok=Answer(
        200,
        "The order is in the tray.",
        TrayAssignedSchema,
        {"Assigned": {"orderNumber": "33719", "trayNumber": "123", "poNumber": "PO-7"}},
    ),
    errors=(TRAY_REFUSED, TRAY_ORDER_NOT_FOUND, BODY_TOO_LARGE, API_KEY_REFUSED, DATABASE_DOWN),
)
@transactional(write=True)
def assign_tray(session: Session, order_identifier: str, body: dict[str, Any]) -> Order:
    """Assign an order to a tray."""
    return trays.assign_tray(
        session, order_identifier, body["trayNumber"], reassign=body["reassign"]
    )
