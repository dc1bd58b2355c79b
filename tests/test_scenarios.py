"""Scenario files and snapshots: the shipped scenarios answer as they say, a bad file changes
nothing, and a snapshot restored into a fresh database reads byte for byte as the original."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from freezegun import freeze_time
from helpers import assert_body, close_app, completion_error
from sqlalchemy import make_url
from sqlalchemy.orm import Session, sessionmaker

import live
from api.app import create_app
from api.sim.scenarios import ScenarioNotLoaded, load_configured_scenario
from config.settings import DEFAULT_SCENARIO_FOLDER, PROJECT_ROOT, Settings
from shared.db.engine import make_engine
from shared.domain.lab_setup import Lab
from tracker.jobs import TrackerConfig, process_batch, run_cycle

MakeClient = Callable[..., FlaskClient]
LOADED_6 = {"message": "Successful", "orders": 6}

LENSES = {"rtOPC": "0209448281", "ltOPC": "0209448281"}


def invalid_scenario(*details: str) -> dict[str, Any]:
    return {"error": "Invalid scenario", "details": list(details)}


def load(client: FlaskClient, name: str) -> Any:
    return client.post(f"/api/sim/scenarios/{name}")


def total(client: FlaskClient) -> int:
    response = client.get("/api/v2/orders?limit=1")
    assert response.status_code == 200
    count: int = response.get_json()["total"]
    return count


# ---- the shipped scenarios ----------------------------------------------------------------------


def test_the_shipped_scenarios_are_listed_by_name_with_their_order_counts(
    client: FlaskClient,
) -> None:
    response = client.get("/api/sim/scenarios")
    assert response.status_code == 200
    listed = [(s["name"], s["orders"]) for s in response.get_json()["scenarios"]]
    assert listed == [
        ("empty", 0),
        ("lab_day", 6),
        ("seed_outcomes", 6),
        ("tracker_cases", 4),
        ("work_tickets", 4),
    ]
    assert all(s["description"] for s in response.get_json()["scenarios"])


def test_every_shipped_scenario_loads(client: FlaskClient) -> None:
    for name, orders in (
        ("empty", 0),
        ("lab_day", 6),
        ("seed_outcomes", 6),
        ("tracker_cases", 4),
        ("work_tickets", 4),
    ):
        assert_body(load(client, name), 200, {"message": "Successful", "orders": orders})
        assert total(client) == orders


def test_seed_outcomes_has_an_order_for_each_documented_completion_answer(
    client: FlaskClient,
) -> None:
    assert_body(load(client, "seed_outcomes"), 200, LOADED_6)

    def complete(number: int) -> Any:
        return client.post(f"/api/v2/orders/{number}/complete")

    assert_body(complete(33719), 201, {"orderNumber": "33719", "message": "Successful"})
    assert_body(complete(33701), 404, completion_error("01", "Order not found"))
    assert_body(complete(33702), 400, completion_error("02", "Order deleted"))
    assert_body(complete(33703), 400, completion_error("03", "Order unvalid"))
    assert_body(complete(33704), 400, completion_error("04", "Order already completed"))
    assert_body(complete(33705), 400, completion_error("05", "Order on hold"))
    assert_body(complete(33720), 400, completion_error("20", "Needs Backside Coat!"))


def test_tracker_cases_are_completed_or_rejected_as_described(
    client: FlaskClient, session_factory: sessionmaker[Session], tracker_config: TrackerConfig
) -> None:
    assert_body(load(client, "tracker_cases"), 200, {"message": "Successful", "orders": 4})
    assert client.get("/api/sim/tracker").get_json()["pending"] == 3

    outcome = process_batch(session_factory, tracker_config)

    assert outcome.completed == [44001]

    def completion(number: int) -> tuple[str, bool, Any]:
        state = client.get(f"/api/v2/orders/{number}/status").get_json()
        return state["status"], state["pendingCompletion"], state["completionError"]

    assert completion(44001) == ("C", False, None)
    assert completion(44002) == ("W", False, {"code": "05", "message": "Order on hold"})
    assert completion(44003) == ("P", False, {"code": "20", "message": "Needs Backside Coat!"})
    # Rejected while on hold, since released: the rejection shows until the client asks again.
    assert completion(44004) == ("P", False, {"code": "05", "message": "Order on hold"})
    assert client.post("/api/v2/orders/44004/complete").status_code == 201
    assert completion(44004) == ("P", True, None)


def test_a_scenario_replaces_every_order(client: FlaskClient, make_order: Any) -> None:
    make_order(orderNumber=1)
    make_order(orderNumber=33719, addons=["AR"])
    assert_body(load(client, "seed_outcomes"), 200, LOADED_6)
    assert client.get("/api/v2/orders/1/status").status_code == 404
    assert client.get("/api/v2/orders/33719").get_json()["addons"] == [
        {"code": "BSC", "desc": "BACKSIDE COAT"}
    ]
    assert total(client) == 6


# ---- bad files and unknown names ---------------------------------------------------------------


BAD_ADDON = """
description = "The fourth order names an addon the lab does not have."
[[orders]]
orderNumber = 1
[[orders]]
orderNumber = 2
[[orders]]
orderNumber = 3
[[orders]]
orderNumber = 4
addons = ["AR", "XX"]
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    found = tmp_path / "scenarios"
    found.mkdir()
    return found


def test_a_bad_file_answers_400_naming_the_entry_and_changes_nothing(
    make_client: MakeClient, folder: Path
) -> None:
    (folder / "good.toml").write_text("orders = [{ orderNumber = 7 }]\n", encoding="utf-8")
    (folder / "bad.toml").write_text(BAD_ADDON.replace('"AR", "XX"', '"XX"'), encoding="utf-8")
    client = make_client(scenario_folder=folder)
    assert_body(load(client, "good"), 200, {"message": "Successful", "orders": 1})
    before = client.get("/api/sim/snapshot").data

    assert_body(
        load(client, "bad"), 400, invalid_scenario("orders.3.addons.0: Unknown addon 'XX'.")
    )
    assert client.get("/api/sim/snapshot").data == before
    assert total(client) == 1


@pytest.mark.parametrize(
    ("text", "details"),
    [
        (BAD_ADDON, ["orders.3.addons.1: Unknown addon 'XX'."]),
        (
            "orders = [{ orderNumber = 7, checkins = [{ station = 'gen', at = 2026-11-27T08:00:00Z,"
            " operator = 'GEN' }] }, { orderNumber = '007' }]",
            [
                "orders.0.checkins.0.station: Unknown station 'gen'.",
                "orders.0.checkins.0.operator: Unknown operator 'GEN'.",
                "orders.1.orderNumber: Order 7 is listed twice.",
            ],
        ),
        (
            "orders = [{ orderNumber = 7, onHold = 'yes', checkins = [{ station = 'GEN', "
            "at = 2026-11-27T08:00:00 }] }]",
            [
                "orders.0.onHold: Not a valid boolean.",
                "orders.0.checkins.0.at: Must have a time zone (Z or an offset such as +01:00).",
            ],
        ),
        (
            "orders = [{ orderNumber = 7, checkins = [{ station = 'GEN', "
            "at = 0001-01-01T00:00:00+01:00 }] }]",
            ["orders.0.checkins.0.at: Must be within the years 1 to 9999 in UTC."],
        ),
        ("orders = [{ orderNumber = 7, colour = 'red' }]", ["orders.0.colour: Unknown field."]),
        (
            # Its current station is the last check-in by time: CMP, on an order not completed.
            "orders = [{ orderNumber = 7, checkins = [{ station = 'CMP', at = 2026-11-27T09:00:00Z"
            " }, { station = 'GEN', at = 2026-11-27T08:00:00Z }] },"
            " { orderNumber = 8, status = 'C', checkins = [{ station = 'CMP',"
            " at = 2026-11-27T09:00:00Z }] }]",
            [
                "orders.0.checkins.0.station: Only a completed order (status C) can be at the "
                "completion station 'CMP'."
            ],
        ),
        ('description = "no orders key"', ["orders: Missing data for required field."]),
        (
            "orders = [{ orderNumber = 7, status = 'C', flaggedAt = 2026-11-27T08:00:00Z },"
            " { orderNumber = 8, dateCompleted = 2026-11-27 }]",
            [
                "orders.0.flaggedAt: A completed order is never flagged.",
                "orders.1.dateCompleted: Only a completed order (status C) has one.",
            ],
        ),
        (
            "orders = [",
            ["broken.toml: Not valid TOML: "],
        ),
    ],
)
def test_each_bad_entry_is_named(
    make_client: MakeClient, folder: Path, text: str, details: list[str]
) -> None:
    (folder / "broken.toml").write_text(text, encoding="utf-8")
    client = make_client(scenario_folder=folder)
    response = load(client, "broken")
    assert response.status_code == 400
    if details[0].startswith("broken.toml"):  # the parser's own words vary with Python's version
        assert response.get_json()["details"][0].startswith("broken.toml: Not valid TOML: ")
    else:
        assert_body(response, 400, invalid_scenario(*details))
    assert total(client) == 0


def test_an_unknown_name_answers_404(client: FlaskClient) -> None:
    for name in ("nosuch", "..", "lab", "Seed_Outcomes"):
        assert_body(
            load(client, name), 404, {"error": "No record found", "details": [f"Provided: {name}"]}
        )
    assert client.post("/api/sim/scenarios/..%2Fscenarios%2Fempty").status_code == 404


def test_an_unreadable_file_is_listed_with_the_reason(
    make_client: MakeClient, folder: Path
) -> None:
    (folder / "a.toml").write_text('description = "A"\norders = []\n', encoding="utf-8")
    (folder / "b.toml").write_text("orders = [", encoding="utf-8")
    (folder / "notes.txt").write_text("not a scenario", encoding="utf-8")
    body = make_client(scenario_folder=folder).get("/api/sim/scenarios").get_json()
    assert body["scenarios"][0] == {"name": "a", "description": "A", "orders": 0}
    assert body["scenarios"][1]["name"] == "b"
    assert body["scenarios"][1]["description"].startswith("Not a scenario: ")
    assert len(body["scenarios"]) == 2


# ---- snapshots ----------------------------------------------------------------------------------


@contextmanager
def fresh_database(tmp_path: Path) -> Iterator[str]:
    """Another new, empty database, as conftest's `database_url` makes one."""
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        yield f"sqlite:///{tmp_path / f'fresh_{uuid.uuid4().hex[:8]}.sqlite3'}"
        return
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = make_engine(server, timeout=5)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {name}")
    url = make_url(server).update_query_dict({"options": f"-csearch_path={name}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
        admin.dispose()


@contextmanager
def client_on(database_url: str, settings: Settings, lab: Lab) -> Iterator[FlaskClient]:
    app = create_app(dataclasses.replace(settings, database_url=database_url), lab=lab)
    try:
        yield app.test_client()
    finally:
        close_app(app)


def build_a_lab_day(
    client: FlaskClient, session_factory: sessionmaker[Session], config: TrackerConfig
) -> None:
    """Orders in every state the API can put them in, through the API and the tracker."""

    def post(path: str, body: Any = None, status: int = 201) -> None:
        response = client.post(path, json=body)
        assert response.status_code == status, response.get_data(as_text=True)

    with freeze_time("2026-11-27T08:00:00.123456Z"):
        # Stations given at creation share one instant: their order is their ids'.
        post(
            "/api/sim/orders",
            {"orderNumber": 1, "addons": ["BSC", "AR"], "stations": ["GEN", "BSC", "AR1"]},
        )
        post(
            "/api/sim/orders",
            {
                "orderNumber": 2,
                "trayNumber": "12",
                "poNumber": "PO-2",
                "jobType": "A",
                "addons": ["HC"],
            },
        )
        post(
            "/api/sim/orders",
            {"orderNumber": 3, "status": "U", "unvalidMessage": "No frame", "rtCalculated": False},
        )
        post("/api/sim/orders", {"orderNumber": 4, "stations": ["GEN"], "onHold": True})
        post("/api/sim/orders", {"orderNumber": 5, "status": "V", "poNumber": "PO-5"})
        post("/api/sim/orders", {"orderNumber": 6, "stations": ["GEN"], "trayNumber": "6"})
        post("/api/sim/orders", {"orderNumber": 7, "addons": ["BSC"], "stations": ["GEN"]})
    with freeze_time("2026-11-27T09:00:00.000001Z"):
        post("/api/v2/job_track/stations/HC", {"orderIdentifier": "12"})
        post("/api/v2/job_track/stations/FQA", {"orderIdentifier": "PO-2", "operator": "JD"})
        post("/api/v2/job_track/stations/REC", {"orderIdentifier": "5"})
        assert client.delete("/api/v2/orders/6?deleteReason=1").status_code == 200
        post("/api/v2/orders/1/complete")
        post("/api/v2/orders/2/complete")
        post("/api/v2/orders/7/complete", status=400)  # Needs Backside Coat!
    with freeze_time("2026-11-27T09:00:00.000002Z"):
        post("/api/v2/orders/5/complete")
        assert client.patch("/api/sim/orders/5", json={"onHold": True}).status_code == 200
    with freeze_time("2026-11-27T10:00:00Z"):
        # 1 and 2 are completed, 5 is rejected (on hold since its flag).
        outcome = process_batch(session_factory, config)
    assert (sorted(outcome.completed), len(outcome.rejected)) == ([1, 2], 1)
    with freeze_time("2026-11-27T10:30:00Z"):
        assert client.patch("/api/sim/orders/5", json={"onHold": False}).status_code == 200
        post("/api/sim/orders/4/checkins", {"station": "BSC", "operator": "MS"})
        post("/api/v2/orders/4/complete", status=400)  # on hold
        post("/api/sim/orders", {"orderNumber": 8, "stations": ["GEN"]})
        post("/api/v2/orders/8/complete")  # left flagged: in the queue


def read_everything(client: FlaskClient) -> list[tuple[str, int, bytes]]:
    """Every read endpoint's answer, byte for byte, for every order and list."""
    paths = [
        "/api/v2/orders",
        "/api/v2/orders?limit=3&offset=2",
        "/api/v2/orders?status=P",
        "/api/v2/orders?status=C",
        "/api/v2/orders?status=W",
        "/api/v2/orders?station=GEN",
        "/api/v2/orders?station=CMP",
        "/api/sim/tracker",
        "/api/sim/snapshot",
    ]
    for identifier in (*[str(n) for n in range(1, 10)], "12", "6", "PO-2", "PO-5"):
        paths += [
            f"/api/v2/orders/{identifier}/status",
            f"/api/v2/orders/{identifier}",
            f"/api/v2/orders/{identifier}/history",
            f"/api/v2/orders/{identifier}/pick",
        ]
    answers = []
    for path in paths:
        response = client.get(path)
        answers.append((path, response.status_code, response.data))
    return answers


def test_a_snapshot_restored_into_a_fresh_database_reads_byte_for_byte_the_same(
    client: FlaskClient,
    session_factory: sessionmaker[Session],
    tracker_config: TrackerConfig,
    settings: Settings,
    lab: Lab,
    tmp_path: Path,
) -> None:
    build_a_lab_day(client, session_factory, tracker_config)
    # The pick state travels too: one order's lenses picked.
    assert client.post("/api/v2/orders/7/pick", json=LENSES).status_code == 200
    snapshot = client.get("/api/sim/snapshot")
    assert snapshot.status_code == 200
    original = read_everything(client)
    assert total(client) == 8

    with fresh_database(tmp_path) as url, client_on(url, settings, lab) as restored:
        # Orders already there are replaced, not added to: the count follows.
        restored.post("/api/sim/scenarios/seed_outcomes")
        assert_body(
            restored.put("/api/sim/snapshot", data=snapshot.data),
            200,
            {"message": "Successful", "orders": 8},
        )
        assert read_everything(restored) == original
        assert total(restored) == 8


def test_a_snapshot_holds_what_each_order_went_through(
    client: FlaskClient, session_factory: sessionmaker[Session], tracker_config: TrackerConfig
) -> None:
    build_a_lab_day(client, session_factory, tracker_config)
    orders = {o["orderNumber"]: o for o in client.get("/api/sim/snapshot").get_json()["orders"]}
    assert list(orders) == [str(n) for n in range(1, 9)]
    assert orders["2"] == {
        "orderNumber": "2",
        "trayNumber": "12",
        "poNumber": "PO-2",
        "jobType": "A",
        "status": "C",
        "onHold": False,
        "deleted": False,
        "unvalidMessage": None,
        "rtCalculated": True,
        "ltCalculated": True,
        "dateOrdered": "2026-11-27",
        "dateCompleted": "2026-11-27",
        "addons": ["HC"],
        "checkins": [
            {"station": "HC", "at": "2026-11-27T09:00:00.000001Z", "operator": None},
            {"station": "FQA", "at": "2026-11-27T09:00:00.000001Z", "operator": "JD"},
            {"station": "CMP", "at": "2026-11-27T10:00:00.000000Z", "operator": None},
        ],
        "flaggedAt": None,
        "completionError": None,
        "stock": False,
        "customerNumber": None,
        "customerJobId": None,
        "dateReceived": None,
        "dateWanted": None,
        "dateTimeValid": None,
        "submitted": None,
        "pick": {
            "rtOPC": "0209448281",
            "ltOPC": "0209448281",
            "frameUPC": "0799431000017",
            "frameSKU": None,
            "framePartSKU": None,
            "frameSideShieldSKU": None,
            "misc1SKU": None,
            "misc2SKU": None,
            "picked": [],
        },
    }
    assert (orders["5"]["flaggedAt"], orders["5"]["completionError"]) == (
        None,
        {"code": "05", "message": "Order on hold"},
    )
    assert orders["8"]["flaggedAt"] == "2026-11-27T10:30:00.000000Z"
    assert orders["6"]["deleted"] is True


def test_a_bad_snapshot_changes_nothing(client: FlaskClient) -> None:
    assert_body(load(client, "seed_outcomes"), 200, LOADED_6)
    before = client.get("/api/sim/snapshot").data
    body = {
        "orders": [
            {"orderNumber": "1", "addons": ["AR"]},
            {"orderNumber": "2", "checkins": [{"station": "XX", "at": "2026-11-27T08:00:00Z"}]},
        ]
    }
    assert_body(
        client.put("/api/sim/snapshot", json=body),
        400,
        invalid_scenario("orders.1.checkins.0.station: Unknown station 'XX'."),
    )
    assert_body(
        client.put("/api/sim/snapshot", json={"orders": [{"orderNumber": "x"}]}),
        400,
        {
            "error": "Invalid request",
            "details": ["orders.0.orderNumber: Must be digits (0-9), as a string or an integer."],
        },
    )
    assert client.get("/api/sim/snapshot").data == before
    assert total(client) == 6


def test_a_snapshot_restores_a_submitted_order_as_it_was_imported(
    client: FlaskClient,
    session_factory: sessionmaker[Session],
    tracker_config: TrackerConfig,
    settings: Settings,
    lab: Lab,
    tmp_path: Path,
) -> None:
    submission = {
        "customerJobId": "JOB-9",
        "customerNumber": "1001",
        "jobType": "F",
        "poNumber": "PO-9",
        "rtLensStyle": "SV",
        "rtLensMaterial": "PC",
        "ltLensStyle": "SV",
        "ltLensMaterial": "CR",
        "rtSphere": -2.25,
        "ltAxis": 90,
        "frameName": "AVIATOR",
        "frameSKU": "SKU-9",
        "dateWanted": "2026-12-24",
    }
    assert client.post("/api/v2/orders", json=submission).status_code == 202
    with freeze_time("2026-12-07T09:30:00.123456Z"):
        assert run_cycle(session_factory, tracker_config).imported == 1
    snapshot = client.get("/api/sim/snapshot")
    original = [
        client.get(path).data for path in ("/api/v2/orders/PO-9", "/api/v2/orders/PO-9/pick")
    ]

    with fresh_database(tmp_path) as url, client_on(url, settings, lab) as restored:
        assert restored.put("/api/sim/snapshot", data=snapshot.data).status_code == 200
        again = [
            restored.get(path).data for path in ("/api/v2/orders/PO-9", "/api/v2/orders/PO-9/pick")
        ]
    assert again == original
    order = client.get("/api/v2/orders/PO-9").get_json()
    assert (order["customerNumber"], order["frameName"], order["ltAxis"]) == ("1001", "AVIATOR", 90)


def test_submitted_fields_in_a_snapshot_are_checked_as_a_submission_is(
    client: FlaskClient,
) -> None:
    body = {"orders": [{"orderNumber": "1", "submitted": {"rtSphere": "abc", "frameA": 10}}]}
    response = client.put("/api/sim/snapshot", json=body)
    assert response.status_code == 400
    frame_a = "Must be greater than or equal to 30 and less than or equal to 80."
    assert response.get_json()["details"] == [
        f"orders.0.submitted.frameA: {frame_a}",
        "orders.0.submitted.rtSphere: Not a valid number.",
    ]


def test_an_empty_snapshot_empties_the_lab(client: FlaskClient, make_order: Any) -> None:
    make_order()
    assert_body(
        client.put("/api/sim/snapshot", json={"orders": []}),
        200,
        {"message": "Successful", "orders": 0},
    )
    assert_body(client.get("/api/v2/orders"), 200, {"total": 0, "orders": []})


# ---- SCENARIO at start --------------------------------------------------------------------------


def test_the_scenario_setting_is_loaded_in_place_of_the_orders(
    settings: Settings, lab: Lab, client: FlaskClient, make_order: Any
) -> None:
    make_order(orderNumber=1)
    loaded = load_configured_scenario(dataclasses.replace(settings, scenario="seed_outcomes"), lab)
    assert loaded == 6
    assert total(client) == 6
    assert load_configured_scenario(settings, lab) is None
    assert total(client) == 6


def test_a_scenario_setting_that_cannot_be_loaded_says_why(
    settings: Settings, lab: Lab, folder: Path
) -> None:
    (folder / "bad.toml").write_text(BAD_ADDON, encoding="utf-8")
    with pytest.raises(ScenarioNotLoaded) as missing:
        load_configured_scenario(dataclasses.replace(settings, scenario="nosuch"), lab)
    assert str(missing.value) == f"SCENARIO: no scenario 'nosuch' in {DEFAULT_SCENARIO_FOLDER}"
    with pytest.raises(ScenarioNotLoaded) as bad:
        load_configured_scenario(
            dataclasses.replace(settings, scenario="bad", scenario_folder=folder), lab
        )
    assert str(bad.value) == "SCENARIO: bad: orders.3.addons.1: Unknown addon 'XX'."


@pytest.mark.e2e
def test_run_api_and_gunicorn_load_the_scenario_before_they_serve(
    database_url: str, tmp_path: Path
) -> None:
    with live.run_api(database_url, tmp_path, scenario="tracker_cases") as api:
        status, body = api.call("GET", "/api/v2/orders?limit=1")
        assert (status, body["total"]) == (200, 4)
    with live.run_gunicorn(database_url, tmp_path, workers=2, scenario="seed_outcomes") as api:
        status, body = api.call("GET", "/api/v2/orders?limit=1")
        assert (status, body["total"]) == (200, 6)
    run = subprocess.run(
        [sys.executable, "run_api.py", "--scenario", "nosuch"],
        cwd=PROJECT_ROOT,
        env=live.make_env(database_url, PORT=live.free_port()),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (run.returncode, run.stderr.strip().splitlines()[-1]) == (
        2,
        f"run_api: SCENARIO: no scenario 'nosuch' in {DEFAULT_SCENARIO_FOLDER}",
    )
