"""The request journal: the hook that records each `/api/v2` call the key check let through, and
`/api/sim/requests` to read, count and empty it."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from flask import Blueprint, Flask, Response, current_app, g, request
from marshmallow import RAISE, Schema, fields, validate
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
from api.http.runtime import EXTENSION, runtime, transactional
from api.sim.journal_writer import JournalWriter
from config.settings import Settings
from shared.db.models import JournalEntry
from shared.domain.clock import utcnow
from shared.sim import journal
from shared.sim.journal import Exchange, JournalFilter

blueprint = Blueprint("journal", __name__, url_prefix="/api/sim/requests")
P = ParamSpec("P")
R = TypeVar("R")


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
            "`Proxy-Authorization` shown as `***`. At most 16 Ki characters of JSON: past that, "
            "the value that does not fit is cut and the headers after it are counted under "
            "`(cut)`.",
        },
    )
    body = fields.String(
        metadata={"description": "The request's body (cut at 64 Ki characters, a note saying so)."}
    )
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


# What one entry holds at most, so that the journal is bounded in bytes as well as in rows:
# JOURNAL_SIZE x MAX_ENTRY_CHARS characters (docs/simulator/journal.md). A body (the request's,
# the answer's) beyond MAX_TEXT_CHARS is cut, a note saying how much was left out: the journal is
# for seeing what a client sent. The path and the query string (gunicorn takes a request line of
# any length) and the headers (up to 256 of 128 KiB each) are cut at less: an identifier of
# 10,000 characters, which the API answers, still fits whole.
MAX_TEXT_CHARS = 64 * 1024
MAX_LINE_CHARS = 16 * 1024
MAX_HEADERS_CHARS = 16 * 1024
MAX_METHOD_CHARS = 16  # the column's width; a method is a token, rarely above 7
# A cut text ends with a note, "... (N more characters)", of at most this many.
CUT_NOTE_CHARS = 40
MAX_ENTRY_CHARS = (
    MAX_METHOD_CHARS
    + 2 * (MAX_LINE_CHARS + CUT_NOTE_CHARS)  # the path and the query string
    + MAX_HEADERS_CHARS
    + 2 * (MAX_TEXT_CHARS + CUT_NOTE_CHARS)  # the request's body and the answer's
    + 255  # the fault, the column's width
)
# Headers past their bound: the value that does not fit is cut, and the rest counted under CUT.
CUT = "(cut)"
MAX_HEADER_NAME_CHARS = 256


def register_journal(app: Flask, settings: Settings) -> None:
    """Record each call of /api/v2 that the key check let through, keeping the newest
    `settings.journal_size`: the request hands its entry to the process's writer
    (api.sim.journal_writer), which writes it in the background.

    Registered after the key check (api.app), so a call it refuses (a 401) or a CORS preflight
    it answers never reaches `_start`: anyone may send those, and a flood of them would push
    the integrators' own calls out. The /metrics request counts still have them. The contract's
    pages (/api/v2/docs, /api/v2/openapi.json), open to anyone, are no call of the API.
    """
    writer = JournalWriter(
        app.extensions[EXTENSION].autocommit_engine, settings.journal_size, settings.journal_buffer
    )
    app.extensions[WRITER] = writer

    # The app's own, fixed when it is built: read here once rather than from its config on
    # each call.
    body_limit = app.config["MAX_CONTENT_LENGTH"]

    @app.before_request
    def _start() -> None:
        environ = request.environ
        # The raw path, with its leading slashes made one as request.path makes them, but not
        # decoded: the prefixes and paths is_guarded compares with are ASCII, so the answer is
        # the same, without the decoding.
        if is_guarded("/" + environ.get("PATH_INFO", "").lstrip("/")) == "api":
            environ[STARTED] = (utcnow(), time.perf_counter())

    # What follows runs on every call of /api/v2: it reads the WSGI environ, rather than going
    # through Flask's request proxy and werkzeug's header views at each step, which took about
    # 30 us more a call (the completion call takes about 300 us under Flask's test client).
    @app.after_request
    def _record(response: Response) -> Response:
        environ = request.environ
        started = environ.get(STARTED)
        if started is None:
            return response
        at, clock = started
        # The app's middleware (api.http.body.take_whole_body) has read any body whole, or
        # refused it, and left its length: none, no body to read.
        length = environ.get("CONTENT_LENGTH")
        readable = length and length != "0" and length.isdigit() and int(length) <= body_limit
        body = request.get_data(cache=True) if readable else b""
        # A 503 of a database outage too: the writer keeps it until the database is back.
        writer.submit(
            Exchange(
                recorded_at=at,
                method=environ["REQUEST_METHOD"][:MAX_METHOD_CHARS],
                path=_cut(storable(request.path), MAX_LINE_CHARS),
                query=_cut(storable(environ.get("QUERY_STRING", "")), MAX_LINE_CHARS),
                headers=masked_headers(environ),
                body=_text(body) if body else "",
                status=response.status_code,
                response_body="" if response.is_streamed else _text(response.get_data()),
                duration_ms=round((time.perf_counter() - clock) * 1000, 3),
                fault=g.get("fault"),
            )
        )
        return response


# Where a call the journal records keeps its start (in its WSGI environ).
STARTED = "rx_jobtracker.journal_started"
# The extension under which an app with the journal on keeps its writer.
WRITER = "rx_jobtracker.journal_writer"


def written_first(view: Callable[P, R]) -> Callable[P, R]:
    """Before `view` reads or empties the journal, wait (at most DATABASE_TIMEOUT) until this
    process's entries are written: a client reads its own calls, and an emptied journal is not
    refilled by entries of calls made before."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        writer: JournalWriter | None = current_app.extensions.get(WRITER)
        if writer is not None:
            writer.wait_until_written(runtime().settings.database_timeout)
        return view(*args, **kwargs)

    return wrapper


def masked_headers(environ: dict[str, Any]) -> str:
    """The request's headers as a JSON object, named as werkzeug names them (`X-Request-Id`),
    credentials replaced by `***`; at most MAX_HEADERS_CHARS of JSON (`_within` says how)."""
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            if key in _ENTITY_HEADERS:
                continue  # a client's copy of one the server hands over as below
            name = _header_name(key)
        elif key in _ENTITY_HEADERS and value:
            name = _ENTITY_HEADERS[key]
        else:
            continue
        headers[name] = MASK if key in _MASKED_KEYS else value
    text = json.dumps(headers)
    return text if len(text) <= MAX_HEADERS_CHARS else json.dumps(_within(headers))


# The headers WSGI hands over without the HTTP_ prefix, with their names.
_ENTITY_HEADERS = {
    "CONTENT_TYPE": "Content-Type",
    "CONTENT_LENGTH": "Content-Length",
    "HTTP_CONTENT_TYPE": "Content-Type",
    "HTTP_CONTENT_LENGTH": "Content-Length",
}
_MASKED_KEYS = frozenset(f"HTTP_{name.upper().replace('-', '_')}" for name in MASKED_HEADERS)


@functools.lru_cache(maxsize=1024)
def _header_name(key: str) -> str:
    """`HTTP_X_REQUEST_ID` -> `X-Request-Id`, as werkzeug writes it. Cached: a client sends
    the same few on every call."""
    return key[5:].replace("_", "-").title()


def _within(headers: dict[str, str]) -> dict[str, str]:
    """`headers` cut to fit MAX_HEADERS_CHARS as JSON, still an object of strings: kept in order
    while they fit, the value that does not fit cut, and those after it left out, counted under
    `(cut)`, a name no header can have (HTTP names hold no parentheses)."""
    kept: dict[str, str] = {}
    room = MAX_HEADERS_CHARS - 2 * CUT_NOTE_CHARS  # for the cut value's note and for CUT's
    items = list(headers.items())
    for index, (whole_name, value) in enumerate(items):
        name = whole_name[:MAX_HEADER_NAME_CHARS]
        # As json.dumps writes a pair, escapes included: `"name": "value", `.
        name_cost = len(json.dumps(name)) + 4
        cost = name_cost + len(json.dumps(value))
        if cost <= room:
            kept[name] = value
            room -= cost
            continue
        fitting = room - name_cost
        shown = value[:fitting]
        while shown and len(json.dumps(shown)) > fitting:
            shown = shown[: len(shown) // 2]
        if shown:
            kept[name] = f"{shown}... ({len(value) - len(shown)} more characters)"
        left = len(items) - index - (1 if shown else 0)
        if left:
            kept[CUT] = f"{left} more header{'s' if left > 1 else ''} not kept"
        break
    return kept


def storable(text: str) -> str:
    """`text` with each NUL written `\\u0000`, as JSON writes it: PostgreSQL stores no NUL in
    text, and an entry must not be lost for one (SQLite shows the same)."""
    return text.replace("\x00", "\\u0000") if "\x00" in text else text


def _cut(text: str, most: int = MAX_TEXT_CHARS) -> str:
    if len(text) > most:
        return f"{text[:most]}... ({len(text) - most} more characters)"
    return text


def _text(raw: bytes) -> str:
    return _cut(storable(raw.decode("utf-8", errors="replace")))


TAG = "Request journal (ours)"
JOURNAL = (
    OURS + "the request journal, not part of Rx-Universe. Every `/api/v2` call is recorded "
    "(`JOURNAL`, on by default), but for those refused for a missing or wrong API key, which "
    "anyone can send (with `JOURNAL=off` nothing new is, and what was recorded before stays). "
    "Entries are written in the background, in batches: this first waits until the worker "
    "answering it has written its own (so a one-process server shows a client its calls at "
    "once); another worker's may appear a moment later. "
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
@written_first
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
@written_first
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
@written_first
@transactional(write=True)
def clear_requests(session: Session) -> dict[str, int]:
    """Empty the journal."""
    return {"requests_deleted": journal.clear(session)}
