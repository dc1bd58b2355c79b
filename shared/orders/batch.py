"""The Job Tracker's batch: take the flagged orders, re-check each, complete or reject them."""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    ColumnElement,
    Date,
    Dialect,
    Integer,
    Select,
    String,
    Table,
    and_,
    bindparam,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.functions import FunctionElement

from shared.db.driver import DriverStatement
from shared.db.models import CheckIn, Order, Submission, UTCDateTime
from shared.domain.codes import OrderStatus
from shared.domain.completion import check_completable
from shared.domain.errors import CompletionRejected
from shared.domain.lab_setup import Lab
from shared.orders.facts import CHECKED_COLUMNS, to_facts_of_batch

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
    queue index; 100 of them. The tracker runs the same query on the driver, with its batch
    size."""
    return _queue(
        bindparam("skip", _listing(skip), type_=String()), bindparam("limit", 100, Integer())
    )


def _queue(skip: BindParameter[str], limit: BindParameter[int]) -> Select[Any]:
    """The poll with its two parameters given (queue_query) or left to each run (the driver's)."""
    return (
        select(*CHECKED_COLUMNS)
        .where(_orders.c.completion_requested_at.is_not(None))
        .where(~_listed(_orders.c.order_number, skip))
        .order_by(_orders.c.completion_requested_at, _orders.c.order_number)
        .limit(limit)
        .with_for_update(skip_locked=True, of=_orders)
    )


def _listing(numbers: Collection[int]) -> str:
    """Numbers as one text parameter, "1,2,3": see _NumberList."""
    return ",".join(map(str, numbers))


def _listed(column: ColumnElement[int], listing: BindParameter[str]) -> ColumnElement[bool]:
    """`column` is one of the numbers listed in the text parameter `listing` ("1,2,3")."""
    return column.op("IN", is_comparison=True)(_NumberList(listing))


class _NumberList(FunctionElement[int]):
    """The numbers listed in a text parameter ("1,2,3"; "" for none), as a subquery for IN.

    One parameter, not a thousand, so the SQL is the same for every batch and compiled once; and
    a string, which the driver sends as it is: psycopg converts a list of ints to an array in
    Python, 4 ms for each statement of a batch of 2,000 (bench/analysis.md). Used through
    `_listed`, an IN that SQLite serves by looking each number up by its primary key: the same
    subquery in a boolean function, rendered `(... IN ...) = 1`, made it scan the whole queue.
    """

    inherit_cache = True


@compiles(_NumberList, "sqlite")
def _number_list_sqlite(element: _NumberList, compiler: SQLCompiler, **kw: Any) -> str:
    listing = compiler.process(element.clauses, **kw)
    return f"(SELECT value FROM json_each('[' || {listing} || ']'))"


@compiles(_NumberList, "postgresql")
def _number_list_postgresql(element: _NumberList, compiler: SQLCompiler, **kw: Any) -> str:
    listing = compiler.process(element.clauses, **kw)
    return f"(SELECT unnest(CAST(string_to_array({listing}, ',') AS BIGINT[])))"


class Waiting(NamedTuple):
    """Whether the tracker's two queues hold anything: submissions to import, flagged orders."""

    imports: bool
    completions: bool


def work_waiting(session: Session) -> Waiting:
    """Whether any submission waits for its import and any order for the tracker's verdict: one
    read, each answered by its queue's partial index, so that a poll with nothing to do takes no
    write transaction (under load most wake-ups find the queues emptied by the poll before)."""
    imports, completions = session.execute(
        select(
            exists().where(Submission.imported_at.is_(None)),
            exists().where(Order.completion_requested_at.is_not(None)),
        )
    ).one()
    return Waiting(bool(imports), bool(completions))


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
    connection = session.connection()
    statements = _statements(connection.dialect)
    rows = statements.queue.fetch(connection, skip=_listing(skip), limit=limit)
    outcome = BatchOutcome(taken=len(rows))
    if not rows:
        return outcome
    completed: list[int] = []
    rejected: list[Rejection] = []
    log.debug("Verifying a batch of %d orders", len(rows))
    for facts in to_facts_of_batch(rows):
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
    writes = _Writes(session, statements, lab.completion_station, now, today)
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


@dataclass(frozen=True)
class _Statements:
    """The batch's statements, compiled once per dialect and run on the driver: SQLAlchemy's own
    work on each execution (rendering a list of parameters, building ORM rows) cost more than
    the statements did on SQLite (bench/analysis.md)."""

    queue: DriverStatement
    complete: tuple[DriverStatement, ...]  # the completions and their check-ins, in order
    reject: DriverStatement


@functools.cache
def _statements(dialect: Dialect) -> _Statements:
    numbers = bindparam("numbers", type_=String())
    # Every write re-checks that its orders are still flagged, in its own statement.
    still_flagged = and_(
        _listed(_orders.c.order_number, numbers),
        _orders.c.completion_requested_at.is_not(None),
    )
    now = bindparam("now", type_=UTCDateTime())
    station = bindparam("station", type_=_checkins.c.station.type)
    code = bindparam("code", type_=_orders.c.completion_error_code.type)
    check_in = ["order_number", "station", "checked_in_at"]
    complete = (
        update(_orders)
        .where(still_flagged)
        .values(
            status=OrderStatus.COMPLETE,
            date_completed=bindparam("today", type_=Date()),
            completion_requested_at=None,
            completion_error_code=None,
            completion_error_message=None,
        )
    )
    completion: tuple[Executable, ...]
    if dialect.name == "postgresql":
        # One statement: the check-ins of the orders the UPDATE completed, without looking the
        # orders up a second time (26 ms against 29 for two statements, 2,000 orders).
        done = complete.returning(_orders.c.order_number).cte("completed")
        completion = (
            insert(_checkins).from_select(check_in, select(done.c.order_number, station, now)),
        )
    else:
        # SQLite has no writes in a WITH. The check-ins first: once the flag is cleared, the
        # order no longer qualifies.
        completion = (
            insert(_checkins).from_select(
                check_in, select(_orders.c.order_number, station, now).where(still_flagged)
            ),
            complete,
        )
    reject = (
        update(_orders)
        .where(still_flagged)
        .values(
            completion_requested_at=None,
            completion_error_code=code,
            completion_error_message=bindparam(
                "message", type_=_orders.c.completion_error_message.type
            ),
            last_rejected_at=now,
            last_rejection_code=code,
        )
    )
    queue = _queue(bindparam("skip", type_=String()), bindparam("limit", type_=Integer()))
    return _Statements(
        queue=DriverStatement.compile(queue, dialect),
        complete=tuple(DriverStatement.compile(s, dialect) for s in completion),
        reject=DriverStatement.compile(reject, dialect),
    )


@dataclass
class _Writes:
    """The batch's writes: a few set-based statements, whatever the batch's size."""

    session: Session
    statements: _Statements
    station: str
    now: datetime
    today: date

    def apply(self, completed: Sequence[int], rejected: Sequence[Rejection]) -> None:
        connection = self.session.connection()
        if completed:
            numbers = _listing(completed)
            for statement in self.statements.complete:
                statement.count(
                    connection,
                    numbers=numbers,
                    station=self.station,
                    now=self.now,
                    today=self.today,
                )
        reasons: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
        for r in rejected:
            reasons[r.code, r.message].append(r.order_number)
        for (code, message), numbers_rejected in reasons.items():
            self.statements.reject.count(
                connection,
                numbers=_listing(numbers_rejected),
                code=code,
                message=message,
                now=self.now,
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
