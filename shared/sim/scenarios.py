"""Scenarios and snapshots: the lab's orders as plain values, loaded into the database in place of
what it holds, or exported from it.

A scenario file and a snapshot are one format (read by `api.sim.scenarios`); this module sees
only the plain values. What a snapshot holds is the orders with everything a read endpoint shows
of them: addons, check-ins (station, operator, time), the completion flag and the recorded
rejection, the dates. The request journal, the faults and the trackers' heartbeats are not part of
it: they describe the processes serving the lab, not the lab.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from shared.db.models import CheckIn, Order, OrderAddon
from shared.domain.codes import JobType, OrderStatus
from shared.domain.errors import NotCompletedAtCompletion, ScenarioInvalid
from shared.domain.lab_setup import Lab
from shared.domain.orders import check_completion_station
from shared.orders.lookup import CompletionError
from shared.orders.pick import CODE_COLUMNS, PICKED_COLUMNS
from shared.sim.orders import default_pick_codes, reset


@dataclass(frozen=True)
class ScenarioCheckIn:
    """An order's arrival at a station, at a time, optionally by an operator."""

    station: str
    at: datetime
    operator: str | None = None


@dataclass(frozen=True)
class ScenarioPick:
    """What pick verification expects of an order (None: no such item) and what is picked
    (item names: `rtLens`, `frame`, ...)."""

    rt_opc: str | None = None
    lt_opc: str | None = None
    frame_upc: str | None = None
    frame_sku: str | None = None
    frame_part_sku: str | None = None
    frame_side_shield_sku: str | None = None
    misc1_sku: str | None = None
    misc2_sku: str | None = None
    picked: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScenarioOrder:
    """An order in a given state. A None date is the load's day (the ordered date always; the
    completion date for a completed order)."""

    order_number: int
    tray_number: str | None = None
    po_number: str | None = None
    job_type: JobType = JobType.FULL
    status: OrderStatus = OrderStatus.PROCESS
    on_hold: bool = False
    deleted: bool = False
    unvalid_message: str | None = None
    rt_calculated: bool = True
    lt_calculated: bool = True
    date_ordered: date | None = None
    date_completed: date | None = None
    addons: tuple[str, ...] = ()
    checkins: tuple[ScenarioCheckIn, ...] = ()
    # The completion flag: when the completion call accepted it (its place in the tracker's queue).
    flagged_at: datetime | None = None
    completion_error: CompletionError | None = None
    stock: bool = False
    # What an order submitted through POST /api/v2/orders brought, and what its import set.
    customer_number: str | None = None
    customer_job_id: str | None = None
    date_received: date | None = None
    date_wanted: date | None = None
    valid_at: datetime | None = None
    submitted: Mapping[str, Any] | None = None  # its other submitted fields, by API name
    # None: what a simulator-created order carries (two lenses and a frame, from the lab file).
    pick: ScenarioPick | None = None


@dataclass(frozen=True)
class Scenario:
    """A lab's orders, described."""

    description: str
    orders: tuple[ScenarioOrder, ...]


def scenario_problems(lab: Lab, scenario: Scenario) -> list[str]:
    """What in `scenario` this lab cannot hold, each as `entry: problem`, in the file's order."""
    problems: list[str] = []
    seen: set[int] = set()
    for index, order in enumerate(scenario.orders):
        entry = f"orders.{index}"
        if order.order_number in seen:
            problems.append(f"{entry}.orderNumber: Order {order.order_number} is listed twice.")
        seen.add(order.order_number)
        addons: set[str] = set()
        for position, code in enumerate(order.addons):
            if code not in lab.addons:
                problems.append(f"{entry}.addons.{position}: Unknown addon {code!r}.")
            elif code in addons:
                problems.append(f"{entry}.addons.{position}: Addon {code!r} is listed twice.")
            addons.add(code)
        for position, checkin in enumerate(order.checkins):
            where = f"{entry}.checkins.{position}"
            if checkin.station not in lab.stations:
                problems.append(f"{where}.station: Unknown station {checkin.station!r}.")
            operator = checkin.operator
            if operator is not None and not (
                operator in lab.stations and lab.stations[operator].is_operator
            ):
                problems.append(f"{where}.operator: Unknown operator {operator!r}.")
        completed = order.status is OrderStatus.COMPLETE
        if order.checkins:
            # The current station: the last check-in by time, then by the order written.
            position, last = max(enumerate(order.checkins), key=lambda p: (p[1].at, p[0]))
            where = f"{entry}.checkins.{position}.station"
            try:
                check_completion_station(lab.completion_station, last.station, order.status, where)
            except NotCompletedAtCompletion as refused:
                problems.append(str(refused))
        if order.date_completed is not None and not completed:
            problems.append(f"{entry}.dateCompleted: Only a completed order (status C) has one.")
        # The tracker never holds a completed order: the simulator's writes keep to this too.
        if order.flagged_at is not None and completed:
            problems.append(f"{entry}.flaggedAt: A completed order is never flagged.")
    return problems


def replace_state(session: Session, lab: Lab, scenario: Scenario, *, today: date) -> int:
    """Delete every order and put the scenario's in their place; answer how many there are now.

    Checked whole first (ScenarioInvalid, nothing changed); the caller's one transaction makes
    the replacement all or nothing. The order count (migration 0004's triggers) follows the
    deletes and inserts by itself.
    """
    problems = scenario_problems(lab, scenario)
    if problems:
        raise ScenarioInvalid(problems)
    if session.get_bind().dialect.name == "postgresql":
        # Every other writer (an API worker, a tracker) waits until the replacement commits, and
        # readers see the old state until then: a write slipping in between the deletes and the
        # inserts could collide with an order of the scenario. SQLite's write lock, taken at
        # BEGIN, does the same there.
        session.execute(text("LOCK TABLE orders IN EXCLUSIVE MODE"))
    reset(session)
    if not scenario.orders:
        return 0
    session.execute(insert(Order), [_order_row(order, today, lab) for order in scenario.orders])
    addons = [
        {"order_number": order.order_number, "addon_code": code}
        for order in scenario.orders
        for code in order.addons
    ]
    if addons:
        session.execute(insert(OrderAddon), addons)
    # In the order given: check-ins at the same instant are told apart by their ids, which the
    # database hands out in insertion order, so the history reads as it did.
    checkins = [
        {
            "order_number": order.order_number,
            "station": checkin.station,
            "operator": checkin.operator,
            "checked_in_at": checkin.at,
        }
        for order in scenario.orders
        for checkin in order.checkins
    ]
    if checkins:
        session.execute(insert(CheckIn), checkins)
    return len(scenario.orders)


def _order_row(order: ScenarioOrder, today: date, lab: Lab) -> dict[str, Any]:
    completed = order.status is OrderStatus.COMPLETE
    error = order.completion_error
    codes: dict[str, str | None] = dict.fromkeys(CODE_COLUMNS.values())
    if order.pick is None:
        codes.update(default_pick_codes(lab))
    else:
        codes.update({column: getattr(order.pick, column) for column in CODE_COLUMNS.values()})
    picked = order.pick.picked if order.pick is not None else ()
    return {
        **codes,
        **{column: item in picked for item, column in PICKED_COLUMNS.items()},
        "stock": order.stock,
        "customer_number": order.customer_number,
        "customer_job_id": order.customer_job_id,
        "date_received": order.date_received,
        "date_wanted": order.date_wanted,
        "valid_at": order.valid_at,
        "submitted": (
            json.dumps(order.submitted, separators=(",", ":"))
            if order.submitted is not None
            else None
        ),
        "order_number": order.order_number,
        "tray_number": order.tray_number,
        "po_number": order.po_number,
        "job_type": order.job_type,
        "status": order.status,
        "on_hold": order.on_hold,
        "deleted": order.deleted,
        "unvalid_message": order.unvalid_message,
        "rt_calculated": order.rt_calculated,
        "lt_calculated": order.lt_calculated,
        "date_ordered": order.date_ordered or today,
        "date_completed": (order.date_completed or today) if completed else None,
        "completion_requested_at": order.flagged_at,
        "completion_error_code": error.code if error else None,
        "completion_error_message": error.message if error else None,
    }


SNAPSHOT_DESCRIPTION = "A snapshot of the lab's orders."


def export_state(session: Session) -> Scenario:
    """Every order with its addons and check-ins, as a scenario that `replace_state` restores.

    Orders by number, addons by code, check-ins as the history reads them (time, then id).
    """
    addons: defaultdict[int, list[str]] = defaultdict(list)
    for number, code in session.execute(
        select(OrderAddon.order_number, OrderAddon.addon_code).order_by(
            OrderAddon.order_number, OrderAddon.addon_code
        )
    ):
        addons[number].append(code)
    checkins: defaultdict[int, list[ScenarioCheckIn]] = defaultdict(list)
    for number, station, operator, at in session.execute(
        select(
            CheckIn.order_number, CheckIn.station, CheckIn.operator, CheckIn.checked_in_at
        ).order_by(CheckIn.order_number, CheckIn.checked_in_at, CheckIn.id)
    ):
        checkins[number].append(ScenarioCheckIn(station=station, at=at, operator=operator))
    orders = session.execute(select(Order).order_by(Order.order_number)).scalars()
    return Scenario(
        description=SNAPSHOT_DESCRIPTION,
        orders=tuple(_exported(order, addons, checkins) for order in orders),
    )


def _exported(
    order: Order,
    addons: dict[int, list[str]],
    checkins: dict[int, list[ScenarioCheckIn]],
) -> ScenarioOrder:
    code, message = order.completion_error_code, order.completion_error_message
    return ScenarioOrder(
        order_number=order.order_number,
        tray_number=order.tray_number,
        po_number=order.po_number,
        job_type=order.job_type,
        status=order.status,
        on_hold=order.on_hold,
        deleted=order.deleted,
        unvalid_message=order.unvalid_message,
        rt_calculated=order.rt_calculated,
        lt_calculated=order.lt_calculated,
        date_ordered=order.date_ordered,
        date_completed=order.date_completed,
        addons=tuple(addons.get(order.order_number, ())),
        checkins=tuple(checkins.get(order.order_number, ())),
        flagged_at=order.completion_requested_at,
        completion_error=CompletionError(code, message or "") if code is not None else None,
        stock=order.stock,
        customer_number=order.customer_number,
        customer_job_id=order.customer_job_id,
        date_received=order.date_received,
        date_wanted=order.date_wanted,
        valid_at=order.valid_at,
        submitted=json.loads(order.submitted) if order.submitted else None,
        pick=ScenarioPick(
            **{column: getattr(order, column) for column in CODE_COLUMNS.values()},
            picked=tuple(item for item, column in PICKED_COLUMNS.items() if getattr(order, column)),
        ),
    )
