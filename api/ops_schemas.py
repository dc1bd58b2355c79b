"""The shapes of the service endpoints (health, request journal), apart from Rx-Universe's."""

from __future__ import annotations

import json
from datetime import UTC

from marshmallow import RAISE, Schema, fields, validate

from api.schemas import UTCMillis


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
