"""Real processes when the database goes away and comes back, wake-up by NOTIFY, and gunicorn.

The outage is made with a TCP proxy (tests/proxy.py) between each process and PostgreSQL: the
shared server keeps running for everything else, and the test itself reads the database
directly, behind no proxy, to see what the processes could not. A frozen server (a link that
still acknowledges packets but carries no answer) is the watchdog's (shared/db/watchdog.py).
"""

from __future__ import annotations

import contextlib
import re
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from helpers import create_and_flag, create_ready_order, flag, order_status
from proxy import CutMode, Proxy
from sqlalchemy import func, make_url, select
from sqlalchemy.orm import Session, sessionmaker

import live
from shared.db import schema
from shared.db.engine import make_engine
from shared.db.models import CheckIn, Order

DATABASE_TIMEOUT = 2.0
# What an API call may take beyond DATABASE_TIMEOUT during an outage: a reconnect after a failed
# pre-ping (or, for the completion call, after a first attempt on a dead connection), the
# request's own work, a loaded test machine.
MARGIN = 3.0
BOUND = DATABASE_TIMEOUT + MARGIN
TRACKER_INTERVAL = 0.2
TRACKER_WAIT = 15.0
UNAVAILABLE = {
    "error": "Service unavailable",
    "details": ["The database is unavailable; try again"],
}
# The driver's message in the parentheses spans several lines.
RETRY = re.compile(r"Database unavailable \(.*?\); retrying in ([0-9.]+)s", re.DOTALL)
# The tracker's UPDATE that completes its batch's orders (sent after the INSERT of their
# check-ins, in the same transaction), and the flag the API writes, as sent (inside the WITH that
# announces it on PostgreSQL).
BATCH_WRITE = b"UPDATE orders SET status="
FLAG_WRITE = b"UPDATE orders SET completion_requested_at="
# SQLAlchemy's inspector listing the tables, as shared.db.schema.prepare asks for it.
TABLE_LIST = b"pg_catalog.pg_class.relpersistence !="
WAKE_UP_ORDERS = 10
WAKE_UP_LIMIT = 2.0
CLIENTS = 8
ORDERS_PER_CLIENT = 25


@pytest.fixture
def api_link() -> Iterator[Proxy]:
    with Proxy() as link:
        yield link
    assert link.threads() == []


@pytest.fixture
def tracker_link() -> Iterator[Proxy]:
    with Proxy() as link:
        yield link
    assert link.threads() == []


def wait_until_completed(api: live.Api, number: str, timeout: float = TRACKER_WAIT) -> None:
    def completed() -> bool:
        body = order_status(api, number)
        return body["status"] == "C" and body["currentStation"] == "CMP"

    live.wait_until(completed, timeout, f"order {number} to be completed")


def flagged_numbers(session_factory: sessionmaker[Session]) -> set[str]:
    """Read straight from the database, which the processes behind the proxies cannot reach."""
    with session_factory() as session:
        query = select(Order.order_number).where(Order.completion_requested_at.is_not(None))
        return {str(number) for number in session.execute(query).scalars()}


def completions(session_factory: sessionmaker[Session]) -> dict[str, int]:
    """How many completion check-ins each order has: the status cannot tell one from two."""
    with session_factory() as session:
        rows = session.execute(
            select(CheckIn.order_number, func.count())
            .where(CheckIn.station == "CMP")
            .group_by(CheckIn.order_number)
        ).all()
    return {str(number): count for number, count in rows}


def retry_delays(service: live.Service) -> list[float]:
    return [float(delay) for delay in RETRY.findall(service.log_path.read_text())]


def timed_call(
    api: live.Api, method: str, path: str, body: Any = None, timeout: float = BOUND + 10
) -> tuple[Any, float]:
    """The answer (None if the client gave up after `timeout` s) and how long it took."""
    started = time.monotonic()
    try:
        answer = api.call(method, path, body, timeout=timeout)
    except OSError:  # urllib's read timeout
        answer = None
    return answer, time.monotonic() - started


@pytest.mark.e2e
@pytest.mark.parametrize("mode", ["refuse", "blackhole", "freeze"])
def test_during_an_outage_the_api_answers_503_in_time_the_tracker_backs_off_and_both_recover(
    mode: CutMode,
    postgresql_url: str,
    tmp_path: Path,
    api_link: Proxy,
    tracker_link: Proxy,
    session_factory: sessionmaker[Session],
) -> None:
    with (
        live.run_api(
            api_link.url_for(postgresql_url), tmp_path, DATABASE_TIMEOUT=DATABASE_TIMEOUT
        ) as api,
        live.run_tracker(
            tracker_link.url_for(postgresql_url),
            tmp_path,
            TRACKER_INTERVAL=TRACKER_INTERVAL,
            DATABASE_TIMEOUT=DATABASE_TIMEOUT,
        ) as tracker,
    ):
        accepted = [create_ready_order(api) for _ in range(3)]
        for number in accepted:
            flag(api, number)
        for number in accepted:
            wait_until_completed(api, number)

        # The tracker loses the database first, so the orders flagged now are certainly still
        # waiting when the API loses it too.
        tracker_link.cut(mode)
        waiting = [create_ready_order(api) for _ in range(5)]
        for number in waiting:
            flag(api, number)
        accepted += waiting
        untouched = create_ready_order(api)
        api_link.cut(mode)

        calls = [
            ("POST", f"/api/v2/orders/{untouched}/complete", None),
            ("GET", f"/api/v2/orders/{waiting[0]}/status", None),
            ("POST", "/api/sim/orders", {"addons": ["BSC"], "stations": ["BSC"]}),
        ]
        for method, path, body in calls:
            answer, elapsed = timed_call(api, method, path, body)
            assert answer == (503, UNAVAILABLE), f"{method} {path}"
            assert elapsed < BOUND, f"{method} {path} took {elapsed:.1f}s"

        # Each retry waits twice as long as the one before: interval, 2x, 4x ...
        delays = live.wait_until(
            lambda: (found := retry_delays(tracker)) and len(found) >= 3 and found,
            TRACKER_WAIT,
            "three retries in the tracker's log",
        )
        assert delays[:3] == [TRACKER_INTERVAL, 2 * TRACKER_INTERVAL, 4 * TRACKER_INTERVAL]
        assert delays == sorted(delays)
        assert tracker.process.poll() is None, tracker.log_tail()
        assert flagged_numbers(session_factory) == set(waiting)

        api_link.restore()
        tracker_link.restore()

        # No restart: the very first call after the database returns is served.
        assert api.call("GET", f"/api/v2/orders/{waiting[0]}/status")[0] == 200
        for number in waiting:
            wait_until_completed(api, number)
        live.wait_until(
            lambda: "Database reachable again" in tracker.log_path.read_text(),
            TRACKER_WAIT,
            "the tracker to log its recovery",
        )
        # The flag refused during the outage can simply be sent again. A frozen server that
        # wakes runs what it had received before the watchdog shut the link: that flag may have
        # been recorded after all, and the order completed since (a retry would answer 400).
        untouched_now = order_status(api, untouched)
        if mode != "freeze" or not (
            untouched_now["pendingCompletion"] or untouched_now["status"] == "C"
        ):
            flag(api, untouched)
        wait_until_completed(api, untouched)
        accepted.append(untouched)

        assert tracker.stop() == 0, tracker.log_tail()
        assert api.stop() == 0, api.log_tail()

    assert completions(session_factory) == dict.fromkeys(accepted, 1)
    assert flagged_numbers(session_factory) == set()
    for log in (api.log_path, tracker.log_path):
        assert "Traceback" not in log.read_text(), log.read_text()


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("patterns", "forward"),
    # The flag is one statement that commits on its own: sent, it is committed.
    [((FLAG_WRITE,), False), ((FLAG_WRITE,), True)],
    ids=["cut-while-flagging", "flag-sent-answer-lost"],
)
def test_a_flag_cut_off_mid_request_answers_503_and_a_retry_answers_201(
    patterns: tuple[bytes, ...],
    forward: bool,
    postgresql_url: str,
    tmp_path: Path,
    api_link: Proxy,
    session_factory: sessionmaker[Session],
) -> None:
    with live.run_api(
        api_link.url_for(postgresql_url), tmp_path, DATABASE_TIMEOUT=DATABASE_TIMEOUT
    ) as api:
        number = create_ready_order(api)
        tripped = api_link.cut_on(*patterns, forward=forward)
        answer, elapsed = timed_call(api, "POST", f"/api/v2/orders/{number}/complete")
        # The proxy sets it just after the cut, and the API may answer 503 in between.
        assert tripped.wait(5)
        assert answer == (503, UNAVAILABLE)
        assert elapsed < BOUND, f"took {elapsed:.1f}s"
        # Whether the flag reached the database (sent, it committed on its own) or not, the
        # client cannot tell, and need not: no tracker runs, so a retry finds the order either
        # unflagged or still flagged, and both are 201.
        assert flagged_numbers(session_factory) <= {number}
        api_link.restore()
        flag(api, number)
        assert order_status(api, number)["pendingCompletion"] is True
        assert api.stop() == 0, api.log_tail()
    assert "Traceback" not in api.log_path.read_text(), api.log_path.read_text()


def cut_a_tracker_in_its_batch(
    url: str,
    log_dir: Path,
    link: Proxy,
    session_factory: sessionmaker[Session],
    patterns: tuple[bytes, ...],
    forward: bool,
) -> str:
    """Flag orders, start a tracker and cut its link in the middle of its first batch; restore.
    Check that every order ends completed exactly once; answer the tracker's log."""
    with live.run_api(url, log_dir) as api:
        numbers = [create_ready_order(api) for _ in range(5)]
        for number in numbers:
            flag(api, number)
        tripped = link.cut_on(*patterns, forward=forward)
        with live.run_tracker(
            link.url_for(url),
            log_dir,
            TRACKER_INTERVAL=TRACKER_INTERVAL,
            DATABASE_TIMEOUT=DATABASE_TIMEOUT,
        ) as tracker:
            assert tripped.wait(TRACKER_WAIT), "the tracker never wrote its batch"
            live.wait_until(
                lambda: "Database unavailable" in tracker.log_path.read_text(),
                TRACKER_WAIT,
                "the tracker to log the outage",
            )
            if not forward:  # the batch's transaction never committed: all still wait
                assert flagged_numbers(session_factory) == set(numbers)
            assert tracker.process.poll() is None, tracker.log_tail()
            link.restore()
            for number in numbers:
                wait_until_completed(api, number)
            live.wait_until(
                lambda: "Database reachable again" in tracker.log_path.read_text(),
                TRACKER_WAIT,
                "the tracker to log its recovery",
            )
            assert tracker.stop() == 0, tracker.log_tail()
        assert api.stop() == 0, api.log_tail()
    assert completions(session_factory) == dict.fromkeys(numbers, 1)
    assert flagged_numbers(session_factory) == set()
    return tracker.log_path.read_text()


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("patterns", "forward"),
    [((BATCH_WRITE,), False), ((BATCH_WRITE, b"COMMIT"), True)],
    ids=["cut-before-the-write", "commit-sent-answer-lost"],
)
def test_a_tracker_cut_off_in_the_middle_of_a_batch_completes_each_order_exactly_once(
    patterns: tuple[bytes, ...],
    forward: bool,
    postgresql_url: str,
    tmp_path: Path,
    tracker_link: Proxy,
    session_factory: sessionmaker[Session],
) -> None:
    cut_a_tracker_in_its_batch(
        postgresql_url, tmp_path, tracker_link, session_factory, patterns, forward
    )


@pytest.mark.e2e
def test_a_database_lost_in_the_middle_of_a_batch_is_logged_as_an_outage_without_a_traceback(
    postgresql_url: str,
    tmp_path: Path,
    tracker_link: Proxy,
    session_factory: sessionmaker[Session],
) -> None:
    log = cut_a_tracker_in_its_batch(
        postgresql_url, tmp_path, tracker_link, session_factory, (BATCH_WRITE,), forward=False
    )
    assert "Traceback" not in log, log
    assert "Poll failed" not in log, log


@pytest.mark.e2e
def test_a_request_on_a_frozen_database_link_answers_503_within_the_timeout(
    postgresql_url: str, tmp_path: Path, api_link: Proxy
) -> None:
    with live.run_api(
        api_link.url_for(postgresql_url), tmp_path, DATABASE_TIMEOUT=DATABASE_TIMEOUT
    ) as api:
        number = create_ready_order(api)  # leaves an open connection in the API's pool
        flag(api, number)  # and one in the pool of the fault check and the completion call
        api_link.cut("freeze")
        try:
            answer, elapsed = timed_call(
                api, "GET", f"/api/v2/orders/{number}/status", timeout=BOUND + 1
            )
        finally:
            api_link.restore()  # lets the stuck request finish, so the API can stop
        assert api.stop() == 0, api.log_tail()
    assert (answer, elapsed < BOUND) == ((503, UNAVAILABLE), True), f"{answer} after {elapsed:.1f}s"


@pytest.mark.e2e
def test_an_api_starting_while_another_process_creates_the_schema_starts_all_the_same(
    postgresql_url: str, tmp_path: Path, api_link: Proxy
) -> None:
    # Hold run_api.py's second look at the new database (its table list) until the schema has
    # been created by another process: the worst moment, made certain.
    held = api_link.cut_on(TABLE_LIST, mode="freeze")
    failures: list[BaseException] = []

    def start_api() -> None:
        try:
            with live.run_api(api_link.url_for(postgresql_url), tmp_path) as api:
                assert api.stop() == 0, api.log_tail()
        except BaseException as error:  # reported by the test's thread
            failures.append(error)

    starter = threading.Thread(target=start_api)
    starter.start()

    def upgrade_meanwhile() -> None:
        other = make_engine(postgresql_url)
        try:
            schema.upgrade(other)  # what another worker starting at the same moment does
        except BaseException as error:
            failures.append(error)
        finally:
            other.dispose()

    upgrader = threading.Thread(target=upgrade_meanwhile)
    try:
        assert held.wait(TRACKER_WAIT), "run_api.py never listed the tables"
        upgrader.start()
        time.sleep(0.5)  # the other process now waits for the migration lock run_api.py holds
    finally:
        api_link.restore()
        starter.join(TRACKER_WAIT + live.STOP_TIMEOUT)
        if upgrader.is_alive() or upgrader.ident is not None:
            upgrader.join(TRACKER_WAIT)
    assert not starter.is_alive() and not upgrader.is_alive()
    assert failures == []


@pytest.mark.e2e
def test_a_flag_wakes_the_tracker_at_once_instead_of_at_its_next_poll(
    database_url: str, tmp_path: Path
) -> None:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    poll_interval = 30  # far longer than the whole test: only a wake-up can complete an order
    with (
        live.run_api(database_url, tmp_path) as api,
        live.run_tracker(database_url, tmp_path, TRACKER_INTERVAL=poll_interval) as tracker,
    ):
        live.wait_until(
            lambda: api.call("GET", "/api/sim/tracker")[1]["running"],
            TRACKER_WAIT,
            "the tracker's first poll",
        )
        latencies = []
        for _ in range(WAKE_UP_ORDERS):
            number = create_ready_order(api)
            flag(api, number)
            flagged_at = time.monotonic()
            with contextlib.suppress(TimeoutError):  # measured, and reported below
                live.wait_until(
                    lambda n=number: order_status(api, n)["status"] == "C",
                    WAKE_UP_LIMIT + 1,
                    f"order {number} to be completed",
                    every=0.005,
                )
            latencies.append(time.monotonic() - flagged_at)
            if latencies[-1] > WAKE_UP_LIMIT:
                break
        assert tracker.stop() == 0, tracker.log_tail()
        assert api.stop() == 0, api.log_tail()

    summary = (
        f"median {statistics.median(latencies) * 1000:.0f} ms, "
        f"max {max(latencies) * 1000:.0f} ms over {len(latencies)} orders "
        f"({', '.join(f'{latency * 1000:.0f}' for latency in latencies)} ms)"
    )
    assert max(latencies) < WAKE_UP_LIMIT, summary
    print(f"wake-up latency: {summary}")


@pytest.mark.e2e
def test_gunicorn_workers_and_a_tracker_complete_every_order_exactly_once(
    database_url: str, tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    # The session_factory fixture, through which the outcome is read, has created the schema
    # before the workers start; processes creating it together are tested above (an API
    # starting while another process creates the schema).
    with (
        live.run_gunicorn(database_url, tmp_path, workers=4) as api,
        live.run_tracker(database_url, tmp_path, TRACKER_INTERVAL=0.1) as tracker,
        ThreadPoolExecutor(CLIENTS) as pool,
    ):
        futures = [pool.submit(create_and_flag, api, ORDERS_PER_CLIENT) for _ in range(CLIENTS)]
        exchanges = [exchange for future in futures for exchange in future.result(timeout=60)]
        live.wait_until(
            lambda: api.call("GET", "/api/sim/tracker")[1]["pending"] == 0,
            TRACKER_WAIT,
            "an empty queue",
        )
        numbers = {action for action, _, _ in exchanges if action != "create"}
        states = {
            (body["orderNumber"], body["status"], body["currentStation"])
            for body in pool.map(lambda number: order_status(api, number), numbers, timeout=60)
        }
        assert states == {(number, "C", "CMP") for number in numbers}
        assert tracker.stop() == 0, tracker.log_tail()
        assert api.stop() == 0, api.log_tail()

    assert [e for e in exchanges if e[1] != 201] == []
    assert len(numbers) == CLIENTS * ORDERS_PER_CLIENT
    assert completions(session_factory) == dict.fromkeys(numbers, 1)
    for log in (api.log_path, tracker.log_path):
        assert "Traceback" not in log.read_text(), log.read_text()
