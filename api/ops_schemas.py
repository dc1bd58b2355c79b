"""The shapes of the service endpoints (health, request journal), apart from Rx-Universe's."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any, ClassVar

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_dump,
    post_load,
    validate,
    validates_schema,
)

from api.schemas import Flag, UTCMillis


class DatabaseHealthSchema(Schema):
    reachable = fields.Boolean()
    schema_revision = fields.String(data_key="schemaRevision", allow_none=True)
    schema_current = fields.Boolean(data_key="schemaCurrent")


class TrackerHealthSchema(Schema):
    running = fields.Boolean()
    last_heartbeat = UTCMillis(data_key="lastHeartbeat", allow_none=True)
    heartbeat_age_seconds = fields.Float(data_key="heartbeatAgeSeconds", allow_none=True)


class HealthSchema(Schema):
    """`GET /healthz`: `status` is `ok` (200) or `unavailable` (503, with the `problems`)."""

    status = fields.String()
    # The report's database facts, gathered into one object.
    database = fields.Function(serialize=lambda health: DatabaseHealthSchema().dump(health))
    tracker = fields.Nested(TrackerHealthSchema, allow_none=True)
    pending = fields.Integer(allow_none=True)
    problems = fields.List(fields.String())


class JournalFilterSchema(Schema):
    """The query string of `GET /api/sim/requests/count` (and of the listing, with paging)."""

    class Meta:
        unknown = RAISE

    method = fields.Function(deserialize=lambda value: str(value).upper())
    path = fields.String(validate=validate.Length(min=1, max=2048))
    status = fields.Integer(validate=validate.Range(100, 599))
    since = fields.AwareDateTime(default_timezone=UTC)


class JournalPageSchema(JournalFilterSchema):
    """The query string of `GET /api/sim/requests`: the filters, `limit` and `offset`."""

    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0))


class JournalResponseSchema(Schema):
    status = fields.Integer()
    body = fields.String(attribute="response_body")


class JournalEntrySchema(Schema):
    """One recorded request, with its answer under `response`."""

    id = fields.Integer()
    time = UTCMillis(attribute="recorded_at")
    method = fields.String()
    path = fields.String()
    query = fields.String()
    headers = fields.Function(serialize=lambda entry: json.loads(entry.headers))
    body = fields.String()
    response = fields.Function(serialize=lambda entry: JournalResponseSchema().dump(entry))
    duration_ms = fields.Float(data_key="durationMs")
    fault = fields.String(allow_none=True)


class JournalListSchema(Schema):
    requests = fields.List(fields.Nested(JournalEntrySchema))


class JournalCountSchema(Schema):
    count = fields.Integer()


class JournalClearedSchema(Schema):
    message = fields.Constant("Successful")
    requests_deleted = fields.Integer(data_key="requestsDeleted")


HTTP_METHODS = ("*", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_HTTP_KEYS = ("method", "path", "status", "body", "delay_ms", "drop", "times_left", "probability")
_ANSWERS = {"status": "status", "delay_ms": "delayMs", "drop": "drop"}


class NewFaultSchema(Schema):
    """`POST /api/sim/faults`: an HTTP fault (`path` and one of `status`, `delayMs`, `drop`), or
    a tracker fault (`tracker`)."""

    class Meta:
        unknown = RAISE

    error_messages: ClassVar[dict[str, str]] = {"type": "The request body must be a JSON object."}

    method = fields.Function(
        deserialize=lambda value: str(value).upper(), validate=validate.OneOf(HTTP_METHODS)
    )
    path = fields.String(validate=[validate.Length(1, 2048), validate.Regexp(r"^/")])
    status = fields.Integer(strict=True, validate=validate.Range(100, 599))
    body = fields.Raw(allow_none=True)
    delay_ms = fields.Integer(data_key="delayMs", strict=True, validate=validate.Range(1, 60_000))
    drop = Flag(validate=validate.Equal(True))
    times_left = fields.Integer(data_key="times", strict=True, validate=validate.Range(min=1))
    probability = fields.Float(validate=validate.Range(0, 1, min_inclusive=False), allow_nan=False)
    tracker = fields.String(validate=validate.OneOf(["pause", "reject"]))
    code = fields.String(validate=validate.Regexp(r"^[0-9]{2}$", error="Must be two digits."))
    message = fields.String(validate=validate.Length(1, 255))

    @validates_schema
    def _one_kind(self, data: dict[str, Any], **_: object) -> None:
        if "tracker" in data:
            extra = [key for key in _HTTP_KEYS if key in data]
            if extra:
                raise ValidationError("A tracker fault takes only tracker, code and message.")
            if (data["tracker"] == "reject") != ("code" in data):
                raise ValidationError("A reject fault needs a code; a pause takes none.")
            if "message" in data and "code" not in data:
                raise ValidationError("message goes with a reject fault's code.")
            return
        if "path" not in data:
            raise ValidationError("Give a path (an HTTP fault) or tracker (a tracker fault).")
        answers = [name for key, name in _ANSWERS.items() if key in data]
        if len(answers) != 1:
            raise ValidationError("Give exactly one of status, delayMs, drop.")
        if "body" in data and "status" not in data:
            raise ValidationError("body goes with status.")
        if "times_left" in data and "probability" in data:
            raise ValidationError("Give times or probability, not both.")
        if "code" in data or "message" in data:
            raise ValidationError("code and message go with a tracker reject fault.")

    @post_load
    def _defaults(self, data: dict[str, Any], **_: object) -> dict[str, Any]:
        if "path" in data:
            data.setdefault("method", "*")
            if "body" in data:
                data["body"] = json.dumps(data["body"])
        return data


class FaultSchema(Schema):
    """A fault as set; keys that do not apply to its kind are left out."""

    id = fields.Integer()
    method = fields.String()
    path = fields.String()
    status = fields.Integer()
    body = fields.Function(lambda fault: None if fault.body is None else json.loads(fault.body))
    delay_ms = fields.Integer(data_key="delayMs")
    drop = fields.Boolean()
    times_left = fields.Integer(data_key="timesLeft")
    probability = fields.Float()
    tracker = fields.String()
    code = fields.String()
    message = fields.String()
    created_at = UTCMillis(data_key="createdAt")

    @post_dump
    def _only_set(self, data: dict[str, Any], **_: object) -> dict[str, Any]:
        return {
            key: value
            for key, value in data.items()
            if value is not None and not (key == "drop" and value is False)
        }


class FaultListSchema(Schema):
    faults = fields.List(fields.Nested(FaultSchema))


class FaultsClearedSchema(Schema):
    message = fields.Constant("Successful")
    faults_deleted = fields.Integer(data_key="faultsDeleted")
