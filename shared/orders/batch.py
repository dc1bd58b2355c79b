"""The Job Tracker's batch: take the flagged orders, re-check each, complete or reject them."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    String,
    Table,
    and_,
    any_,
    bindparam,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from shared.db.models import CheckIn, Order, UTCDateTime
from shared.domain.codes import OrderStatus
from shared.domain.completion import check_completable
from shared.domain.errors import CompletionRejected
from shared.domain.lab_setup import Lab
from shared.orders.facts import FACT_COLUMNS, to_facts

log = logging.getLogger(__name__)


INTERNAL_ERROR_CODE = "99"
INTERNAL_ERROR_MESSAGE = "Internal error while processing the order; see the Job Tracker log"


# Typed as a FromClause by SQLAlchemy; a declarative class's is a Table, which insert() and
# update() need (as in bench/seed.py).
_orders = cast(Table, Order.__table__)
_checkins = cast(Table, CheckIn.__table__)


@dataclass(frozen=True, slots=True)
class Rejection:
    order_number: int
    code: str
    message: str


@dataclass
class BatchOutcome:
    """What one tracker batch did."""

    taken: int = 0
    completed: list[int] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    left_flagged: list[int] = field(default_factory=list)


def queue_query(skip: Collection[int] = ()) -> Select[Any]:
    """The tracker's poll: flagged orders but those in `skip`, oldest flag first, served by the
    queue index; how many is the `limit` parameter (100 unless given)."""
    return _QUEUE.where(Order.order_number.not_in(skip)) if skip else _QUEUE


# Built once: rebuilding it on every poll cost a third of an idle poll on PostgreSQL.
_QUEUE = (
    select(*FACT_COLUMNS)
    .where(Order.completion_requested_at.is_not(None))
    .order_by(Order.completion_requested_at, Order.order_number)
    .limit(bindparam("limit", 100, type_=Integer()))
    .with_for_update(skip_locked=True, of=_orders)
)


def count_flagged(session: Session) -> int:
    """How many orders wait for the tracker."""
    query = select(func.count()).where(Order.completion_requested_at.is_not(None))
    return session.execute(query).scalar_one()


def complete_flagged_orders(
    session: Session,
    lab: Lab,
    *,
    now: datetime,
    today: date,
    limit: int,
    skip: Collection[int] = (),
    reject_all: tuple[str, str] | None = None,
) -> BatchOutcome:
    """Re-check up to `limit` flagged orders, oldest first, but those in `skip`; complete or
    reject each one. Orders the database refuses to write come back in `left_flagged`.
    `reject_all` (code, message), set by a tracker fault, rejects every order taken."""
    rows = session.execute(queue_query(skip), {"limit": limit}).all()
    outcome = BatchOutcome(taken=len(rows))
    if not rows:
        return outcome
    completed: list[int] = []
    rejected: list[Rejection] = []
    log.debug("Verifying a batch of %d orders", len(rows))
    for facts in map(to_facts, rows):
        if reject_all is not None:
            rejected.append(Rejection(facts.order_number, *reject_all))
            continue
        try:
            check_completable(facts, lab)
        except CompletionRejected as reason:
            rejected.append(Rejection(facts.order_number, reason.code, reason.message))
        except Exception:
            # A rule that breaks on one order's data must not hold the queue up for the others.
            log.exception("Verifying order %s failed", facts.order_number)
            rejected.append(
                Rejection(facts.order_number, INTERNAL_ERROR_CODE, INTERNAL_ERROR_MESSAGE)
            )
        else:
            completed.append(facts.order_number)
    writes = _Writes(session, lab.completion_station, now, today)
    log.debug("Writing %d completions and %d rejections", len(completed), len(rejected))
    try:
        with session.begin_nested():
            writes.apply(completed, rejected)
        outcome.completed, outcome.rejected = completed, rejected
    except DBAPIError as error:
        if isinstance(error, OperationalError) or error.connection_invalidated:
            raise  # the database is gone, not one order: the tracker backs off and retries
        log.exception("Writing a batch of %d orders failed; writing them one by one", len(rows))
        writes.apply_one_by_one(completed, rejected, outcome)
    return outcome


def _still_flagged(numbers: Collection[int], dialect: str) -> ColumnElement[bool]:
    """Those of `numbers` still flagged: every write re-checks this in its own statement."""
    if dialect == "postgresql":
        # One array parameter, not a thousand: PostgreSQL plans and binds it far faster.
        listed = _orders.c.order_number == any_(
            bindparam("numbers", list(numbers), type_=ARRAY(BigInteger()))
        )
    else:
        listed = _orders.c.order_number.in_(numbers)
    return and_(listed, _orders.c.completion_requested_at.is_not(None))


@dataclass
class _Writes:
    """The batch's writes: a few set-based statements, whatever the batch's size."""

    session: Session
    station: str
    now: datetime
    today: date

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def apply(self, completed: Sequence[int], rejected: Sequence[Rejection]) -> None:
        if completed:
            # The check-in first: once the flag is cleared, the order no longer qualifies.
            self.session.execute(
                insert(_checkins).from_select(
                    ["order_number", "station", "checked_in_at"],
                    select(
                        _orders.c.order_number,
                        literal(self.station, String()),
                        literal(self.now, UTCDateTime()),
                    ).where(_still_flagged(completed, self.dialect)),
                )
            )
            self.session.execute(
                update(_orders)
                .where(_still_flagged(completed, self.dialect))
                .values(
                    status=OrderStatus.COMPLETE,
                    date_completed=self.today,
                    completion_requested_at=None,
                    completion_error_code=None,
                    completion_error_message=None,
                )
            )
        reasons: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
        for r in rejected:
            reasons[r.code, r.message].append(r.order_number)
        for (code, message), numbers in reasons.items():
            self.session.execute(
                update(_orders)
                .where(_still_flagged(numbers, self.dialect))
                .values(
                    completion_requested_at=None,
                    completion_error_code=code,
                    completion_error_message=message,
                    last_rejected_at=self.now,
                    last_rejection_code=code,
                )
            )

    def apply_one_by_one(
        self, completed: Sequence[int], rejected: Sequence[Rejection], outcome: BatchOutcome
    ) -> None:
        """Write each order in its own savepoint, so one that cannot be written stays alone."""
        for number in completed:
            if self._try([number], []):
                outcome.completed.append(number)
            else:
                self._reject_or_leave(
                    Rejection(number, INTERNAL_ERROR_CODE, INTERNAL_ERROR_MESSAGE), outcome
                )
        for rejection in rejected:
            self._reject_or_leave(rejection, outcome)

    def _reject_or_leave(self, rejection: Rejection, outcome: BatchOutcome) -> None:
        if self._try([], [rejection]):
            outcome.rejected.append(rejection)
        else:
            outcome.left_flagged.append(rejection.order_number)

    def _try(self, completed: Sequence[int], rejected: Sequence[Rejection]) -> bool:
        try:
            with self.session.begin_nested():
                self.apply(completed, rejected)
        except DBAPIError as error:
            if isinstance(error, OperationalError) or error.connection_invalidated:
                raise
            number = completed[0] if completed else rejected[0].order_number
            log.exception("Order %s cannot be written", number)
            return False
        return True
