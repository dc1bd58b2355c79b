"""Submitted orders: queued by the API (POST /api/v2/orders), imported by the Remote Order
Processor, a duty of the Job Tracker; invisible to every read until imported.

A submission is imported exactly once: its order is inserted and the submission marked imported
in one transaction, the batch taken with SKIP LOCKED on PostgreSQL so several trackers share the
queue. A tracker killed mid-batch leaves the whole batch waiting, never half imported.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    Date,
    Dialect,
    String,
    Table,
    Text,
    bindparam,
    false,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from shared.db.bulk import json_rows, to_json
from shared.db.driver import DriverStatement
from shared.db.models import CheckIn, Order, OrderAddon, ProcessorSwitch, Submission
from shared.domain.codes import JobType, OrderStatus
from shared.domain.lab_setup import Lab
from shared.domain.orders import MAX_ORDER_NUMBER
from shared.orders.lookup import active_orders
from shared.orders.numbering import next_order_number, take_numbering_turn
from shared.orders.trays import take_tray_turn

_submissions = cast(Table, Submission.__table__)
_orders = cast(Table, Order.__table__)
_addons = cast(Table, OrderAddon.__table__)
_checkins = cast(Table, CheckIn.__table__)
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


def queue_submission(connection: Connection, fields: Mapping[str, Any], now: datetime) -> None:
    """Queue a checked submission (its fields by their API names, JSON values) for import; one
    INSERT, so on an autocommit connection it is committed when this returns.

    Run on the driver, and with no RETURNING: on SQLite a statement that returns rows holds the
    database's one write lock until Python has read them (`shared.db.driver`).
    """
    _queue_statement(connection.dialect).count(
        connection, now=now, payload=json.dumps(fields, separators=(",", ":"))
    )


@functools.cache
def _queue_statement(dialect: Dialect) -> DriverStatement:
    # inline(): no RETURNING of the new id, which SQLAlchemy adds on PostgreSQL by default.
    statement = (
        insert(_submissions)
        .inline()
        .values(
            received_at=bindparam("now", type_=_submissions.c.received_at.type),
            payload=bindparam("payload", type_=Text()),
        )
    )
    return DriverStatement.compile(statement, dialect)


def import_submitted_orders(
    session: Session, lab: Lab, *, now: datetime, today: date, limit: int
) -> ImportOutcome:
    """Import up to `limit` waiting submissions, oldest first, each into a new order.

    The batch is written set-wise: its orders, their addons and first check-ins each by one
    INSERT ... SELECT of JSON rows (shared.db.bulk), numbered from the next free number on
    while this transaction holds the numbering turn. Only if a client took one of those numbers
    meanwhile (a number given to POST /api/sim/orders takes no turn) is the batch written
    again, one order at a time.
    """
    waiting = session.execute(
        select(_submissions.c.id, _submissions.c.received_at, _submissions.c.payload)
        .where(_submissions.c.imported_at.is_(None))
        .order_by(_submissions.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not waiting:
        return ImportOutcome(0, {})
    take_numbering_turn(session)
    batch = _Batch(next(s.code for s in lab.stations.values() if s.takes_checkins), now, today)
    trays = None
    if lab.order_entry.auto_assign_trays:
        take_tray_turn(session)  # no tray assignment gives out one of these meanwhile
        trays = _free_trays(session)
    orders = []
    for row in waiting:
        order = _order_row(json.loads(row.payload), lab, today)
        if trays is not None:
            order.row["tray_number"] = next(trays, None)
        orders.append(order)
    first = lab.order_entry.first_order_number
    start = next_order_number(session, first)
    if start + len(orders) - 1 > MAX_ORDER_NUMBER or not _inserted_together(
        session, orders, start, batch
    ):
        for order in orders:
            _insert_one(session, order, first, batch)
    imported = {
        row.id: order.row["order_number"] for row, order in zip(waiting, orders, strict=True)
    }
    _mark_imported(session, imported, now)
    waited = tuple((now - row.received_at).total_seconds() for row in waiting)
    return ImportOutcome(len(waiting), imported, waited)


@dataclass(frozen=True)
class _Batch:
    """What every order of an import batch shares: its first station, and when it came in."""

    station: str
    now: datetime
    today: date


@dataclass
class _NewOrder:
    """An order's row for the orders table, and its addon codes."""

    row: dict[str, Any]
    addons: list[str]


def _order_row(fields: Mapping[str, Any], lab: Lab, today: date) -> _NewOrder:
    """What a submission's order has of its own: its fields, wanted on the date it gives or
    after the lab's default days (its number, and a tray, are given after)."""
    wanted = fields.get("dateWanted")
    row = {
        "order_number": None,
        "tray_number": None,
        "po_number": fields["poNumber"],
        "job_type": JobType(fields["jobType"]).value,
        "on_hold": bool(fields.get("onHold") or False),
        "rt_calculated": bool(fields.get("rtLensStyle")),
        "lt_calculated": bool(fields.get("ltLensStyle")),
        "date_wanted": (
            date.fromisoformat(wanted)
            if wanted
            else today + timedelta(days=lab.order_entry.date_wanted_days)
        ),
        "customer_number": fields["customerNumber"],
        "customer_job_id": fields["customerJobId"],
        # The pick: each eye's lens OPC from the lab's stock (by the style and material given
        # for it), the frame's codes as submitted; an item with no code is not picked.
        "rt_opc": _lens_opc(lab, fields, "rt"),
        "lt_opc": _lens_opc(lab, fields, "lt"),
        "frame_upc": fields.get("frameUPC") or None,
        "frame_sku": fields.get("frameSKU") or None,
        "submitted": json.dumps(
            {key: value for key, value in fields.items() if key not in _OWN_COLUMNS},
            separators=(",", ":"),
        ),
    }
    return _NewOrder(row, list(dict.fromkeys(fields.get("addons") or ())))


def _lens_opc(lab: Lab, fields: Mapping[str, Any], eye: str) -> str | None:
    """The OPC of the lens the lab stocks in the style and material given for `eye`."""
    style, material = fields.get(f"{eye}LensStyle"), fields.get(f"{eye}LensMaterial")
    return lab.pick.lens_opcs.get((str(style), str(material))) if style and material else None


def _inserted_together(
    session: Session, orders: list[_NewOrder], start: int, batch: _Batch
) -> bool:
    """Number the orders from `start` on and insert them, their addons and their first
    check-ins in three statements; False, with nothing written, if a number was taken."""
    for offset, order in enumerate(orders):
        order.row["order_number"] = start + offset
    try:
        with session.begin_nested():
            _write(session, orders, batch)
    except IntegrityError:
        return False
    return True


def _insert_one(session: Session, order: _NewOrder, first: int, batch: _Batch) -> None:
    """Number one order and insert it; a number a client took meanwhile is passed over."""
    for attempt in range(_NUMBER_ATTEMPTS):
        order.row["order_number"] = next_order_number(session, first)
        try:
            with session.begin_nested():
                _write(session, [order], batch)
            return
        except IntegrityError:
            if attempt == _NUMBER_ATTEMPTS - 1:
                raise


# What varies from order to order, sent as JSON rows; the rest is the same for the whole batch.
_ORDER_FIELDS: dict[str, TypeEngine[Any]] = {
    "order_number": BigInteger(),
    "tray_number": String(),
    "po_number": String(),
    "job_type": String(),
    "on_hold": Boolean(),
    "rt_calculated": Boolean(),
    "lt_calculated": Boolean(),
    "date_wanted": Date(),
    "customer_number": String(),
    "customer_job_id": String(),
    "rt_opc": String(),
    "lt_opc": String(),
    "frame_upc": String(),
    "frame_sku": String(),
    "submitted": Text(),
}
_ADDON_FIELDS: dict[str, TypeEngine[Any]] = {"order_number": BigInteger(), "addon_code": String()}
_NUMBER_FIELDS: dict[str, TypeEngine[Any]] = {"id": BigInteger(), "order_number": BigInteger()}


def _write(session: Session, orders: list[_NewOrder], batch: _Batch) -> None:
    """The orders, Valid and received today, their addons and their first check-ins: three
    statements however many."""
    dialect = session.get_bind().dialect
    rows = json_rows(dialect, "orders", _ORDER_FIELDS)
    constants = {
        "status": literal(OrderStatus.VALID, _orders.c.status.type),
        "deleted": false(),
        "date_ordered": literal(batch.today, Date()),
        "date_received": literal(batch.today, Date()),
        "valid_at": literal(batch.now, _orders.c.valid_at.type),
    }
    session.execute(
        insert(_orders).from_select(
            [*_ORDER_FIELDS, *constants], select(*rows.c, *constants.values())
        ),
        {"orders": to_json([order.row for order in orders])},
    )
    addons = [
        {"order_number": order.row["order_number"], "addon_code": code}
        for order in orders
        for code in order.addons
    ]
    if addons:
        pairs = json_rows(dialect, "addons", _ADDON_FIELDS)
        session.execute(
            insert(_addons).from_select(list(_ADDON_FIELDS), select(*pairs.c)),
            {"addons": to_json(addons)},
        )
    numbers = json_rows(dialect, "numbers", {"order_number": BigInteger()})
    session.execute(
        insert(_checkins).from_select(
            ["order_number", "station", "checked_in_at"],
            select(
                numbers.c.order_number,
                literal(batch.station, _checkins.c.station.type),
                literal(batch.now, _checkins.c.checked_in_at.type),
            ),
        ),
        {"numbers": to_json([{"order_number": order.row["order_number"]} for order in orders])},
    )


def _mark_imported(session: Session, imported: Mapping[int, int], now: datetime) -> None:
    """Each submission marked imported, with its order's number: one statement."""
    numbers = json_rows(session.get_bind().dialect, "imported", _NUMBER_FIELDS)
    session.execute(
        update(_submissions)
        .where(_submissions.c.id == numbers.c.id)
        .values(imported_at=now, order_number=numbers.c.order_number),
        {"imported": to_json([{"id": k, "order_number": v} for k, v in imported.items()])},
    )


def _free_trays(session: Session) -> Iterator[str]:
    """The tray numbers no active order is in, lowest first (an iterator).

    The trays in use come back joined into one string by the database, and the free ones are
    sought in C (`filterfalse`): with 100,000 orders in trays, a row per tray and a generator
    took 56 ms of each 2,000-order batch, a third of the import (bench, section 9); this
    takes a third of that. Tray numbers are digits (api.v2.trays), so a comma parts them.
    """
    joined = session.execute(
        select(func.aggregate_strings(Order.tray_number, ",")).where(
            active_orders(), Order.tray_number.is_not(None)
        )
    ).scalar_one()
    taken = frozenset(joined.split(",")) if joined else frozenset()
    return itertools.filterfalse(taken.__contains__, map(str, range(1, _LAST_TRAY + 1)))


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
