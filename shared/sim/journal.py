"""The request journal: what each /api/v2 call sent and got, kept in the database so that every
API worker writes to, and every client reads, the same one."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    Dialect,
    Integer,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Session

from shared.db.driver import DriverStatement
from shared.db.models import JournalEntry

_journal = cast(Table, JournalEntry.__table__)


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
    Both run on the driver (shared.db.driver), as the completion call's do: they run after
    every /api/v2 call the journal records.
    """
    statements = _compiled(connection.dialect)
    [(new_id,)] = statements.insert.fetch(connection, **vars(exchange))
    if new_id > keep:
        statements.trim.fetch(connection, cut=new_id - keep)


class _Statements(NamedTuple):
    insert: DriverStatement
    trim: DriverStatement


@functools.cache
def _compiled(dialect: Dialect) -> _Statements:
    columns = [column.key for column in _journal.columns if column.key != "id"]
    insert_entry = (
        insert(_journal)
        .values({name: bindparam(name, type_=_journal.c[name].type) for name in columns})
        .returning(_journal.c.id)
    )
    trim = delete(_journal).where(_journal.c.id <= bindparam("cut", type_=Integer()))
    return _Statements(
        DriverStatement.compile(insert_entry, dialect), DriverStatement.compile(trim, dialect)
    )


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
