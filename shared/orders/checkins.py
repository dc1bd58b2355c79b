"""Checking an order into a station, verified as Rx-Universe's v2 check-in verifies it."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast

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

from shared.db.driver import DriverStatement
from shared.db.engine import driver_transaction
from shared.db.models import CheckIn, Order, OrderAddon, UTCDateTime
from shared.domain.checkins import check_checkin, check_operator, checkin_station
from shared.domain.codes import OrderStatus
from shared.domain.errors import CheckinOrderNotFound, RecordNotFound
from shared.domain.lab_setup import Lab, Station
from shared.domain.orders import parse_order_number
from shared.orders.facts import (
    FACT_COLUMNS,
    codes_of_order,
    to_facts,
    unchanged,
    unchanged_parameters,
)
from shared.orders.lookup import Kinds, find_row

_orders = cast(Table, Order.__table__)
_checkins = cast(Table, CheckIn.__table__)
_addons = cast(Table, OrderAddon.__table__)


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
    read: DriverStatement
    read_locked: DriverStatement
    record: DriverStatement
    start: DriverStatement
    record_if_unchanged: DriverStatement


@functools.cache
def _statements(dialect: Dialect) -> _Statements:
    """The check-in's statements, run on the driver (the completion call's reasons:
    `shared.db.driver`)."""
    number = bindparam("number", type_=BigInteger())
    # The facts, and the tray and PO the answer shows: an order number finds the order with it.
    read = select(*FACT_COLUMNS, _orders.c.tray_number, _orders.c.po_number).where(
        _orders.c.order_number == number
    )
    read_locked = read.with_for_update(of=_orders)
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
    # The check-in, written only if the order still has the facts it was checked with and the
    # tray and PO the answer shows: one statement, which commits on its own.
    string = String()
    record_if_unchanged = insert(_checkins).from_select(
        ["order_number", "station", "operator", "checked_in_at"],
        select(
            _orders.c.order_number,
            bindparam("station", type_=string),
            bindparam("operator", type_=string),
            bindparam("now", type_=UTCDateTime()),
        ).where(
            _orders.c.order_number == number,
            unchanged(),
            codes_of_order(_addons.c.addon_code) == bindparam("addons", type_=string),
            _orders.c.tray_number.is_not_distinct_from(bindparam("tray", type_=string)),
            _orders.c.po_number.is_not_distinct_from(bindparam("po", type_=string)),
        ),
    )
    return _Statements(
        *(
            DriverStatement.compile(s, dialect)
            for s in (read, read_locked, record, start, record_if_unchanged)
        )
    )


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
    `connection` autocommits; the writes commit together (one statement, or one transaction).

    Checked in Rx-Universe's order: the station, the order, the operator, then the order's state
    and job flow. The order's facts are read again with its row locked in the transaction that
    writes (PostgreSQL; SQLite's write lock covers it), so a cancel, a hold or the Job Tracker
    cannot change it between the check and the write. On SQLite, where that lock is the whole
    database's, the order is found and checked before the write, and the write takes one
    statement that records the check-in only if the order's facts are still those checked
    (`record_if_unchanged`); an order that changed meanwhile, or one that must also go from Valid
    to Process, takes the transaction, where it is checked again if its facts changed. So other
    writers wait for one statement, not for the lookups and the checks too (docs/benchmarks.md).
    A few set-based statements, no objects loaded: check-ins are a lab's most frequent call.
    """
    station = checkin_station(lab, station_code)
    statements = _statements(connection.dialect)
    early = None  # the order's facts as found and checked before the transaction
    if connection.dialect.name == "sqlite":
        early = _order(connection, statements.read, lab, station, identifier, operator)
        check_checkin(lab, station, to_facts(early))
        if early.status != OrderStatus.VALID and statements.record_if_unchanged.count(
            connection,
            number=early.order_number,
            station=station.code,
            operator=operator,
            now=now,
            addons=early.addons,
            tray=early.tray_number,
            po=early.po_number,
            **unchanged_parameters(early),
        ):
            return _done(early, station, operator, now)

    def write() -> Any:
        if early is None:
            order = _order(connection, statements.read_locked, lab, station, identifier, operator)
        else:
            rows = statements.read_locked.fetch(connection, number=early.order_number)
            if not rows:  # removed since it was found
                raise CheckinOrderNotFound()
            order = rows[0]
        if order != early:
            check_checkin(lab, station, to_facts(order))
        number = order.order_number
        statements.record.count(
            connection, number=number, station=station.code, operator=operator, now=now
        )
        if order.status == OrderStatus.VALID:
            statements.start.count(connection, number=number)
        return order

    return _done(driver_transaction(connection, write), station, operator, now)


def _done(order: Any, station: Station, operator: str | None, now: datetime) -> CheckinDone:
    checked_in = CheckedInOrder(order.order_number, order.tray_number, order.po_number)
    return CheckinDone(checked_in, station, operator, now)


def _order(
    connection: Connection,
    read: DriverStatement,
    lab: Lab,
    station: Station,
    identifier: str,
    operator: str | None,
) -> Any:
    """The facts (`read`) of the order `identifier` names, then the operator checked:
    Rx-Universe's order of refusals. An order number, the usual identifier, takes one
    statement; a tray or PO number is looked up first (`find_row`)."""
    number = parse_order_number(identifier)
    rows = read.fetch(connection, number=number) if number is not None else []
    if not rows:
        number = _find(connection, identifier).order_number
        rows = read.fetch(connection, number=number)
        if not rows:  # removed between the two statements
            raise CheckinOrderNotFound()
    check_operator(lab, station, operator)
    return rows[0]


def _find(connection: Connection, identifier: str) -> Any:
    try:
        # Its order number, if it is one, was tried already.
        return find_row(connection, identifier, kinds=Kinds.TRAY | Kinds.PO)
    except RecordNotFound:
        raise CheckinOrderNotFound() from None
