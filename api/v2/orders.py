"""Reading orders: an order's status, the whole order, the list, its history."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from api.http.endpoints import Answer, endpoint
from api.http.errors import (
    API_KEY_REFUSED,
    DATABASE_DOWN,
    INVALID_QUERY,
    NO_RECORD,
    OURS,
    ErrorSchema,
    error_body,
)
from api.http.fields import ListQuery, Text, UTCMillis, dumped_text, utc_millis
from api.http.runtime import autocommitting, runtime, transactional
from api.v2 import TAG, OrderAnyIdentifierPath
from shared.domain.codes import JobType
from shared.domain.errors import OrderMarkedForCancelation
from shared.orders.lookup import (
    AddonOfOrder,
    CompletionError,
    CurrentStation,
    OrderDetails,
    OrderHistory,
    OrderPage,
    OrderState,
    list_orders,
    order_history,
    read_details,
    read_state,
)

blueprint = Blueprint("v2_orders", __name__, url_prefix="/api/v2")

# The response schemas' `metadata` and `allow_none` only document (api.http.openapi reads them): a
# dump writes every field whatever they say, so the bodies stay byte for byte as they were.
_TEXT: dict[str, Any] = {"type": "string"}


JOB_TYPE_DESCRIPTIONS = {"F": "Full", "U": "Uncut", "A": "Addon", "E": "Edge"}
STATUS_DESCRIPTIONS = {
    "U": "Unvalid",
    "V": "Valid",
    "P": "Process",
    "C": "Completed",
    "W": "On Hold",
}


def calculation_description(rt: bool, lt: bool) -> str:
    """Rx-Universe's words for which eyes have been calculated."""
    if rt and lt:
        return "Both eyes calculated"
    if rt:
        return "Right eye calculated"
    if lt:
        return "Left eye calculated"
    return "Calculations not done"


class CompletionErrorSchema(Schema):
    """Why the Job Tracker last refused the order: Rx-Universe's code and message (or our 99)."""

    code = fields.String(metadata={"example": "05"})
    message = fields.String(metadata={"example": "Order on hold"})


def _completion_fields(path: str) -> tuple[fields.Boolean, fields.Nested]:
    """Our two completion fields (pendingCompletion, completionError), read from the OrderState
    at `path` of what is dumped: the status body and the order body share them."""
    return (
        fields.Boolean(
            attribute=f"{path}pending_completion",
            metadata={
                "description": "Ours, not Rx-Universe's: flagged, waiting for the Job Tracker."
            },
        ),
        fields.Nested(
            CompletionErrorSchema,
            attribute=f"{path}completion_error",
            allow_none=True,
            metadata={
                "description": "Ours, not Rx-Universe's: why the Job Tracker last refused to "
                "complete the order (cleared when it is flagged again); null if it did not."
            },
        ),
    )


class OrderStatusSchema(Schema):
    """`GET /api/v2/orders/{id}/status`: Rx-Universe's fields, then our two."""

    orderNumber = fields.String(attribute="order_number", metadata={"example": "33719"})
    trayNumber = fields.String(attribute="tray_number", allow_none=True)
    poNumber = fields.String(attribute="po_number", allow_none=True)
    status = fields.String(metadata={"enum": ["U", "V", "P", "C", "W"]})
    statusDesc = fields.Function(
        lambda s: STATUS_DESCRIPTIONS.get(s.status, "Other"),
        metadata={"type": "string", "enum": [*STATUS_DESCRIPTIONS.values(), "Other"]},
    )
    onHold = fields.Boolean(attribute="on_hold")
    unvalidMessage = fields.String(attribute="unvalid_message", allow_none=True)
    calculationDesc = fields.Function(
        lambda s: calculation_description(s.rt_calculated, s.lt_calculated),
        metadata={"type": "string", "example": "Both eyes calculated"},
    )
    rtCalculated = fields.Boolean(attribute="rt_calculated")
    ltCalculated = fields.Boolean(attribute="lt_calculated")
    currentStation = fields.Function(lambda s: _station(s, "code"), allow_none=True, metadata=_TEXT)
    currentStationDesc = fields.Function(
        lambda s: _station(s, "description"), allow_none=True, metadata=_TEXT
    )
    currentStationCustomerDesc = fields.Function(
        lambda s: _station(s, "customer_description"), allow_none=True, metadata=_TEXT
    )
    currentStationDateTime = fields.Function(
        lambda s: utc_millis(s.current_station and s.current_station.checked_in_at),
        allow_none=True,
        metadata={"type": "string", "format": "date-time"},
    )
    pendingCompletion, completionError = _completion_fields("")

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        """The fields above, written out by hand (`status_body`): marshmallow's own dump took a
        third of the status read's time. tests/test_schemas.py holds the two equal."""
        if many or self.many or self.only or self.exclude:
            return super().dump(obj, many=many)
        return status_body(obj)


def status_body(state: OrderState) -> dict[str, Any]:
    """What OrderStatusSchema's fields dump, key for key."""
    return {
        **_numbers(state),
        **_progress(state),
        **_current_station(state),
        **_completion(state),
    }


def _numbers(state: OrderState) -> dict[str, Any]:
    return {
        "orderNumber": dumped_text(state.order_number),
        "trayNumber": dumped_text(state.tray_number),
        "poNumber": dumped_text(state.po_number),
    }


def _progress(state: OrderState) -> dict[str, Any]:
    return {
        "status": dumped_text(state.status),
        "statusDesc": STATUS_DESCRIPTIONS.get(state.status, "Other"),
        "onHold": _bool(state.on_hold),
        "unvalidMessage": dumped_text(state.unvalid_message),
        "calculationDesc": calculation_description(state.rt_calculated, state.lt_calculated),
        "rtCalculated": _bool(state.rt_calculated),
        "ltCalculated": _bool(state.lt_calculated),
    }


def _current_station(state: OrderState) -> dict[str, Any]:
    station = state.current_station
    return {
        "currentStation": None if station is None else station.code,
        "currentStationDesc": None if station is None else station.description,
        "currentStationCustomerDesc": None if station is None else station.customer_description,
        "currentStationDateTime": None if station is None else utc_millis(station.checked_in_at),
    }


def _completion(state: OrderState) -> dict[str, Any]:
    return {
        "pendingCompletion": _bool(state.pending_completion),
        "completionError": _completion_error(state.completion_error),
    }


def _bool(value: Any) -> bool | None:
    """As fields.Boolean dumps a bool (or None)."""
    return None if value is None else bool(value)


def _completion_error(error: CompletionError | None) -> dict[str, Any] | None:
    """As fields.Nested(CompletionErrorSchema) dumps."""
    if error is None:
        return None
    return {"code": dumped_text(error.code), "message": dumped_text(error.message)}


def _station(state: OrderState, attribute: str) -> str | None:
    station = state.current_station
    return None if station is None else getattr(station, attribute)


class OrdersQuery(ListQuery):
    status = fields.String(
        validate=validate.OneOf(["U", "V", "P", "C", "W"]),
        metadata={"description": "The shown status; `W`: on hold."},
    )
    station = Text(
        validate=validate.Length(1, 20),
        metadata={"description": "The current station's code (case-sensitive)."},
    )


class OrderAddonSchema(Schema):
    code = fields.String(metadata={"example": "AR"})
    desc = fields.String(attribute="description", allow_none=True)


# The order model's submitted fields by kind: text (`""` when not given, as the model types it
# `string`), numbers and integers (null when not given: ours, the model documents no empty value).
_RX: tuple[str, ...] = ("Add", "Axis", "Calculated", "Cylinder", "LensMaterial", "LensStyle")
_RX += ("OCHeight", "PD", "Prism", "PrismAngle", "SegHeight", "Sphere")
SUBMITTED_TEXT = frozenset(
    {"balanceLens", "frameColor", "frameManufacturer", "frameName", "frameSKU"}
    | {"frameStatusCode", "frameType", "frameUPC"}
    | {f"{eye}{name}" for eye in ("lt", "rt") for name in ("LensMaterial", "LensStyle")}
)
SUBMITTED_INTEGERS = frozenset(
    {"frameBridge", "frameEye", "frameTemple", "ltAxis", "rtAxis", "ltPrismAngle", "rtPrismAngle"}
)


def _submitted(name: str) -> fields.Function:
    """A field the order holds as submitted (POST /api/v2/orders)."""
    if name in SUBMITTED_TEXT:
        return fields.Function(lambda d: d.submitted.get(name) or "", metadata={"type": "string"})
    kind = "integer" if name in SUBMITTED_INTEGERS else "number"
    return fields.Function(
        lambda d: d.submitted.get(name), allow_none=True, metadata={"type": kind}
    )


def _text_or_empty(attribute: str) -> fields.Function:
    """A `string` of the model that the order may not have: `""` then."""
    return fields.Function(lambda d: _get(d, attribute) or "", metadata={"type": "string"})


def _get(obj: Any, path: str) -> Any:
    for name in path.split("."):
        obj = getattr(obj, name)
    return obj


def _eye_fields(eye: str) -> dict[str, fields.Field[Any]]:
    return {
        f"{eye}{name}": (
            fields.Boolean(attribute=f"state.{eye}_calculated")
            if name == "Calculated"
            else _submitted(f"{eye}{name}")
        )
        for name in _RX
    }


_ORDER_FIELDS: dict[str, fields.Field[Any]] = {
    "orderNumber": fields.String(attribute="state.order_number", metadata={"example": "33719"}),
    "trayNumber": _text_or_empty("state.tray_number"),
    "poNumber": _text_or_empty("state.po_number"),
    "arCode": _text_or_empty("ar_code"),
    "arDesc": _text_or_empty("ar_description"),
    "balanceLens": _submitted("balanceLens"),
    "calculationDesc": fields.Function(
        lambda d: calculation_description(d.state.rt_calculated, d.state.lt_calculated),
        metadata={"type": "string", "example": "Both eyes calculated"},
    ),
    "corridorLength": _submitted("corridorLength"),
    "createdUser": fields.Function(
        lambda d: "",
        metadata={"type": "string", "description": OURS + "always empty (no user enters it)."},
    ),
    "currentStation": fields.Function(lambda d: _station(d.state, "code") or "", metadata=_TEXT),
    "currentStationCustomerDesc": fields.Function(
        lambda d: _station(d.state, "customer_description") or "", metadata=_TEXT
    ),
    "currentStationDateTime": fields.Function(
        lambda d: utc_millis(d.state.current_station and d.state.current_station.checked_in_at),
        allow_none=True,
        metadata={"type": "string", "format": "date-time"},
    ),
    "currentStationDesc": fields.Function(
        lambda d: _station(d.state, "description") or "", metadata=_TEXT
    ),
    "customerJobId": _text_or_empty("customer_job_id"),
    "customerNumber": _text_or_empty("customer_number"),
    "dateCompleted": fields.Date(attribute="date_completed", allow_none=True),
    "dateOrdered": fields.Date(attribute="date_ordered", allow_none=True),
    "dateReceived": fields.Date(attribute="date_received", allow_none=True),
    "dateTimeValid": UTCMillis(attribute="valid_at", allow_none=True),
    "dateWanted": fields.Date(attribute="date_wanted", allow_none=True),
    **{
        name: _submitted(name)
        for name in (
            "frameA",
            "frameB",
            "frameBridge",
            "frameCircumference",
            "frameColor",
            "frameED",
            "frameEye",
            "frameManufacturer",
            "frameName",
            "frameSKU",
            "frameStatusCode",
            "frameTemple",
            "frameType",
            "frameUPC",
        )
    },
    "jobType": fields.String(attribute="job_type", metadata={"enum": ["F", "U", "A", "E"]}),
    **_eye_fields("lt"),
    "onHold": fields.Boolean(attribute="state.on_hold"),
    **_eye_fields("rt"),
    "status": fields.String(attribute="state.status", metadata={"enum": ["U", "V", "P", "C", "W"]}),
    "statusDesc": fields.Function(
        lambda d: STATUS_DESCRIPTIONS.get(d.state.status, "Other"),
        metadata={"type": "string", "enum": [*STATUS_DESCRIPTIONS.values(), "Other"]},
    ),
    "unvalidMessage": _text_or_empty("state.unvalid_message"),
    "addons": fields.List(fields.Nested(OrderAddonSchema)),
    "jobTypeDesc": fields.Function(
        lambda d: JOB_TYPE_DESCRIPTIONS[d.job_type],
        metadata={
            "type": "string",
            "enum": list(JOB_TYPE_DESCRIPTIONS.values()),
            "description": "Ours, not Rx-Universe's: the job type in words.",
        },
    ),
    "deleted": fields.Boolean(
        metadata={"description": "Ours, not Rx-Universe's: marked for cancelation."}
    ),
}
_ORDER_FIELDS["pendingCompletion"], _ORDER_FIELDS["completionError"] = _completion_fields("state.")
# The ignore: the base is a class built at run time (its fields come from the mapping above, in
# Rx-Universe's documented order), which mypy cannot check as a base class.
_OrderFields = Schema.from_dict(_ORDER_FIELDS, name="OrderFields")


class OrderSchema(_OrderFields):  # type: ignore[misc, valid-type]
    """`GET /api/v2/orders/{id}`: Rx-Universe's order model, its fields in its documented order
    (the three identifiers, then alphabetical; `addons` after them), then ours."""

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        """The fields above, written out by hand (`order_body`), as OrderStatusSchema's are."""
        if many or self.many or self.only or self.exclude:
            return super().dump(obj, many=many)
        return order_body(obj)


# Each eye's keys in order, with what each is: the calculation flag, a text ("" for none) or a
# submitted value; worked out once, not on every order written.
_IS_CALCULATED, _IS_TEXT, _IS_VALUE = range(3)
_EYE_KEYS = {
    eye: tuple(
        (
            f"{eye}{name}",
            _IS_CALCULATED
            if name == "Calculated"
            else _IS_TEXT
            if f"{eye}{name}" in SUBMITTED_TEXT
            else _IS_VALUE,
        )
        for name in _RX
    )
    for eye in ("rt", "lt")
}


def _eye(details: OrderDetails, eye: str) -> dict[str, Any]:
    submitted = details.submitted
    calculated = _bool(getattr(details.state, f"{eye}_calculated"))
    body: dict[str, Any] = {}
    for key, kind in _EYE_KEYS[eye]:
        if kind == _IS_TEXT:
            body[key] = submitted.get(key) or ""
        elif kind == _IS_VALUE:
            body[key] = submitted.get(key)
        else:
            body[key] = calculated
    return body


def order_body(details: OrderDetails) -> dict[str, Any]:
    """What OrderSchema's fields dump, key for key, in the model's order."""
    state, submitted = details.state, details.submitted
    station = state.current_station
    return {
        "orderNumber": dumped_text(state.order_number),
        "trayNumber": state.tray_number or "",
        "poNumber": state.po_number or "",
        "arCode": details.ar_code or "",
        "arDesc": details.ar_description or "",
        "balanceLens": submitted.get("balanceLens") or "",
        "calculationDesc": calculation_description(state.rt_calculated, state.lt_calculated),
        "corridorLength": submitted.get("corridorLength"),
        "createdUser": "",
        "currentStation": station.code if station else "",
        "currentStationCustomerDesc": (station.customer_description or "") if station else "",
        "currentStationDateTime": utc_millis(station.checked_in_at) if station else None,
        "currentStationDesc": (station.description or "") if station else "",
        "customerJobId": details.customer_job_id or "",
        "customerNumber": details.customer_number or "",
        "dateCompleted": _date(details.date_completed),
        "dateOrdered": _date(details.date_ordered),
        "dateReceived": _date(details.date_received),
        "dateTimeValid": utc_millis(details.valid_at),
        "dateWanted": _date(details.date_wanted),
        "frameA": submitted.get("frameA"),
        "frameB": submitted.get("frameB"),
        "frameBridge": submitted.get("frameBridge"),
        "frameCircumference": submitted.get("frameCircumference"),
        "frameColor": submitted.get("frameColor") or "",
        "frameED": submitted.get("frameED"),
        "frameEye": submitted.get("frameEye"),
        "frameManufacturer": submitted.get("frameManufacturer") or "",
        "frameName": submitted.get("frameName") or "",
        "frameSKU": submitted.get("frameSKU") or "",
        "frameStatusCode": submitted.get("frameStatusCode") or "",
        "frameTemple": submitted.get("frameTemple"),
        "frameType": submitted.get("frameType") or "",
        "frameUPC": submitted.get("frameUPC") or "",
        "jobType": dumped_text(details.job_type),
        **_eye(details, "lt"),
        "onHold": _bool(state.on_hold),
        **_eye(details, "rt"),
        "status": dumped_text(state.status),
        "statusDesc": STATUS_DESCRIPTIONS.get(state.status, "Other"),
        "unvalidMessage": state.unvalid_message or "",
        "addons": [
            {"code": dumped_text(a.code), "desc": dumped_text(a.description)}
            for a in details.addons
        ],
        "jobTypeDesc": JOB_TYPE_DESCRIPTIONS[details.job_type],
        "deleted": _bool(details.deleted),
        **_completion(state),
    }


def _date(value: date | None) -> str | None:
    """As fields.Date dumps."""
    return None if value is None else value.isoformat()


class OrderListSchema(Schema):
    """A page of orders, newest first, and how many match in all."""

    total = fields.Integer()
    orders = fields.List(fields.Nested(OrderSchema))


class HistoryEntrySchema(Schema):
    code = fields.String(metadata={"example": "BSC"})
    desc = fields.String(attribute="description", allow_none=True)
    customerDesc = fields.String(attribute="customer_description", allow_none=True)
    operator = fields.String(allow_none=True)
    statusDateTime = UTCMillis(attribute="checked_in_at")


class HistorySchema(Schema):
    """Ours, not Rx-Universe's: an order's check-ins, oldest first."""

    orderNumber = fields.String(attribute="order_number", metadata={"example": "33719"})
    checkins = fields.List(fields.Nested(HistoryEntrySchema))


CANCELLED_STATUS = Answer(
    200,
    "The order is marked for cancelation: Rx-Universe answers its status with this error body "
    "and a 200.",
    ErrorSchema,
    {"Order marked for cancelation": error_body(OrderMarkedForCancelation.error, [])},
)


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
    blueprint,
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


ORDER_EXAMPLE = order_body(
    OrderDetails(
        state=OrderState(
            order_number=33719,
            tray_number="123",
            po_number="PO-7",
            status="P",
            on_hold=False,
            unvalid_message=None,
            rt_calculated=True,
            lt_calculated=True,
            current_station=CurrentStation(
                "BSC",
                "BACKSIDE COATER",
                "IN COATING",
                datetime(2026, 11, 27, 17, 26, 21, 123000, tzinfo=UTC),
            ),
            pending_completion=False,
            completion_error=None,
        ),
        job_type=JobType.FULL,
        deleted=False,
        date_ordered=date(2026, 11, 27),
        date_completed=None,
        addons=[AddonOfOrder("AR", "ANTI-REFLECTIVE"), AddonOfOrder("BSC", "BACKSIDE COAT")],
        ar_code="AR",
        ar_description="ANTI-REFLECTIVE",
        customer_number="1001",
        customer_job_id="JOB-1",
        date_received=date(2026, 11, 27),
        date_wanted=date(2026, 11, 30),
        valid_at=datetime(2026, 11, 27, 9, 0, 0, 512000, tzinfo=UTC),
        submitted={
            "frameA": 52.0,
            "frameB": 38.5,
            "frameBridge": 18,
            "frameName": "AVIATOR",
            "frameStatusCode": "S",
            "rtLensStyle": "SV",
            "rtLensMaterial": "PC",
            "rtSphere": -2.25,
            "rtCylinder": -0.5,
            "rtAxis": 90,
            "ltLensStyle": "SV",
            "ltLensMaterial": "PC",
            "ltSphere": -2.0,
        },
    )
)
OURS_ORDER = (
    " Rx-Universe's order model, its fields in its documented order (the three identifiers, then "
    'alphabetical); `""` for a text the order does not have. Ours: the place of `addons` '
    "(after the model's fields), the per-eye prescription's names, null for a number the order "
    "does not have, an empty `createdUser`, `dateTimeValid` null for the simulator's own orders, "
    "`arCode` and `arDesc` naming the order's first AR addon (by code), and the last four fields "
    "(`jobTypeDesc`, `deleted`, `pendingCompletion`, `completionError`)."
)


@endpoint(
    blueprint,
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
    blueprint,
    "GET",
    "/orders/<segment:order_identifier>",
    tag=TAG,
    summary="A whole order",
    description="The whole order: what was submitted, its status, station, dates and addons."
    + OURS_ORDER,
    path=OrderAnyIdentifierPath,
    ok=Answer(200, "The order.", OrderSchema, {"In coating": ORDER_EXAMPLE}),
    errors=(NO_RECORD, API_KEY_REFUSED, DATABASE_DOWN),
)
@autocommitting
def order(connection: Connection, order_identifier: str) -> OrderDetails:
    """A whole order."""
    return read_details(connection, order_identifier, runtime().lab)


@endpoint(
    blueprint,
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
