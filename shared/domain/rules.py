"""The completion rules as pure functions of plain values, written once for both processes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from shared.domain.codes import JobType, OrderStatus
from shared.domain.errors import (
    JobFlowIncomplete,
    OrderAlreadyCompleted,
    OrderDeleted,
    OrderOnHold,
    OrderUnvalid,
)
from shared.domain.lab import Lab

# ASCII digits only: `\d` and str.isdigit() would let other scripts' digits through to int().
# Leading zeros are ignored, however many there are; the number itself has at most 18 digits.
_ORDER_NUMBER = re.compile(r"0*([0-9]{1,18})")
# The highest number an identifier can name (18 digits): no order may be numbered above it.
MAX_ORDER_NUMBER = 10**18 - 1


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """What the completion checks look at, loaded the same way by the API and the tracker."""

    order_number: int
    status: OrderStatus
    on_hold: bool
    deleted: bool
    job_type: JobType
    addons: frozenset[str]
    stations: frozenset[str]


def parse_order_number(identifier: str) -> int | None:
    """The order number an identifier names, or None when it cannot name one."""
    digits = _ORDER_NUMBER.fullmatch(identifier)
    return int(digits[1]) if digits else None


def effective_status(status: OrderStatus, on_hold: bool) -> str:
    """The status code Rx-Universe shows: `W` while on hold, else the stored one."""
    return "W" if on_hold else status.value


def check_completable(facts: OrderFacts, lab: Lab) -> None:
    """Raise the first reason, in Rx-Universe's order of precedence, the order cannot complete."""
    if facts.deleted:
        raise OrderDeleted()
    if facts.status is OrderStatus.UNVALID:
        raise OrderUnvalid()
    if facts.status is OrderStatus.COMPLETE:
        raise OrderAlreadyCompleted()
    if facts.on_hold:
        raise OrderOnHold()
    if lab.station_verify:
        verify_job_flow(lab, facts.job_type, facts.addons, facts.stations)


def processes_needed(lab: Lab, job_type: JobType, addons: Iterable[str]) -> frozenset[str]:
    """The processes an order of this job type with these addons must pass before completion."""
    needed = {p for code in addons if code in lab.addons for p in lab.addons[code].processes}
    if job_type is JobType.ADDON and lab.force_qa_on_addon_jobs:
        needed.add(lab.final_qa_process)
    return frozenset(needed)


def processes_performed(lab: Lab, stations: Iterable[str]) -> frozenset[str]:
    """The processes performed by the stations an order has passed."""
    performed = (lab.stations[code].process for code in stations if code in lab.stations)
    return frozenset(p for p in performed if p is not None)


def verify_job_flow(
    lab: Lab, job_type: JobType, addons: Iterable[str], stations: Iterable[str]
) -> None:
    """Raise JobFlowIncomplete for the first needed process (in the lab's order) not yet passed."""
    missing = processes_needed(lab, job_type, addons) - processes_performed(lab, stations)
    if missing:
        first = next(p for p in lab.processes if p.key in missing)
        raise JobFlowIncomplete(first.missing_message)
