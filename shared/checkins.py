"""Checking an order into a station, verified as Rx-Universe's v2 check-in verifies it."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, cast

from sqlalchemy import (
    BigInteger,
    Connection,
    Dialect,
    String,
    Table,
    bindparam,
    insert,
    select,
    update,
)

from shared.completion.facts import FACT_COLUMNS, to_facts
from shared.db.driver import DriverStatement
from shared.domain.codes import OrderStatus
from shared.domain.errors import CheckinOrderNotFound, RecordNotFound
from shared.domain.job_tracking import check_checkin, check_operator, checkin_station
from shared.domain.lab import Lab, Station
from shared.models import CheckIn, Order, UTCDateTime
from shared.orders import find_row

_orders = cast(Table, Order.__table__)
_checkins = cast(Table, CheckIn.__table__)


@dataclass(frozen=True)
class CheckedInOrder:
    order_number: int
    tray_number: str | None
    po_number: str | None


@dataclass(frozen=True)
class CheckinDone:
    order: CheckedInOrder
    station: Station
    operator: str | None
    checked_in_at: datetime


class _Statements(NamedTuple):
    read_locked: DriverStatement
    record: DriverStatement
    start: DriverStatement


@functools.cache
def _statements(dialect: Dialect) -> _Statements:
    """The check-in's statements, run on the driver in the request's transaction (the
    completion call's reasons: `shared.db.driver`)."""
    number = bindparam("number", type_=BigInteger())
    read_locked = (
        select(*FACT_COLUMNS).where(_orders.c.order_number == number).with_for_update(of=_orders)
    )
    record = insert(_checkins).values(
        order_number=number,
        station=bindparam("station", type_=String()),
        operator=bindparam("operator", type_=String()),
        checked_in_at=bindparam("now", type_=UTCDateTime()),
    )
    start = (
        update(_orders)
        .where(_orders.c.order_number == number, _orders.c.status == OrderStatus.VALID)
        .values(status=OrderStatus.PROCESS)
    )
    return _Statements(*(DriverStatement.compile(s, dialect) for s in (read_locked, record, start)))


def check_in(
    connection: Connection,
    lab: Lab,
    *,
    station_code: str,
    identifier: str,
    operator: str | None,
    now: datetime,
) -> CheckinDone:
    """Check the order `identifier` names in at `station_code`; a Valid order goes in Process.
    Run in a write transaction on `connection` (shared.db.engine.driver_transaction).

    Checked in Rx-Universe's order: the station, the order, the operator, then the order's state
    and job flow. The order's facts are read with its row locked (PostgreSQL; SQLite's write
    lock covers it), so a cancel, a hold or the Job Tracker cannot change it between the check
    and the write. A few set-based statements, no objects loaded: check-ins are a lab's most
    frequent call.
    """
    station = checkin_station(lab, station_code)
    try:
        found = find_row(connection, identifier)
    except RecordNotFound:
        raise CheckinOrderNotFound() from None
    check_operator(lab, station, operator)
    statements = _statements(connection.dialect)
    rows = statements.read_locked.fetch(connection, number=found.order_number)
    if not rows:  # removed between the two statements
        raise CheckinOrderNotFound()
    facts = to_facts(rows[0])
    check_checkin(lab, station, facts)
    statements.record.fetch(
        connection,
        number=facts.order_number,
        station=station.code,
        operator=operator,
        now=now,
    )
    if facts.status is OrderStatus.VALID:
        statements.start.fetch(connection, number=facts.order_number)
    order = CheckedInOrder(found.order_number, found.tray_number, found.po_number)
    return CheckinDone(order, station, operator, now)
