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

from sqlalchemy import String, bindparam, func, select
from sqlalchemy.orm import Session

from shared.db.models import CheckIn, Order, Submission, TrackerHeartbeat, UTCDateTime, WorkTicket
from shared.domain.lab_setup import Lab
from shared.monitoring.heartbeats import is_fresh
from shared.orders.lookup import active_orders
from shared.orders.submissions import import_queue, processor_paused

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
    """How many of the window's rejections had this code."""

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
    """Everything the board shows at `generated_at`; the last minutes are `window_minutes`."""

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
    # The Remote Order Processor: submissions waiting (the oldest's arrival), paused or not, and
    # the submissions it imported in the window.
    import_waiting: int = 0
    oldest_submission: datetime | None = None
    import_paused: bool = False
    imported: int = 0
    # Work tickets printed in the window, and the latest one (order, LPT port, time).
    tickets: int = 0
    last_ticket: Ticket | None = None


@dataclass(frozen=True)
class Ticket:
    order_number: int
    port: str
    printed_at: datetime


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


# Built once, with the window's start and the completion station as parameters: building the
# statements on every read cost more than running them.
_SINCE = bindparam("since", type_=UTCDateTime())
_current_sub = (
    select(_latest_station().label("station"), _orders.c.on_hold).where(active_orders()).subquery()
)
_LOADS = select(
    _current_sub.c.station, func.count(), func.count().filter(_current_sub.c.on_hold)
).group_by(_current_sub.c.station)
_QUEUE = select(func.count(), func.min(_orders.c.completion_requested_at)).where(
    _orders.c.completion_requested_at.is_not(None)
)
_BEATS = select(
    TrackerHeartbeat.last_heartbeat, TrackerHeartbeat.interval_seconds, TrackerHeartbeat.stopped_at
)
_COMPLETED = select(func.count()).where(
    _checkins.c.checked_in_at >= _SINCE,
    _checkins.c.station == bindparam("station", type_=String()),
)
_REJECTED = (
    select(_orders.c.last_rejection_code, func.count())
    .where(_orders.c.last_rejected_at.is_not(None), _orders.c.last_rejected_at >= _SINCE)
    .group_by(_orders.c.last_rejection_code)
    .order_by(_orders.c.last_rejection_code)
)
_LATEST_CHECKINS = (
    select(_checkins.c.checked_in_at, _checkins.c.order_number, _checkins.c.station)
    .where(_checkins.c.checked_in_at >= _SINCE)
    .order_by(_checkins.c.checked_in_at.desc(), _checkins.c.id.desc())
    .limit(EVENTS)
)
_LATEST_REJECTIONS = (
    select(_orders.c.last_rejected_at, _orders.c.order_number, _orders.c.last_rejection_code)
    .where(_orders.c.last_rejected_at.is_not(None), _orders.c.last_rejected_at >= _SINCE)
    .order_by(_orders.c.last_rejected_at.desc(), _orders.c.order_number.desc())
    .limit(EVENTS)
)


_IMPORTED = select(func.count()).where(
    Submission.imported_at.is_not(None), Submission.imported_at >= _SINCE
)


_TICKETS = select(func.count()).where(WorkTicket.printed_at >= _SINCE)
_LAST_TICKET = (
    select(WorkTicket.order_number, WorkTicket.port, WorkTicket.printed_at)
    .order_by(WorkTicket.id.desc())
    .limit(1)
)


def read_board(session: Session, lab: Lab, now: datetime) -> Board:
    """The board's figures at `now`, in ten small reads of one transaction."""
    window = {"since": now - WINDOW, "station": lab.completion_station}
    wip = {station: (count, held) for station, count, held in session.execute(_LOADS)}
    stations = [
        StationLoad(s.code, s.description, *wip.get(s.code, (0, 0)))
        for s in lab.stations.values()
        # The completion station holds no work in process: what reaches it is completed.
        if s.takes_checkins and s.code != lab.completion_station
    ]
    flagged, oldest = session.execute(_QUEUE).one()
    beats = session.execute(_BEATS).all()
    running = any(
        stopped is None and is_fresh(last, interval, now) for last, interval, stopped in beats
    )
    completed = session.execute(_COMPLETED, window).scalar_one()
    by_code = [CodeCount(code, count) for code, count in session.execute(_REJECTED, window)]
    events = [
        Event(time, "completed" if at == lab.completion_station else "checkin", number, at, None)
        for time, number, at in session.execute(_LATEST_CHECKINS, window)
    ]
    events += [
        Event(time, "rejected", number, None, code)
        for time, number, code in session.execute(_LATEST_REJECTIONS, window)
    ]
    events.sort(key=lambda e: (e.time, e.kind != "rejected", e.order_number), reverse=True)
    connection = session.connection()
    queue = import_queue(connection)
    imported = session.execute(_IMPORTED, window).scalar_one()
    last = session.execute(_LAST_TICKET).one_or_none()
    return Board(
        generated_at=now,
        window_minutes=int(WINDOW.total_seconds() // 60),
        stations=stations,
        not_started=wip.get(None, (0, 0))[0],
        active=sum(count for count, _ in wip.values()),
        on_hold=sum(held for _, held in wip.values()),
        flagged=flagged,
        oldest_flag=oldest,
        tracker_running=running,
        last_heartbeat=max((last for last, _, _ in beats), default=None),
        completed=completed,
        rejected=sum(c.count for c in by_code),
        rejected_by_code=by_code,
        events=events[:EVENTS],
        import_waiting=queue.waiting,
        oldest_submission=queue.oldest,
        import_paused=processor_paused(connection),
        imported=imported,
        tickets=session.execute(_TICKETS, window).scalar_one(),
        last_ticket=Ticket(*last) if last is not None else None,
    )
