"""The shapes of the service endpoints (health, request journal), apart from Rx-Universe's."""

from __future__ import annotations

from marshmallow import Schema, fields

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
