"""Faults on demand: HTTP faults every worker applies, tracker faults every tracker obeys."""

from __future__ import annotations

import http.client
import importlib
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from helpers import assert_body, create_ready_order, flag, order_status
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import live
from shared.db.engine import transaction
from shared.db.models import TrackerHeartbeat
from shared.sim import faults
from tracker.jobs import TrackerConfig, run_cycle

NO_FAULTED_PATH = "Faults apply to paths under /api/v2/ only: this pattern matches none."
COMPLETE_GLOB = "/api/v2/orders/*/complete"
NOT_FOUND = {
    "error": "Could not complete order",
    "details": ["Error Code: 01", "Error Message: Order not found"],
}


@pytest.fixture
def client(make_client: Any) -> FlaskClient:
    """The API with the journal on, to see the faults it records."""
    return make_client(journal=True)


def set_fault(client: FlaskClient, **fault: Any) -> dict[str, Any]:
    response = client.post("/api/sim/faults", json=fault)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def journal_faults(client: FlaskClient) -> list[tuple[str, int, str | None]]:
    entries = client.get("/api/sim/requests").get_json()["requests"]
    return [(e["path"], e["response"]["status"], e["fault"]) for e in reversed(entries)]


def test_a_status_fault_answers_the_next_times_calls_then_stops(client: FlaskClient) -> None:
    fault = set_fault(client, method="post", path=COMPLETE_GLOB, status=503, times=2)
    assert fault == {
        "id": fault["id"],
        "method": "POST",
        "path": COMPLETE_GLOB,
        "status": 503,
        "timesLeft": 2,
        "createdAt": fault["createdAt"],
    }
    described = f"fault {fault['id']}: status 503"
    for number in (1, 2):
        assert_body(
            client.post(f"/api/v2/orders/{number}/complete"),
            503,
            {
                "error": "Simulated fault",
                "details": [f"{described} (/api/v2/orders/{number}/complete)"],
            },
        )
    assert_body(client.post("/api/v2/orders/3/complete"), 404, NOT_FOUND)
    assert journal_faults(client) == [
        ("/api/v2/orders/1/complete", 503, described),
        ("/api/v2/orders/2/complete", 503, described),
        ("/api/v2/orders/3/complete", 404, None),
    ]
    listed = client.get("/api/sim/faults").get_json()["faults"]
    assert [f["timesLeft"] for f in listed] == [0]


def test_a_status_fault_with_a_body_answers_that_body(client: FlaskClient) -> None:
    set_fault(client, path="/api/v2/orders/*/status", status=429, body={"message": "slow down"})
    assert_body(client.get("/api/v2/orders/1/status"), 429, {"message": "slow down"})


def test_a_fault_leaves_other_methods_and_paths_alone(client: FlaskClient) -> None:
    set_fault(client, method="POST", path=COMPLETE_GLOB, status=500)
    assert client.get("/api/v2/orders/1/status").status_code == 404
    assert client.post("/api/v2/orders/1/complete").status_code == 500


def test_only_the_v2_api_is_faulted_never_the_controls_or_the_health_check(
    client: FlaskClient,
) -> None:
    set_fault(client, path="/*", status=500)
    assert client.get("/api/v2/orders/1/status").status_code == 500
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code == 200
    assert client.get("/api/sim/faults").status_code == 200
    assert_body(
        client.delete("/api/sim/faults"), 200, {"message": "Successful", "faultsDeleted": 1}
    )
    assert client.get("/api/v2/orders/1/status").status_code == 404


def test_a_delay_fault_delays_the_answer_and_leaves_it_unchanged(client: FlaskClient) -> None:
    fault = set_fault(client, path=COMPLETE_GLOB, delayMs=200, times=1)
    assert_body(client.post("/api/v2/orders/1/complete"), 404, NOT_FOUND)
    [entry] = client.get("/api/sim/requests").get_json()["requests"]
    assert entry["fault"] == f"fault {fault['id']}: delayMs 200"
    assert entry["durationMs"] >= 200  # a lower bound: sleeping never takes less


def test_a_probability_decides_each_call_on_its_own(
    client: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    set_fault(client, path=COMPLETE_GLOB, status=500, probability=0.25)
    with transaction(session_factory) as session:
        found = faults.http_faults(session.connection())
        draws = iter([0.9, 0.1, 0.25, 0.2499])
        fired = [
            faults.fire(
                session.connection(),
                found,
                "POST",
                "/api/v2/orders/1/complete",
                lambda: next(draws),
            )
            is not None
            for _ in range(4)
        ]
    assert fired == [False, True, False, True]
    always = set_fault(client, path="/api/v2/orders/*/status", status=500, probability=1)
    assert always["probability"] == 1.0
    assert client.get("/api/v2/orders/1/status").status_code == 500


@pytest.mark.parametrize(
    ("fault", "details"),
    [
        ({"path": COMPLETE_GLOB}, ["Give exactly one of status, delayMs, drop."]),
        (
            {"path": COMPLETE_GLOB, "status": 500, "drop": True},
            ["Give exactly one of status, delayMs, drop."],
        ),
        ({"status": 500}, ["Give a path (an HTTP fault) or tracker (a tracker fault)."]),
        ({"path": "api/v2", "status": 500}, ["path: String does not match expected pattern."]),
        # Globs that can match no path a fault applies to.
        ({"path": "/api/sim/orders", "status": 500}, [f"path: {NO_FAULTED_PATH}"]),
        ({"path": "/api/sim/*", "status": 500}, [f"path: {NO_FAULTED_PATH}"]),
        ({"path": "/api/v2", "status": 500}, [f"path: {NO_FAULTED_PATH}"]),
        ({"path": "/healthz", "drop": True}, [f"path: {NO_FAULTED_PATH}"]),
        (
            {"path": COMPLETE_GLOB, "status": 99},
            ["status: Must be greater than or equal to 100 and less than or equal to 599."],
        ),
        ({"path": COMPLETE_GLOB, "drop": False}, ["drop: Must be equal to True."]),
        (
            {"path": COMPLETE_GLOB, "status": 500, "times": 1, "probability": 0.5},
            ["Give times or probability, not both."],
        ),
        ({"path": COMPLETE_GLOB, "delayMs": 5, "body": {}}, ["body goes with status."]),
        (
            {"path": COMPLETE_GLOB, "method": "FETCH", "status": 500},
            ["method: Must be one of: *, GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS."],
        ),
        ({"tracker": "reject"}, ["A reject fault needs a code; a pause takes none."]),
        ({"tracker": "pause", "code": "05"}, ["A reject fault needs a code; a pause takes none."]),
        ({"tracker": "reject", "code": "5"}, ["code: Must be two digits."]),
        (
            {"tracker": "pause", "path": "/api/v2/x"},
            ["A tracker fault takes only tracker, code and message."],
        ),
        ({"tracker": "stop"}, ["tracker: Must be one of: pause, reject."]),
        ({"path": COMPLETE_GLOB, "status": 500, "colour": "red"}, ["colour: Unknown field."]),
    ],
)
def test_a_fault_that_makes_no_sense_answers_400_saying_why(
    client: FlaskClient, fault: dict[str, Any], details: list[str]
) -> None:
    assert_body(
        client.post("/api/sim/faults", json=fault),
        400,
        {"error": "Invalid request", "details": details},
    )


def test_faults_are_listed_oldest_first_and_cleared_one_or_all(client: FlaskClient) -> None:
    first = set_fault(client, path=COMPLETE_GLOB, status=500)
    second = set_fault(client, tracker="reject", code="20", message="Needs AR!")
    third = set_fault(client, tracker="pause")
    assert second == {
        "id": second["id"],
        "tracker": "reject",
        "code": "20",
        "message": "Needs AR!",
        "createdAt": second["createdAt"],
    }
    listed = client.get("/api/sim/faults").get_json()["faults"]
    assert [f["id"] for f in listed] == [first["id"], second["id"], third["id"]]
    assert_body(
        client.delete(f"/api/sim/faults/{second['id']}"),
        200,
        {"message": "Successful", "faultsDeleted": 1},
    )
    assert_body(
        client.delete(f"/api/sim/faults/{second['id']}"),
        404,
        {"error": "No record found", "details": [f"Provided: {second['id']}"]},
    )
    assert_body(
        client.delete("/api/sim/faults"), 200, {"message": "Successful", "faultsDeleted": 2}
    )
    assert_body(client.get("/api/sim/faults"), 200, {"faults": []})


def test_with_the_simulator_api_off_no_fault_is_looked_for(make_client: Any) -> None:
    on = make_client()
    set_fault(on, path=COMPLETE_GLOB, status=500)
    off = make_client(sim_api=False)  # the same database
    assert_body(off.post("/api/v2/orders/1/complete"), 404, NOT_FOUND)


def test_a_fault_set_through_another_api_process_applies_at_its_next_call(
    make_client: Any,
) -> None:
    """Each app stands for a process (gunicorn worker): the first has found no fault and stopped
    reading the table; the fault set through the second reaches it all the same."""
    first, second = make_client(), make_client()
    assert_body(first.post("/api/v2/orders/1/complete"), 404, NOT_FOUND)
    set_fault(second, path=COMPLETE_GLOB, status=503, times=1)
    assert first.post("/api/v2/orders/1/complete").status_code == 503
    assert_body(first.post("/api/v2/orders/1/complete"), 404, NOT_FOUND)


class FakeClock:
    """time.monotonic and time.sleep for api.sim.faults, on a clock that moves when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_with_no_fault_set_the_table_is_read_once_a_tenth_of_a_second(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fault check costs no query while no fault is set, but for one read a tenth of a
    second; a fault set makes every call read the table, until it is spent."""
    # importlib: the module itself, whose `time` the fault watch reads.
    fault_check = importlib.import_module("api.sim.faults")
    clock = FakeClock()
    monkeypatch.setattr(importlib.import_module("api.sim.faults"), "time", clock)
    reads: list[float] = []
    real = fault_check.http_faults

    def counted(connection: Any) -> list[faults.HttpFault]:
        reads.append(clock.now)
        return real(connection)

    monkeypatch.setattr(fault_check, "http_faults", counted)
    for _ in range(3):
        client.post("/api/v2/orders/1/complete")
    assert len(reads) == 1  # the first call found the table empty
    clock.now += 0.099
    client.post("/api/v2/orders/1/complete")
    assert len(reads) == 1
    clock.now += 0.001
    client.post("/api/v2/orders/1/complete")
    assert len(reads) == 2  # a tenth of a second on: read again
    set_fault(client, path="/api/v2/orders/*/status", status=500, times=1)
    assert client.post("/api/v2/orders/1/complete").status_code == 404
    assert len(reads) == 3  # a fault is set: read at once, and it is still there
    assert client.get("/api/v2/orders/1/status").status_code == 500
    client.post("/api/v2/orders/1/complete")
    client.post("/api/v2/orders/1/complete")
    assert len(reads) == 5  # the spent fault's table read once more, found empty, then no more


def test_a_fault_committed_while_a_read_found_none_applies_once_its_post_has_answered(
    make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker's read of the table begins before a fault is committed (so finds none) and ends
    after; the worker then skips the table for a tenth of a second from when the read *began*,
    which has passed when the fault's POST answers (it waits that long): the worker's next call
    reads the table and gets the fault. Counted from when the read ended, it would skip it."""
    fault_check = importlib.import_module("api.sim.faults")
    clock = FakeClock()
    monkeypatch.setattr(fault_check, "time", clock)
    worker, other = make_client(), make_client()
    real = fault_check.http_faults
    set_meanwhile: list[dict[str, Any]] = []

    def slow_read(connection: Any) -> list[faults.HttpFault]:
        found = real(connection)  # begun and read before the fault exists
        if not set_meanwhile:
            clock.now += 0.05  # the read still under way, the fault is set through the other
            set_meanwhile.append(set_fault(other, path=COMPLETE_GLOB, status=503, times=1))
        return found

    monkeypatch.setattr(fault_check, "http_faults", slow_read)
    assert_body(worker.post("/api/v2/orders/1/complete"), 404, NOT_FOUND)
    assert set_meanwhile  # and its POST has answered
    assert worker.post("/api/v2/orders/1/complete").status_code == 503


CONCURRENT_CALLS = 8
TIMES = 3


def test_a_faults_times_are_spent_exactly_by_concurrent_calls_on_two_workers(
    make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every call reads the fault with all its times left before any call spends one (a barrier
    holds each after its read); then exactly `times` of them get it: spending one is a
    conditional UPDATE, which refuses the calls that come after the last."""
    workers = [make_client(), make_client()]  # two apps: two workers' processes
    set_fault(workers[0], path=COMPLETE_GLOB, status=503, times=TIMES)
    fault_check = importlib.import_module("api.sim.faults")
    real = fault_check.http_faults
    all_read = threading.Barrier(CONCURRENT_CALLS, timeout=10)

    def read_then_wait_for_the_others(connection: Any) -> list[faults.HttpFault]:
        found = real(connection)
        assert [f.times_left for f in found] == [TIMES]
        all_read.wait()
        return found

    monkeypatch.setattr(fault_check, "http_faults", read_then_wait_for_the_others)

    def call(n: int) -> int:
        worker = workers[n % 2].application.test_client()
        return worker.post(f"/api/v2/orders/{n}/complete").status_code

    with ThreadPoolExecutor(CONCURRENT_CALLS) as pool:
        answers = Counter(pool.map(call, range(CONCURRENT_CALLS)))
    assert answers == {503: TIMES, 404: CONCURRENT_CALLS - TIMES}  # faulted, and not found
    listed = workers[1].get("/api/sim/faults").get_json()["faults"]
    assert [f["timesLeft"] for f in listed] == [0]


# ---- tracker faults ----------------------------------------------------------------------


def test_a_reject_fault_makes_the_tracker_reject_every_order_with_that_code(
    client: FlaskClient,
    session_factory: sessionmaker[Session],
    tracker_config: TrackerConfig,
) -> None:
    number = client.post(
        "/api/sim/orders", json={"addons": ["BSC"], "stations": ["BSC"]}
    ).get_json()["orderNumber"]
    assert client.post(f"/api/v2/orders/{number}/complete").status_code == 201
    set_fault(client, tracker="reject", code="05")
    summary = run_cycle(session_factory, tracker_config)
    assert (summary.completed, summary.rejected) == (0, 1)
    state = client.get(f"/api/v2/orders/{number}/status").get_json()
    assert (state["status"], state["pendingCompletion"], state["completionError"]) == (
        "P",
        False,
        {"code": "05", "message": "Order on hold"},
    )


def test_a_pause_fault_stops_the_tracker_taking_orders_until_cleared(
    client: FlaskClient,
    session_factory: sessionmaker[Session],
    tracker_config: TrackerConfig,
) -> None:
    number = client.post(
        "/api/sim/orders", json={"addons": ["BSC"], "stations": ["BSC"]}
    ).get_json()["orderNumber"]
    client.post(f"/api/v2/orders/{number}/complete")
    set_fault(client, tracker="pause")
    set_fault(client, tracker="reject", code="05")  # a pause wins
    assert run_cycle(session_factory, tracker_config).batches == 0
    assert client.get(f"/api/v2/orders/{number}/status").get_json()["pendingCompletion"] is True
    assert client.get("/api/sim/tracker").get_json()["running"] is True  # it still beats
    client.delete("/api/sim/faults")
    assert run_cycle(session_factory, tracker_config).completed == 1


# ---- across processes -------------------------------------------------------------------


@pytest.mark.e2e
def test_a_drop_fault_closes_the_connection_without_an_answer(
    database_url: str, tmp_path: Path
) -> None:
    with live.run_api(database_url, tmp_path, JOURNAL="on") as api:
        status, fault = api.call(
            "POST", "/api/sim/faults", {"path": COMPLETE_GLOB, "drop": True, "times": 1}
        )
        assert status == 201, fault
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            connection = http.client.HTTPConnection(
                "127.0.0.1", int(api.base_url.rsplit(":", 1)[1]), timeout=10
            )
            connection.request("POST", "/api/v2/orders/1/complete")
            connection.getresponse()
        assert api.call("POST", "/api/v2/orders/1/complete") == (404, NOT_FOUND)
        status, journal = api.call("GET", "/api/sim/requests")
        assert [(e["response"]["status"], e["fault"]) for e in journal["requests"]] == [
            (404, None),
            (444, f"fault {fault['id']}: drop"),
        ]


@pytest.mark.e2e
def test_every_gunicorn_worker_applies_a_fault_set_on_any_of_them(
    database_url: str, tmp_path: Path
) -> None:
    with live.run_gunicorn(database_url, tmp_path, workers=2) as api:
        status, _ = api.call(
            "POST", "/api/sim/faults", {"path": COMPLETE_GLOB, "status": 503, "times": 10}
        )
        assert status == 201
        answers = [api.call("POST", f"/api/v2/orders/{n}/complete")[0] for n in range(12)]
        assert answers == [503] * 10 + [404] * 2


@pytest.mark.e2e
def test_a_pause_is_obeyed_by_two_trackers_until_it_is_cleared(
    database_url: str, tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        live.run_api(database_url, tmp_path) as api,
        live.run_tracker(database_url, tmp_path / "a", TRACKER_INTERVAL=0.2, TRACKER_ID="a") as a,
        live.run_tracker(database_url, tmp_path / "b", TRACKER_INTERVAL=0.2, TRACKER_ID="b") as b,
    ):
        assert api.call("POST", "/api/sim/faults", {"tracker": "pause"})[0] == 201
        numbers = [create_ready_order(api) for _ in range(5)]
        for number in numbers:
            flag(api, number)
        since = time.time()

        def both_beat_since_paused() -> bool:
            with session_factory() as session:
                beats = session.execute(select(TrackerHeartbeat)).scalars().all()
            return {
                beat.tracker_id for beat in beats if beat.last_heartbeat.timestamp() > since + 0.5
            } == {"a", "b"}

        # Both trackers polled (their heartbeats moved on) well after the orders were flagged...
        live.wait_until(both_beat_since_paused, 15, "both trackers to poll while paused")
        # ...and took none of them.
        assert all(order_status(api, n)["pendingCompletion"] for n in numbers)
        assert api.call("DELETE", "/api/sim/faults")[1] == {
            "message": "Successful",
            "faultsDeleted": 1,
        }

        def all_completed() -> bool:
            return all(order_status(api, n)["status"] == "C" for n in numbers)

        live.wait_until(all_completed, 15, "the orders to be completed once the pause is cleared")
        assert a.process.poll() is None and b.process.poll() is None


@pytest.mark.parametrize(
    ("fault", "details"),
    [
        ({"tracker": "reject", "code": "05\n"}, ["code: Must be two digits."]),
        (
            {"path": COMPLETE_GLOB, "status": 500, "times": 2**31},
            ["times: Must be greater than or equal to 1 and less than or equal to 2147483647."],
        ),
        ({"path": "/api/v2/\x00", "status": 500}, ["path: Must not contain a NUL character."]),
    ],
)
def test_a_fault_no_database_could_store_answers_400_not_500(
    client: FlaskClient, fault: dict[str, Any], details: list[str]
) -> None:
    assert_body(
        client.post("/api/sim/faults", json=fault),
        400,
        {"error": "Invalid request", "details": details},
    )


def test_clearing_an_id_past_what_the_database_stores_answers_404(client: FlaskClient) -> None:
    assert_body(
        client.delete("/api/sim/faults/99999999999999999999"),
        404,
        {"error": "No record found", "details": ["Provided: 99999999999999999999"]},
    )


@pytest.mark.parametrize("path", ["/*", "/api/*", "/api/v?/orders/*", "/api/v2/*", "/a*"])
def test_a_glob_that_can_reach_the_v2_api_is_taken(client: FlaskClient, path: str) -> None:
    assert client.post("/api/sim/faults", json={"path": path, "status": 500}).status_code == 201
