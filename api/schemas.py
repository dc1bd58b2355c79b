"""The shapes of what the API reads and writes (camelCase keys, in the documented order)."""

from __future__ import annotations

import enum
import re
from datetime import UTC, datetime
from typing import Any, TypeVar

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from shared.domain.codes import JobType, OrderStatus
from shared.orders import OrderState

E = TypeVar("E", bound=enum.Enum)

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


class CompletionAcceptedSchema(Schema):
    orderNumber = fields.String(attribute="order_number")
    message = fields.Constant("Successful")


class OrderStatusSchema(Schema):
    """`GET /api/v2/orders/{id}/status`: Rx-Universe's fields, then our two."""

    orderNumber = fields.String(attribute="order_number")
    trayNumber = fields.String(attribute="tray_number")
    poNumber = fields.String(attribute="po_number")
    status = fields.String()
    statusDesc = fields.Function(lambda s: STATUS_DESCRIPTIONS.get(s.status, "Other"))
    onHold = fields.Boolean(attribute="on_hold")
    unvalidMessage = fields.String(attribute="unvalid_message")
    calculationDesc = fields.Function(
        lambda s: calculation_description(s.rt_calculated, s.lt_calculated)
    )
    rtCalculated = fields.Boolean(attribute="rt_calculated")
    ltCalculated = fields.Boolean(attribute="lt_calculated")
    currentStation = fields.Function(lambda s: _station(s, "code"))
    currentStationDesc = fields.Function(lambda s: _station(s, "description"))
    currentStationCustomerDesc = fields.Function(lambda s: _station(s, "customer_description"))
    currentStationDateTime = fields.Function(
        lambda s: utc_millis(s.current_station and s.current_station.checked_in_at)
    )
    pendingCompletion = fields.Boolean(attribute="pending_completion")
    completionError = fields.Function(
        lambda s: (
            s.completion_error
            and {"code": s.completion_error.code, "message": s.completion_error.message}
        )
    )


def _station(state: OrderState, attribute: str) -> str | None:
    station = state.current_station
    return None if station is None else getattr(station, attribute)


# ---- simulator control ----------------------------------------------------------------------


class NewOrderSchema(_Input):
    """`POST /api/sim/orders`: every key optional."""

    order_number = OrderNumber(data_key="orderNumber")
    tray_number = Digits(max_digits=5, data_key="trayNumber", allow_none=True)
    po_number = fields.String(
        data_key="poNumber", allow_none=True, validate=validate.Length(max=21)
    )
    job_type = _code_enum(JobType, data_key="jobType")
    status = _code_enum(OrderStatus, data_key="status")
    on_hold = Flag(data_key="onHold")
    deleted = Flag(data_key="deleted")
    unvalid_message = fields.String(
        data_key="unvalidMessage", allow_none=True, validate=validate.Length(max=255)
    )
    rt_calculated = Flag(data_key="rtCalculated")
    lt_calculated = Flag(data_key="ltCalculated")
    addons = fields.List(
        fields.String(validate=validate.Length(1, 20)), validate=validate.Length(max=50)
    )
    stations = fields.List(
        fields.String(validate=validate.Length(1, 20)), validate=validate.Length(max=200)
    )


class OrderChangesSchema(_Input):
    """`PATCH /api/sim/orders/{id}`: at least one key."""

    status = _code_enum(OrderStatus, data_key="status")
    on_hold = Flag(data_key="onHold")
    deleted = Flag(data_key="deleted")
    unvalid_message = fields.String(
        data_key="unvalidMessage", allow_none=True, validate=validate.Length(max=255)
    )

    @validates_schema
    def _something(self, data: dict[str, Any], **_: object) -> None:
        if not data:
            raise ValidationError("Give at least one of status, onHold, deleted, unvalidMessage.")


class CheckInSchema(_Input):
    """`POST /api/sim/orders/{id}/checkins`."""

    station = fields.String(required=True, validate=validate.Length(1, 20))
    operator = fields.String(allow_none=True, validate=validate.Length(1, 20))


class ResetSchema(Schema):
    message = fields.Constant("Successful")
    ordersDeleted = fields.Integer(attribute="orders_deleted")


class TrackerStatusSchema(Schema):
    running = fields.Boolean()
    lastHeartbeat = UTCMillis(attribute="last_heartbeat")
    pending = fields.Integer()
