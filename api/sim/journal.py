"""The request journal: the hook that records each `/api/v2` call the key check let through, and
`/api/sim/requests` to read, count and empty it."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from flask import Blueprint, Flask, Request, Response, g, request
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from api.http.access import is_guarded
from api.http.endpoints import Answer, endpoint
from api.http.errors import (
    ADMIN_KEY_REFUSED,
    DATABASE_DOWN,
    INVALID_QUERY,
    OURS,
    SIM_WRITE_REFUSED,
)
from api.http.fields import (
    MAX_ID,
    NO_NUL,
    SUCCESSFUL,
    Gathered,
    Instant,
    Text,
    UpperText,
    UTCMillis,
)
from api.http.runtime import runtime, transactional
from config.settings import Settings
from shared.db.engine import run_autocommit
from shared.db.models import JournalEntry
from shared.domain.clock import utcnow
from shared.sim import journal
from shared.sim.journal import Exchange, JournalFilter, record

blueprint = Blueprint("journal", __name__, url_prefix="/api/sim/requests")


class JournalFilterSchema(Schema):
    """The query string of `GET /api/sim/requests/count` (and of the listing, with paging)."""

    class Meta:
        unknown = RAISE

    method = UpperText(
        validate=validate.Length(1, 16),
        metadata={
            "description": "The HTTP method, in any case.",
            "example": "POST",
            "pattern": NO_NUL,
        },
    )
    path = Text(
        validate=validate.Length(1, 2048),
        metadata={
            "description": "A prefix of the path, taken literally (`_` and `%` too).",
            "example": "/api/v2/orders/33719",
            "pattern": NO_NUL,
        },
    )
    status = fields.Integer(
        validate=validate.Range(100, 599),
        metadata={"description": "The answer's status.", "example": 201},
    )
    since = Instant(
        metadata={
            "description": "Recorded at or after this instant (ISO 8601, with its time zone: "
            "`Z` or an offset).",
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

    message = fields.Constant("Successful", metadata=SUCCESSFUL)
    requests_deleted = fields.Integer(data_key="requestsDeleted", metadata={"minimum": 0})


# Credentials are never stored: the journal is readable by whoever holds the admin key.
MASKED_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "cookie"})
MASK = "***"


# Bodies beyond this are cut (a note says so): the journal is for seeing what a client sent.
MAX_BODY_CHARS = 64 * 1024


log = logging.getLogger(__name__)


def register_journal(app: Flask, settings: Settings) -> None:
    """Record each call of /api/v2 that the key check let through, keeping the newest
    `settings.journal_size`.

    Registered after the key check (api.app), so a call it refuses (a 401) or a CORS preflight
    it answers never reaches `_start`: anyone may send those, and a flood of them would push
    the integrators' own calls out. The /metrics request counts still have them. The contract's
    pages (/api/v2/docs, /api/v2/openapi.json), open to anyone, are no call of the API.
    """
    keep = settings.journal_size

    @app.before_request
    def _start() -> None:
        if is_guarded(request.path) == "api":
            g.journal_started = (utcnow(), time.perf_counter())

    @app.after_request
    def _record(response: Response) -> Response:
        started = g.get("journal_started")
        # During an outage the answer is already a 503 after a wait; do not wait again.
        if started is None or g.get("database_unavailable"):
            return response
        at, clock = started
        exchange = Exchange(
            recorded_at=at,
            method=request.method,
            path=storable(request.path),
            query=storable(request.query_string.decode("latin-1")),
            headers=masked_headers(request),
            body=_text(request.get_data(cache=True) if _body_readable(request) else b""),
            status=response.status_code,
            response_body="" if response.is_streamed else _text(response.get_data()),
            duration_ms=round((time.perf_counter() - clock) * 1000, 3),
            fault=g.get("fault"),
        )
        try:
            run_autocommit(runtime().autocommit_engine, lambda c: record(c, exchange, keep))
        except SQLAlchemyError as error:
            log.warning("Could not record the request in the journal: %s", error)
        return response


def masked_headers(req: Request) -> str:
    """The request's headers as a JSON object, credentials replaced by `***`."""
    headers: dict[str, str] = {}
    for name, value in req.headers.items():
        shown = MASK if name.lower() in MASKED_HEADERS else value
        headers[name] = f"{headers[name]}, {shown}" if name in headers else shown
    return json.dumps(headers)


def _body_readable(req: Request) -> bool:
    limit = req.max_content_length
    return req.content_length is None or limit is None or req.content_length <= limit


def storable(text: str) -> str:
    """`text` with each NUL written `\\u0000`, as JSON writes it: PostgreSQL stores no NUL in
    text, and an entry must not be lost for one (SQLite shows the same)."""
    return text.replace("\x00", "\\u0000") if "\x00" in text else text


def _text(raw: bytes) -> str:
    text = storable(raw.decode("utf-8", errors="replace"))
    if len(text) > MAX_BODY_CHARS:
        return f"{text[:MAX_BODY_CHARS]}... ({len(text) - MAX_BODY_CHARS} more characters)"
    return text


TAG = "Request journal (ours)"
JOURNAL = (
    OURS + "the request journal, not part of Rx-Universe. With `JOURNAL=on` every `/api/v2` "
    "call is recorded, but for those refused for a missing or wrong API key, which anyone can "
    "send (off, nothing new is, and what was recorded before stays). "
)
ENTRY = {
    "id": 7,
    "time": "2026-11-27T17:26:21.123Z",
    "method": "POST",
    "path": "/api/v2/orders/33719/complete",
    "query": "",
    "headers": {"Host": "127.0.0.1:4567", "X-Api-Key": "***"},
    "body": "",
    "response": {
        "status": 201,
        "body": '{"orderNumber":"33719","message":"Successful"}\n',
    },
    "durationMs": 1.734,
    "fault": None,
}


@endpoint(
    blueprint,
    "GET",
    "",
    tag=TAG,
    summary="Recorded requests, newest first",
    description=JOURNAL + "Filtered by `method`, `path` (a prefix), `status` and `since`, "
    "a page at a time (`limit`, `offset`).",
    query=JournalPageSchema,
    ok=Answer(
        200, "A page of recorded requests.", JournalListSchema, {"One call": {"requests": [ENTRY]}}
    ),
    errors=(INVALID_QUERY, ADMIN_KEY_REFUSED, DATABASE_DOWN),
)
@transactional(write=False)
def list_requests(session: Session, query: dict[str, Any]) -> dict[str, list[JournalEntry]]:
    """Recorded /api/v2 requests, newest first, filtered, a page at a time."""
    limit, offset = query.pop("limit"), query.pop("offset")
    entries = journal.list_entries(session, JournalFilter(**query), limit=limit, offset=offset)
    return {"requests": entries}


@endpoint(
    blueprint,
    "GET",
    "/count",
    tag=TAG,
    summary="How many recorded requests match",
    description=JOURNAL + "The listing's filters, no paging: so a test can assert that its "
    "client called complete exactly once.",
    query=JournalFilterSchema,
    ok=Answer(200, "How many match.", JournalCountSchema, {"One": {"count": 1}}),
    errors=(INVALID_QUERY, ADMIN_KEY_REFUSED, DATABASE_DOWN),
)
@transactional(write=False)
def count_requests(session: Session, query: dict[str, Any]) -> dict[str, int]:
    """How many recorded requests match the filters: `{"count": N}`."""
    return {"count": journal.count_entries(session, JournalFilter(**query))}


@endpoint(
    blueprint,
    "DELETE",
    "",
    tag=TAG,
    summary="Empty the journal",
    description=JOURNAL + "Deletes every recorded request.",
    ok=Answer(
        200,
        "How many recorded requests were deleted.",
        JournalClearedSchema,
        {"Twelve deleted": {"message": "Successful", "requestsDeleted": 12}},
    ),
    errors=(ADMIN_KEY_REFUSED, *SIM_WRITE_REFUSED, DATABASE_DOWN),
)
@transactional(write=True)
def clear_requests(session: Session) -> dict[str, int]:
    """Empty the journal."""
    return {"requests_deleted": journal.clear(session)}
