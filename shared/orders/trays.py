"""Tray assignment (Rx-Workstations' Tray Assignment, through the v2 API): one tray per active
order, however many clients assign at once."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from shared.db.models import Order
from shared.domain.errors import RecordNotFound, TrayIdentifierMalformed, TrayOrderNotFound
from shared.domain.trays import TrayFacts, check_tray_assignment, is_tray_number
from shared.orders.lookup import Kinds, active_orders, find_order, storable

_TRAY_LOCK = 4567_0002


def take_tray_turn(session: Session) -> None:
    """On PostgreSQL, writers that give out trays wait their turn until the transaction ends, or
    two could each find a tray free and both take it. SQLite's write lock already serialises."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _TRAY_LOCK})


def assign_tray(session: Session, identifier: str, tray: str, *, reassign: bool) -> Order:
    """Put the order `identifier` names (its order number or PO number only) in `tray`.

    An identifier no PO could be is refused as one that is neither (ours: Rx-Universe does not
    say which of its first two messages such text gets); any other that names no order, as not
    found.
    """
    if not identifier or not storable(identifier):
        raise TrayIdentifierMalformed()
    take_tray_turn(session)
    try:
        order = find_order(session, identifier, kinds=Kinds.NUMBER | Kinds.PO, lock=True)
    except RecordNotFound:
        raise TrayOrderNotFound() from None
    facts = TrayFacts(
        status=order.status,
        deleted=order.deleted,
        on_hold=order.on_hold,
        pending_completion=order.completion_requested_at is not None,
        tray_number=order.tray_number,
    )
    check_tray_assignment(
        facts,
        tray,
        reassign=reassign,
        tray_taken=is_tray_number(tray) and _taken(session, tray, order),
    )
    order.tray_number = tray
    return order


def _taken(session: Session, tray: str, order: Order) -> bool:
    """Whether another active order is in `tray` (read through the active-tray index)."""
    holder = session.execute(
        select(Order.order_number)
        .where(Order.tray_number == tray, active_orders(), Order.order_number != order.order_number)
        .limit(1)
    ).scalar_one_or_none()
    return holder is not None
