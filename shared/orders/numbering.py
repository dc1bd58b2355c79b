"""Order numbers for new orders, the simulator's and the imported ones alike: the number after
the highest, never one an identifier cannot name, one writer at a time."""

from __future__ import annotations

from sqlalchemy import exists, func, select, text
from sqlalchemy.orm import Session, aliased

from shared.db.models import Order
from shared.domain.errors import NoOrderNumberLeft
from shared.domain.orders import MAX_ORDER_NUMBER

_NUMBERING_LOCK = 4567_0001


def take_numbering_turn(session: Session) -> None:
    """On PostgreSQL writers run side by side: numbering waits its turn until the transaction
    ends, or two would read the same highest number. SQLite's write lock already serialises."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _NUMBERING_LOCK})


def next_order_number(session: Session, first: int) -> int:
    """The number after the highest; once a client has taken the highest number an identifier
    can name, the lowest free one from `first` on: never one no endpoint can reach."""
    highest = session.execute(select(func.max(Order.order_number))).scalar_one()
    if highest is None or highest < first:
        return first
    if highest < MAX_ORDER_NUMBER:
        return int(highest) + 1
    if session.get(Order, first) is None:
        return first
    following = aliased(Order)
    # A taken number whose successor is free: rare (only after a client took the top number),
    # so a scan is acceptable here.
    gap = session.execute(
        select(func.min(Order.order_number + 1)).where(
            Order.order_number >= first,
            Order.order_number < MAX_ORDER_NUMBER,
            ~exists().where(following.order_number == Order.order_number + 1),
        )
    ).scalar_one()
    if gap is None:
        raise NoOrderNumberLeft(first, MAX_ORDER_NUMBER)
    return int(gap)
