"""The simulator's orders: create one, change it, scan it at a station, reset them all."""

from __future__ import annotations

from typing import Any, ClassVar

from flask import Blueprint
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema
from sqlalchemy.orm import Session

from api.http.endpoints import Answer, endpoint
from api.http.errors import (
    ADMIN_KEY_REFUSED,
    BODY_TOO_LARGE,
    DATABASE_DOWN,
    INVALID_BODY,
    NO_RECORD,
    SIM_WRITE_REFUSED,
)
from api.http.fields import (
    LAB_ADDONS,
    LAB_OPERATORS,
    LAB_STATIONS,
    Digits,
    Flag,
    Input,
    OrderNumber,
    Text,
    code_enum,
)
from api.http.runtime import runtime, transactional
from api.sim import SIM, TAG
from api.v2.orders import OrderStatusSchema
from shared.db.models import Order
from shared.domain.clock import local_date, utcnow
from shared.domain.codes import JobType, OrderStatus
from shared.orders.lookup import OrderState, state_of
from shared.orders.pick import CODE_COLUMNS
from shared.sim import orders

blueprint = Blueprint("sim_orders", __name__, url_prefix="/api/sim")


# The order's pick-code columns, as the schema's fields below load them (their attributes).
PICK_CODE_COLUMNS = tuple(CODE_COLUMNS.values())


def _pick_code(key: str, description: str) -> fields.String:
    return fields.String(
        data_key=key,
        allow_none=True,
        validate=validate.Length(1, 20),
        metadata={"description": description + " null: the order has no such item."},
    )


class NewOrderSchema(Input):
    """`POST /api/sim/orders`: every key optional."""

    order_number = OrderNumber(data_key="orderNumber")
    tray_number = Digits(max_digits=5, data_key="trayNumber", allow_none=True)
    po_number = Text(data_key="poNumber", allow_none=True, validate=validate.Length(max=21))
    job_type = code_enum(JobType, data_key="jobType")
    status = code_enum(OrderStatus, data_key="status")
    on_hold = Flag(data_key="onHold")
    deleted = Flag(data_key="deleted")
    unvalid_message = Text(
        data_key="unvalidMessage", allow_none=True, validate=validate.Length(max=255)
    )
    rt_calculated = Flag(data_key="rtCalculated")
    lt_calculated = Flag(data_key="ltCalculated")
    stock = Flag(
        metadata={"description": "A stock order (not a prescription job): no work ticket."}
    )
    rt_opc = _pick_code("rtOPC", "The right lens's OPC; by default the lab's first lens.")
    lt_opc = _pick_code("ltOPC", "The left lens's OPC; by default the lab's first lens.")
    frame_upc = _pick_code("frameUPC", "The frame's UPC; by default the lab file's pick.frame_upc.")
    frame_sku = _pick_code("frameSKU", "The frame's SKU.")
    frame_part_sku = _pick_code("framePartSKU", "The frame part's SKU.")
    frame_side_shield_sku = _pick_code("frameSideShieldSKU", "The side shield's SKU.")
    misc1_sku = _pick_code("misc1SKU", "The first miscellaneous item's SKU.")
    misc2_sku = _pick_code("misc2SKU", "The second miscellaneous item's SKU.")

    @post_load
    def _group_pick_codes(self, data: dict[str, Any], **_: object) -> dict[str, Any]:
        codes = {key: data.pop(key) for key in PICK_CODE_COLUMNS if key in data}
        if codes:
            data["pick_codes"] = codes
        return data

    addons = fields.List(
        Text(validate=validate.Length(1, 20), metadata=LAB_ADDONS),
        validate=validate.Length(max=50),
    )
    stations = fields.List(
        Text(validate=validate.Length(1, 20), metadata=LAB_STATIONS),
        validate=validate.Length(max=200),
    )


class OrderChangesSchema(Input):
    """`PATCH /api/sim/orders/{id}`: at least one key."""

    # What the validator below says, for the OpenAPI document (api.http.openapi merges it in).
    openapi_extra: ClassVar[dict[str, Any]] = {"minProperties": 1}

    status = code_enum(OrderStatus, data_key="status")
    on_hold = Flag(data_key="onHold")
    deleted = Flag(data_key="deleted")
    unvalid_message = Text(
        data_key="unvalidMessage", allow_none=True, validate=validate.Length(max=255)
    )

    @validates_schema
    def _something(self, data: dict[str, Any], **_: object) -> None:
        if not data:
            raise ValidationError("Give at least one of status, onHold, deleted, unvalidMessage.")


class CheckInSchema(Input):
    """`POST /api/sim/orders/{id}/checkins`."""

    station = Text(required=True, validate=validate.Length(1, 20), metadata=LAB_STATIONS)
    operator = Text(allow_none=True, validate=validate.Length(1, 20), metadata=LAB_OPERATORS)


class ResetSchema(Schema):
    """`POST /api/sim/reset`: how many orders were deleted."""

    message = fields.Constant("Successful", metadata={"type": "string", "enum": ["Successful"]})
    ordersDeleted = fields.Integer(attribute="orders_deleted", metadata={"minimum": 0})


class OrderNumberPath(Schema):
    """`{orderNumber}` in the simulator's order paths: an order number only."""

    order_identifier = fields.String(
        data_key="orderNumber",
        metadata={
            "description": "The order number (leading zeros are ignored). Anything else "
            "answers 404 No record found.",
            "example": "33719",
        },
    )


ORDER_STATE = "The order's status representation, as the status endpoint shows it."


def _state(session: Session, order: Order) -> OrderState:
    session.flush()
    return state_of(session, order.order_number, runtime().lab)


@endpoint(
    blueprint,
    "POST",
    "/orders",
    tag=TAG,
    summary="Create an order in any state",
    description=SIM + "Every key is optional; `addons` and `stations` take the lab file's codes. "
    "The body is JSON (`Content-Type: application/json`; sent with none it is read as JSON "
    "too); an empty body counts as `{}`.",
    body=NewOrderSchema,
    ok=Answer(201, ORDER_STATE, OrderStatusSchema),
    errors=(INVALID_BODY, ADMIN_KEY_REFUSED, *SIM_WRITE_REFUSED, BODY_TOO_LARGE, DATABASE_DOWN),
)
@transactional(write=True)
def create_order(session: Session, body: dict[str, Any]) -> OrderState:
    """Create an order in any state, with its addons and the stations it has passed."""
    now = utcnow()
    order = orders.create_order(
        session,
        runtime().lab,
        now=now,
        today=local_date(now, runtime().settings.lab_timezone),
        **body,
    )
    return _state(session, order)


@endpoint(
    blueprint,
    "PATCH",
    "/orders/<segment:order_identifier>",
    tag=TAG,
    summary="Change an order's status, hold, deletion or unvalid message",
    description=SIM + "Give at least one key. Setting status `C` sets the completion date; "
    "leaving `C` clears it.",
    path=OrderNumberPath,
    body=OrderChangesSchema,
    ok=Answer(200, ORDER_STATE, OrderStatusSchema),
    errors=(
        INVALID_BODY,
        ADMIN_KEY_REFUSED,
        *SIM_WRITE_REFUSED,
        NO_RECORD,
        BODY_TOO_LARGE,
        DATABASE_DOWN,
    ),
)
@transactional(write=True)
def update_order(session: Session, order_identifier: str, body: dict[str, Any]) -> OrderState:
    """Change an order's status, hold, deletion or unvalid message."""
    today = local_date(utcnow(), runtime().settings.lab_timezone)
    order = orders.update_order(session, order_identifier, today=today, **body)
    return _state(session, order)


@endpoint(
    blueprint,
    "POST",
    "/orders/<identifier:order_identifier>/checkins",
    tag=TAG,
    summary="Scan an order into a station, without job-flow verification",
    description=SIM + "A Valid order goes in Process.",
    path=OrderNumberPath,
    body=CheckInSchema,
    ok=Answer(201, ORDER_STATE, OrderStatusSchema),
    errors=(
        INVALID_BODY,
        ADMIN_KEY_REFUSED,
        *SIM_WRITE_REFUSED,
        NO_RECORD,
        BODY_TOO_LARGE,
        DATABASE_DOWN,
    ),
)
@transactional(write=True)
def record_checkin(session: Session, order_identifier: str, body: dict[str, Any]) -> OrderState:
    """Scan an order into a station, without verification."""
    order = orders.record_checkin(
        session,
        runtime().lab,
        order_identifier,
        station=body["station"],
        operator=body.get("operator"),
        now=utcnow(),
    )
    return _state(session, order)


@endpoint(
    blueprint,
    "POST",
    "/reset",
    tag=TAG,
    summary="Delete every order",
    description=SIM + "Deletes every order with its addons and check-ins, and every submitted "
    "order, waiting or imported. No body.",
    ok=Answer(
        200,
        "How many orders were deleted.",
        ResetSchema,
        {"Two orders deleted": {"message": "Successful", "ordersDeleted": 2}},
    ),
    errors=(ADMIN_KEY_REFUSED, *SIM_WRITE_REFUSED, DATABASE_DOWN),
)
@transactional(write=True)
def reset(session: Session) -> dict[str, int]:
    """Delete every order."""
    return {"orders_deleted": orders.reset(session)}
