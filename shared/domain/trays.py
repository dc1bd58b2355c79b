"""Tray assignment's refusals, in Rx-Universe's priority order: pure rules.

Rx-Universe lists its messages "based on Priority Level": the order's own state is judged before
the tray number, except that a completed order is refused before the tray number is read.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain.codes import OrderStatus
from shared.domain.errors import (
    OrderAlreadyHasTray,
    TrayInUse,
    TrayNotNumeric,
    TrayOrderCompleted,
    TrayOrderDeleted,
    TrayOrderOnHold,
    TrayTooLong,
)

TRAY_DIGITS = 5


@dataclass(frozen=True)
class TrayFacts:
    """What tray assignment looks at on the order."""

    status: OrderStatus
    deleted: bool
    on_hold: bool
    pending_completion: bool  # flagged through the completion endpoint, not yet completed
    tray_number: str | None


def is_tray_number(tray: str) -> bool:
    """Digits, at most five of them: a tray number Rx-Universe accepts."""
    return tray.isascii() and tray.isdigit() and len(tray) <= TRAY_DIGITS


def check_tray_assignment(order: TrayFacts, tray: str, *, reassign: bool, tray_taken: bool) -> None:
    """Raise why `tray` cannot be given to the order; `tray_taken` says another active order
    (not completed, not cancelled) is in it. An unvalid order may be given a tray."""
    if order.status is OrderStatus.COMPLETE:
        raise TrayOrderCompleted()
    if not (tray.isascii() and tray.isdigit()):
        raise TrayNotNumeric()
    if len(tray) > TRAY_DIGITS:
        raise TrayTooLong()
    if order.deleted:
        raise TrayOrderDeleted()
    if order.pending_completion:
        raise TrayOrderCompleted()
    if order.on_hold:
        raise TrayOrderOnHold()
    if tray_taken:
        raise TrayInUse()
    if order.tray_number is not None and not reassign:
        raise OrderAlreadyHasTray()
