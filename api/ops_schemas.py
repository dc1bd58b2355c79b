"""The shapes of the service endpoints (health, request journal, faults), apart from Rx-Universe's.

As in api.schemas, a response schema's `metadata` and `allow_none` only document (api.openapi
reads them): a dump writes what it always wrote.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any, ClassVar

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    missing,
    post_dump,
    post_load,
    validate,
    validates_schema,
)

from api.schemas import Flag, Text, UTCMillis

# The largest integer either database stores (a 64-bit one): larger numbers name nothing.
MAX_ID = 2**63 - 1
_INT32_MAX = 2**31 - 1  # an INTEGER column on PostgreSQL
_SUCCESSFUL: dict[str, Any] = {"type": "string", "enum": ["Successful"]}
# What Text refuses (a NUL character; a lone surrogate cannot come in a URL), as a pattern.
_NO_NUL = r"^[^\x00]*$"


class Gathered(fields.Nested):
    """A nested object dumped from the object itself rather than from one of its attributes:
    some of a flat record's facts, shown gathered under one key."""

    def get_value(self, obj: Any, attr: str, accessor: Any = None, default: Any = missing) -> Any:
        return obj


class UpperText(Text):
    """Text read in any case and kept in upper case (HTTP methods: `post` is `POST`)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return super()._deserialize(value, attr, data, **kwargs).upper()


class Instant(fields.AwareDateTime):
    """An ISO 8601 instant (UTC when it names no zone), loaded in UTC; one that falls outside
    the years 1 to 9999 once in UTC (`0001-01-01T00:00:00+01:00`) is refused, not a 500."""

    # Unannotated, and only read by marshmallow: see api.schemas.Digits.default_error_messages.
    default_error_messages = {"out_of_range": "Must be within the years 1 to 9999 in UTC."}  # noqa: RUF012

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(default_timezone=UTC, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        instant = super()._deserialize(value, attr, data, **kwargs)
        try:
            return instant.astimezone(UTC)
        except OverflowError:
            raise self.make_error("out_of_range") from None


# ---- /healthz ---------------------------------------------------------------------------------


class DatabaseHealthSchema(Schema):
    """Whether the database answered, and whether its schema is this release's."""

    reachable = fields.Boolean()
    schema_revision = fields.String(
        data_key="schemaRevision", allow_none=True, metadata={"example": "0003"}
    )
    schema_current = fields.Boolean(data_key="schemaCurrent")


class TrackerHealthSchema(Schema):
    """The Job Trackers' heartbeat, as `GET /api/sim/tracker` reports it, and its age."""

    running = fields.Boolean()
    last_heartbeat = UTCMillis(data_key="lastHeartbeat", allow_none=True)
    heartbeat_age_seconds = fields.Float(
        data_key="heartbeatAgeSeconds", allow_none=True, metadata={"example": 1.52}
    )


class HealthSchema(Schema):
    """`GET /healthz`: `status` is `ok` (200) or `unavailable` (503, with the `problems`)."""

    status = fields.String(metadata={"enum": ["ok", "unavailable"]})
    # The report's database facts, gathered into one object.
    database = Gathered(DatabaseHealthSchema)
    tracker = fields.Nested(TrackerHealthSchema, allow_none=True)
    pending = fields.Integer(allow_none=True, metadata={"minimum": 0})
    problems = fields.List(fields.String())


# ---- /api/sim/requests ------------------------------------------------------------------------


class JournalFilterSchema(Schema):
    """The query string of `GET /api/sim/requests/count` (and of the listing, with paging)."""

    class Meta:
        unknown = RAISE

    method = UpperText(
        validate=validate.Length(1, 16),
        metadata={
            "description": "The HTTP method, in any case.",
            "example": "POST",
            "pattern": _NO_NUL,
        },
    )
    path = Text(
        validate=validate.Length(1, 2048),
        metadata={
            "description": "A prefix of the path, taken literally (`_` and `%` too).",
            "example": "/api/v2/orders/33719",
            "pattern": _NO_NUL,
        },
    )
    status = fields.Integer(
        validate=validate.Range(100, 599),
        metadata={"description": "The answer's status.", "example": 201},
    )
    since = Instant(
        metadata={
            "description": "Recorded at or after this instant (ISO 8601; UTC when no zone is "
            "given).",
            "example": "2026-11-27T17:00:00Z",
        }
    )


class JournalPageSchema(JournalFilterSchema):
    """The query string of `GET /api/sim/requests`: the filters, `limit` and `offset`."""

    limit = fields.Integer(
        load_default=100,
        validate=validate.Range(1, 1000),
        metadata={"description": "At most this many entries."},
    )
    # At most the largest OFFSET both databases take.
    offset = fields.Integer(
        load_default=0,
        validate=validate.Range(0, MAX_ID),
        metadata={"description": "After skipping this many (the newest)."},
    )


class JournalResponseSchema(Schema):
    """The answer a recorded request got: its status and its body, as sent."""

    status = fields.Integer(metadata={"example": 201})
    body = fields.String(attribute="response_body")


class JournalEntrySchema(Schema):
    """One recorded request, with its answer under `response`."""

    id = fields.Integer(metadata={"minimum": 1})
    time = UTCMillis(attribute="recorded_at")
    method = fields.String(metadata={"example": "POST"})
    path = fields.String(metadata={"example": "/api/v2/orders/33719/complete"})
    query = fields.String(metadata={"description": "The query string, without the `?`."})
    headers = fields.Function(
        serialize=lambda entry: json.loads(entry.headers),
        metadata={
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "The request's headers; `Authorization`, `X-API-Key`, `Cookie` and "
            "`Proxy-Authorization` shown as `***`.",
        },
    )
    body = fields.String(metadata={"description": "The request's body (cut at 64 KiB)."})
    response = Gathered(JournalResponseSchema)
    duration_ms = fields.Float(data_key="durationMs", metadata={"minimum": 0})
    fault = fields.String(
        allow_none=True,
        metadata={
            "description": "The fault that shaped the answer, if one did.",
            "example": "fault 3: status 503",
        },
    )


class JournalListSchema(Schema):
    """`GET /api/sim/requests`: a page of recorded requests, newest first."""

    requests = fields.List(fields.Nested(JournalEntrySchema))


class JournalCountSchema(Schema):
    """`GET /api/sim/requests/count`."""

    count = fields.Integer(metadata={"minimum": 0})


class JournalClearedSchema(Schema):
    """`DELETE /api/sim/requests`: how many entries went."""

    message = fields.Constant("Successful", metadata=_SUCCESSFUL)
    requests_deleted = fields.Integer(data_key="requestsDeleted", metadata={"minimum": 0})


# ---- /api/sim/faults --------------------------------------------------------------------------


HTTP_METHODS = ("*", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_HTTP_KEYS = ("method", "path", "status", "body", "delay_ms", "drop", "times_left", "probability")
_ANSWERS = {"status": "status", "delay_ms": "delayMs", "drop": "drop"}
_TWO_DIGITS = re.compile(r"[0-9]{2}")


def _two_digits(code: str) -> None:
    # fullmatch: a `$` would let "05\n" through, three characters for a two-character column.
    if not _TWO_DIGITS.fullmatch(code):
        raise ValidationError("Must be two digits.")


def _present(*keys: str) -> dict[str, Any]:
    return {"anyOf": [{"required": [key]} for key in keys]}


# NewFaultSchema's rules across keys (`_one_kind`), said in JSON Schema for the document.
_HTTP_PUBLIC_KEYS = ("method", "path", "status", "body", "delayMs", "drop", "times", "probability")
_NEW_FAULT_RULES: dict[str, Any] = {
    "minProperties": 1,  # so the body is required (api.openapi): `{}` is no fault
    "oneOf": [
        {
            "description": "An HTTP fault: a path, and exactly one of status, delayMs, drop.",
            "required": ["path"],
            "oneOf": [{"required": ["status"]}, {"required": ["delayMs"]}, {"required": ["drop"]}],
            "not": _present("tracker", "code", "message"),
            "allOf": [
                {"anyOf": [{"not": {"required": ["body"]}}, {"required": ["status"]}]},
                {"not": {"required": ["times", "probability"]}},
            ],
        },
        {
            "description": "A tracker pause: nothing but `tracker`.",
            "required": ["tracker"],
            "properties": {"tracker": {"enum": ["pause"]}},
            "not": _present(*_HTTP_PUBLIC_KEYS, "code", "message"),
        },
        {
            "description": "A tracker rejection: `tracker`, `code`, and optionally `message`.",
            "required": ["tracker", "code"],
            "properties": {"tracker": {"enum": ["reject"]}},
            "not": _present(*_HTTP_PUBLIC_KEYS),
        },
    ],
}


class NewFaultSchema(Schema):
    """`POST /api/sim/faults`: an HTTP fault (`path` and one of `status`, `delayMs`, `drop`), or
    a tracker fault (`tracker`)."""

    class Meta:
        unknown = RAISE

    # Unannotated, and only read by marshmallow: see api.schemas.Digits.default_error_messages.
    error_messages = {"type": "The request body must be a JSON object."}  # noqa: RUF012
    # What `_one_kind` says, for the OpenAPI document (api.openapi merges it in), and one whole
    # example (the keys' own examples would make a body with every key, which no rule allows).
    openapi_extra: ClassVar[dict[str, Any]] = {
        **_NEW_FAULT_RULES,
        "example": {
            "method": "POST",
            "path": "/api/v2/orders/*/complete",
            "status": 503,
            "times": 2,
        },
    }

    method = UpperText(
        validate=validate.OneOf(HTTP_METHODS),
        metadata={"description": "The method to match, in any case; `*` (the default) any."},
    )
    path = Text(
        # No NUL in the pattern: it is what Text refuses, said for the document.
        validate=[validate.Length(1, 2048), validate.Regexp(r"^/[^\x00]*$")],
        metadata={
            "description": "A glob of the paths to match: `*` matches any characters, `/` "
            "included. Only paths under `/api/v2` can match."
        },
    )
    status = fields.Integer(
        strict=True,
        validate=validate.Range(100, 599),
        metadata={"description": "Answer this status."},
    )
    body = fields.Raw(
        allow_none=True,
        metadata={
            "description": "The body to answer with the status (any JSON); by default "
            "our error shape, `Simulated fault`."
        },
    )
    delay_ms = fields.Integer(
        data_key="delayMs",
        strict=True,
        validate=validate.Range(1, 60_000),
        metadata={"description": "Wait this long, then answer as usual."},
    )
    drop = Flag(
        validate=validate.Equal(True),
        metadata={"enum": [True], "description": "Close the connection without an answer."},
    )
    times_left = fields.Integer(
        data_key="times",
        strict=True,
        validate=validate.Range(1, _INT32_MAX),
        metadata={"description": "For the next so many matching calls (default: every call)."},
    )
    probability = fields.Float(
        validate=validate.Range(0, 1, min_inclusive=False),
        allow_nan=False,
        # apispec writes the range's minimum, not that it is exclusive.
        metadata={
            "exclusiveMinimum": True,
            "description": "For each matching call with this probability (0 < p <= 1).",
        },
    )
    tracker = fields.String(
        validate=validate.OneOf(["pause", "reject"]),
        metadata={"description": "A tracker fault: pause every tracker, or reject every order."},
    )
    code = fields.String(
        validate=_two_digits,
        metadata={"pattern": "^[0-9]{2}$", "description": "The code a reject fault rejects with."},
    )
    message = Text(
        validate=validate.Length(1, 255),
        metadata={
            "description": "The rejection's message; by default Rx-Universe's for codes 01 to 05.",
            "pattern": _NO_NUL,
        },
    )

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

    # Which keys a dump always writes (the rest are left out when they do not apply), for the
    # OpenAPI document (api.openapi merges it in, over its every-key `required`).
    openapi_extra: ClassVar[dict[str, Any]] = {
        "required": ["id", "createdAt"],
        "oneOf": [
            {"description": "An HTTP fault.", "required": ["method", "path"]},
            {"description": "A tracker fault.", "required": ["tracker"]},
        ],
    }

    id = fields.Integer(metadata={"minimum": 1, "example": 1})
    method = fields.String(metadata={"enum": list(HTTP_METHODS)})
    path = fields.String(metadata={"example": "/api/v2/orders/*/complete"})
    status = fields.Integer(metadata={"minimum": 100, "maximum": 599})
    body = fields.Function(
        lambda fault: None if fault.body is None else json.loads(fault.body),
        metadata={"description": "The body answered with the status: any JSON."},
    )
    delay_ms = fields.Integer(data_key="delayMs", metadata={"minimum": 1, "maximum": 60_000})
    drop = fields.Boolean(metadata={"enum": [True]})
    times_left = fields.Integer(
        data_key="timesLeft",
        metadata={"minimum": 0, "description": "Calls left to fault; 0 when spent."},
    )
    probability = fields.Float(metadata={"minimum": 0, "maximum": 1})
    tracker = fields.String(metadata={"enum": ["pause", "reject"]})
    code = fields.String(metadata={"pattern": "^[0-9]{2}$"})
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
    """`GET /api/sim/faults`: every fault, oldest first."""

    faults = fields.List(fields.Nested(FaultSchema))


class FaultsClearedSchema(Schema):
    """`DELETE /api/sim/faults` (and one by id): how many faults went."""

    message = fields.Constant("Successful", metadata=_SUCCESSFUL)
    faults_deleted = fields.Integer(data_key="faultsDeleted", metadata={"minimum": 0})


class FaultIdPath(Schema):
    """`{id}` in `DELETE /api/sim/faults/{id}`."""

    fault_id = fields.Integer(
        data_key="id",
        metadata={
            "minimum": 1,
            "maximum": MAX_ID,
            "description": "The fault's id, as `POST /api/sim/faults` answered it.",
            "example": 1,
        },
    )
