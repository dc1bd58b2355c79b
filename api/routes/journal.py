"""The request journal under /api/sim/requests: list, count, empty."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy.orm import Session

from api.endpoints import Answer, endpoint
from api.errors import ADMIN_KEY_REFUSED, DATABASE_DOWN, INVALID_QUERY, OURS
from api.ops_schemas import (
    JournalClearedSchema,
    JournalCountSchema,
    JournalFilterSchema,
    JournalListSchema,
    JournalPageSchema,
)
from api.runtime import transactional
from shared import journal as requests_journal
from shared.journal import JournalFilter
from shared.models import JournalEntry

journal = Blueprint("journal", __name__, url_prefix="/api/sim/requests")
TAG = "Request journal (ours)"
JOURNAL = (
    OURS + "the request journal, not part of Rx-Universe. With `JOURNAL=on` every `/api/v2` "
    "request is recorded (off, nothing new is, and what was recorded before stays). "
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
    journal,
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
    entries = requests_journal.list_entries(
        session, JournalFilter(**query), limit=limit, offset=offset
    )
    return {"requests": entries}


@endpoint(
    journal,
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
    return {"count": requests_journal.count_entries(session, JournalFilter(**query))}


@endpoint(
    journal,
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
    errors=(ADMIN_KEY_REFUSED, DATABASE_DOWN),
)
@transactional(write=True)
def clear_requests(session: Session) -> dict[str, int]:
    """Empty the journal."""
    return {"requests_deleted": requests_journal.clear(session)}
