"""Bulk seeding in one INSERT ... SELECT per table: a million orders in seconds, not minutes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import cast

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Date,
    Engine,
    Table,
    and_,
    func,
    insert,
    literal,
    select,
    text,
)

from shared.db.models import CheckIn, Order, OrderAddon, UTCDateTime
from shared.domain.codes import JobType, OrderStatus

FIRST_NUMBER = 100_001
# An addon that needs a process, and a check-in at a station performing it: verification of
# these orders does real work (and passes), as it does for a lab's typical coated job.
ADDON = "BSC"
STATION = "BSC"
# Both lenses to pick, with the default lab's first lens (pick verification's measurements).
LENS_OPC = "0209448281"

_orders = cast(Table, Order.__table__)
_addons = cast(Table, OrderAddon.__table__)
_checkins = cast(Table, CheckIn.__table__)


def seed_orders(
    engine: Engine,
    count: int,
    *,
    first: int = FIRST_NUMBER,
    flagged: bool = False,
    completed: bool = False,
) -> range:
    """Insert `count` orders ready to complete (flagged, if asked), or already completed."""
    numbers = range(first, first + count)
    if not count:
        return numbers
    now = datetime.now(UTC)
    today = now.date()
    columns = {
        "order_number": None,
        "job_type": literal(JobType.FULL, _orders.c.job_type.type),
        "status": literal(
            OrderStatus.COMPLETE if completed else OrderStatus.PROCESS, _orders.c.status.type
        ),
        "on_hold": literal(False, Boolean()),
        "deleted": literal(False, Boolean()),
        "rt_calculated": literal(True, Boolean()),
        "lt_calculated": literal(True, Boolean()),
        "date_ordered": literal(today, Date()),
        "rt_opc": literal(LENS_OPC),
        "lt_opc": literal(LENS_OPC),
    }
    if completed:
        columns["date_completed"] = literal(today, Date())
    if flagged:
        columns["completion_requested_at"] = literal(now, UTCDateTime())
    with engine.begin() as connection:
        series = _series(engine, numbers)
        values = [series if value is None else value for value in columns.values()]
        connection.execute(insert(_orders).from_select(list(columns), select(*values)))
        these = select(_orders.c.order_number).where(
            and_(_orders.c.order_number >= numbers.start, _orders.c.order_number < numbers.stop)
        )
        connection.execute(
            insert(_addons).from_select(
                ["order_number", "addon_code"],
                these.add_columns(literal(ADDON)),
            )
        )
        connection.execute(
            insert(_checkins).from_select(
                ["order_number", "station", "checked_in_at"],
                these.add_columns(literal(STATION), literal(now, UTCDateTime())),
            )
        )
    analyze(engine)
    return numbers


def _series(engine: Engine, numbers: range) -> ColumnElement[int]:
    """The numbers as a column: generate_series on PostgreSQL, a recursive CTE on SQLite."""
    if engine.dialect.name == "postgresql":
        generated = func.generate_series(numbers.start, numbers.stop - 1)
        return generated.table_valued("n").render_derived(name="series").c.n
    series = select(literal(numbers.start).label("n")).cte("series", recursive=True)
    series = series.union_all(select(series.c.n + 1).where(series.c.n < numbers.stop - 1))
    return series.c.n


def analyze(engine: Engine) -> None:
    """Fresh planner statistics on PostgreSQL, as autovacuum keeps them on a live server."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in ("orders", "order_addons", "checkins"):
            connection.execute(text(f"VACUUM ANALYZE {table}"))


def count_completed(engine: Engine, station: str) -> tuple[int, int, int]:
    """Orders completed, completion check-ins, and orders still flagged: a drain's proof."""
    with engine.connect() as connection:
        done = connection.execute(
            select(func.count()).where(_orders.c.status == OrderStatus.COMPLETE)
        ).scalar_one()
        checkins = connection.execute(
            select(func.count()).where(_checkins.c.station == station)
        ).scalar_one()
        flagged = connection.execute(
            select(func.count()).where(_orders.c.completion_requested_at.is_not(None))
        ).scalar_one()
    return done, checkins, flagged


def today() -> date:
    """The UTC date the seeded orders and the baselines use."""
    return datetime.now(UTC).date()
