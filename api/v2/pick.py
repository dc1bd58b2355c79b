"""`/api/v2/orders/{orderIdentifier}/pick`: lens and frame pick verification, read and
performed. Rx-Universe documents the bodies and one refusal, `Order already picked`; the other
refusals' wording, the summary above them and the statuses are ours."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import Connection

from api.http.endpoints import Answer, endpoint
from api.http.errors import (
    API_KEY_REFUSED,
    BODY_TOO_LARGE,
    DATABASE_DOWN,
    INVALID_REQUEST,
    NO_RECORD,
    OURS,
    ErrorSchema,
    error_body,
)
from api.http.fields import Input
from api.http.runtime import autocommitting, runtime
from api.v2 import TAG, OrderAnyIdentifierPath
from shared.domain.errors import PickRefused
from shared.domain.pick import ALREADY_PICKED
from shared.orders.pick import PickInfo, perform_pick, read_pick

blueprint = Blueprint("v2_pick", __name__, url_prefix="/api/v2")

_PICKED = {
    "rtLensPicked": "rtLens",
    "ltLensPicked": "ltLens",
    "framePicked": "frame",
    "framePartPicked": "framePart",
    "frameSideShieldPicked": "frameSideShield",
    "misc1Picked": "misc1",
    "misc2Picked": "misc2",
}
_CODES = (
    "rtOPC",
    "ltOPC",
    "frameUPC",
    "frameSKU",
    "framePartSKU",
    "frameSideShieldSKU",
    "misc1SKU",
    "misc2SKU",
)


def _code(description: str) -> fields.String:
    return fields.String(validate=validate.Length(1, 20), metadata={"description": description})


class PickCodesSchema(Input):
    """The codes scanned, each optional (at most 20 characters)."""

    rtOPC = _code("The OPC to check for the right lens.")
    ltOPC = _code("The OPC to check for the left lens.")
    frameUPC = _code("The frame's UPC; not alongside frameSKU.")
    frameSKU = _code("The frame's SKU; not alongside frameUPC.")
    framePartSKU = _code("The frame part's SKU.")
    frameSideShieldSKU = _code("The side shield's SKU.")
    misc1SKU = _code("The first miscellaneous item's SKU.")
    misc2SKU = _code("The second miscellaneous item's SKU.")


class PickedSchema(Schema):
    """The pick state: the order, what is picked, and the warehouse."""

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        """The view's body (`pick_body`) already holds each field's JSON value: kept key for key, in
        the fields' order, without marshmallow's dump (a fifth of the pick read's time, as the
        status read's; tests/test_schemas.py holds the two equal)."""
        if many or self.many or self.only or self.exclude:
            return super().dump(obj, many=many)
        return {key: obj[key] for key in self.dump_fields}

    orderNumber = fields.String(metadata={"example": "228844"})
    trayNumber = fields.String(allow_none=True, metadata={"example": "45478"})
    poNumber = fields.String(allow_none=True, metadata={"example": "XYZ123"})
    rtLensPicked = fields.Boolean()
    ltLensPicked = fields.Boolean()
    framePicked = fields.Boolean()
    framePartPicked = fields.Boolean()
    frameSideShieldPicked = fields.Boolean()
    misc1Picked = fields.Boolean()
    misc2Picked = fields.Boolean()
    warehouse = fields.String(metadata={"example": "DEFAULT"})


class PickInformationSchema(PickedSchema):
    """The pick state, whether a pick is allowed, and the codes the order expects (null for an
    item it does not have)."""

    pickAllowed = fields.Boolean()
    pickRejectReason = fields.String(
        allow_none=True,
        metadata={
            "description": "`Order already picked` (Rx-Universe's) once every item the order "
            "needs is picked; " + OURS + "`Order marked for cancelation`, `Order already "
            "completed`, `Order has no items to pick`."
        },
    )
    rtOPC = fields.String(allow_none=True)
    ltOPC = fields.String(allow_none=True)
    frameUPC = fields.String(allow_none=True)
    frameSKU = fields.String(allow_none=True)
    framePartSKU = fields.String(allow_none=True)
    frameSideShieldSKU = fields.String(allow_none=True)
    misc1SKU = fields.String(allow_none=True)
    misc2SKU = fields.String(allow_none=True)


def pick_body(info: PickInfo) -> dict[str, Any]:
    return {
        "orderNumber": str(info.order_number),
        "trayNumber": info.tray_number,
        "poNumber": info.po_number,
        **{key: info.picked[item] for key, item in _PICKED.items()},
        "warehouse": info.warehouse,
        "pickAllowed": info.reject_reason is None,
        "pickRejectReason": info.reject_reason,
        **{code: info.codes[code] for code in _CODES},
    }


INFORMATION_EXAMPLE = {
    "orderNumber": "228844",
    "trayNumber": "45478",
    "poNumber": "XYZ123",
    "rtLensPicked": True,
    "ltLensPicked": True,
    "framePicked": False,
    "framePartPicked": False,
    "frameSideShieldPicked": False,
    "misc1Picked": False,
    "misc2Picked": False,
    "warehouse": "DEFAULT",
    "pickAllowed": False,
    "pickRejectReason": ALREADY_PICKED,
    "rtOPC": "0209448281",
    "ltOPC": "0209448281",
    "frameUPC": None,
    "frameSKU": None,
    "framePartSKU": None,
    "frameSideShieldSKU": None,
    "misc1SKU": None,
    "misc2SKU": None,
}
PICKED_EXAMPLE = dict(list(INFORMATION_EXAMPLE.items())[:11])
PICK_REFUSED = Answer(
    400,
    "Not picked (" + OURS + "the status, the summary and every reason but `Order already "
    "picked`): every item the order needs is picked already, the order is cancelled or "
    "completed or needs nothing picked, frameUPC came with frameSKU, no code was sent, a code is "
    "for an item the order does not need or is not the order's, or (Partial Picking off) the "
    "lenses, or the frame's items, did not come in one call. Or a code is longer than 20 "
    "characters.",
    ErrorSchema,
    {
        "Already picked": error_body(PickRefused.error, [ALREADY_PICKED]),
        "A wrong code": error_body(
            PickRefused.error, ["rtOPC 0209448212 does not match the order"]
        ),
        "An unneeded code": error_body(
            PickRefused.error, ["misc1SKU 12345 is not needed for this order"]
        ),
        "A code too long": error_body(INVALID_REQUEST, ["rtOPC: Length must be between 1 and 20."]),
    },
)


@endpoint(
    blueprint,
    "GET",
    "/orders/<segment:order_identifier>/pick",
    tag=TAG,
    summary="An order's lens and frame pick information",
    description="What is picked, whether a pick is allowed, and the codes the order expects "
    "(null where it has no such item).",
    path=OrderAnyIdentifierPath,
    ok=Answer(200, "The pick information.", PickInformationSchema, {"Picked": INFORMATION_EXAMPLE}),
    errors=(NO_RECORD, API_KEY_REFUSED, DATABASE_DOWN),
)
@autocommitting
def pick_information(connection: Connection, order_identifier: str) -> dict[str, Any]:
    """An order's pick information."""
    return pick_body(read_pick(connection, runtime().lab, order_identifier))


@endpoint(
    blueprint,
    "POST",
    "/orders/<segment:order_identifier>/pick",
    tag=TAG,
    summary="Perform lens and/or frame pick verification",
    description="Each code sent is checked against the order's; the items they name are "
    "recorded as picked. With the lab's Partial Picking off (the lab file's "
    "`pick.partial_picking`), both lenses come in one call, and all the frame's items in one "
    "call. " + OURS + "the 200.",
    path=OrderAnyIdentifierPath,
    body=PickCodesSchema,
    ok=Answer(200, "The new pick state.", PickedSchema, {"Picked": PICKED_EXAMPLE}),
    errors=(PICK_REFUSED, NO_RECORD, BODY_TOO_LARGE, API_KEY_REFUSED, DATABASE_DOWN),
)
@autocommitting
def perform_pick_verification(
    connection: Connection, order_identifier: str, body: dict[str, Any]
) -> dict[str, Any]:
    """Perform lens and/or frame pick verification."""
    return pick_body(perform_pick(connection, runtime().lab, order_identifier, body))
