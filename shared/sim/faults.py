"""Faults on demand, kept in the database so every API worker and every tracker obeys them.

An HTTP fault matches requests by method and path glob and answers a status, delays, or drops
the connection, for the next `times` matching requests or each with a `probability`. A tracker
fault pauses every tracker, or makes them reject every order with a given code.
"""

from __future__ import annotations

import fnmatch
import functools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Connection,
    CursorResult,
    Dialect,
    Table,
    delete,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from shared.db.driver import DriverStatement
from shared.db.models import Fault
from shared.domain.errors import (
    OrderAlreadyCompleted,
    OrderDeleted,
    OrderNotFound,
    OrderOnHold,
    OrderUnvalid,
)

PAUSE, REJECT = "pause", "reject"
_KNOWN_MESSAGES: dict[str, str] = {
    error.code: error.message
    for error in (OrderNotFound, OrderDeleted, OrderUnvalid, OrderAlreadyCompleted, OrderOnHold)
}
_faults = cast(Table, Fault.__table__)


# Read on every request while the simulator API is on: built once, only the columns needed.
_HTTP_FAULTS = (
    select(
        _faults.c.id,
        _faults.c.method,
        _faults.c.path,
        _faults.c.status,
        _faults.c.body,
        _faults.c.delay_ms,
        _faults.c.drop,
        _faults.c.times_left,
        # As the driver returns it (a float on both): the Float type's own result processor
        # wants the driver's column type, which a driver statement does not ask for.
        type_coerce(_faults.c.probability, NullType()).label("probability"),
    )
    .where(
        _faults.c.path.is_not(None), or_(_faults.c.times_left.is_(None), _faults.c.times_left > 0)
    )
    .order_by(_faults.c.id)
)


@dataclass(frozen=True)
class HttpFault:
    """What a matching request gets instead of (or before) its answer."""

    id: int
    method: str
    path: str
    status: int | None
    body: str | None
    delay_ms: int | None
    drop: bool
    times_left: int | None
    probability: float | None

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and fnmatch.fnmatchcase(path, self.path)

    def describe(self) -> str:
        """How the journal names it: `fault 3: status 503`."""
        if self.drop:
            what = "drop"
        elif self.status is not None:
            what = f"status {self.status}"
        else:
            what = f"delayMs {self.delay_ms}"
        return f"fault {self.id}: {what}"


@dataclass(frozen=True)
class TrackerFault:
    """`pause`, or `reject` every order with `code` and `message`."""

    id: int
    action: str
    code: str | None
    message: str | None


def message_for(code: str) -> str:
    """Rx-Universe's message for a rejection code, or a plain one for codes without a fixed one."""
    return _KNOWN_MESSAGES.get(code, "Rejected by a simulated fault")


def add_fault(session: Session, now: datetime, **fields: Any) -> Fault:
    """Store a fault (the API has checked its shape); answer it with its id."""
    if fields.get("tracker") == REJECT and fields.get("message") is None:
        fields["message"] = message_for(fields["code"])
    fault = Fault(created_at=now, **fields)
    session.add(fault)
    session.flush()
    return fault


def list_faults(session: Session) -> list[Fault]:
    """Every fault set, oldest first (spent ones included until cleared)."""
    return list(session.execute(select(Fault).order_by(Fault.id)).scalars())


def clear_faults(session: Session, fault_id: int | None = None) -> int:
    """Remove every fault, or the one with `fault_id`; answer how many went."""
    statement = delete(Fault)
    if fault_id is not None:
        statement = statement.where(Fault.id == fault_id)
    return cast(CursorResult[Any], session.execute(statement)).rowcount


def http_faults(connection: Connection) -> list[HttpFault]:
    """The HTTP faults that may still fire: run on the driver, as the completion call's
    statements are (shared.db.driver), since it runs before every request."""
    rows = _compiled_http_faults(connection.dialect).fetch(connection)
    return [HttpFault(*row) for row in rows]


@functools.cache
def _compiled_http_faults(dialect: Dialect) -> DriverStatement:
    return DriverStatement.compile(_HTTP_FAULTS, dialect)


def fire(
    connection: Connection,
    faults: Sequence[HttpFault],
    method: str,
    path: str,
    chance: Callable[[], float] = random.random,
) -> HttpFault | None:
    """The first fault that fires for this request, having used up one of its `times`.

    Using one up is a conditional UPDATE, so two workers never both spend a fault's last time.
    """
    for fault in faults:
        if not fault.matches(method, path):
            continue
        if fault.probability is not None and chance() >= fault.probability:
            continue
        if fault.times_left is not None:
            spent = connection.execute(
                update(_faults)
                .where(_faults.c.id == fault.id, _faults.c.times_left > 0)
                .values(times_left=_faults.c.times_left - 1)
            )
            if not cast(CursorResult[Any], spent).rowcount:
                continue
        return fault
    return None


def tracker_fault(session: Session) -> TrackerFault | None:
    """The tracker fault in force (a pause wins over a rejection), if any."""
    rows = session.execute(
        select(Fault.id, Fault.tracker, Fault.code, Fault.message)
        .where(Fault.tracker.is_not(None))
        .order_by(Fault.id)
    ).all()
    # `action is not None` is what the WHERE above already ensures; said again for the type.
    faults = [
        TrackerFault(fault_id, action, code, message)
        for fault_id, action, code, message in rows
        if action is not None
    ]
    return next((f for f in faults if f.action == PAUSE), faults[0] if faults else None)


def forced_rejection(fault: TrackerFault | None) -> tuple[str, str] | None:
    """The (code, message) a `reject` fault imposes on every order, if one is in force."""
    if fault is None or fault.action != REJECT or fault.code is None:
        return None
    return fault.code, fault.message or message_for(fault.code)
