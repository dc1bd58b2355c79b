"""Completion: the API flags an order, the Job Tracker completes or rejects the flagged ones."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    String,
    and_,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from shared.errors import CompletionRejected, OrderNotFound
from shared.lab import Lab
from shared.models import CheckIn, Order, OrderAddon, OrderStatus, UTCDateTime
from shared.rules import OrderFacts, check_completable, parse_order_number

log = logging.getLogger(__name__)

# PostgreSQL channel on which a flag is announced, so a tracker need not wait for its next poll.
FLAGGED_CHANNEL = "rx_jobtracker_flagged"
INTERNAL_ERROR_CODE = "99"
INTERNAL_ERROR_MESSAGE = "Internal error while processing the order; see the Job Tracker log"

_orders = Order.__table__
_checkins = CheckIn.__table__
_FACT_COLUMNS = (Order.order_number, Order.status, Order.on_hold, Order.deleted, Order.job_type)


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


def request_completion(session: Session, identifier: str, lab: Lab, now: datetime) -> int:
    """Check the order and flag it for the Job Tracker; a repeat while flagged changes nothing."""
    number = parse_order_number(identifier)
    rows = [] if number is None else session.execute(_facts_query(number)).all()
    if not rows:
        raise OrderNotFound()
    (facts,) = load_facts(session, rows)
    check_completable(facts, lab)
    flagged = session.execute(
        update(_orders)
        .where(_orders.c.order_number == number, _orders.c.completion_requested_at.is_(None))
        .values(
            completion_requested_at=now,
            completion_error_code=None,
            completion_error_message=None,
        )
    )
    if flagged.rowcount and session.get_bind().dialect.name == "postgresql":
        # Delivered at commit, and only if the transaction commits.
        session.execute(text(f"NOTIFY {FLAGGED_CHANNEL}"))
    return facts.order_number


def _facts_query(number: int) -> Select[Any]:
    # Locked so a concurrent tracker cannot complete the order between our check and our flag.
    return select(*_FACT_COLUMNS).where(Order.order_number == number).with_for_update()


def queue_query(limit: int, skip: Collection[int] = ()) -> Select[Any]:
    """The tracker's poll: flagged orders, oldest flag first, served by the queue index."""
    query = select(*_FACT_COLUMNS).where(Order.completion_requested_at.is_not(None))
    if skip:
        query = query.where(Order.order_number.not_in(skip))
    return (
        query.order_by(Order.completion_requested_at, Order.order_number)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def count_flagged(session: Session) -> int:
    """How many orders wait for the tracker."""
    query = select(func.count()).where(Order.completion_requested_at.is_not(None))
    return session.execute(query).scalar_one()


def load_facts(session: Session, rows: Sequence[Row[Any]]) -> list[OrderFacts]:
    """OrderFacts for order rows of `_FACT_COLUMNS`, with two queries whatever their number."""
    numbers = [row.order_number for row in rows]
    addons = _grouped(
        session.execute(
            select(OrderAddon.order_number, OrderAddon.addon_code).where(
                OrderAddon.order_number.in_(numbers)
            )
        )
    )
    stations = _grouped(
        session.execute(
            select(CheckIn.order_number, CheckIn.station).where(CheckIn.order_number.in_(numbers))
        )
    )
    return [
        OrderFacts(
            order_number=row.order_number,
            status=row.status,
            on_hold=row.on_hold,
            deleted=row.deleted,
            job_type=row.job_type,
            addons=addons.get(row.order_number, frozenset()),
            stations=stations.get(row.order_number, frozenset()),
        )
        for row in rows
    ]


def _grouped(pairs: Iterable[Row[Any]]) -> dict[int, frozenset[str]]:
    groups: defaultdict[int, set[str]] = defaultdict(set)
    for number, value in pairs:
        groups[number].add(value)
    return {number: frozenset(values) for number, values in groups.items()}


def complete_flagged_orders(
    session: Session,
    lab: Lab,
    *,
    now: datetime,
    today: date,
    limit: int,
    skip: Collection[int] = (),
) -> BatchOutcome:
    """Re-check up to `limit` flagged orders, oldest first, but those in `skip`; complete or
    reject each one. Orders the database refuses to write come back in `left_flagged`."""
    rows = session.execute(queue_query(limit, skip)).all()
    outcome = BatchOutcome(taken=len(rows))
    if not rows:
        return outcome
    completed: list[int] = []
    rejected: list[Rejection] = []
    log.debug("Verifying a batch of %d orders", len(rows))
    for facts in load_facts(session, rows):
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


def _still_flagged(numbers: Collection[int]) -> ColumnElement[bool]:
    """Those of `numbers` still flagged: every write re-checks this in its own statement."""
    return and_(_orders.c.order_number.in_(numbers), _orders.c.completion_requested_at.is_not(None))


@dataclass
class _Writes:
    """The batch's writes: a few set-based statements, whatever the batch's size."""

    session: Session
    station: str
    now: datetime
    today: date

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
                    ).where(_still_flagged(completed)),
                )
            )
            self.session.execute(
                update(_orders)
                .where(_still_flagged(completed))
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
                .where(_still_flagged(numbers))
                .values(
                    completion_requested_at=None,
                    completion_error_code=code,
                    completion_error_message=message,
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
