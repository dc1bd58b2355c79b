"""The lab board's figures: work in process per station, the queue, the tracker, recent outcomes.

Every read is bounded by what is happening in the lab, never by the orders it has finished:
work in process reads the active orders' index (`ix_orders_active`), the queue its own index,
recent completions and the latest events a time range of the check-ins' time index, recent
rejections a time range of the rejected orders' index. So the board costs the same with a million
completed orders behind it as with a thousand (measured in bench/board.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.domain.lab import Lab
from shared.heartbeats import is_fresh
from shared.models import CheckIn, Order, TrackerHeartbeat
from shared.orders import active_orders

# "Completions and rejections in the last minutes": how far back the board counts.
WINDOW = timedelta(minutes=15)
# How many of the latest events the board lists.
EVENTS = 12

_orders = Order.__table__
_checkins = CheckIn.__table__


@dataclass(frozen=True, slots=True)
class StationLoad:
    """Active orders whose current station is this one, and how many of them are on hold."""

    code: str
    description: str
    wip: int
    on_hold: int


@dataclass(frozen=True, slots=True)
class CodeCount:
    code: str
    count: int


@dataclass(frozen=True, slots=True)
class Event:
    """A check-in, a completion (the tracker's check-in at the completion station) or a
    rejection, newest first on the board."""

    time: datetime
    kind: str
    order_number: int
    station: str | None
    code: str | None


@dataclass(frozen=True, slots=True)
class Board:
    generated_at: datetime
    window_minutes: int
    stations: list[StationLoad]
    not_started: int
    active: int
    on_hold: int
    flagged: int
    oldest_flag: datetime | None
    tracker_running: bool
    last_heartbeat: datetime | None
    completed: int
    rejected: int
    rejected_by_code: list[CodeCount]
    events: list[Event]


def _latest_station() -> Any:
    """The order's current station: its latest check-in's (as shared.orders reads it)."""
    return (
        select(_checkins.c.station)
        .where(_checkins.c.order_number == _orders.c.order_number)
        .order_by(_checkins.c.checked_in_at.desc(), _checkins.c.id.desc())
        .limit(1)
        .correlate(_orders)
        .scalar_subquery()
    )


def read_board(session: Session, lab: Lab, now: datetime) -> Board:
    """The board's figures at `now`, in six small reads of one transaction."""
    since = now - WINDOW
    current = (
        select(_latest_station().label("station"), _orders.c.on_hold)
        .where(active_orders())
        .subquery()
    )
    loads = session.execute(
        select(current.c.station, func.count(), func.count().filter(current.c.on_hold)).group_by(
            current.c.station
        )
    ).all()
    wip = {station: (count, held) for station, count, held in loads}
    stations = [
        StationLoad(s.code, s.description, *wip.get(s.code, (0, 0)))
        for s in lab.stations.values()
        # The completion station holds no work in process: what reaches it is completed.
        if s.takes_checkins and s.code != lab.completion_station
    ]
    not_started = wip.get(None, (0, 0))[0]
    flagged, oldest = session.execute(
        select(func.count(), func.min(_orders.c.completion_requested_at)).where(
            _orders.c.completion_requested_at.is_not(None)
        )
    ).one()
    beats = session.execute(select(TrackerHeartbeat)).scalars().all()
    running = any(
        b.stopped_at is None and is_fresh(b.last_heartbeat, b.interval_seconds, now) for b in beats
    )
    completed = session.execute(
        select(func.count()).where(
            _checkins.c.checked_in_at >= since, _checkins.c.station == lab.completion_station
        )
    ).scalar_one()
    rejections = session.execute(
        select(_orders.c.last_rejection_code, func.count())
        .where(_orders.c.last_rejected_at.is_not(None), _orders.c.last_rejected_at >= since)
        .group_by(_orders.c.last_rejection_code)
        .order_by(_orders.c.last_rejection_code)
    ).all()
    by_code = [CodeCount(code, count) for code, count in rejections]
    return Board(
        generated_at=now,
        window_minutes=int(WINDOW.total_seconds() // 60),
        stations=stations,
        not_started=not_started,
        active=sum(count for count, _ in wip.values()),
        on_hold=sum(held for _, held in wip.values()),
        flagged=flagged,
        oldest_flag=oldest,
        tracker_running=running,
        last_heartbeat=max((b.last_heartbeat for b in beats), default=None),
        completed=completed,
        rejected=sum(c.count for c in by_code),
        rejected_by_code=by_code,
        events=_latest_events(session, lab, since),
    )


def _latest_events(session: Session, lab: Lab, since: datetime) -> list[Event]:
    """The newest check-ins and rejections within the window, newest first."""
    checkins = (
        select(
            _checkins.c.checked_in_at.label("time"),
            _checkins.c.order_number,
            _checkins.c.station,
            _checkins.c.id.label("tiebreak"),
        )
        .where(_checkins.c.checked_in_at >= since)
        .order_by(_checkins.c.checked_in_at.desc(), _checkins.c.id.desc())
        .limit(EVENTS)
    )
    rejections = (
        select(_orders.c.last_rejected_at, _orders.c.order_number, _orders.c.last_rejection_code)
        .where(_orders.c.last_rejected_at.is_not(None), _orders.c.last_rejected_at >= since)
        .order_by(_orders.c.last_rejected_at.desc(), _orders.c.order_number.desc())
        .limit(EVENTS)
    )
    events = [
        Event(
            time,
            "completed" if station == lab.completion_station else "checkin",
            number,
            station,
            None,
        )
        for time, number, station, _ in session.execute(checkins)
    ]
    events += [
        Event(time, "rejected", number, None, code)
        for time, number, code in session.execute(rejections)
    ]
    events.sort(key=lambda e: (e.time, e.kind != "rejected", e.order_number), reverse=True)
    return events[:EVENTS]
