"""Printing an order's work ticket on one of workstation 00's printers (simulated: the ticket
is recorded as printed, for GET /api/sim/printers and the board)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from shared.db.models import Order, WorkTicket
from shared.domain.errors import OrderMarkedForCancelation
from shared.domain.lab_setup import Lab
from shared.domain.tickets import check_printable
from shared.orders.lookup import find_order


def print_ticket(session: Session, lab: Lab, identifier: str, port: str, now: datetime) -> Order:
    """Print the work ticket of the order `identifier` names on `port`; the order."""
    order = find_order(session, identifier)
    if order.deleted:
        raise OrderMarkedForCancelation(order.order_number)
    printer = check_printable(
        lab.work_tickets, has_tray=order.tray_number is not None, stock=order.stock, port=port
    )
    session.add(
        WorkTicket(order_number=order.order_number, port=port, printer=printer, printed_at=now)
    )
    return order
