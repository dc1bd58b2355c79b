"""An order's day in the lab, planned from the lab file and a seeded random: same seed, same day."""

from __future__ import annotations

import random
from dataclasses import dataclass

from shared.domain.codes import JobType
from shared.domain.completion import processes_needed
from shared.domain.lab_setup import Lab, Station

# How often each job type comes in: most jobs are full jobs (surfaced and edged).
JOB_TYPE_WEIGHTS = {JobType.FULL: 6, JobType.UNCUT: 2, JobType.EDGE: 1, JobType.ADDON: 1}
# The share of orders the lab puts on hold for a while, cancels, or lets skip a needed station.
HOLD_SHARE = 0.10
CANCEL_SHARE = 0.05
SKIP_SHARE = 0.10
MAX_ADDONS = 3
# Each order's PO number: PO_PREFIX, the run's tag, `-`, the order's index in the day.
PO_PREFIX = "LAB-"
RUN_TAG_CHARS = 5
_TAG_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class Step:
    """One check-in: a station and, where the station requires one, an operator."""

    station: str
    operator: str | None


@dataclass(frozen=True, slots=True)
class OrderPlan:
    """What happens to one order: its creation, its route, and what goes wrong on the way."""

    index: int
    job_type: JobType
    addons: tuple[str, ...]
    customer_number: str
    po_number: str  # unique to the run: the order is found by it once imported
    steps: tuple[Step, ...]  # in flow order, the skipped step included
    station_times: tuple[float, ...]  # seconds at each step's station
    hold_after: int | None  # put on hold (then released) after this many check-ins
    hold_time: float  # seconds on hold
    cancel_after: int | None  # cancelled after this many check-ins: the order ends there
    skip: int | None  # the index of a needed step left out until completion is refused


def plan_order(lab: Lab, seed: int, index: int, station_time: float, *, run: str) -> OrderPlan:
    """The plan of the `index`-th order of the day `seed` names; it depends on nothing else but
    its PO number, which holds the `run` (`run_tag`), so that a day replayed on the same database
    finds its own orders: a PO two orders share names neither."""
    rng = random.Random(f"{seed}:{index}")
    job_type = rng.choices(list(JOB_TYPE_WEIGHTS), weights=list(JOB_TYPE_WEIGHTS.values()))[0]
    addons = tuple(sorted(rng.sample(sorted(lab.addons), rng.randint(0, MAX_ADDONS))))
    if job_type is JobType.ADDON and not addons:  # Rx-Universe refuses one: "No addons entered"
        addons = (rng.choice(sorted(lab.addons)),)
    steps = _route(lab, job_type, addons, rng)
    needed = processes_needed(lab, job_type, addons)
    skippable = [i for i, step in enumerate(steps) if lab.stations[step.station].process in needed]
    # An order can be cancelled only before its first non-cancel station.
    cancellable = next(
        (i for i, step in enumerate(steps) if lab.stations[step.station].non_cancel), len(steps)
    )
    cancel_after = rng.randint(0, cancellable) if rng.random() < CANCEL_SHARE else None
    return OrderPlan(
        index=index,
        job_type=job_type,
        addons=addons,
        customer_number=rng.choice(sorted(lab.customers)),
        po_number=f"{po_prefix(run)}{index}",
        steps=steps,
        station_times=tuple(
            rng.expovariate(1 / station_time) if station_time > 0 else 0.0 for _ in steps
        ),
        hold_after=rng.randint(0, len(steps)) if rng.random() < HOLD_SHARE else None,
        hold_time=rng.expovariate(1 / station_time) if station_time > 0 else 0.0,
        cancel_after=cancel_after,
        skip=rng.choice(skippable) if skippable and rng.random() < SKIP_SHARE else None,
    )


def _route(
    lab: Lab, job_type: JobType, addons: tuple[str, ...], rng: random.Random
) -> tuple[Step, ...]:
    """The stations in flow order: the general ones the job type passes (surfacing before the
    first non-cancel station, finishing from it; an addon job only the last, shipping), one
    station for each process the order needs (AR1 or AR2, say), and final QA for every order."""
    places = [
        s for s in lab.stations.values() if s.takes_checkins and s.code != lab.completion_station
    ]
    general = [s for s in places if s.process is None]
    if job_type is JobType.UNCUT:
        general = [s for s in general if not s.non_cancel]
    elif job_type is JobType.EDGE:
        general = [s for s in general if s.non_cancel]
    elif job_type is JobType.ADDON:
        general = general[-1:]
    wanted = processes_needed(lab, job_type, addons) | {lab.final_qa_process}
    chosen: set[str] = {s.code for s in general}
    for process in sorted(wanted):
        performing = [s.code for s in places if s.process == process]
        if performing:
            chosen.add(rng.choice(performing))
    operators = sorted(s.code for s in lab.stations.values() if s.is_operator)
    return tuple(Step(s.code, _operator(s, operators, rng)) for s in places if s.code in chosen)


def _operator(station: Station, operators: list[str], rng: random.Random) -> str | None:
    return rng.choice(operators) if station.requires_operator and operators else None


def run_tag() -> str:
    """A new tag for a run's PO numbers (one in 36**5): drawn apart from the seed, so that a day
    replayed on the database of an earlier run gets PO numbers of its own. The longest PO it makes
    (`LAB-xxxxx-` and an index of 11 digits) fits the column's 21 characters."""
    draw = random.SystemRandom()
    return "".join(draw.choice(_TAG_ALPHABET) for _ in range(RUN_TAG_CHARS))


def po_prefix(run: str) -> str:
    """What the PO numbers of the run tagged `run` start with: `LAB-<run>-`."""
    return f"{PO_PREFIX}{run}-"
