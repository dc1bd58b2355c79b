"""What may be cancelled, and the warnings a cancel answers with: pure rules."""

from __future__ import annotations

from shared.domain.codes import OrderStatus
from shared.domain.errors import (
    CancelOrderCompleted,
    DeleteReasonsEmpty,
    DeleteReasonUnknown,
    JobTrackerModuleRequired,
    NonCancelStationPassed,
)
from shared.domain.lab_setup import Lab
from shared.domain.orders import OrderFacts

REASON_IGNORED = "deleteReason ignored"


def check_cancel(lab: Lab, facts: OrderFacts, reason: str | None) -> str:
    """Raise why the order cannot be cancelled; else the cancel's message (empty, or a warning).

    Rx-Universe answers `Order already completed` to a second cancel, and (its older cancel's
    rule) to a cancel of a completed order; the module check comes first, as its docs list it.
    """
    if not lab.job_tracker_module:
        raise JobTrackerModuleRequired()
    if facts.deleted or facts.status is OrderStatus.COMPLETE:
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
