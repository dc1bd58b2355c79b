"""An order's facts as the completion checks see them, read in one statement, and the guard that
lets a write go through only if the order's own facts are still those that were checked."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import ColumnElement, Connection, String, and_, bindparam, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from shared.db.models import CheckIn, Order, OrderAddon
from shared.domain.orders import OrderFacts

_orders = Order.__table__
_addons = OrderAddon.__table__
_checkins = CheckIn.__table__


class _JSONList(FunctionElement[str]):
    """The values of a column over a set of rows as a JSON array text (`[]` when none)."""

    type = String()
    inherit_cache = True


@compiles(_JSONList, "sqlite")
def _json_list_sqlite(element: _JSONList, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_group_array({compiler.process(element.clauses, **kw)})"


@compiles(_JSONList, "postgresql")
def _json_list_postgresql(element: _JSONList, compiler: SQLCompiler, **kw: Any) -> str:
    return f"COALESCE(CAST(json_agg({compiler.process(element.clauses, **kw)}) AS TEXT), '[]')"


def codes_of_order(column: Any) -> ColumnElement[str]:
    """The codes in `column` of the order's rows (addons, check-ins) as one JSON array text."""
    # JSON, so that no code, whatever characters it holds, can be mistaken for two.
    table = column.table
    return (
        select(_JSONList(column))
        .where(table.c.order_number == _orders.c.order_number)
        .correlate(_orders)
        .scalar_subquery()
    )


# The order's own facts, which a write can re-check in its WHERE clause at no cost.
_OWN_FACTS = (_orders.c.status, _orders.c.on_hold, _orders.c.deleted, _orders.c.job_type)


# Every fact a check looks at, in one row per order: what the tracker reads.
CHECKED_COLUMNS = (
    _orders.c.order_number,
    *_OWN_FACTS,
    codes_of_order(_addons.c.addon_code).label("addons"),
    codes_of_order(_checkins.c.station).label("stations"),
)

# The same and the flag, so the API knows a repeated call without asking again.
FACT_COLUMNS = (*CHECKED_COLUMNS, _orders.c.completion_requested_at)


def to_facts(row: Any) -> OrderFacts:
    """The OrderFacts of a row read with FACT_COLUMNS (or CHECKED_COLUMNS)."""
    return OrderFacts(
        order_number=row.order_number,
        status=row.status,
        on_hold=row.on_hold,
        deleted=row.deleted,
        job_type=row.job_type,
        addons=frozenset(json.loads(row.addons)),
        stations=frozenset(json.loads(row.stations)),
    )


def to_facts_of_batch(rows: Iterable[Any]) -> Iterator[OrderFacts]:
    """The OrderFacts of each of a batch's rows, read with CHECKED_COLUMNS, as `to_facts` gives
    them, each distinct list of codes parsed once: orders often share their addons and routes,
    and parsing the same two JSON arrays again for every order was the tracker's largest cost in
    Python (bench/analysis.md)."""
    parsed: dict[str, frozenset[str]] = {}

    def codes(text: str) -> frozenset[str]:
        found = parsed.get(text)
        if found is None:
            found = parsed[text] = frozenset(json.loads(text))
        return found

    # Unpacked in CHECKED_COLUMNS' order: cheaper than reading a named row's fields by name.
    for number, status, on_hold, deleted, job_type, addons, stations in rows:
        yield OrderFacts(number, status, on_hold, deleted, job_type, codes(addons), codes(stations))


def unchanged() -> ColumnElement[bool]:
    """True for an order whose own facts (status, hold, deletion, job type) still equal those
    read into the `fact_*` parameters (see `unchanged_parameters`).

    Its addons and check-ins are not compared: an undone scan is caught by the tracker's own
    check (code 20), whether it came just before the flag was written or just after the 201,
    which no client can tell apart; comparing them would double the cost of every flag.
    """
    return and_(*(column == bindparam(f"fact_{column.name}") for column in _OWN_FACTS))


def unchanged_parameters(row: Any) -> dict[str, Any]:
    """The parameters `unchanged()` compares with, from a row read with FACT_COLUMNS."""
    return {f"fact_{column.name}": getattr(row, column.name) for column in _OWN_FACTS}


# An order's facts by its number (`number`): the completion call's read and the cancel's.
FACTS_OF_ORDER = select(*FACT_COLUMNS).where(_orders.c.order_number == bindparam("number"))


def read_facts(connection: Connection, number: int) -> OrderFacts:
    """The facts of order `number`, as the checks see them."""
    return to_facts(connection.execute(FACTS_OF_ORDER, {"number": number}).one())
