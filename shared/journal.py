"""The request journal: what each /api/v2 call sent and got, kept in the database so that every
API worker writes to, and every client reads, the same one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, CursorResult, delete, func, insert, select
from sqlalchemy.orm import Session

from shared.models import JournalEntry

_journal = JournalEntry.__table__
_insert = insert(_journal)


@dataclass(frozen=True)
class Exchange:
    """One request and its answer, as recorded."""

    recorded_at: datetime
    method: str
    path: str
    query: str
    headers: str
    body: str
    status: int
    response_body: str
    duration_ms: float
    fault: str | None = None


@dataclass(frozen=True)
class JournalFilter:
    """Which entries a listing or a count covers; None means any."""

    method: str | None = None
    path: str | None = None  # a prefix
    status: int | None = None
    since: datetime | None = None  # recorded at or after

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.method is not None:
            found.append(JournalEntry.method == self.method)
        if self.path is not None:
            found.append(JournalEntry.path.startswith(self.path, autoescape=True))
        if self.status is not None:
            found.append(JournalEntry.status == self.status)
        if self.since is not None:
            found.append(JournalEntry.recorded_at >= self.since)
        return found


def record(connection: Connection, exchange: Exchange, keep: int) -> None:
    """Add `exchange`, and drop what has fallen out of the newest `keep` entries.

    Ids only grow, so the oldest are a range of the primary key: two small statements, whatever
    the journal's size. Concurrent workers may each drop the same range; the result is the same.
    """
    new_id = connection.execute(
        _insert,
        {
            "recorded_at": exchange.recorded_at,
            "method": exchange.method,
            "path": exchange.path,
            "query": exchange.query,
            "headers": exchange.headers,
            "body": exchange.body,
            "status": exchange.status,
            "response_body": exchange.response_body,
            "duration_ms": exchange.duration_ms,
            "fault": exchange.fault,
        },
    ).inserted_primary_key[0]
    if new_id > keep:
        connection.execute(delete(_journal).where(_journal.c.id <= new_id - keep))


def list_entries(
    session: Session, where: JournalFilter, *, limit: int, offset: int
) -> list[JournalEntry]:
    """The entries `where` selects, newest first."""
    query = select(JournalEntry).where(*where.conditions()).order_by(JournalEntry.id.desc())
    return list(session.execute(query.limit(limit).offset(offset)).scalars())


def count_entries(session: Session, where: JournalFilter) -> int:
    """How many entries `where` selects."""
    query = select(func.count()).select_from(JournalEntry).where(*where.conditions())
    return session.execute(query).scalar_one()


def clear(session: Session) -> int:
    """Empty the journal; answer how many entries it held."""
    result = cast(CursorResult[Any], session.execute(delete(JournalEntry)))
    return result.rowcount
