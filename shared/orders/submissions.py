"""Submitted orders: queued by the API (POST /api/v2/orders), imported by the Remote Order
Processor, a duty of the Job Tracker; invisible to every read until imported.

A submission is imported exactly once: its order is inserted and the submission marked imported
in one transaction, the batch taken with SKIP LOCKED on PostgreSQL so several trackers share the
queue. A tracker killed mid-batch leaves the whole batch waiting, never half imported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.db.models import CheckIn, Order, OrderAddon, ProcessorSwitch, Submission
from shared.domain.codes import JobType, OrderStatus
from shared.domain.lab_setup import Lab
from shared.orders.lookup import active_orders
from shared.orders.numbering import next_order_number, take_numbering_turn

_submissions = Submission.__table__
# Submitted fields kept in columns of their own; the rest are kept, as sent, in `submitted`.
_OWN_COLUMNS = frozenset(
    {"customerNumber", "customerJobId", "poNumber", "jobType", "onHold", "addons", "dateWanted"}
)
_SWITCH_ID = 1
# A tray number has at most 5 digits.
_LAST_TRAY = 99999
# How often an import tries another number when a client took the one it read meanwhile.
_NUMBER_ATTEMPTS = 5


@dataclass(frozen=True)
class ImportOutcome:
    """What one import batch did: how many submissions it took, and the order each became."""

    taken: int
    imported: Mapping[int, int]  # submission id -> order number
    # Seconds each imported submission waited, from its 202 to its import (the metrics').
    waited: tuple[float, ...] = ()


def queue_submission(connection: Connection, fields: Mapping[str, Any], now: datetime) -> int:
    """Queue a checked submission (its fields by their API names, JSON values) for import; one
    INSERT, so on an autocommit connection it is committed when this returns. Its id."""
    result = connection.execute(
        insert(Submission)
        .values(received_at=now, payload=json.dumps(fields, separators=(",", ":")))
        .returning(Submission.id)
    )
    return int(result.scalar_one())


def import_submitted_orders(
    session: Session, lab: Lab, *, now: datetime, today: date, limit: int
) -> ImportOutcome:
    """Import up to `limit` waiting submissions, oldest first, each into a new order."""
    query = (
        select(Submission)
        .where(Submission.imported_at.is_(None))
        .order_by(Submission.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    waiting = session.execute(query).scalars().all()
    if not waiting:
        return ImportOutcome(0, {})
    take_numbering_turn(session)
    trays = _free_trays(session) if lab.order_entry.auto_assign_trays else None
    imported: dict[int, int] = {}
    waited: list[float] = []
    for submission in waiting:
        order = _order_of(json.loads(submission.payload), lab, now=now, today=today)
        if trays is not None:
            order.tray_number = next(trays, None)
        _insert_numbered(session, order, lab.order_entry.first_order_number)
        submission.imported_at = now
        submission.order_number = order.order_number
        imported[submission.id] = order.order_number
        waited.append((now - submission.received_at).total_seconds())
    return ImportOutcome(len(waiting), imported, tuple(waited))


def _order_of(fields: Mapping[str, Any], lab: Lab, *, now: datetime, today: date) -> Order:
    """The order a submission becomes: Valid, received today, checked in at the lab's first
    station, wanted on the date it gives or after the lab's default days."""
    wanted = fields.get("dateWanted")
    first_station = next(s.code for s in lab.stations.values() if s.takes_checkins)
    return Order(
        po_number=fields["poNumber"],
        job_type=JobType(fields["jobType"]),
        status=OrderStatus.VALID,
        on_hold=bool(fields.get("onHold") or False),
        rt_calculated=bool(fields.get("rtLensStyle")),
        lt_calculated=bool(fields.get("ltLensStyle")),
        date_ordered=today,
        date_received=today,
        valid_at=now,
        date_wanted=(
            date.fromisoformat(wanted)
            if wanted
            else today + timedelta(days=lab.order_entry.date_wanted_days)
        ),
        customer_number=fields["customerNumber"],
        customer_job_id=fields["customerJobId"],
        submitted=json.dumps(
            {key: value for key, value in fields.items() if key not in _OWN_COLUMNS},
            separators=(",", ":"),
        ),
        addons=[OrderAddon(addon_code=code) for code in dict.fromkeys(fields.get("addons") or ())],
        checkins=[CheckIn(station=first_station, checked_in_at=now)],
    )


def _insert_numbered(session: Session, order: Order, first: int) -> None:
    """Number the order and insert it; a number a client took meanwhile is passed over."""
    for attempt in range(_NUMBER_ATTEMPTS):
        order.order_number = next_order_number(session, first)
        try:
            with session.begin_nested():
                session.add(order)
            return
        except IntegrityError:
            session.expunge(order)
            if attempt == _NUMBER_ATTEMPTS - 1:
                raise


def _free_trays(session: Session) -> Any:
    """The tray numbers no active order is in, lowest first (an iterator)."""
    taken = set(
        session.execute(
            select(Order.tray_number).where(active_orders(), Order.tray_number.is_not(None))
        ).scalars()
    )
    return (str(n) for n in range(1, _LAST_TRAY + 1) if str(n) not in taken)


def processor_paused(connection: Connection) -> bool:
    """Whether the Remote Order Processor is paused (it imports nothing meanwhile)."""
    paused = connection.execute(
        select(ProcessorSwitch.paused).where(ProcessorSwitch.id == _SWITCH_ID)
    ).scalar_one_or_none()
    return bool(paused)


def set_processor_paused(session: Session, paused: bool, now: datetime) -> None:
    """Pause or resume the Remote Order Processor, for every tracker."""
    session.execute(
        update(ProcessorSwitch)
        .where(ProcessorSwitch.id == _SWITCH_ID)
        .values(paused=paused, changed_at=now)
    )


@dataclass(frozen=True)
class ImportQueue:
    """The submissions waiting for the Remote Order Processor, and the oldest one's arrival."""

    waiting: int
    oldest: datetime | None


def import_queue(connection: Connection) -> ImportQueue:
    """How many submissions wait, and since when (read through the queue's partial index)."""
    waiting, oldest = connection.execute(
        select(func.count(), func.min(_submissions.c.received_at)).where(
            _submissions.c.imported_at.is_(None)
        )
    ).one()
    return ImportQueue(int(waiting), oldest)
