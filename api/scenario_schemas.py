"""The scenario format: a scenario file (TOML) or a snapshot (JSON) loaded into the plain values
of `shared.scenarios`, and a snapshot dumped from them. The keys are the same in both."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from marshmallow import RAISE, Schema, fields, post_load, validate

from api.schemas import (
    LAB_ADDONS,
    LAB_OPERATORS,
    LAB_STATIONS,
    CompletionErrorSchema,
    Digits,
    Flag,
    OrderNumber,
    Text,
)
from shared.domain.codes import JobType, OrderStatus
from shared.orders import CompletionError
from shared.scenarios import Scenario, ScenarioCheckIn, ScenarioOrder


class Instant(fields.Field[datetime]):
    """A moment with its time zone: a TOML offset date-time, or an ISO 8601 string (`Z` or an
    offset); written in UTC with microseconds, so a snapshot keeps the order of close events."""

    # Unannotated, and only read by marshmallow: see api.schemas.Digits.default_error_messages.
    default_error_messages = {  # noqa: RUF012
        "invalid": "Must be a date and time with its time zone, e.g. 2026-11-27T08:00:00Z.",
        "naive": "Must have a time zone (Z or an offset such as +01:00).",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                raise self.make_error("invalid") from None
        if not isinstance(value, datetime):
            raise self.make_error("invalid")
        if value.tzinfo is None:
            raise self.make_error("naive")
        try:
            return value.astimezone(UTC)
        except OverflowError:  # year 1 or 9999 moved past the calendar's end by its offset
            raise self.make_error("invalid") from None

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def openapi_property(self) -> dict[str, Any]:
        """How the OpenAPI document describes it."""
        return {"type": "string", "format": "date-time", "example": "2026-11-27T08:00:00.000000Z"}


class Day(fields.Field[date]):
    """A calendar date: a TOML local date, or `yyyy-mm-dd`."""

    # Unannotated, and only read by marshmallow: see api.schemas.Digits.default_error_messages.
    default_error_messages = {"invalid": "Must be a date, yyyy-mm-dd."}  # noqa: RUF012

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date:
        if isinstance(value, str) and len(value) == 10:
            try:
                return date.fromisoformat(value)
            except ValueError:
                raise self.make_error("invalid") from None
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        raise self.make_error("invalid")

    def _serialize(self, value: date | None, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else value.isoformat()

    def openapi_property(self) -> dict[str, Any]:
        """How the OpenAPI document describes it."""
        return {"type": "string", "format": "date", "example": "2026-11-27"}


class _WrittenOrderNumber(OrderNumber):
    """An order number, loaded as OrderNumber loads it, written as the API writes it (a string)."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else str(value)


class _Entry(Schema):
    class Meta:
        unknown = RAISE

    # Unannotated, and only read by marshmallow: see api.schemas.Digits.default_error_messages.
    error_messages = {"type": "Must be an object (a TOML table)."}  # noqa: RUF012


class ScenarioCheckInSchema(_Entry):
    """A check-in: the station, when, and the operator (optional)."""

    station = Text(required=True, validate=validate.Length(1, 20), metadata=LAB_STATIONS)
    at = Instant(required=True)
    operator = Text(
        load_default=None, allow_none=True, validate=validate.Length(1, 20), metadata=LAB_OPERATORS
    )

    @post_load
    def _make(self, data: dict[str, Any], **_: object) -> ScenarioCheckIn:
        return ScenarioCheckIn(**data)


class ScenarioCompletionErrorSchema(_Entry):
    """The rejection the Job Tracker recorded: Rx-Universe's code (or our 99) and message."""

    code = Text(required=True, validate=validate.Regexp("^[0-9]{2}$", error="Must be 2 digits."))
    message = Text(required=True, validate=validate.Length(1, 255))

    @post_load
    def _make(self, data: dict[str, Any], **_: object) -> CompletionError:
        return CompletionError(**data)


class ScenarioOrderSchema(_Entry):
    """An order in a given state; every key but `orderNumber` has a default."""

    order_number = _WrittenOrderNumber(data_key="orderNumber", required=True)
    tray_number = Digits(max_digits=5, data_key="trayNumber", load_default=None, allow_none=True)
    po_number = Text(
        data_key="poNumber", load_default=None, allow_none=True, validate=validate.Length(max=21)
    )
    job_type = fields.Enum(JobType, by_value=True, data_key="jobType", load_default=JobType.FULL)
    status = fields.Enum(
        OrderStatus, by_value=True, data_key="status", load_default=OrderStatus.PROCESS
    )
    on_hold = Flag(data_key="onHold", load_default=False)
    deleted = Flag(data_key="deleted", load_default=False)
    unvalid_message = Text(
        data_key="unvalidMessage",
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=255),
    )
    rt_calculated = Flag(data_key="rtCalculated", load_default=True)
    lt_calculated = Flag(data_key="ltCalculated", load_default=True)
    date_ordered = Day(data_key="dateOrdered", load_default=None, allow_none=True)
    date_completed = Day(data_key="dateCompleted", load_default=None, allow_none=True)
    addons = fields.List(
        Text(validate=validate.Length(1, 20), metadata=LAB_ADDONS),
        load_default=(),
        validate=validate.Length(max=50),
    )
    checkins = fields.List(
        fields.Nested(ScenarioCheckInSchema),
        load_default=(),
        validate=validate.Length(max=500),
    )
    flagged_at = Instant(data_key="flaggedAt", load_default=None, allow_none=True)
    completion_error = fields.Nested(
        ScenarioCompletionErrorSchema,
        data_key="completionError",
        load_default=None,
        allow_none=True,
    )

    @post_load
    def _make(self, data: dict[str, Any], **_: object) -> ScenarioOrder:
        data["addons"] = tuple(data["addons"])
        data["checkins"] = tuple(data["checkins"])
        return ScenarioOrder(**data)


class ScenarioSchema(_Entry):
    """A scenario file, or the body of `PUT /api/sim/snapshot`: a description and the orders."""

    description = Text(load_default="", validate=validate.Length(max=1000))
    orders = fields.List(fields.Nested(ScenarioOrderSchema), required=True)

    @post_load
    def _make(self, data: dict[str, Any], **_: object) -> Scenario:
        return Scenario(description=data["description"], orders=tuple(data["orders"]))


# ---- what GET /api/sim/snapshot writes: every key, null where a file would leave it out --------


class SnapshotCheckInSchema(ScenarioCheckInSchema):
    """A check-in, as a snapshot writes it."""


class SnapshotOrderSchema(ScenarioOrderSchema):
    """An order, as a snapshot writes it: every key, null for what is absent."""

    checkins = fields.List(fields.Nested(SnapshotCheckInSchema))
    completion_error = fields.Nested(
        CompletionErrorSchema, data_key="completionError", allow_none=True
    )


class SnapshotSchema(Schema):
    """`GET /api/sim/snapshot`: the whole state, in the scenario format."""

    description = fields.String()
    orders = fields.List(fields.Nested(SnapshotOrderSchema))


# ---- the endpoints' other shapes ----------------------------------------------------------


class ScenarioSummarySchema(Schema):
    """A scenario file as the list shows it."""

    name = fields.String(metadata={"example": "seed_outcomes"})
    description = fields.String()
    orders = fields.Integer(metadata={"minimum": 0})


class ScenarioListSchema(Schema):
    """`GET /api/sim/scenarios`: the scenario files, by name."""

    scenarios = fields.List(fields.Nested(ScenarioSummarySchema))


class ScenarioLoadedSchema(Schema):
    """A scenario or snapshot loaded: how many orders the lab now holds."""

    message = fields.Constant("Successful", metadata={"type": "string", "enum": ["Successful"]})
    orders = fields.Integer(metadata={"minimum": 0})


class ScenarioNamePath(Schema):
    """`{name}`: a scenario file's name."""

    name = fields.String(
        metadata={
            "description": "The scenario's file name in the scenario folder, without `.toml`.",
            "example": "seed_outcomes",
        }
    )


def load_scenario(document: Any) -> Scenario:
    """A scenario from a parsed TOML file or JSON body; ValidationError names each bad entry."""
    scenario: Scenario = ScenarioSchema().load(document)
    return scenario
