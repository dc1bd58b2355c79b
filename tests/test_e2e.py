"""End to end: run_api.py and run_tracker.py as real processes on one database, over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from helpers import create_and_flag, create_ready_order, flag, order_status
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import live
from shared.db.models import CheckIn

TRACKER_WAIT = 15.0
CLIENTS = 8
ORDERS_PER_CLIENT = 25


@pytest.fixture
def live_api(database_url: str, tmp_path: Path) -> Iterator[live.Api]:
    with live.run_api(database_url, tmp_path) as api:
        yield api


def tracker_status(api: live.Api) -> dict[str, Any]:
    status, body = api.call("GET", "/api/sim/tracker")
    assert status == 200, body
    return body


def wait_until_completed(api: live.Api, number: str) -> dict[str, Any]:
    def completed() -> dict[str, Any] | None:
        body = order_status(api, number)
        return body if body["status"] == "C" else None

    return live.wait_until(completed, TRACKER_WAIT, f"order {number} to be completed")


def assert_completed(body: dict[str, Any]) -> None:
    assert body["status"] == "C"
    assert body["currentStation"] == "CMP"
    assert body["pendingCompletion"] is False
    assert body["completionError"] is None


@pytest.mark.e2e
def test_the_running_tracker_completes_flagged_orders_and_both_stop_cleanly_on_sigterm(
    live_api: live.Api, database_url: str, tmp_path: Path
) -> None:
    number = create_ready_order(live_api)
    flag(live_api, number)
    flagged = order_status(live_api, number)
    assert (flagged["status"], flagged["pendingCompletion"]) == ("P", True)

    with live.run_tracker(database_url, tmp_path, TRACKER_INTERVAL=0.2) as tracker:
        assert_completed(wait_until_completed(live_api, number))
        assert tracker_status(live_api)["running"] is True
        # Still polling after its first drain: an order flagged now is completed too.
        later = create_ready_order(live_api)
        flag(live_api, later)
        assert_completed(wait_until_completed(live_api, later))
        assert tracker_status(live_api)["running"] is True
        assert tracker.stop() == 0

    # A clean stop is recorded, so the API stops counting the tracker as running at once.
    after = tracker_status(live_api)
    assert (after["running"], after["pending"]) == (False, 0)
    assert live_api.stop() == 0


@pytest.mark.e2e
def test_an_order_flagged_while_no_tracker_runs_waits_until_run_tracker_once(
    live_api: live.Api, database_url: str
) -> None:
    number = create_ready_order(live_api)
    flag(live_api, number)
    time.sleep(0.5)  # long enough for a tracker, were one running, to have taken it
    waiting = order_status(live_api, number)
    assert (waiting["status"], waiting["pendingCompletion"]) == ("P", True)
    assert tracker_status(live_api) == {"running": False, "lastHeartbeat": None, "pending": 1}

    drained = live.run_tracker_once(database_url, timeout=30.0)

    assert drained.returncode == 0, drained.stdout + drained.stderr
    assert "1 completed, 0 rejected" in drained.stdout
    assert_completed(order_status(live_api, number))
    after = tracker_status(live_api)
    assert (after["running"], after["pending"]) == (False, 0)
    assert live_api.stop() == 0


@pytest.mark.e2e
def test_concurrent_clients_and_a_busy_tracker_complete_every_order_exactly_once(
    live_api: live.Api, database_url: str, tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    with (
        live.run_tracker(database_url, tmp_path, TRACKER_INTERVAL=0.05) as tracker,
        ThreadPoolExecutor(CLIENTS) as pool,
    ):
        futures = [
            pool.submit(create_and_flag, live_api, ORDERS_PER_CLIENT) for _ in range(CLIENTS)
        ]
        exchanges = [exchange for future in futures for exchange in future.result(timeout=60)]
        live.wait_until(
            lambda: tracker_status(live_api)["pending"] == 0, TRACKER_WAIT, "an empty queue"
        )
        assert tracker.stop() == 0

    assert "database is locked" not in json.dumps(exchanges)
    assert [e for e in exchanges if e[1] != 201] == []
    numbers = {action for action, _, _ in exchanges if action != "create"}
    assert len(numbers) == CLIENTS * ORDERS_PER_CLIENT
    for number in numbers:
        body = order_status(live_api, number)
        assert (
            body["status"],
            body["pendingCompletion"],
            body["completionError"],
            body["currentStation"],
        ) == ("C", False, None, "CMP")
    # The status endpoint cannot tell one completion from two; the check-in log can.
    with session_factory() as session:
        completions = dict(
            session.execute(
                select(CheckIn.order_number, func.count())
                .where(CheckIn.station == "CMP")
                .group_by(CheckIn.order_number)
            ).all()
        )
    assert completions == {int(number): 1 for number in numbers}
    assert live_api.stop() == 0
    for log in (live_api.log_path, tracker.log_path):
        assert "database is locked" not in log.read_text()
        assert "Traceback" not in log.read_text()


@pytest.mark.e2e
def test_the_demo_runs_to_the_end_and_shows_the_refusals() -> None:
    demo = subprocess.run(
        [sys.executable, "scripts/demo.py"],
        cwd=live.ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "Needs Backside Coat!" in demo.stdout
    assert "Order on hold" in demo.stdout


@pytest.mark.e2e
def test_an_order_driven_through_its_flow_by_checkins_alone_is_completed_by_the_tracker(
    live_api: live.Api, database_url: str, tmp_path: Path
) -> None:
    """A lab's day for one order, with no simulator power but creating it: scans at each
    station its addons need (an operator at Final QA), a refused scan, completion by the
    tracker, and the history that tells it."""
    status, body = live_api.call(
        "POST",
        "/api/sim/orders",
        {"status": "V", "trayNumber": "321", "poNumber": "PO-E2E", "addons": ["AR", "BSC"]},
    )
    assert status == 201, body
    number = body["orderNumber"]
    flow = [("REC", None), ("GEN", None), ("BSC", None), ("AR1", None), ("EDG", None)]
    flow.append(("FQA", "MS"))
    for station, operator in flow:
        scan = {"orderIdentifier": "321", "operator": operator}
        status, body = live_api.call("POST", f"/api/v2/job_track/stations/{station}", scan)
        assert (status, body["code"]) == (201, station), body
    refused = live_api.call("POST", "/api/v2/job_track/stations/TNT", {"orderIdentifier": "PO-E2E"})
    assert refused == (400, {"error": "Checkin not performed", "details": ["Tint not needed"]})
    flag(live_api, number)
    with live.run_tracker(database_url, tmp_path, TRACKER_INTERVAL=0.2):
        assert_completed(wait_until_completed(live_api, number))
    status, history = live_api.call("GET", f"/api/v2/orders/{number}/history")
    assert status == 200, history
    assert [(c["code"], c["operator"]) for c in history["checkins"]] == [
        *flow,
        ("CMP", None),
    ]
    # Completed: its tray no longer names it, its PO still does.
    assert live_api.call("GET", "/api/v2/orders/321/status")[0] == 404
    assert live_api.call("GET", "/api/v2/orders/PO-E2E/status")[1]["status"] == "C"


@pytest.mark.e2e
def test_a_submitted_order_waits_while_the_processor_is_paused_then_is_imported_and_completed(
    live_api: live.Api, database_url: str, tmp_path: Path
) -> None:
    submission = {
        "customerJobId": "E2E-1",
        "customerNumber": "1001",
        "jobType": "F",
        "poNumber": "PO-E2E-1",
        "rtLensStyle": "SV",
        "rtLensMaterial": "PC",
        "rtSphere": -1.5,
    }
    assert live_api.call("POST", "/api/sim/processor/pause")[0] == 200
    with live.run_tracker(database_url, tmp_path, TRACKER_INTERVAL=0.2):
        status, body = live_api.call("POST", "/api/v2/orders", submission)
        assert (status, body["orderNumber"], body["poNumber"]) == (202, "", "PO-E2E-1")
        live.wait_until(
            lambda: tracker_status(live_api)["running"] or None, TRACKER_WAIT, "a tracker"
        )
        time.sleep(1.0)  # five polls of a running tracker, all while paused
        assert live_api.call("GET", "/api/v2/orders/PO-E2E-1") == (
            404,
            {"error": "No record found", "details": ["Provided: PO-E2E-1"]},
        )
        assert live_api.call("GET", "/api/sim/processor")[1]["waiting"] == 1

        assert live_api.call("POST", "/api/sim/processor/resume")[0] == 200

        def imported() -> dict[str, Any] | None:
            status, body = live_api.call("GET", "/api/v2/orders/PO-E2E-1")
            return body if status == 200 else None

        order = live.wait_until(imported, TRACKER_WAIT, "the submitted order to be imported")
        assert (order["status"], order["currentStation"]) == ("V", "REC")
        flag(live_api, order["orderNumber"])
        assert_completed(wait_until_completed(live_api, order["orderNumber"]))
