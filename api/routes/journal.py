"""The request journal under /api/sim/requests: list, count, empty."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from sqlalchemy.orm import Session

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

journal = Blueprint("journal", __name__, url_prefix="/api/sim/requests")


@journal.get("")
@transactional(write=False)
def list_requests(session: Session) -> dict[str, Any]:
    """Recorded /api/v2 requests, newest first, filtered, a page at a time."""
    query = JournalPageSchema().load(request.args.to_dict())
    limit, offset = query.pop("limit"), query.pop("offset")
    entries = requests_journal.list_entries(
        session, JournalFilter(**query), limit=limit, offset=offset
    )
    return JournalListSchema().dump({"requests": entries})


@journal.get("/count")
@transactional(write=False)
def count_requests(session: Session) -> dict[str, Any]:
    """How many recorded requests match the filters: `{"count": N}`."""
    where = JournalFilter(**JournalFilterSchema().load(request.args.to_dict()))
    return JournalCountSchema().dump({"count": requests_journal.count_entries(session, where)})


@journal.delete("")
@transactional(write=True)
def clear_requests(session: Session) -> dict[str, Any]:
    """Empty the journal."""
    return JournalClearedSchema().dump({"requests_deleted": requests_journal.clear(session)})
