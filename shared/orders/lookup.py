"""Finding orders by any identifier (one finder, told which kinds a route takes), and reading
them as the v2 endpoints show them.

Every read is one statement that finds the order and brings everything shown: its row, its current
station and (for the whole order) its addons. The status and order reads run theirs on the driver,
compiled once, as the completion call does (`shared.db.driver` says why); the list and the writes'
lookups run the same columns through the session.
"""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Dialect,
    Select,
    String,
    and_,
    bindparam,
    false,
    func,
    literal_column,
    select,
)
from sqlalchemy.orm import Session

from shared.db.driver import DriverStatement
from shared.db.models import CheckIn, Order, OrderAddon, OrderCount
from shared.domain.codes import JobType, OrderStatus
from shared.domain.errors import OrderMarkedForCancelation, RecordNotFound
from shared.domain.lab_setup import Lab
from shared.domain.orders import effective_status, parse_order_number
from shared.orders.facts import codes_of_order

_orders = Order.__table__
_checkins = CheckIn.__table__


# Tray numbers are digits, at most 5 of them; a tray names an order only while it is active.
_TRAY_DIGITS = 5
_PO_LENGTH = cast(String, _orders.c.po_number.type).length or 0


@dataclass(frozen=True)
class CurrentStation:
    code: str
    description: str | None
    customer_description: str | None
    checked_in_at: datetime


@dataclass(frozen=True)
class CompletionError:
    code: str
    message: str


@dataclass(frozen=True)
class OrderState:
    """An order's status, current station and completion progress."""

    order_number: int
    tray_number: str | None
    po_number: str | None
    status: str
    on_hold: bool
    unvalid_message: str | None
    rt_calculated: bool
    lt_calculated: bool
    current_station: CurrentStation | None
    pending_completion: bool
    completion_error: CompletionError | None


@dataclass(frozen=True)
class AddonOfOrder:
    code: str
    description: str | None


@dataclass(frozen=True)
class OrderDetails:
    """A whole order: its state, and what else the lab knows of it."""

    state: OrderState
    job_type: JobType
    deleted: bool
    date_ordered: date | None  # None only for a submission not yet imported (its 202 body)
    date_completed: date | None
    addons: list[AddonOfOrder]
    ar_code: str | None
    ar_description: str | None
    # What a submitted order brought (POST /api/v2/orders); empty for the simulator's own.
    customer_number: str | None = None
    customer_job_id: str | None = None
    date_received: date | None = None
    date_wanted: date | None = None
    valid_at: datetime | None = None
    submitted: Mapping[str, Any] = field(default_factory=dict)


def active_orders() -> ColumnElement[bool]:
    """Orders still in the lab: not completed, not cancelled. The same expression, literals
    included, as the active tray index's condition, so the database uses that index."""
    return and_(_orders.c.status != literal_column("'C'"), _orders.c.deleted == false())


def _latest(column: Any) -> Any:
    """`column` of the order's latest check-in, served by the check-ins' per-order index."""
    return (
        select(column)
        .where(_checkins.c.order_number == _orders.c.order_number)
        .order_by(_checkins.c.checked_in_at.desc(), _checkins.c.id.desc())
        .limit(1)
        .correlate(_orders)
        .scalar_subquery()
    )


# What the status endpoint shows, in one row; the whole order adds its own columns and addons.
_STATE_COLUMNS = (
    _orders.c.order_number,
    _orders.c.tray_number,
    _orders.c.po_number,
    _orders.c.status,
    _orders.c.on_hold,
    _orders.c.deleted,
    _orders.c.unvalid_message,
    _orders.c.rt_calculated,
    _orders.c.lt_calculated,
    _orders.c.completion_requested_at,
    _orders.c.completion_error_code,
    _orders.c.completion_error_message,
    _latest(_checkins.c.station).label("station"),
    _latest(_checkins.c.checked_in_at).label("checked_in_at"),
)
_DETAIL_COLUMNS = (
    *_STATE_COLUMNS,
    _orders.c.job_type,
    _orders.c.date_ordered,
    _orders.c.date_completed,
    codes_of_order(OrderAddon.__table__.c.addon_code).label("addons"),
    _orders.c.customer_number,
    _orders.c.customer_job_id,
    _orders.c.date_received,
    _orders.c.date_wanted,
    _orders.c.valid_at,
    _orders.c.submitted,
)


class _Lookups(NamedTuple):
    by_number: DriverStatement
    by_tray: DriverStatement
    by_po: DriverStatement


@functools.cache
def _lookups(dialect: Dialect, whole: bool) -> _Lookups:
    """The three ways to find an order, each bringing the columns shown, compiled once."""
    query: Select[Any] = select(*(_DETAIL_COLUMNS if whole else _STATE_COLUMNS))
    number = query.where(_orders.c.order_number == bindparam("number"))
    tray = query.where(_orders.c.tray_number == bindparam("tray"), active_orders()).limit(2)
    po = query.where(_orders.c.po_number == bindparam("po")).limit(2)
    return _Lookups(*(DriverStatement.compile(q, dialect) for q in (number, tray, po)))


class Kinds(enum.Flag):
    """The kinds of identifier a route accepts for "the order this identifier names"."""

    NUMBER = enum.auto()
    TRAY = enum.auto()
    PO = enum.auto()
    # Any v2 identifier: an order number, else a tray number, else a PO number.
    ANY = NUMBER | TRAY | PO


def find_row(
    connection: Connection, identifier: str, *, kinds: Kinds = Kinds.ANY, whole: bool = False
) -> Any:
    """The row of the order `identifier` names, trying the `kinds` the route accepts in turn: its
    order number; else the tray number of an active order; else a PO number that names exactly one
    order; each served by an index. RecordNotFound when none does.

    A tray or a PO shared by several such orders names none of them: a client acting on "the"
    order of an ambiguous reference must not act on a guess. Text that no PO column could hold
    (too long, a NUL, a lone surrogate) names no order, the same on both databases.
    """
    lookups = _lookups(connection.dialect, whole)
    number = parse_order_number(identifier) if Kinds.NUMBER in kinds else None
    if number is not None:
        rows = lookups.by_number.fetch(connection, number=number)
        if rows:
            return rows[0]
    if kinds & (Kinds.TRAY | Kinds.PO) and storable(identifier):
        rows = []
        tray = identifier.isascii() and identifier.isdigit() and len(identifier) <= _TRAY_DIGITS
        if Kinds.TRAY in kinds and tray:
            rows = lookups.by_tray.fetch(connection, tray=identifier)
        if not rows and Kinds.PO in kinds:
            rows = lookups.by_po.fetch(connection, po=identifier)
        if len(rows) == 1:
            return rows[0]
    raise RecordNotFound(identifier)


def storable(identifier: str) -> bool:
    """Whether a PO column could hold `identifier` (no longer than it, no NUL, encodable): text
    that fails names no order, the same on both databases."""
    if len(identifier) > _PO_LENGTH or "\x00" in identifier:
        return False
    try:
        identifier.encode()
    except UnicodeEncodeError:
        return False
    return True


def read_state(connection: Connection, identifier: str, lab: Lab) -> OrderState:
    """The status endpoint's answer; a cancelled order has none to show, as Rx-Universe says."""
    row = find_row(connection, identifier)
    if row.deleted:
        raise OrderMarkedForCancelation(row.order_number)
    return _state(row, lab)


def read_details(connection: Connection, identifier: str, lab: Lab) -> OrderDetails:
    """The whole order any v2 identifier names."""
    return _details(find_row(connection, identifier, whole=True), lab)


def state_of(session: Session, number: int, lab: Lab) -> OrderState:
    """The state of order `number` as the session sees it (the simulator's answers)."""
    return _state(find_row(session.connection(), str(number), kinds=Kinds.NUMBER), lab)


def find_order(
    session: Session, identifier: str, *, kinds: Kinds = Kinds.ANY, lock: bool = False
) -> Order:
    """The order `identifier` names (see `find_row`), loaded for a change, or RecordNotFound.

    A caller that writes the order back takes it with `lock`: on PostgreSQL the row is then
    locked until the transaction ends, so a tracker completing the order meanwhile is waited for
    and seen, never overwritten; and an order deleted meanwhile (a reset) is not found. SQLite
    needs no lock: a write transaction holds the database's write lock from its BEGIN.
    """
    if kinds == Kinds.NUMBER:  # no statement needed to know which order it is
        number = parse_order_number(identifier)
    else:
        number = find_row(session.connection(), identifier, kinds=kinds).order_number
    order = None if number is None else session.get(Order, number, with_for_update=lock)
    if order is None:  # no such number, or removed since `find_row` saw it
        raise RecordNotFound(identifier)
    return order


def _state(row: Any, lab: Lab) -> OrderState:
    current = None
    if row.station is not None:
        station = lab.stations.get(row.station)
        current = CurrentStation(
            code=row.station,
            description=station.description if station else None,
            customer_description=station.customer_description if station else None,
            checked_in_at=row.checked_in_at,
        )
    error = None
    if row.completion_error_code is not None:
        error = CompletionError(row.completion_error_code, row.completion_error_message or "")
    return OrderState(
        order_number=row.order_number,
        tray_number=row.tray_number,
        po_number=row.po_number,
        status=effective_status(row.status, row.on_hold),
        on_hold=row.on_hold,
        unvalid_message=row.unvalid_message,
        rt_calculated=row.rt_calculated,
        lt_calculated=row.lt_calculated,
        current_station=current,
        pending_completion=row.completion_requested_at is not None,
        completion_error=error,
    )


def _details(row: Any, lab: Lab) -> OrderDetails:
    """A whole order from its row; its AR code is its first AR addon, by code."""
    addons = [
        AddonOfOrder(code, lab.addons[code].description if code in lab.addons else None)
        for code in sorted(json.loads(row.addons))
    ]
    coatings = (a for a in addons if a.code in lab.addons and "ar" in lab.addons[a.code].processes)
    ar = next(coatings, None)
    return OrderDetails(
        state=_state(row, lab),
        job_type=row.job_type,
        deleted=row.deleted,
        date_ordered=row.date_ordered,
        date_completed=row.date_completed,
        addons=addons,
        ar_code=ar.code if ar else None,
        ar_description=ar.description if ar else None,
        customer_number=row.customer_number,
        customer_job_id=row.customer_job_id,
        date_received=row.date_received,
        date_wanted=row.date_wanted,
        valid_at=row.valid_at,
        submitted=json.loads(row.submitted) if row.submitted else {},
    )


@dataclass(frozen=True)
class HistoryEntry:
    code: str
    description: str | None
    customer_description: str | None
    operator: str | None
    checked_in_at: datetime


@dataclass(frozen=True)
class OrderHistory:
    order_number: int
    checkins: list[HistoryEntry]


def order_history(session: Session, identifier: str, lab: Lab) -> OrderHistory:
    """The check-ins of the order any v2 identifier names, oldest first."""
    number = find_row(session.connection(), identifier).order_number
    rows = session.execute(
        select(CheckIn.station, CheckIn.operator, CheckIn.checked_in_at)
        .where(CheckIn.order_number == number)
        .order_by(CheckIn.checked_in_at, CheckIn.id)
    ).all()
    entries = []
    for row in rows:
        station = lab.stations.get(row.station)
        entries.append(
            HistoryEntry(
                code=row.station,
                description=station.description if station else None,
                customer_description=station.customer_description if station else None,
                operator=row.operator,
                checked_in_at=row.checked_in_at,
            )
        )
    return OrderHistory(number, entries)


@dataclass(frozen=True)
class OrderPage:
    total: int
    orders: list[OrderDetails]


def list_orders(
    session: Session,
    lab: Lab,
    *,
    status: str | None = None,
    station: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> OrderPage:
    """Orders newest (highest number) first, filtered by shown status (`W` is on hold) and by
    current station; `total` counts every match, ignoring `limit` and `offset`."""
    conditions: list[ColumnElement[bool]] = []
    if status == "W":
        conditions.append(_orders.c.on_hold == True)  # noqa: E712  (SQL, not Python truth)
    elif status is not None:
        conditions += [_orders.c.status == OrderStatus(status), _orders.c.on_hold == false()]
    if station is not None:
        conditions.append(_latest(_checkins.c.station) == station)
    # Unfiltered, the total is the kept count: the same cost at a million orders as at ten.
    counted = select(func.count()).select_from(_orders).where(*conditions)
    total = session.execute(select(OrderCount.orders) if not conditions else counted).scalar_one()
    query = (
        select(*_DETAIL_COLUMNS)
        .where(*conditions)
        .order_by(_orders.c.order_number.desc())
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return OrderPage(total, [_details(row, lab) for row in session.execute(query)])
