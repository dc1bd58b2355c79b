"""Finding orders by any identifier, and reading them as the v2 endpoints show them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

from sqlalchemy import ColumnElement, Select, and_, false, func, literal_column, select
from sqlalchemy.orm import Mapped, Session, selectinload
from sqlalchemy.sql.selectable import ScalarSelect

from shared.domain.codes import JobType, OrderStatus
from shared.domain.errors import OrderMarkedForCancelation, RecordNotFound
from shared.domain.lab import Lab
from shared.domain.rules import OrderFacts, effective_status, parse_order_number
from shared.models import CheckIn, Order, OrderCount


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


T = TypeVar("T")
# Tray numbers are digits, at most 5 of them; a tray names an order only while it is active.
_TRAY_DIGITS = 5
_PO_LENGTH = Order.__table__.c.po_number.type.length or 0


def find_order(session: Session, identifier: str) -> Order:
    """The order an order number names, or RecordNotFound echoing what was provided."""
    number = parse_order_number(identifier)
    order = None if number is None else session.get(Order, number)
    if order is None:
        raise RecordNotFound(identifier)
    return order


def active_orders() -> ColumnElement[bool]:
    """Orders still in the lab: not completed, not cancelled. The same expression, literals
    included, as the active tray index's condition, so the database uses that index."""
    return and_(Order.status != literal_column("'C'"), Order.deleted == false())


def lookup_order(session: Session, identifier: str, *, lock: bool = False) -> Order:
    """The order any v2 identifier names: its order number; else the tray number of an active
    order; else a PO number that names exactly one order. Each lookup is served by an index.

    A tray or a PO shared by several such orders names none of them: a client acting on "the"
    order of an ambiguous reference must not act on a guess. With `lock`, the order's row is
    locked for the rest of the transaction (PostgreSQL; SQLite's write lock covers it).
    """
    number = parse_order_number(identifier)
    if number is not None:
        query = select(Order).where(Order.order_number == number)
        order = session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
        if order is not None:
            return order
    if not _storable(identifier):
        raise RecordNotFound(identifier)
    candidates: list[Select[Order]] = []
    if identifier.isascii() and identifier.isdigit() and len(identifier) <= _TRAY_DIGITS:
        candidates.append(select(Order).where(Order.tray_number == identifier, active_orders()))
    candidates.append(select(Order).where(Order.po_number == identifier))
    for candidate in candidates:
        found = (
            session.execute((candidate.with_for_update() if lock else candidate).limit(2))
            .scalars()
            .all()
        )
        if len(found) == 1:
            return found[0]
        if found:
            break  # ambiguous: not found, rather than a guess
    raise RecordNotFound(identifier)


def _storable(identifier: str) -> bool:
    """Whether a PO number could be this text: no longer than the column, and text PostgreSQL
    can hold (no NUL, no lone surrogate); anything else names no order, on either database."""
    if len(identifier) > _PO_LENGTH or "\x00" in identifier:
        return False
    try:
        identifier.encode()
    except UnicodeEncodeError:
        return False
    return True


def get_order_state(session: Session, identifier: str, lab: Lab) -> OrderState:
    """The state of the order `identifier` names (order, tray or PO number); a cancelled order
    has none to show (OrderMarkedForCancelation), as Rx-Universe answers."""
    order = lookup_order(session, identifier)
    if order.deleted:
        raise OrderMarkedForCancelation(order.order_number)
    return order_state(session, order, lab)


def order_facts(order: Order) -> OrderFacts:
    """What the rules look at, from a loaded order."""
    return OrderFacts(
        order_number=order.order_number,
        status=order.status,
        on_hold=order.on_hold,
        deleted=order.deleted,
        job_type=order.job_type,
        addons=frozenset(a.addon_code for a in order.addons),
        stations=frozenset(c.station for c in order.checkins),
    )


def order_state(session: Session, order: Order, lab: Lab) -> OrderState:
    """The state of a loaded order."""
    last = session.execute(
        select(CheckIn.station, CheckIn.checked_in_at)
        .where(CheckIn.order_number == order.order_number)
        .order_by(CheckIn.checked_in_at.desc(), CheckIn.id.desc())
        .limit(1)
    ).first()
    return _state(order, None if last is None else (last.station, last.checked_in_at), lab)


def _state(order: Order, last: tuple[str, datetime] | None, lab: Lab) -> OrderState:
    """The state of a loaded order whose latest check-in (station, time) is `last`."""
    current = None
    if last is not None:
        code, checked_in_at = last
        station = lab.stations.get(code)
        current = CurrentStation(
            code=code,
            description=station.description if station else None,
            customer_description=station.customer_description if station else None,
            checked_in_at=checked_in_at,
        )
    error = None
    if order.completion_error_code is not None:
        error = CompletionError(order.completion_error_code, order.completion_error_message or "")
    return OrderState(
        order_number=order.order_number,
        tray_number=order.tray_number,
        po_number=order.po_number,
        status=effective_status(order.status, order.on_hold),
        on_hold=order.on_hold,
        unvalid_message=order.unvalid_message,
        rt_calculated=order.rt_calculated,
        lt_calculated=order.lt_calculated,
        current_station=current,
        pending_completion=order.completion_requested_at is not None,
        completion_error=error,
    )


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
    date_ordered: date
    date_completed: date | None
    addons: list[AddonOfOrder]
    ar_code: str | None
    ar_description: str | None


def order_details(session: Session, order: Order, lab: Lab) -> OrderDetails:
    """The whole of a loaded order."""
    return _details(order, order_state(session, order, lab), lab)


def _details(order: Order, state: OrderState, lab: Lab) -> OrderDetails:
    """The whole of a loaded order in `state`; its AR code is its first AR addon, by code."""
    addons = [
        AddonOfOrder(code, lab.addons[code].description if code in lab.addons else None)
        for code in sorted(a.addon_code for a in order.addons)
    ]
    ar = next(
        (a for a in addons if a.code in lab.addons and "ar" in lab.addons[a.code].processes), None
    )
    return OrderDetails(
        state=state,
        job_type=order.job_type,
        deleted=order.deleted,
        date_ordered=order.date_ordered,
        date_completed=order.date_completed,
        addons=addons,
        ar_code=ar.code if ar else None,
        ar_description=ar.description if ar else None,
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


def order_history(session: Session, order: Order, lab: Lab) -> OrderHistory:
    """An order's check-ins, oldest first."""
    rows = session.execute(
        select(CheckIn.station, CheckIn.operator, CheckIn.checked_in_at)
        .where(CheckIn.order_number == order.order_number)
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
    return OrderHistory(order.order_number, entries)


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
    if status is not None:
        if status == "W":
            conditions.append(Order.on_hold == True)  # noqa: E712  (SQL, not Python truth)
        else:
            conditions += [Order.status == OrderStatus(status), Order.on_hold == false()]
    if station is not None:
        conditions.append(_current_station() == station)
    # Unfiltered, the total is the kept count: the same cost at a million orders as at ten.
    counted = select(func.count()).select_from(Order).where(*conditions)
    total = session.execute(select(OrderCount.orders) if not conditions else counted).scalar_one()
    # One statement for the page, its current stations included, and one for its addons.
    query = (
        select(Order, _current_station(), _latest(CheckIn.checked_in_at))
        .where(*conditions)
        .order_by(Order.order_number.desc())
        .offset(offset)
        .options(selectinload(Order.addons))
    )
    if limit is not None:
        query = query.limit(limit)
    page = []
    for order, station, checked_in_at in session.execute(query):
        last = None if station is None else (station, checked_in_at)
        page.append(_details(order, _state(order, last, lab), lab))
    return OrderPage(total, page)


def _latest(column: Mapped[T]) -> ScalarSelect[T]:
    """`column` of an order's latest check-in, served by the check-ins' per-order index."""
    return (
        select(column)
        .where(CheckIn.order_number == Order.order_number)
        .order_by(CheckIn.checked_in_at.desc(), CheckIn.id.desc())
        .limit(1)
        .correlate(Order)
        .scalar_subquery()
    )


def _current_station() -> ScalarSelect[str]:
    """The station of an order's latest check-in."""
    return _latest(CheckIn.station)
