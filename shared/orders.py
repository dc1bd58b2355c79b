"""Reading an order's state the way the status endpoint shows it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.domain.errors import RecordNotFound
from shared.domain.lab import Lab
from shared.domain.rules import effective_status, parse_order_number
from shared.models import CheckIn, Order


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


def find_order(session: Session, identifier: str, *, for_update: bool = False) -> Order:
    """The order an identifier names, or RecordNotFound echoing what was provided.

    A caller that writes the order back takes it `for_update`: on PostgreSQL the row is then
    locked until the transaction ends, so a tracker completing the order meanwhile is waited for
    and seen, never overwritten; and an order deleted meanwhile (a reset) is not found. SQLite
    needs no lock: a write transaction holds the database's write lock from its BEGIN.
    """
    number = parse_order_number(identifier)
    order = None if number is None else session.get(Order, number, with_for_update=for_update)
    if order is None:
        raise RecordNotFound(identifier)
    return order


def get_order_state(session: Session, identifier: str, lab: Lab) -> OrderState:
    """The state of the order `identifier` names."""
    return order_state(session, find_order(session, identifier), lab)


def order_state(session: Session, order: Order, lab: Lab) -> OrderState:
    """The state of a loaded order."""
    last = session.execute(
        select(CheckIn.station, CheckIn.checked_in_at)
        .where(CheckIn.order_number == order.order_number)
        .order_by(CheckIn.checked_in_at.desc(), CheckIn.id.desc())
        .limit(1)
    ).first()
    current = None
    if last is not None:
        station = lab.stations.get(last.station)
        current = CurrentStation(
            code=last.station,
            description=station.description if station else None,
            customer_description=station.customer_description if station else None,
            checked_in_at=last.checked_in_at,
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
