"""The simulator's own powers: make orders in any state, change them, scan them, start over."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.db.models import CheckIn, Order, OrderAddon, Submission, WorkTicket
from shared.domain.codes import JobType, OrderStatus
from shared.domain.errors import (
    OrderNumberTaken,
    UnknownAddon,
    UnknownStation,
)
from shared.domain.lab_setup import Lab
from shared.domain.orders import check_completion_station
from shared.orders.lookup import Kinds, find_order
from shared.orders.numbering import next_order_number, take_numbering_turn


class Unchanged(enum.Enum):
    """Marks a value a change leaves alone, where None is a value of its own."""

    UNCHANGED = enum.auto()


UNCHANGED = Unchanged.UNCHANGED
_ASSIGN_ATTEMPTS = 5


def create_order(
    session: Session,
    lab: Lab,
    *,
    now: datetime,
    today: date,
    order_number: int | None = None,
    tray_number: str | None = None,
    po_number: str | None = None,
    job_type: JobType = JobType.FULL,
    status: OrderStatus = OrderStatus.PROCESS,
    on_hold: bool = False,
    deleted: bool = False,
    unvalid_message: str | None = None,
    rt_calculated: bool = True,
    lt_calculated: bool = True,
    stock: bool = False,
    pick_codes: Mapping[str, str | None] | None = None,
    addons: Sequence[str] = (),
    stations: Sequence[str] = (),
) -> Order:
    """Create an order with its addons and the stations it has already passed, in order."""
    for index, code in enumerate(addons):
        if code not in lab.addons:
            raise UnknownAddon(f"addons.{index}", code)
    for index, code in enumerate(stations):
        if code not in lab.stations:
            raise UnknownStation(f"stations.{index}", code)
    if stations:
        last = len(stations) - 1
        check_completion_station(lab.completion_station, stations[last], status, f"stations.{last}")
    fields: dict[str, Any] = dict(
        tray_number=tray_number,
        po_number=po_number,
        job_type=job_type,
        status=status,
        on_hold=on_hold,
        deleted=deleted,
        unvalid_message=unvalid_message,
        rt_calculated=rt_calculated,
        lt_calculated=lt_calculated,
        stock=stock,
        **{**default_pick_codes(lab), **(pick_codes or {})},
        date_ordered=today,
        date_completed=today if status is OrderStatus.COMPLETE else None,
        addons=[OrderAddon(addon_code=code) for code in dict.fromkeys(addons)],
        checkins=[CheckIn(station=code, checked_in_at=now) for code in stations],
    )
    if order_number is not None:
        if session.get(Order, order_number) is not None:
            raise OrderNumberTaken(order_number)
        return _insert(session, Order(order_number=order_number, **fields))
    # A client giving its own number may still take ours meanwhile: then read again.
    take_numbering_turn(session)
    first = lab.order_entry.first_order_number
    for _ in range(_ASSIGN_ATTEMPTS - 1):
        try:
            return _insert(session, Order(order_number=next_order_number(session, first), **fields))
        except OrderNumberTaken:
            continue
    return _insert(session, Order(order_number=next_order_number(session, first), **fields))


def default_pick_codes(lab: Lab) -> dict[str, str | None]:
    """What a simulator-created order carries unless told otherwise, so any order can be
    picked: both lenses (the lab's first stocked lens) and a frame (the lab file's `pick`)."""
    lens = next(iter(lab.pick.lens_opcs.values()), None)
    return {"rt_opc": lens, "lt_opc": lens, "frame_upc": lab.pick.frame_upc}


def _insert(session: Session, order: Order) -> Order:
    try:
        with session.begin_nested():
            session.add(order)
    except IntegrityError:
        raise OrderNumberTaken(order.order_number) from None
    return order


def update_order(
    session: Session,
    identifier: str,
    *,
    today: date,
    status: OrderStatus | None = None,
    on_hold: bool | None = None,
    deleted: bool | None = None,
    unvalid_message: str | Unchanged | None = UNCHANGED,
) -> Order:
    """Change an order's status, hold, deletion or unvalid message, as a lab user would.

    Completing an order by hand does what the tracker's completion does to the completion
    fields: the flag is cleared (a completed order is never in the queue, so the tracker never
    records an error on one) and so is any earlier rejection. Every other change leaves the flag
    alone: the tracker re-checks a flagged order and rejects it with the new reason (deleted,
    unvalid, on hold), as it would in a lab where someone changed the order meanwhile.
    """
    order = find_order(session, identifier, kinds=Kinds.NUMBER, lock=True)
    if status is not None and status is not order.status:
        order.status = status
        order.date_completed = today if status is OrderStatus.COMPLETE else None
        if status is OrderStatus.COMPLETE:
            order.completion_requested_at = None
            order.completion_error_code = None
            order.completion_error_message = None
    if on_hold is not None:
        order.on_hold = on_hold
    if deleted is not None:
        order.deleted = deleted
    if not isinstance(unvalid_message, Unchanged):
        order.unvalid_message = unvalid_message
    return order


def record_checkin(
    session: Session,
    lab: Lab,
    identifier: str,
    *,
    station: str,
    operator: str | None,
    now: datetime,
) -> Order:
    """Scan an order into a station without job-flow verification; a Valid order goes in Process.

    The flag and the completion fields are left alone: a flagged order is re-checked by the
    tracker with this scan counted, and a completed order stays completed.
    """
    order = find_order(session, identifier, kinds=Kinds.NUMBER, lock=True)
    if station not in lab.stations:
        raise UnknownStation("station", station)
    if operator is not None and not (
        operator in lab.stations and lab.stations[operator].is_operator
    ):
        raise UnknownStation("operator", operator)
    check_completion_station(lab.completion_station, station, order.status, "station")
    session.add(CheckIn(order=order, station=station, operator=operator, checked_in_at=now))
    if order.status is OrderStatus.VALID:
        order.status = OrderStatus.PROCESS
    return order


def reset(session: Session) -> int:
    """Delete every order with its addons and check-ins, and every submission, waiting or
    imported (a reset lab has nothing on its way in), and every printed ticket; answer how many
    orders there were."""
    session.execute(delete(Submission))
    session.execute(delete(WorkTicket))
    session.execute(delete(CheckIn))
    session.execute(delete(OrderAddon))
    deleted = session.execute(delete(Order))
    # A DELETE's result is a CursorResult, which has the row count; Session.execute is typed
    # with the plain Result every statement gives.
    return cast(CursorResult[Any], deleted).rowcount
