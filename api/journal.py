"""Records every /api/v2 request and its answer in the request journal (shared.journal).

Installed only with JOURNAL=on. The entry is written before the answer leaves, so a client that
has its answer finds its request in the journal: "my client called complete exactly once" can be
asserted right after the call.
"""

from __future__ import annotations

import json
import logging
import time

from flask import Flask, Request, Response, g, request
from sqlalchemy.exc import SQLAlchemyError

from api.runtime import runtime
from config.settings import Settings
from shared.db.engine import run_autocommit
from shared.domain.clock import utcnow
from shared.journal import Exchange, record

JOURNALED_PREFIX = "/api/v2/"
# Credentials are never stored: the journal is readable by whoever holds the admin key.
MASKED_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "cookie"})
MASK = "***"
# Bodies beyond this are cut (a note says so): the journal is for seeing what a client sent.
MAX_BODY_CHARS = 64 * 1024

log = logging.getLogger(__name__)


def register_journal(app: Flask, settings: Settings) -> None:
    """Record each /api/v2 exchange, keeping the newest `settings.journal_size`."""
    keep = settings.journal_size

    @app.before_request
    def _start() -> None:
        if request.path.startswith(JOURNALED_PREFIX):
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
            path=request.path,
            query=request.query_string.decode("latin-1"),
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


def _text(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace")
    if len(text) > MAX_BODY_CHARS:
        return f"{text[:MAX_BODY_CHARS]}... ({len(text) - MAX_BODY_CHARS} more characters)"
    return text
