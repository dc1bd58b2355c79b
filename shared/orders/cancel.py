"""Cancelling an order (Rx-Universe's "flag for deletion"), as its v2 DELETE does."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from shared.db.models import Order
from shared.domain.cancel import check_cancel
from shared.domain.lab_setup import Lab
from shared.orders.facts import read_facts
from shared.orders.lookup import find_order


@dataclass(frozen=True)
class CancelDone:
    order: Order
    message: str


def cancel_order(session: Session, lab: Lab, identifier: str, reason: str | None) -> CancelDone:
    """Flag the order `identifier` names for deletion; the message is empty or a warning.

    The order stays in the database. A completion flag it carries is left for the Job Tracker,
    which then rejects the order with code 02 (Order deleted), as it would any order cancelled
    after its completion was asked for.
    """
    order = find_order(session, identifier, lock=True)
    message = check_cancel(lab, read_facts(session.connection(), order.order_number), reason)
    order.deleted = True
    return CancelDone(order, message)
