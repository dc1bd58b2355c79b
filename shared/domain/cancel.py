"""What may be cancelled, and the warnings a cancel answers with: pure rules."""

from __future__ import annotations

from shared.domain.codes import OrderStatus
from shared.domain.errors import (
    CancelOrderCompleted,
    DeleteReasonsEmpty,
    DeleteReasonUnknown,
    NonCancelStationPassed,
)
from shared.domain.lab_setup import Lab
from shared.domain.orders import OrderFacts

ALREADY_CANCELLED = "Order already marked for cancelation"
REASON_IGNORED = "deleteReason ignored"


def check_cancel(lab: Lab, facts: OrderFacts, reason: str | None) -> str:
    """Raise why the order cannot be cancelled; else the cancel's message (empty, or a warning).

    A second cancel of a cancelled order succeeds again, saying so, as a repeated completion
    call does: a client retrying after a timeout gets no error.
    """
    if facts.deleted:
        return ALREADY_CANCELLED
    if facts.status is OrderStatus.COMPLETE:
        raise CancelOrderCompleted()
    if any(lab.stations[s].non_cancel for s in facts.stations if s in lab.stations):
        raise NonCancelStationPassed()
    if not lab.delete_reason_required:
        return REASON_IGNORED if reason is not None else ""
    if not lab.delete_reasons:
        raise DeleteReasonsEmpty()
    if reason is None or reason not in lab.delete_reasons:
        raise DeleteReasonUnknown(reason or "")
    return ""
