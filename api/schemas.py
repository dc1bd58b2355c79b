"""The shapes of what the API reads and writes (camelCase keys, in the documented order)."""

from __future__ import annotations

import enum
import re
from datetime import UTC, date, datetime
from typing import Any, ClassVar, TypeVar

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from shared.domain.codes import JobType, OrderStatus
from shared.orders import CompletionError, OrderDetails, OrderState

E = TypeVar("E", bound=enum.Enum)

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


def utc_millis(value: datetime | None) -> str | None:
    """An instant as ISO 8601 in UTC with milliseconds and `Z`: 2026-11-27T17:26:21.123Z."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class UTCMillis(fields.Field[datetime]):
    """A datetime written as `utc_millis` writes it."""

    def openapi_property(self) -> dict[str, Any]:
        """How the OpenAPI document describes it (api.openapi asks every field that has this)."""
        return {"type": "string", "format": "date-time", "example": "2026-11-27T17:26:21.123Z"}

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return utc_millis(value)


class Digits(fields.Field[str]):
    """A number written with ASCII digits, given as a JSON string or a non-negative integer."""

    # Unannotated: marshmallow types it as an instance attribute, which a ClassVar annotation would
    # contradict (mypy); marshmallow only reads it, so ruff's mutable-default worry does not apply.
    default_error_messages = {  # noqa: RUF012
        "invalid": "Must be digits (0-9), as a string or an integer.",
        "too_long": "Must be at most {max_digits} digits.",
    }

    def __init__(self, *, max_digits: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_digits = max_digits

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            value = str(value)
        if not isinstance(value, str) or not re.fullmatch(r"[0-9]+", value):
            raise self.make_error("invalid")
        if len(value) > self.max_digits:
            raise self.make_error("too_long", max_digits=self.max_digits)
        return value

    def openapi_property(self) -> dict[str, Any]:
        """Digits as a string, or a non-negative integer."""
        return {
            "oneOf": [
                {"type": "string", "pattern": "^[0-9]+$", "maxLength": self.max_digits},
                {"type": "integer", "minimum": 0, "maximum": 10**self.max_digits - 1},
            ]
        }


class OrderNumber(Digits):
    """An order number: a positive whole number of at most 18 digits."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_digits=18, **kwargs)

    # The ignore: it reuses Digits (a Field[str]) but loads the int the digits stand for, and a
    # subclass cannot change its base's type parameter.
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:  # type: ignore[override]
        number = int(super()._deserialize(value, attr, data, **kwargs))
        if number == 0:
            raise ValidationError("Must be greater than 0.")
        return number

    def openapi_property(self) -> dict[str, Any]:
        """Digits that are not all zeros, as a string, or a positive integer."""
        return {
            "oneOf": [
                {"type": "string", "pattern": "^0*[1-9][0-9]*$", "maxLength": self.max_digits},
                {"type": "integer", "minimum": 1, "maximum": 10**self.max_digits - 1},
            ]
        }


class Text(fields.String):
    """A string the database can store: no NUL character (PostgreSQL refuses it, SQLite would
    keep it) and no lone surrogate (JSON can spell one, `"\\ud800"`, but no encoding can store
    it). Every string the API takes in is one of these, so both databases answer alike."""

    # Unannotated, and only read by marshmallow: see Digits.default_error_messages.
    default_error_messages = {  # noqa: RUF012
        "nul": "Must not contain a NUL character.",
        "surrogate": "Must not contain a lone surrogate (\\ud800 to \\udfff).",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise self.make_error("nul")
        if _SURROGATE.search(text):
            raise self.make_error("surrogate")
        return text


_SURROGATE = re.compile("[\ud800-\udfff]")


class Flag(fields.Boolean):
    """JSON true or false only: "yes", 1 or "false" are more likely mistakes than intentions."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def _code_enum(enum_class: type[E], **kwargs: Any) -> fields.Enum[E]:
    return fields.Enum(enum_class, by_value=True, **kwargs)


class _Input(Schema):
    class Meta:
        unknown = RAISE

    # Unannotated, and only read by marshmallow: see Digits.default_error_messages.
    error_messages = {"type": "The request body must be a JSON object."}  # noqa: RUF012


# ---- v2 -------------------------------------------------------------------------------------


# The response schemas' `metadata` and `allow_none` only document (api.openapi reads them): a
# dump writes every field whatever they say, so the bodies stay byte for byte as they were.
_TEXT: dict[str, Any] = {"type": "string"}


class ErrorSchema(Schema):
    """Every error, on every endpoint: a summary and its details."""

    error = fields.String(required=True)
    details = fields.List(fields.String(), required=True)


class CompletionAcceptedSchema(Schema):
    """`POST /api/v2/orders/{id}/complete` accepted: the order is flagged."""

    orderNumber = fields.String(attribute="order_number", metadata={"example": "33719"})
    message = fields.Constant("Successful", metadata={"type": "string", "enum": ["Successful"]})


class CompletionErrorSchema(Schema):
    """Why the Job Tracker last refused the order: Rx-Universe's code and message (or our 99)."""

    code = fields.String(metadata={"example": "05"})
    message = fields.String(metadata={"example": "Order on hold"})


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
    pendingCompletion = fields.Boolean(
        attribute="pending_completion",
        metadata={"description": "Ours, not Rx-Universe's: flagged, waiting for the Job Tracker."},
    )
    completionError = fields.Nested(
        CompletionErrorSchema,
        attribute="completion_error",
        allow_none=True,
        metadata={
            "description": "Ours, not Rx-Universe's: why the Job Tracker last refused to "
            "complete the order (cleared when it is flagged again); null if it did not."
        },
    )

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
        "orderNumber": _text(state.order_number),
        "trayNumber": _text(state.tray_number),
        "poNumber": _text(state.po_number),
    }


def _progress(state: OrderState) -> dict[str, Any]:
    return {
        "status": _text(state.status),
        "statusDesc": STATUS_DESCRIPTIONS.get(state.status, "Other"),
        "onHold": _bool(state.on_hold),
        "unvalidMessage": _text(state.unvalid_message),
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


def _text(value: Any) -> str | None:
    """As fields.String dumps."""
    return None if value is None else str(value)


def _bool(value: Any) -> bool | None:
    """As fields.Boolean dumps a bool (or None)."""
    return None if value is None else bool(value)


def _completion_error(error: CompletionError | None) -> dict[str, Any] | None:
    """As fields.Nested(CompletionErrorSchema) dumps."""
    if error is None:
        return None
    return {"code": _text(error.code), "message": _text(error.message)}


def _station(state: OrderState, attribute: str) -> str | None:
    station = state.current_station
    return None if station is None else getattr(station, attribute)


# ---- v2 job tracking ------------------------------------------------------------------------


class Identifier(fields.Field[str]):
    """An order identifier in a body: a string, or a non-negative integer (an order number)."""

    # Unannotated, and only read by marshmallow: see Digits.default_error_messages.
    default_error_messages = {"invalid": "Must be a string or a non-negative integer."}  # noqa: RUF012

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return str(value)
        if not isinstance(value, str):
            raise self.make_error("invalid")
        return value

    def openapi_property(self) -> dict[str, Any]:
        """An order, tray or PO number as a string, or an order number as an integer."""
        return {
            "oneOf": [{"type": "string"}, {"type": "integer", "minimum": 0}],
            "description": "The order number, the tray number of an active order, or a PO "
            "number that names one order.",
            "example": "33719",
        }


class ListQuery(Schema):
    """`limit` and `offset`: no limit lists every record; the total ignores both."""

    class Meta:
        unknown = RAISE

    limit = fields.Integer(
        strict=False,
        validate=validate.Range(min=0, max=10**9),
        metadata={"description": "At most this many records; none: every record."},
    )
    offset = fields.Integer(
        strict=False,
        load_default=0,
        validate=validate.Range(min=0, max=10**9),
        metadata={"description": "Skip this many records first."},
    )


class StationsQuery(ListQuery):
    pass


class AddonsQuery(ListQuery):
    rx_site = fields.Boolean(
        data_key="rxSite",
        load_default=False,
        truthy={"true"},
        falsy={"false"},
        metadata={"description": "`true`: only the addons Rx-Site shows."},
    )


class OrdersQuery(ListQuery):
    status = fields.String(
        validate=validate.OneOf(["U", "V", "P", "C", "W"]),
        metadata={"description": "The shown status; `W`: on hold."},
    )
    station = fields.String(
        validate=validate.Length(1, 20),
        metadata={"description": "The current station's code (case-sensitive)."},
    )


class CancelQuery(Schema):
    class Meta:
        unknown = RAISE

    delete_reason = fields.String(
        data_key="deleteReason",
        validate=validate.Length(max=20),
        metadata={"description": "A delete reason code from the lab file."},
    )


class CheckinBodySchema(_Input):
    """`POST /api/v2/job_track/stations/{code}`."""

    order_identifier = Identifier(data_key="orderIdentifier", required=True)
    operator = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=20))


class StationSchema(Schema):
    """A station, or an operator (a person, whose code comes with a check-in)."""

    code = fields.String(metadata={"example": "BSC"})
    desc = fields.String(attribute="description", metadata={"example": "BACKSIDE COATER"})
    customerDesc = fields.String(
        attribute="customer_description", metadata={"example": "IN COATING"}
    )
    operator = fields.Boolean(attribute="is_operator")


class StationListSchema(Schema):
    """A page of stations, and how many there are in all."""

    total = fields.Integer()
    stations = fields.List(fields.Nested(StationSchema), attribute="items")


def _flag(name: str) -> fields.Function:
    return fields.Function(lambda addon: addon.flags()[name], metadata={"type": "boolean"})


class AddonSchema(Schema):
    """An addon with Rx-Universe's job-flow flags, in their documented order."""

    code = fields.String(metadata={"example": "AR"})
    desc = fields.String(attribute="description", metadata={"example": "ANTI-REFLECTIVE"})
    excludeFromRxSite = fields.Boolean(attribute="exclude_from_rx_site")
    externalCode = fields.String(attribute="external_code", allow_none=True)
    isAR = _flag("isAR")
    isBackside = _flag("isBackside")
    isMirror = _flag("isMirror")
    isTint = _flag("isTint")
    isUV = _flag("isUV")
    requiresDropBall = _flag("requiresDropBall")
    requiresEtching = _flag("requiresEtching")
    requiresHarden = _flag("requiresHarden")
    requiresPolish = _flag("requiresPolish")


class AddonListSchema(Schema):
    """A page of addons, and how many there are in all."""

    total = fields.Integer()
    addons = fields.List(fields.Nested(AddonSchema), attribute="items")


class CheckinDoneSchema(Schema):
    """A check-in performed: the order, the station, and when."""

    orderNumber = fields.String(attribute="order.order_number", metadata={"example": "33719"})
    trayNumber = fields.String(attribute="order.tray_number", allow_none=True)
    poNumber = fields.String(attribute="order.po_number", allow_none=True)
    code = fields.String(attribute="station.code", metadata={"example": "BSC"})
    desc = fields.String(attribute="station.description")
    customerDesc = fields.String(attribute="station.customer_description")
    statusDateTime = UTCMillis(attribute="checked_in_at")

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        """The fields above, written out by hand, as OrderStatusSchema's are."""
        if many or self.many or self.only or self.exclude:
            return super().dump(obj, many=many)
        order, station = obj.order, obj.station
        return {
            "orderNumber": _text(order.order_number),
            "trayNumber": _text(order.tray_number),
            "poNumber": _text(order.po_number),
            "code": _text(station.code),
            "desc": _text(station.description),
            "customerDesc": _text(station.customer_description),
            "statusDateTime": utc_millis(obj.checked_in_at),
        }


class CancelDoneSchema(Schema):
    """A cancel performed; `message` is empty, or a warning."""

    orderNumber = fields.String(attribute="order.order_number", metadata={"example": "33719"})
    trayNumber = fields.String(attribute="order.tray_number", allow_none=True)
    poNumber = fields.String(attribute="order.po_number", allow_none=True)
    message = fields.String(
        metadata={
            "enum": ["", "deleteReason ignored", "Order already marked for cancelation"],
            "description": "Empty; or `deleteReason ignored` (a reason the lab does not ask "
            "for); or, ours, `Order already marked for cancelation` for a second cancel.",
        }
    )


class OrderAddonSchema(Schema):
    code = fields.String(metadata={"example": "AR"})
    desc = fields.String(attribute="description", allow_none=True)


class OrderSchema(Schema):
    """`GET /api/v2/orders/{id}`: the status representation's fields and the rest we hold."""

    orderNumber = fields.String(attribute="state.order_number", metadata={"example": "33719"})
    trayNumber = fields.String(attribute="state.tray_number", allow_none=True)
    poNumber = fields.String(attribute="state.po_number", allow_none=True)
    jobType = fields.String(attribute="job_type", metadata={"enum": ["F", "U", "A", "E"]})
    jobTypeDesc = fields.Function(
        lambda d: JOB_TYPE_DESCRIPTIONS[d.job_type],
        metadata={
            "type": "string",
            "enum": list(JOB_TYPE_DESCRIPTIONS.values()),
            "description": "Ours, not Rx-Universe's: the job type in words.",
        },
    )
    status = fields.String(attribute="state.status", metadata={"enum": ["U", "V", "P", "C", "W"]})
    statusDesc = fields.Function(
        lambda d: STATUS_DESCRIPTIONS.get(d.state.status, "Other"),
        metadata={"type": "string", "enum": [*STATUS_DESCRIPTIONS.values(), "Other"]},
    )
    onHold = fields.Boolean(attribute="state.on_hold")
    unvalidMessage = fields.String(attribute="state.unvalid_message", allow_none=True)
    calculationDesc = fields.Function(
        lambda d: calculation_description(d.state.rt_calculated, d.state.lt_calculated),
        metadata={"type": "string", "example": "Both eyes calculated"},
    )
    rtCalculated = fields.Boolean(attribute="state.rt_calculated")
    ltCalculated = fields.Boolean(attribute="state.lt_calculated")
    dateOrdered = fields.Date(attribute="date_ordered")
    dateCompleted = fields.Date(attribute="date_completed", allow_none=True)
    currentStation = fields.Function(
        lambda d: _station(d.state, "code"), allow_none=True, metadata=_TEXT
    )
    currentStationDesc = fields.Function(
        lambda d: _station(d.state, "description"), allow_none=True, metadata=_TEXT
    )
    currentStationCustomerDesc = fields.Function(
        lambda d: _station(d.state, "customer_description"), allow_none=True, metadata=_TEXT
    )
    currentStationDateTime = fields.Function(
        lambda d: utc_millis(d.state.current_station and d.state.current_station.checked_in_at),
        allow_none=True,
        metadata={"type": "string", "format": "date-time"},
    )
    arCode = fields.String(attribute="ar_code", allow_none=True)
    arDesc = fields.String(attribute="ar_description", allow_none=True)
    addons = fields.List(fields.Nested(OrderAddonSchema))
    deleted = fields.Boolean(
        metadata={"description": "Ours, not Rx-Universe's: marked for cancelation."}
    )
    pendingCompletion = fields.Boolean(
        attribute="state.pending_completion",
        metadata={"description": "Ours, not Rx-Universe's: flagged, waiting for the Job Tracker."},
    )
    completionError = fields.Nested(
        CompletionErrorSchema,
        attribute="state.completion_error",
        allow_none=True,
        metadata={
            "description": "Ours, not Rx-Universe's: why the Job Tracker last refused to "
            "complete the order (cleared when it is flagged again); null if it did not."
        },
    )

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        """The fields above, written out by hand (`order_body`), as OrderStatusSchema's are."""
        if many or self.many or self.only or self.exclude:
            return super().dump(obj, many=many)
        return order_body(obj)


def order_body(details: OrderDetails) -> dict[str, Any]:
    """What OrderSchema's fields dump, key for key: the status body's, with the rest between."""
    state = details.state
    return {
        **_numbers(state),
        "jobType": _text(details.job_type),
        "jobTypeDesc": JOB_TYPE_DESCRIPTIONS[details.job_type],
        **_progress(state),
        "dateOrdered": _date(details.date_ordered),
        "dateCompleted": _date(details.date_completed),
        **_current_station(state),
        "arCode": _text(details.ar_code),
        "arDesc": _text(details.ar_description),
        "addons": [{"code": _text(a.code), "desc": _text(a.description)} for a in details.addons],
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


# ---- simulator control ----------------------------------------------------------------------


# The lab file decides which codes exist: api.openapi lists the running lab's codes wherever a
# field carries one of these marks.
LAB_ADDONS: dict[str, Any] = {"x_lab": "addons"}
LAB_STATIONS: dict[str, Any] = {"x_lab": "stations"}
LAB_OPERATORS: dict[str, Any] = {"x_lab": "operators"}


class NewOrderSchema(_Input):
    """`POST /api/sim/orders`: every key optional."""

    order_number = OrderNumber(data_key="orderNumber")
    tray_number = Digits(max_digits=5, data_key="trayNumber", allow_none=True)
    po_number = Text(data_key="poNumber", allow_none=True, validate=validate.Length(max=21))
    job_type = _code_enum(JobType, data_key="jobType")
    status = _code_enum(OrderStatus, data_key="status")
    on_hold = Flag(data_key="onHold")
    deleted = Flag(data_key="deleted")
    unvalid_message = Text(
        data_key="unvalidMessage", allow_none=True, validate=validate.Length(max=255)
    )
    rt_calculated = Flag(data_key="rtCalculated")
    lt_calculated = Flag(data_key="ltCalculated")
    addons = fields.List(
        Text(validate=validate.Length(1, 20), metadata=LAB_ADDONS),
        validate=validate.Length(max=50),
    )
    stations = fields.List(
        Text(validate=validate.Length(1, 20), metadata=LAB_STATIONS),
        validate=validate.Length(max=200),
    )


class OrderChangesSchema(_Input):
    """`PATCH /api/sim/orders/{id}`: at least one key."""

    # What the validator below says, for the OpenAPI document (api.openapi merges it in).
    openapi_extra: ClassVar[dict[str, Any]] = {"minProperties": 1}

    status = _code_enum(OrderStatus, data_key="status")
    on_hold = Flag(data_key="onHold")
    deleted = Flag(data_key="deleted")
    unvalid_message = Text(
        data_key="unvalidMessage", allow_none=True, validate=validate.Length(max=255)
    )

    @validates_schema
    def _something(self, data: dict[str, Any], **_: object) -> None:
        if not data:
            raise ValidationError("Give at least one of status, onHold, deleted, unvalidMessage.")


class CheckInSchema(_Input):
    """`POST /api/sim/orders/{id}/checkins`."""

    station = Text(required=True, validate=validate.Length(1, 20), metadata=LAB_STATIONS)
    operator = Text(allow_none=True, validate=validate.Length(1, 20), metadata=LAB_OPERATORS)


class ResetSchema(Schema):
    """`POST /api/sim/reset`: how many orders were deleted."""

    message = fields.Constant("Successful", metadata={"type": "string", "enum": ["Successful"]})
    ordersDeleted = fields.Integer(attribute="orders_deleted", metadata={"minimum": 0})


class TrackerStatusSchema(Schema):
    """`GET /api/sim/tracker`: whether a Job Tracker is running."""

    running = fields.Boolean()
    lastHeartbeat = UTCMillis(attribute="last_heartbeat", allow_none=True)
    pending = fields.Integer(metadata={"minimum": 0})


class StationLoadSchema(Schema):
    """One station on the board: the active orders whose current station it is."""

    code = fields.String(metadata={"example": "BSC"})
    desc = fields.String(attribute="description", metadata={"example": "BACKSIDE COATER"})
    wip = fields.Integer(metadata={"minimum": 0, "description": "Active orders here."})
    onHold = fields.Integer(
        attribute="on_hold", metadata={"minimum": 0, "description": "Of them, on hold."}
    )


class CodeCountSchema(Schema):
    """Rejections with one code."""

    code = fields.String(metadata={"example": "20"})
    count = fields.Integer(metadata={"minimum": 1})


class BoardEventSchema(Schema):
    """One of the latest events: a check-in, a completion or a rejection."""

    time = UTCMillis()
    kind = fields.String(metadata={"enum": ["checkin", "completed", "rejected"]})
    orderNumber = fields.String(attribute="order_number", metadata={"example": "33719"})
    station = fields.String(allow_none=True, metadata={"example": "BSC"})
    code = fields.String(allow_none=True, metadata={"description": "A rejection's code."})


class BoardSchema(Schema):
    """`GET /api/sim/board`: everything the lab board shows, in one answer."""

    generatedAt = UTCMillis(attribute="generated_at")
    windowMinutes = fields.Integer(
        attribute="window_minutes",
        metadata={"description": "How far back `completed`, `rejected` and `events` reach."},
    )
    stations = fields.List(
        fields.Nested(StationLoadSchema),
        metadata={"description": "Stations in flow order; operators and decision points left out."},
    )
    notStarted = fields.Integer(
        attribute="not_started",
        metadata={"minimum": 0, "description": "Active orders not yet checked in anywhere."},
    )
    active = fields.Integer(metadata={"minimum": 0, "description": "Not completed, not cancelled."})
    onHold = fields.Integer(attribute="on_hold", metadata={"minimum": 0})
    flagged = fields.Integer(
        metadata={"minimum": 0, "description": "Orders flagged for completion, waiting."}
    )
    oldestFlag = UTCMillis(attribute="oldest_flag", allow_none=True)
    trackerRunning = fields.Boolean(attribute="tracker_running")
    lastHeartbeat = UTCMillis(attribute="last_heartbeat", allow_none=True)
    completed = fields.Integer(
        metadata={"minimum": 0, "description": "Completed by the Job Tracker in the window."}
    )
    rejected = fields.Integer(
        metadata={"minimum": 0, "description": "Rejected by the Job Tracker in the window."}
    )
    rejectedByCode = fields.List(fields.Nested(CodeCountSchema), attribute="rejected_by_code")
    events = fields.List(fields.Nested(BoardEventSchema))


# ---- path parameters (documentation only: the view gets the raw text) ------------------------


class OrderIdentifierPath(Schema):
    """The completion call's `{orderIdentifier}`: the order number, as Rx-Universe's page says."""

    order_identifier = fields.String(
        data_key="orderIdentifier",
        metadata={
            "description": "The order number (leading zeros are ignored). Anything else "
            "answers 404 with error code 01.",
            "example": "33719",
        },
    )


class OrderNumberPath(Schema):
    """`{orderNumber}` in the status and simulator paths."""

    order_identifier = fields.String(
        data_key="orderNumber",
        metadata={
            "description": "The order number (leading zeros are ignored). Anything else "
            "answers 404 No record found.",
            "example": "33719",
        },
    )


class OrderAnyIdentifierPath(Schema):
    """`{orderIdentifier}` on the v2 order pages: order, tray or PO number."""

    order_identifier = fields.String(
        data_key="orderIdentifier",
        metadata={
            "description": "The order number (leading zeros are ignored); else the tray number of "
            "an active order (not completed, not cancelled); else a PO number that names exactly "
            "one order. Anything else, an ambiguous tray or PO included, answers 404 No record "
            "found.",
            "example": "33719",
        },
    )


class StationCodePath(Schema):
    """`{code}` of a station (case-sensitive)."""

    code = fields.String(
        metadata={"description": "The station's code, case-sensitive.", "example": "BSC"}
    )


class AddonCodePath(Schema):
    """`{code}` of an addon (case-sensitive)."""

    code = fields.String(
        metadata={"description": "The addon's code, case-sensitive.", "example": "AR"}
    )
