"""The completion checks and job-flow verification, pure functions written once for the API and the
tracker (their SQL twin is shared.orders.completion_sql)."""

from __future__ import annotations

from collections.abc import Iterable

from shared.domain.codes import JobType, OrderStatus
from shared.domain.errors import (
    JobFlowIncomplete,
    OrderAlreadyCompleted,
    OrderDeleted,
    OrderOnHold,
    OrderUnvalid,
)
from shared.domain.lab_setup import Lab
from shared.domain.orders import OrderFacts


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
