"""The API's completion call: check an order and flag it for the Job Tracker."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple, cast

from sqlalchemy import (
    ClauseElement,
    ColumnElement,
    Connection,
    Dialect,
    Table,
    bindparam,
    update,
)

from shared.db.driver import DriverStatement
from shared.db.models import Order, UTCDateTime
from shared.domain.completion import check_completable
from shared.domain.errors import OrderContended, OrderNotFound, RecordNotFound
from shared.domain.lab_setup import Lab
from shared.domain.orders import parse_order_number
from shared.orders.completion_sql import completable
from shared.orders.facts import FACTS_OF_ORDER, to_facts, unchanged, unchanged_parameters
from shared.orders.lookup import find_row

# How often a flag is tried again when the order's facts change between its check and its write.
FLAG_ATTEMPTS = 5


# Typed as a FromClause by SQLAlchemy; a declarative class's is a Table, which update() needs.
_orders = cast(Table, Order.__table__)


def request_completion(
    connection: Connection,
    identifier: str,
    lab: Lab,
    now: datetime,
    announce: Callable[[Connection], None] = lambda connection: None,
) -> int:
    """Check the order and flag it for the Job Tracker; a repeat while flagged changes nothing.
    `announce` is called with the connection once a flag is committed on it (shared.wakeup
    wakes the tracker with it).

    `connection` autocommits, and no lock is held while Python runs: concurrent calls wait on
    each other only for one UPDATE, as a bare UPDATE would (docs/benchmarks.md). A completable
    order takes that one statement: it sets the flag where the checks, written as SQL from the
    same lab data (`completable`), pass. Any other order has its facts read and checked here,
    which gives the documented reason, or finds a repeat; and should this check pass where the
    SQL did not (the order changed in between), the flag is set by a write that re-checks the
    order's own facts, and the whole check runs again if they moved.
    """
    number = _order_number(connection, identifier, lab)
    statements = _completion_statements(connection.dialect, lab)
    if statements.flag_if_completable.count(connection, number=number, now=now):
        announce(connection)
        return number
    for _ in range(FLAG_ATTEMPTS):
        rows = statements.facts_of_order.fetch(connection, number=number)
        if not rows:
            raise OrderNotFound()
        (row,) = rows
        check_completable(to_facts(row), lab)
        if row.completion_requested_at is not None:
            return number  # flagged already, and still completable: the repeat is a success
        flagged = statements.flag_if_unchanged.count(
            connection, number=number, now=now, **unchanged_parameters(row)
        )
        if flagged:
            announce(connection)
            return number
    raise OrderContended(number, FLAG_ATTEMPTS)


def _order_number(connection: Connection, identifier: str, lab: Lab) -> int:
    """The order number the identifier names: read as one, or (the lab's
    `completion_identifiers = "any"`) found as the order pages find an order."""
    if lab.completion_by_any_identifier:
        try:
            return int(find_row(connection, identifier).order_number)
        except RecordNotFound:
            raise OrderNotFound() from None
    number = parse_order_number(identifier)
    if number is None:
        raise OrderNotFound()
    return number


class _CompletionStatements(NamedTuple):
    flag_if_completable: DriverStatement
    facts_of_order: DriverStatement
    flag_if_unchanged: DriverStatement


@functools.cache
def _completion_statements(dialect: Dialect, lab: Lab) -> _CompletionStatements:
    """The completion call's statements, run on the driver (shared.db.driver says why)."""
    return _CompletionStatements(
        flag_if_completable=DriverStatement.compile(_flag(completable(lab)), dialect),
        facts_of_order=DriverStatement.compile(FACTS_OF_ORDER, dialect),
        flag_if_unchanged=DriverStatement.compile(_flag(unchanged()), dialect),
    )


def _flag(guard: ColumnElement[bool]) -> ClauseElement:
    """The flag, set where `guard` holds (run with `count`: 1 when set).

    No RETURNING: on SQLite the statement would hold the write lock until its row was read, which
    waits for the GIL under a threaded server, and every other writer would sleep in SQLite's busy
    handler meanwhile (docs/benchmarks.md). No NOTIFY either (shared.wakeup says why)."""
    return (
        update(_orders)
        .where(
            _orders.c.order_number == bindparam("number"),
            _orders.c.completion_requested_at.is_(None),
            guard,
        )
        .values(
            completion_requested_at=bindparam("now", type_=UTCDateTime()),
            completion_error_code=None,
            completion_error_message=None,
        )
    )
