"""The Job Tracker's jobs, called directly with frozen time on a real database."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask.testing import FlaskClient
from freezegun import freeze_time
from sqlalchemy import Engine, delete, select, text
from sqlalchemy.orm import Session, sessionmaker

import shared.orders.batch
from shared.db.engine import make_engine, make_session_factory, transaction
from shared.db.models import CheckIn, Order
from shared.domain.orders import OrderFacts
from shared.orders.batch import (
    INTERNAL_ERROR_CODE,
    INTERNAL_ERROR_MESSAGE,
    Rejection,
    complete_flagged_orders,
    queue_query,
)
from shared.orders.facts import CHECKED_COLUMNS, to_facts, to_facts_of_batch
from tracker.jobs import CycleSummary, TrackerConfig, beat, process_batch, run_cycle, stop
from tracker.scheduler import POLL_JOB_ID, Poller, build_scheduler, wake

MakeOrder = Callable[..., str]
Factory = sessionmaker[Session]

CREATED = "2026-11-26T08:00:00Z"
FLAGGED = "2026-11-27T09:00:00Z"
PROCESSED = "2026-11-27T17:26:21.123456Z"
PROCESSED_MS = "2026-11-27T17:26:21.123Z"
PROCESSED_DAY = date(2026, 11, 27)


# ---- helpers ----------------------------------------------------------------------------------


def flag(client: FlaskClient, number: str) -> None:
    response = client.post(f"/api/v2/orders/{number}/complete")
    assert response.status_code == 201, response.get_data(as_text=True)


def change(client: FlaskClient, number: str, **changes: Any) -> None:
    response = client.patch(f"/api/sim/orders/{number}", json=changes)
    assert response.status_code == 200, response.get_data(as_text=True)


def status(client: FlaskClient, number: str) -> dict[str, Any]:
    """The whole order: its status fields, readable for a cancelled order too (whose status
    read answers only that it is marked for cancelation)."""
    response = client.get(f"/api/v2/orders/{number}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def tracker_state(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/sim/tracker")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def completion(state: dict[str, Any]) -> tuple[str, bool, Any]:
    """What a client polling the status endpoint sees of the completion."""
    return state["status"], state["pendingCompletion"], state["completionError"]


def checkins_at(session_factory: Factory, number: str, station: str) -> list[datetime]:
    """When the order was checked in at `station`, read from the database."""
    with transaction(session_factory, write=False) as session:
        return list(
            session.execute(
                select(CheckIn.checked_in_at)
                .where(CheckIn.order_number == int(number), CheckIn.station == station)
                .order_by(CheckIn.id)
            ).scalars()
        )


def date_completed(session_factory: Factory, number: str) -> date | None:
    with transaction(session_factory, write=False) as session:
        order = session.get(Order, int(number))
        assert order is not None
        return order.date_completed


def process_at(instant: str, session_factory: Factory, config: TrackerConfig) -> Any:
    """One batch, processed with the clock frozen at `instant`."""
    with freeze_time(instant):
        return process_batch(session_factory, config)


def make_flagged(client: FlaskClient, make_order: MakeOrder, **fields: Any) -> str:
    """An order created at CREATED and flagged at FLAGGED."""
    with freeze_time(CREATED):
        number = make_order(**fields)
    with freeze_time(FLAGGED):
        flag(client, number)
    return number


@pytest.fixture
def small_batches(tracker_config: TrackerConfig) -> TrackerConfig:
    return dataclasses.replace(tracker_config, batch_size=2)


# ---- completing -------------------------------------------------------------------------------


def test_a_flagged_order_that_passes_the_checks_is_completed_with_a_check_in_at_cmp(
    client: FlaskClient,
    make_order: MakeOrder,
    session_factory: Factory,
    tracker_config: TrackerConfig,
) -> None:
    number = make_flagged(client, make_order, addons=["BSC"], stations=["GEN", "BSC"])
    assert completion(status(client, number)) == ("P", True, None)

    outcome = process_at(PROCESSED, session_factory, tracker_config)

    assert outcome.completed == [int(number)]
    state = status(client, number)
    assert completion(state) == ("C", False, None)
    assert (state["currentStation"], state["currentStationDateTime"]) == ("CMP", PROCESSED_MS)
    assert checkins_at(session_factory, number, "CMP") == [
        datetime(2026, 11, 27, 17, 26, 21, 123456, tzinfo=UTC)
    ]
    assert date_completed(session_factory, number) == PROCESSED_DAY


def test_date_completed_is_the_labs_local_date_not_utcs(
    client: FlaskClient,
    make_order: MakeOrder,
    session_factory: Factory,
    tracker_config: TrackerConfig,
) -> None:
    los_angeles = dataclasses.replace(tracker_config, timezone=ZoneInfo("America/Los_Angeles"))
    number = make_flagged(client, make_order)

    # 03:00 UTC on the 28th is still 19:00 on the 27th in Los Angeles.
    process_at("2026-11-28T03:00:00Z", session_factory, los_angeles)

    assert status(client, number)["status"] == "C"
    assert date_completed(session_factory, number) == date(2026, 11, 27)


def test_an_unflagged_order_is_left_alone(
    client: FlaskClient,
    make_order: MakeOrder,
    session_factory: Factory,
    tracker_config: TrackerConfig,
) -> None:
    with freeze_time(CREATED):
        number = make_order(stations=["GEN"])

    outcome = process_at(PROCESSED, session_factory, tracker_config)

    assert outcome.taken == 0
    assert completion(status(client, number)) == ("P", False, None)
    assert checkins_at(session_factory, number, "CMP") == []


# ---- rejecting --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "code", "message", "shown_status"),
    [
        pytest.param({"onHold": True}, "05", "Order on hold", "W", id="put-on-hold"),
        pytest.param({"deleted": True}, "02", "Order deleted", "P", id="deleted"),
        pytest.param(
            {"status": "U", "unvalidMessage": "Missing PD"},
            "03",
            "Order unvalid",
            "U",
            id="made-unvalid",
        ),
        # Completing a flagged order by hand takes it out of the queue instead: no rejection is
        # recorded on a completed order (tests/test_sim_writes.py).
    ],
)
def test_an_order_changed_after_flagging_is_rejected_and_the_reason_recorded(
    client: FlaskClient,
    make_order: MakeOrder,
    session_factory: Factory,
    tracker_config: TrackerConfig,
    changes: dict[str, Any],
    code: str,
    message: str,
    shown_status: str,
) -> None:
    number = make_flagged(client, make_order, stations=["GEN"])
    with freeze_time("2026-11-27T10:00:00Z"):
        change(client, number, **changes)
    before = status(client, number)
    completed_on_before = date_completed(session_factory, number)
    assert completion(before) == (shown_status, True, None)

    outcome = process_at(PROCESSED, session_factory, tracker_config)

    assert (outcome.completed, outcome.rejected) == ([], [Rejection(int(number), code, message)])
    after = status(client, number)
    assert completion(after) == (shown_status, False, {"code": code, "message": message})
    assert after["currentStation"] == before["currentStation"] == "GEN"
    assert checkins_at(session_factory, number, "CMP") == []
    assert date_completed(session_factory, number) == completed_on_before


def test_an_order_whose_required_station_scan_was_undone_is_rejected_code_20(
    client: FlaskClient,
    make_order: MakeOrder,
    session_factory: Factory,
    tracker_config: TrackerConfig,
) -> None:
    number = make_flagged(client, make_order, addons=["BSC"], stations=["BSC"])
    with transaction(session_factory) as session:
        undone = session.execute(
            delete(CheckIn).where(CheckIn.order_number == int(number), CheckIn.station == "BSC")
        )
        assert undone.rowcount == 1

    process_at(PROCESSED, session_factory, tracker_config)

    assert completion(status(client, number)) == (
        "P",
        False,
        {"code": "20", "message": "Needs Backside Coat!"},
    )
    assert checkins_at(session_factory, number, "CMP") == []
    assert date_completed(session_factory, number) is None


def test_once_the_cause_is_fixed_the_client_may_ask_again_and_the_order_completes(
    client: FlaskClient,
    make_order: MakeOrder,
    session_factory: Factory,
    tracker_config: TrackerConfig,
) -> None:
    number = make_flagged(client, make_order)
    change(client, number, onHold=True)
    process_at("2026-11-27T10:00:00Z", session_factory, tracker_config)
    assert completion(status(client, number)) == (
        "W",
        False,
        {"code": "05", "message": "Order on hold"},
    )

    change(client, number, onHold=False)
    with freeze_time("2026-11-27T11:00:00Z"):
        flag(client, number)
    # The old rejection goes at once: the client must not read it as the answer to its new request.
    assert completion(status(client, number)) == ("P", True, None)

    process_at(PROCESSED, session_factory, tracker_config)

    state = status(client, number)
    assert completion(state) == ("C", False, None)
    assert (state["currentStation"], state["currentStationDateTime"]) == ("CMP", PROCESSED_MS)


# ---- the queue --------------------------------------------------------------------------------


def test_the_oldest_flags_go_first_in_bounded_batches_and_a_cycle_drains_the_rest(
    client: FlaskClient,
    make_order: MakeOrder,
    session_factory: Factory,
    small_batches: TrackerConfig,
) -> None:
    with freeze_time(CREATED):
        numbers = [make_order() for _ in range(5)]
    # Flagged in an order unlike their numbers, so that "oldest flag" and "lowest number" differ.
    flag_order = [numbers[3], numbers[1], numbers[4], numbers[0], numbers[2]]
    with freeze_time(FLAGGED) as frozen:
        for number in flag_order:
            frozen.tick(timedelta(minutes=1))
            flag(client, number)
    # The newest flag will be rejected, so the cycle's counts cover both outcomes.
    change(client, flag_order[-1], onHold=True)

    outcome = process_at(PROCESSED, session_factory, small_batches)

    assert outcome.taken == 2
    assert outcome.completed == [int(flag_order[0]), int(flag_order[1])]
    assert [status(client, n)["status"] for n in flag_order] == ["C", "C", "P", "P", "W"]
    assert [status(client, n)["pendingCompletion"] for n in flag_order] == [
        False,
        False,
        True,
        True,
        True,
    ]

    with freeze_time("2026-11-27T17:30:00Z"):
        summary = run_cycle(session_factory, small_batches)

    assert summary == CycleSummary(batches=2, completed=2, rejected=1)
    assert [completion(status(client, n)) for n in flag_order] == [
        ("C", False, None),
        ("C", False, None),
        ("C", False, None),
        ("C", False, None),
        ("W", False, {"code": "05", "message": "Order on hold"}),
    ]
    assert tracker_state(client)["pending"] == 0


def test_a_second_tracker_takes_other_orders_at_once_while_a_first_holds_its_batch(
    postgresql_url: str,
    client: FlaskClient,
    make_order: MakeOrder,
    session_factory: Factory,
    small_batches: TrackerConfig,
) -> None:
    """The poll's SKIP LOCKED: a batch taken and not yet committed holds its orders, and a second
    tracker's batch takes the next ones without waiting for it; no order is taken twice."""
    with freeze_time(CREATED):
        numbers = [make_order() for _ in range(4)]
    with freeze_time(FLAGGED) as frozen:
        for number in numbers:
            frozen.tick(timedelta(minutes=1))
            flag(client, number)
    # Its lock waits give up after a second (the default, ten): waiting is the failure here.
    impatient = make_engine(postgresql_url, timeout=1)
    try:
        with transaction(session_factory) as first_tracker:
            first = complete_flagged_orders(
                first_tracker,
                small_batches.lab,
                now=datetime(2026, 11, 27, 17, 26, tzinfo=UTC),
                today=PROCESSED_DAY,
                limit=small_batches.batch_size,
            )
            second = process_at(PROCESSED, make_session_factory(impatient), small_batches)
    finally:
        impatient.dispose()
    assert first.completed == [int(n) for n in numbers[:2]]
    assert second.completed == [int(n) for n in numbers[2:]]
    assert [completion(status(client, n)) for n in numbers] == [("C", False, None)] * 4


def test_a_cycle_with_nothing_flagged_changes_nothing_but_writes_a_heartbeat(
    client: FlaskClient,
    make_order: MakeOrder,
    session_factory: Factory,
    tracker_config: TrackerConfig,
) -> None:
    with freeze_time(CREATED):
        number = make_order(stations=["GEN"])
    before = status(client, number)
    assert tracker_state(client) == {"running": False, "lastHeartbeat": None, "pending": 0}

    with freeze_time(PROCESSED):
        summary = run_cycle(session_factory, tracker_config)
        tracker = tracker_state(client)

    assert (summary.completed, summary.rejected) == (0, 0)
    assert status(client, number) == before
    assert tracker == {"running": True, "lastHeartbeat": PROCESSED_MS, "pending": 0}


def test_a_wake_up_soon_after_a_heartbeat_writes_none_but_still_obeys_a_pause(
    client: FlaskClient,
    make_order: MakeOrder,
    session_factory: Factory,
    tracker_config: TrackerConfig,
) -> None:
    """Under load a tracker is woken every few milliseconds: within half an interval of its
    last heartbeat it writes none (no write lock for it), yet reads the faults as a beat does;
    half an interval on, it beats again."""
    half = timedelta(seconds=tracker_config.interval / 2)
    beaten = datetime(2026, 11, 27, 17, 26, 21, 123000, tzinfo=UTC)
    with freeze_time(beaten):
        first = run_cycle(session_factory, tracker_config)
    assert first.beat_at == beaten
    number = make_flagged(client, make_order)
    assert client.post("/api/sim/faults", json={"tracker": "pause"}).status_code == 201
    with freeze_time(beaten + half - timedelta(milliseconds=1)):
        paused = run_cycle(session_factory, tracker_config, beat_at=first.beat_at)
    assert (paused.batches, paused.beat_at) == (0, beaten)
    assert tracker_state(client)["lastHeartbeat"] == PROCESSED_MS  # not written again
    client.delete("/api/sim/faults")
    with freeze_time(beaten + half):
        resumed = run_cycle(session_factory, tracker_config, beat_at=first.beat_at)
    assert (resumed.completed, resumed.beat_at) == (1, beaten + half)
    assert tracker_state(client)["lastHeartbeat"] == "2026-11-27T17:26:21.623Z"
    assert completion(status(client, number)) == ("C", False, None)


@contextmanager
def queues_locked(database_url: str) -> Iterator[None]:
    """Another connection holding what a queue's write transaction needs: SQLite's one write
    lock (BEGIN IMMEDIATE), or on PostgreSQL the queues' tables in EXCLUSIVE mode (plain reads go
    on; SELECT ... FOR UPDATE waits)."""
    engine = make_engine(database_url, timeout=30)
    try:
        with engine.begin() as connection:  # make_engine's BEGIN takes SQLite's write lock
            if engine.dialect.name == "postgresql":
                connection.exec_driver_sql("LOCK TABLE orders, submissions IN EXCLUSIVE MODE")
            yield
    finally:
        engine.dispose()


def test_a_wake_up_that_finds_both_queues_empty_takes_no_write_lock(
    database_url: str, session_factory: Factory, tracker_config: TrackerConfig
) -> None:
    """Under load most wake-ups find the queues emptied by the poll before: such a cycle only
    reads, and leaves the write lock to the API's calls. Before, it took a write transaction for
    each queue, and here waited for the lock until its database timeout."""
    config = dataclasses.replace(tracker_config, interval=3600.0)  # no heartbeat due
    first = run_cycle(session_factory, config)
    outcome: list[CycleSummary] = []
    with queues_locked(database_url):
        woken = threading.Thread(
            target=lambda: outcome.append(run_cycle(session_factory, config, beat_at=first.beat_at))
        )
        woken.start()
        woken.join(5)
        finished_under_the_lock = bool(outcome)
    woken.join()
    assert finished_under_the_lock
    assert (outcome[0].imported, outcome[0].batches, outcome[0].beat_at) == (0, 0, first.beat_at)


def test_a_stop_asked_for_during_a_drain_ends_the_cycle_after_the_batch_in_hand(
    client: FlaskClient,
    make_order: MakeOrder,
    session_factory: Factory,
    small_batches: TrackerConfig,
) -> None:
    numbers = [make_flagged(client, make_order) for _ in range(5)]
    asked: list[bool] = []

    def should_stop() -> bool:
        asked.append(True)
        return len(asked) > 1  # a SIGTERM arrives while the first batch is in hand

    with freeze_time(PROCESSED):
        summary = run_cycle(session_factory, small_batches, should_stop=should_stop)

    assert summary == CycleSummary(batches=1, completed=2, rejected=0)
    assert [status(client, n)["status"] for n in numbers] == ["C", "C", "P", "P", "P"]
    assert tracker_state(client)["pending"] == 3


def test_the_poll_is_served_by_the_queue_index_not_a_table_scan(engine: Engine) -> None:
    sql = str(queue_query().compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    # Only the poll's own steps: the per-order subqueries that gather an order's addons and
    # stations sort those few codes, which is not a sort of the queue.
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # On a near-empty table PostgreSQL would rightly scan it; forbid that to see
            # whether the index can serve the query at all.
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            connection.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
            (document,) = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}").one()
            steps = list(_postgresql_steps(document[0]["Plan"]))
            assert any(
                s["Node Type"] == "Index Scan" and s["Index Name"] == "ix_orders_completion_queue"
                for s in steps
            ), steps
            assert not any(s["Node Type"] == "Sort" for s in steps), steps
            return
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all()
    inside_subquery: set[int] = set()
    for node, parent, _, detail in rows:  # parents come before their children
        if parent in inside_subquery or "SUBQUERY" in detail:
            inside_subquery.add(node)
    plan = [detail for node, _, _, detail in rows if node not in inside_subquery]
    assert any("ix_orders_completion_queue" in step for step in plan), plan
    assert not any("SCAN orders" in step for step in plan), plan
    # The index gives the rows in queue order: no sort of the whole queue on each poll.
    assert not any("TEMP B-TREE" in step for step in plan), plan


def test_a_batch_gives_each_order_its_own_facts_as_the_api_reads_them(
    make_order: MakeOrder, engine: Engine
) -> None:
    # The batch parses each distinct list of codes once: orders that share their lists, orders
    # with lists of their own and orders with none must each still get exactly their own facts.
    kinds = [
        ([], []),
        (["BSC"], ["BSC"]),
        (["BSC"], ["BSC"]),
        (["AR", "BSC"], ["GEN", "AR1", "BSC"]),
        (["HC"], []),
        ([], ["GEN"]),
    ]
    numbers = [int(make_order(addons=addons, stations=stations)) for addons, stations in kinds]
    query = select(*CHECKED_COLUMNS).where(Order.order_number.in_(numbers))
    with engine.connect() as connection:
        rows = connection.execute(query.order_by(Order.order_number)).all()

    batch = list(to_facts_of_batch(rows))

    assert batch == [to_facts(row) for row in rows]
    assert [(set(f.addons), set(f.stations)) for f in batch] == [
        (set(addons), set(stations)) for addons, stations in kinds
    ]


def _postgresql_steps(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        if child.get("Parent Relationship") != "SubPlan":
            yield from _postgresql_steps(child)


# ---- heartbeats -------------------------------------------------------------------------------


def test_the_api_reports_the_tracker_running_until_it_misses_three_polls(
    client: FlaskClient, session_factory: Factory, tracker_config: TrackerConfig
) -> None:
    beat_at = datetime(2026, 11, 27, 17, 26, 21, 123456, tzinfo=UTC)
    interval = timedelta(seconds=tracker_config.interval)
    with freeze_time(beat_at) as frozen:
        run_cycle(session_factory, tracker_config)
        assert tracker_state(client) == {
            "running": True,
            "lastHeartbeat": PROCESSED_MS,
            "pending": 0,
        }

        frozen.move_to(beat_at + 3 * interval)
        assert tracker_state(client)["running"] is True

        frozen.move_to(beat_at + 3 * interval + timedelta(seconds=1))
        assert tracker_state(client) == {
            "running": False,
            "lastHeartbeat": PROCESSED_MS,
            "pending": 0,
        }


def test_a_clean_stop_is_reported_at_once(
    client: FlaskClient, session_factory: Factory, tracker_config: TrackerConfig
) -> None:
    with freeze_time(PROCESSED) as frozen:
        run_cycle(session_factory, tracker_config)
        frozen.tick(timedelta(milliseconds=100))
        stop(session_factory, tracker_config, datetime.now(UTC))
        assert tracker_state(client) == {
            "running": False,
            "lastHeartbeat": PROCESSED_MS,
            "pending": 0,
        }

        # A tracker started again under the same id counts as running again.
        frozen.tick(timedelta(seconds=1))
        beat(session_factory, tracker_config, datetime.now(UTC))
        assert tracker_state(client)["running"] is True


def test_pending_counts_the_orders_waiting_for_the_tracker(
    client: FlaskClient,
    make_order: MakeOrder,
    session_factory: Factory,
    tracker_config: TrackerConfig,
) -> None:
    waiting = [make_flagged(client, make_order) for _ in range(3)]
    make_order()  # never flagged
    change(client, waiting[0], onHold=True)
    assert tracker_state(client)["pending"] == 3

    with freeze_time(PROCESSED):
        run_cycle(session_factory, tracker_config)
        # Rejected orders no longer wait either.
        assert tracker_state(client)["pending"] == 0


def test_a_long_drain_keeps_the_tracker_reported_as_running(
    client: FlaskClient,
    make_order: MakeOrder,
    session_factory: Factory,
    tracker_config: TrackerConfig,
) -> None:
    one_at_a_time = dataclasses.replace(tracker_config, batch_size=1)
    numbers = [make_flagged(client, make_order) for _ in range(4)]
    start = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
    with freeze_time(start) as frozen:

        def slow_clock() -> datetime:
            frozen.tick(timedelta(seconds=1))  # each batch takes a whole poll interval
            return datetime.now(UTC)

        summary = run_cycle(session_factory, one_at_a_time, clock=slow_clock)
        # Long after the cycle began, a tracker that beat only at its start would look dead.
        assert datetime.now(UTC) - start > 3 * timedelta(seconds=tracker_config.interval)
        state = tracker_state(client)
        last_beat = datetime.fromisoformat(state["lastHeartbeat"])
        assert datetime.now(UTC) - last_beat <= timedelta(seconds=tracker_config.interval)
        assert (state["running"], state["pending"]) == (True, 0)
    assert summary == CycleSummary(batches=5, completed=4, rejected=0)
    assert [status(client, n)["status"] for n in numbers] == ["C"] * 4


# ---- one bad order ----------------------------------------------------------------------------


def test_an_order_whose_check_breaks_is_rejected_code_99_and_the_others_complete(
    client: FlaskClient,
    make_order: MakeOrder,
    session_factory: Factory,
    tracker_config: TrackerConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, bad, last = (make_flagged(client, make_order) for _ in range(3))
    real_check = shared.orders.batch.check_completable

    def breaks_on_bad(facts: OrderFacts, lab: Any) -> None:
        if facts.order_number == int(bad):
            raise RuntimeError("a rule tripped over this order's data")
        real_check(facts, lab)

    monkeypatch.setattr(shared.orders.batch, "check_completable", breaks_on_bad)

    outcome = process_at(PROCESSED, session_factory, tracker_config)

    assert outcome.completed == [int(first), int(last)]
    for number in (first, last):
        assert completion(status(client, number)) == ("C", False, None)
    assert completion(status(client, bad)) == (
        "P",
        False,
        {"code": INTERNAL_ERROR_CODE, "message": INTERNAL_ERROR_MESSAGE},
    )
    assert checkins_at(session_factory, bad, "CMP") == []


@pytest.fixture
def refuse_writes_to(session_factory: Factory) -> Callable[[str], None]:
    """Make the database refuse every update of one order, as a broken row or constraint would."""

    def refuse(number: str) -> None:
        n = int(number)
        with transaction(session_factory) as session:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(
                    text(
                        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                        "$$ BEGIN RAISE EXCEPTION 'boom'; END $$"
                    )
                )
                session.execute(
                    text(
                        f"CREATE TRIGGER refuse_{n} BEFORE UPDATE ON orders FOR EACH ROW "
                        f"WHEN (OLD.order_number = {n}) EXECUTE FUNCTION refuse()"
                    )
                )
            else:
                session.execute(
                    text(
                        f"CREATE TRIGGER refuse_{n} BEFORE UPDATE ON orders "
                        f"WHEN OLD.order_number = {n} BEGIN SELECT RAISE(ABORT, 'boom'); END"
                    )
                )

    return refuse


def test_an_order_the_database_refuses_to_write_stays_flagged_and_the_others_complete(
    client: FlaskClient,
    make_order: MakeOrder,
    session_factory: Factory,
    tracker_config: TrackerConfig,
    refuse_writes_to: Callable[[str], None],
) -> None:
    first, bad, last = (make_flagged(client, make_order, stations=["GEN"]) for _ in range(3))
    refuse_writes_to(bad)

    outcome = process_at(PROCESSED, session_factory, tracker_config)

    assert outcome.completed == [int(first), int(last)]
    assert outcome.rejected == []
    assert outcome.left_flagged == [int(bad)]
    for number in (first, last):
        assert completion(status(client, number)) == ("C", False, None)
        assert len(checkins_at(session_factory, number, "CMP")) == 1
    bad_state = status(client, bad)
    assert completion(bad_state) == ("P", True, None)
    assert bad_state["currentStation"] == "GEN"
    assert checkins_at(session_factory, bad, "CMP") == []
    assert date_completed(session_factory, bad) is None


def test_orders_the_database_refuses_to_write_do_not_block_the_queue_behind_them(
    client: FlaskClient,
    make_order: MakeOrder,
    session_factory: Factory,
    tracker_config: TrackerConfig,
    refuse_writes_to: Callable[[str], None],
) -> None:
    one_at_a_time = dataclasses.replace(tracker_config, batch_size=1)
    bad = make_flagged(client, make_order)
    with freeze_time("2026-11-27T09:30:00Z"):
        good = make_order()
        flag(client, good)
    refuse_writes_to(bad)

    unwritable: set[int] = set()  # what a tracker process keeps from one poll to the next
    with freeze_time(PROCESSED):
        run_cycle(session_factory, one_at_a_time, unwritable=unwritable)

    assert completion(status(client, good)) == ("C", False, None)
    assert unwritable == {int(bad)}
    assert completion(status(client, bad))[1] is True  # still flagged, for a restarted tracker


# ---- the scheduler ----------------------------------------------------------------------------


def test_the_scheduler_has_one_poll_job_that_never_overlaps_itself() -> None:
    def poll() -> None:
        raise AssertionError("the scheduler is never started here")

    scheduler = build_scheduler(poll, 0.25)

    (job,) = scheduler.get_jobs()
    assert job.id == POLL_JOB_ID
    assert job.func is poll
    # Two instances: one running, one waiting for the one worker thread (never side by side).
    assert (job.max_instances, job.coalesce) == (2, True)
    assert scheduler._executors["default"]._pool._max_workers == 1
    assert isinstance(job.trigger, IntervalTrigger)
    assert job.trigger.interval == timedelta(seconds=0.25)
    assert not scheduler.running


@contextmanager
def polling(
    session_factory: Factory,
    tracker_config: TrackerConfig,
    monkeypatch: pytest.MonkeyPatch,
    cycle: Callable[[Poller, BaseScheduler, int], None],
) -> Iterator[list[float]]:
    """The tracker's scheduler and Poller, running, with a poll interval of a minute and each
    cycle replaced by `cycle` (given the poller, the scheduler and how many cycles have begun);
    yields when each cycle began."""
    cycles: list[float] = []
    poller = Poller(session_factory, dataclasses.replace(tracker_config, interval=60.0))
    scheduler = build_scheduler(poller, poller.config.interval)

    def fake_cycle(*_args: Any, **_kwargs: Any) -> CycleSummary:
        cycles.append(time.monotonic())
        cycle(poller, scheduler, len(cycles))
        return CycleSummary()

    monkeypatch.setattr("tracker.scheduler.run_cycle", fake_cycle)
    thread = threading.Thread(target=scheduler.start)
    thread.start()
    try:
        yield cycles
    finally:
        poller.stopping.set()
        scheduler.shutdown(wait=False)
        thread.join(timeout=10)


def test_a_wake_up_as_a_poll_ends_runs_the_next_poll_at_once_not_an_interval_later(
    session_factory: Factory, tracker_config: TrackerConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wake-up comes just after the running poll last looked for one: the scheduler still
    counts that poll as running, so the run the wake-up asks for must wait, not be dropped."""

    class LateWakeUp(threading.Event):
        """Answers that no wake-up came after the first cycle, and one comes at that moment."""

        armed = False

        def is_set(self) -> bool:
            found = super().is_set()
            if not found and self.armed:
                self.armed = False
                wake(*poller_and_scheduler[0])
                time.sleep(0.3)  # the poll is still ending when the scheduler acts on it
            return found

    poller_and_scheduler: list[tuple[Poller, BaseScheduler]] = []

    def note(poller: Poller, scheduler: BaseScheduler, count: int) -> None:
        if count == 1:
            poller_and_scheduler.append((poller, scheduler))
            poller.woken = LateWakeUp()
            poller.woken.armed = True

    with polling(session_factory, tracker_config, monkeypatch, note) as cycles:
        _wait_for(lambda: len(cycles) >= 2, "the poll the wake-up asked for")
    assert len(cycles) == 2


def test_a_wake_up_during_a_poll_runs_one_more_cycle_not_two(
    session_factory: Factory, tracker_config: TrackerConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Woken mid-cycle, the running poll goes round again; the run the scheduler queued behind
    it then finds nothing left to do, and does nothing."""

    def wake_in_first(poller: Poller, scheduler: BaseScheduler, count: int) -> None:
        if count == 1:
            wake(poller, scheduler)

    with polling(session_factory, tracker_config, monkeypatch, wake_in_first) as cycles:
        _wait_for(lambda: len(cycles) >= 2, "the second cycle")
        time.sleep(0.5)  # the queued run starts at once if it is to run a cycle at all
    assert len(cycles) == 2


def _wait_for(done: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)
