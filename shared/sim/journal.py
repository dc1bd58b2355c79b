"""The request journal: what each /api/v2 call sent and got, kept in the database so that every
API worker writes to, and every client reads, the same one."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
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


class Exchange(NamedTuple):
    """One request and its answer, as recorded. A named tuple: one is made on every call the
    journal records, in about a quarter of a frozen dataclass's time."""

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

    def characters(self) -> int:
        """How many characters the entry holds: what a buffer of entries is bounded by."""
        texts = (self.method, self.path, self.query, self.headers, self.body, self.response_body)
        return sum(map(len, texts)) + len(self.fault or "")


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


# Rows one INSERT adds at most: 640 values, within the 999 a SQLite before 3.32 binds.
MAX_ROWS_PER_INSERT = 64


def add(connection: Connection, exchanges: Sequence[Exchange]) -> None:
    """Add `exchanges` (at most MAX_ROWS_PER_INSERT) in one INSERT.

    For a connection whose statements each commit alone (the autocommit engine): on SQLite the
    statement then takes the database's one write lock and gives it back within the one driver
    call that runs it, with Python's lock released, so the journal never holds the write lock
    while its thread waits for Python's (api.sim.journal_writer says why that matters). Run on
    the driver (shared.db.driver), compiled once for each number of rows.
    """
    if not exchanges:
        return
    names = _parameter_names(len(exchanges))
    values = itertools.chain.from_iterable(exchanges)
    _insert(connection.dialect, len(exchanges)).count(
        connection, **dict(zip(names, values, strict=True))
    )


def trim(connection: Connection, keep: int) -> None:
    """Drop what has fallen out of the newest `keep` entries.

    Ids only grow, so the oldest are a range of the primary key: one small range DELETE below
    the newest id, whatever the journal's size. Concurrent workers may each drop the same range;
    the result is the same.
    """
    _trim(connection.dialect).count(connection, keep=keep)


@functools.cache
def _parameter_names(rows: int) -> tuple[str, ...]:
    """The INSERT's parameters for `rows` rows, row by row in Exchange's order."""
    return tuple(f"{name}_{row}" for row in range(rows) for name in Exchange._fields)


# Each size compiled once: api.sim.journal_writer asks for powers of two only.
@functools.lru_cache(maxsize=2 * MAX_ROWS_PER_INSERT)
def _insert(dialect: Dialect, rows: int) -> DriverStatement:
    rows_values = [
        {name: bindparam(f"{name}_{row}", type_=_journal.c[name].type) for name in Exchange._fields}
        for row in range(rows)
    ]
    return DriverStatement.compile(insert(_journal).values(rows_values), dialect)


@functools.cache
def _trim(dialect: Dialect) -> DriverStatement:
    newest = select(func.max(_journal.c.id)).scalar_subquery()
    cut = delete(_journal).where(_journal.c.id <= newest - bindparam("keep", type_=Integer()))
    return DriverStatement.compile(cut, dialect)


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
