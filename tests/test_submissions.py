"""POST /api/v2/orders and the Remote Order Processor: refusals in Rx-Universe's order, the 202
body, the queue invisible until the tracker imports it, pause and resume, exactly-once import."""

from __future__ import annotations

import dataclasses
import json
import random
import threading
import time
from contextlib import ExitStack
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import Stoppable
from flask.testing import FlaskClient
from freezegun import freeze_time
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

import live
from api.app import create_app
from api.v2.submission import SubmittedOrderSchema
from config.settings import Settings
from shared.db.engine import make_engine, make_session_factory
from shared.db.models import Order, Submission
from shared.domain.lab_setup import Lab, OrderEntry
from shared.orders import submissions
from tests.helpers import assert_body, close_app
from tracker.jobs import TrackerConfig, import_batch, run_cycle

Factory = sessionmaker[Session]
IMPORTED = "2026-12-07T09:30:00.123456Z"
KILLED_SUBMISSIONS = 300
KILLED_BATCH = 5
MIN_KILLS = 4
# How long four trackers may take to start, on a busy machine.
STARTUP_TIMEOUT = 30.0
# How long the trackers, killed again and again, may take to import every submission.
DRAIN_DEADLINE = 240.0
IMPORTED_DAY = date(2026, 12, 7)
ORDER = {
    "customerJobId": "JOB-1",
    "customerNumber": "1001",
    "jobType": "F",
    "poNumber": "PO-100",
    "rtLensStyle": "SV",
    "rtLensMaterial": "PC",
    "ltLensStyle": "SV",
    "ltLensMaterial": "PC",
    "addons": ["AR"],
}
LENS_STYLE_MISSING = "rtLensStyle, ltLensStyle are missing, at least one parameter must be provided"
MATERIAL_MISSING = (
    "rtLensMaterial, ltLensMaterial are missing, at least one parameter must be provided"
)


def submit(client: FlaskClient, **changes: Any) -> Any:
    body = {k: v for k, v in {**ORDER, **changes}.items() if v is not ...}
    return client.post("/api/v2/orders", json=body)


def refusal(error: str, *details: str) -> dict[str, Any]:
    return {"error": error, "details": list(details)}


def waiting(session_factory: Factory) -> int:
    with session_factory() as session:
        return session.execute(
            select(func.count()).where(Submission.imported_at.is_(None))
        ).scalar_one()


def imported_numbers(session_factory: Factory) -> list[int]:
    with session_factory() as session:
        return list(
            session.execute(select(Submission.order_number).order_by(Submission.id)).scalars()
        )


def run_import(session_factory: Factory, config: TrackerConfig) -> int:
    with freeze_time(IMPORTED):
        return run_cycle(session_factory, config).imported


# ---- the refusals, in Rx-Universe's order ------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "status", "body"),
    [
        (
            {"rtLensStyle": ..., "ltLensStyle": ...},
            400,
            refusal("Incorrect arguments provided", LENS_STYLE_MISSING),
        ),
        (
            {"rtLensMaterial": ..., "ltLensMaterial": None},
            400,
            refusal("Incorrect arguments provided", MATERIAL_MISSING),
        ),
        (
            {"rtLensStyle": ..., "ltLensStyle": "", "rtLensMaterial": ..., "ltLensMaterial": ...},
            400,
            refusal("Incorrect arguments provided", LENS_STYLE_MISSING, MATERIAL_MISSING),
        ),
        (
            {"crib": 65},
            400,
            refusal("crib is only valid on uncut jobs", "Job Type: F", "Frame SW:"),
        ),
        (
            {"ellh": 20, "jobType": "E", "frameStatusCode": "F"},
            400,
            refusal("ellh is only valid on uncut jobs", "Job Type: E", "Frame SW: F"),
        ),
        ({"customerNumber": "9999"}, 400, refusal("Customer does not exist", "Provided: 9999")),
        ({"jobType": "A", "addons": []}, 400, refusal("No addons entered")),
        (
            {"rtSphere": 49.25},
            400,
            refusal("Validation Failed", "ERROR 112: SPHERE MUST BE BETWEEN -39.0 AND +49.0"),
        ),
        (
            {"ltSphere": -39.5, "rtCylinder": 20.0, "ltAxis": 181},
            400,
            refusal(
                "Validation Failed",
                "ERROR 112: SPHERE MUST BE BETWEEN -39.0 AND +49.0",
                "ERROR 113: CYLINDER MUST BE BETWEEN -19.75 AND +19.75",
                "ERROR 114: AXIS MUST BE BETWEEN 0 AND 180",
            ),
        ),
    ],
)
def test_each_refusal_answers_rx_universes_body_and_queues_nothing(
    client: FlaskClient,
    session_factory: Factory,
    changes: dict[str, Any],
    status: int,
    body: dict[str, Any],
) -> None:
    assert_body(submit(client, **changes), status, body)
    assert waiting(session_factory) == 0


def test_the_refusals_come_in_the_documented_order(client: FlaskClient) -> None:
    """Each condition listed earlier wins over every one listed after it."""
    everything = {
        "rtLensStyle": ...,
        "ltLensStyle": ...,
        "crib": 65,
        "ellh": 20,
        "customerNumber": "9999",
        "jobType": "A",
        "addons": [],
        "rtSphere": 60.0,
        "ltTracePoints": "2500",
    }
    expected = [
        ("rtLensStyle", "Incorrect arguments provided"),
        ("crib", "crib is only valid on uncut jobs"),
        ("ellh", "ellh is only valid on uncut jobs"),
        ("customerNumber", "Customer does not exist"),
        ("addons", "No addons entered"),
        ("rtSphere", "Validation Failed"),
        ("ltTracePoints", "Trace validation failed"),
    ]
    for fixed, error in expected:
        assert submit(client, **everything).get_json()["error"] == error
        everything.pop(fixed)
        if fixed == "rtLensStyle":
            everything.pop("ltLensStyle")
    assert submit(client, **everything).status_code == 202


RADII = ";".join(str(2400 + i % 300) for i in range(400))


def trace_refusal(*details: str) -> dict[str, Any]:
    return refusal("Trace validation failed", *details)


@pytest.mark.parametrize(
    ("changes", "body"),
    [
        ({"rtTracePoints": RADII}, trace_refusal("rtTracePoints: Must come with rtTraceFmt.")),
        ({"ltTraceFmt": "1;400;E;L;F"}, trace_refusal("ltTraceFmt: Must come with ltTracePoints.")),
        (
            {"rtTraceFmt": "1;400;E;R", "rtTracePoints": RADII},
            trace_refusal(
                "rtTraceFmt: Must be 1;count;E;side;type, e.g. 1;400;E;R;F (format 1, 1 to 1000 "
                "equiangular radii, type F, P or D)."
            ),
        ),
        (
            {"ltTraceFmt": "1;399;E;R;F", "ltTracePoints": RADII},
            trace_refusal(
                "ltTraceFmt: The side must be L, not R.",
                "ltTracePoints: 400 radii; ltTraceFmt announces 399.",
            ),
        ),
        (
            {"rtTraceFmt": "1;3;E;R;P", "rtTracePoints": "2400;x;-1"},
            trace_refusal(
                "rtTracePoints: Value 2 ('x') must be a whole number from 0 to 9999 (hundredths "
                "of a millimetre)."
            ),
        ),
        (
            {
                "rtTraceFmt": "1;400;E;R;F",
                "rtTracePoints": RADII,
                "rtTraceZFmt": "1;2;E;R;F",
                "rtTraceZPoints": "-12;10000",
                "ltTraceZPoints": "0",
            },
            trace_refusal(
                "rtTraceZPoints: Value 2 ('10000') must be a whole number from -9999 to 9999 "
                "(hundredths of a millimetre).",
                "ltTraceZPoints: Must come with ltTraceZFmt.",
            ),
        ),
    ],
)
def test_a_trace_that_fails_validation_is_refused_naming_each_field(
    client: FlaskClient, session_factory: Factory, changes: dict[str, Any], body: dict[str, Any]
) -> None:
    """Ours: Rx-Universe says a trace is validated (its last refusal), not what the answer says."""
    assert_body(submit(client, **changes), 400, body)
    assert waiting(session_factory) == 0


def test_a_valid_trace_on_both_eyes_is_queued_and_kept_as_sent(
    client: FlaskClient, session_factory: Factory
) -> None:
    trace = {
        "rtTraceFmt": "1;400;E;R;F",
        "rtTracePoints": RADII,
        "ltTraceFmt": "1; 400; E; L; F",
        "ltTracePoints": RADII.replace(";", "; "),
        "rtTraceZFmt": "1;4;E;R;F",
        "rtTraceZPoints": "-12;0;+7;9999",
    }
    answer = submit(client, **trace)
    assert answer.status_code == 202, answer.get_json()
    with session_factory() as session:
        (payload,) = session.execute(select(Submission.payload)).scalars()
    assert {key: json.loads(payload)[key] for key in trace} == trace


def test_a_supplied_frame_is_refused_with_a_500_while_frame_inventory_is_offline(
    settings: Settings, lab: Lab, session_factory: Factory
) -> None:
    offline = dataclasses.replace(
        lab, order_entry=OrderEntry(frame_inventory_in_use=True, frame_inventory_online=False)
    )
    app = create_app(settings, lab=offline)
    client = app.test_client()
    try:
        assert_body(
            submit(client, frameStatusCode="S"), 500, refusal("Frame Inventory Module is offline")
        )
        assert submit(client, frameStatusCode="F").status_code == 202
        assert waiting(session_factory) == 1
    finally:
        close_app(app)


@pytest.mark.parametrize(
    ("changes", "details"),
    [
        (
            {"customerJobId": ..., "frameA": 29.9, "frameEye": 12.5, "colour": "red"},
            [
                "colour: Unknown field.",
                "customerJobId: Missing data for required field.",
                "frameA: Must be greater than or equal to 30 and less than or equal to 80.",
                "frameEye: Not a valid integer.",
            ],
        ),
        (
            {"jobType": "X", "balanceLens": "B", "frameStatusCode": "Z"},
            [
                "balanceLens: Must be one of: R, L, .",
                "frameStatusCode: Must be one of: , S, E, F, U, N, L, O.",
                "jobType: Must be one of: F, U, A, E.",
            ],
        ),
        ({"poNumber": "P" * 21}, ["poNumber: Length must be between 1 and 20."]),
        ({"rtSphere": "1.25"}, ["rtSphere: Not a valid number."]),
        ({"onHold": "yes"}, ["onHold: Not a valid boolean."]),
        ({"dateWanted": "07/12/2026"}, ["dateWanted: Not a valid date."]),
        ({"frameName": "A\x00B"}, ["frameName: Must not contain a NUL character."]),
        ({"addons": ["AR", "XX"]}, ["addons.1: Unknown addon 'XX'."]),
        ({"customerNumber": None}, ["customerNumber: Field may not be null."]),
    ],
)
def test_an_invalid_value_is_refused_naming_every_field_at_fault(
    client: FlaskClient, session_factory: Factory, changes: dict[str, Any], details: list[str]
) -> None:
    response = submit(client, **changes)
    assert response.status_code == 400
    assert response.get_json()["error"] == "Invalid request"
    assert sorted(response.get_json()["details"]) == details
    assert waiting(session_factory) == 0


def test_nan_and_infinity_are_refused_not_stored(client: FlaskClient) -> None:
    for raw in ('{"rtSphere": NaN}', '{"rtSphere": Infinity}'):
        body = raw.replace(
            "{",
            "{" + ", ".join(f'"{k}": "{v}"' for k, v in ORDER.items() if isinstance(v, str)) + ", ",
        )
        response = client.post(
            "/api/v2/orders", data=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, response.get_data(as_text=True)


# ---- accepted: the 202 body, then invisible until imported ----------------------------------


def test_an_accepted_order_answers_202_with_the_order_model_and_what_import_assigns_empty(
    client: FlaskClient,
) -> None:
    response = submit(
        client,
        onHold=True,
        addons=["BSC", "AR", "BSC"],
        balanceLens=None,
        frameA=52.5,
        frameName="AVIATOR",
        rtSphere=-2.25,
        dateWanted="2026-12-24",
    )
    assert response.status_code == 202
    body = response.get_json()
    assert list(body) == list(SubmittedOrderSchema().fields)
    assigned_at_import = {
        "orderNumber": "",
        "trayNumber": "",
        "status": "",
        "statusDesc": "",
        "calculationDesc": "",
        "currentStation": "",
        "currentStationDesc": "",
        "currentStationCustomerDesc": "",
        "currentStationDateTime": None,
        "dateOrdered": None,
        "dateReceived": None,
        "dateTimeValid": None,
        "dateCompleted": None,
        "unvalidMessage": "",
        "rtCalculated": False,
        "ltCalculated": False,
    }
    submitted = {
        "poNumber": "PO-100",
        "customerJobId": "JOB-1",
        "customerNumber": "1001",
        "jobType": "F",
        "onHold": True,
        "balanceLens": "",
        "dateWanted": "2026-12-24",
        "frameA": 52.5,
        "frameB": None,
        "frameName": "AVIATOR",
        "frameColor": "",
        "rtLensStyle": "SV",
        "ltLensMaterial": "PC",
        "rtSphere": -2.25,
        "ltSphere": None,
        "arCode": "AR",
        "arDesc": "ANTI-REFLECTIVE",
        "addons": [
            {"code": "BSC", "desc": "BACKSIDE COAT"},
            {"code": "AR", "desc": "ANTI-REFLECTIVE"},
        ],
    }
    ours = {
        "createdUser": "",
        "jobTypeDesc": "Full",
        "deleted": False,
        "pendingCompletion": False,
        "completionError": None,
        "creationRemarks": [],
    }
    for expected in (assigned_at_import, submitted, ours):
        assert {key: body[key] for key in expected} == expected


def test_a_submitted_order_is_invisible_until_the_processor_imports_it(
    client: FlaskClient, session_factory: Factory, tracker_config: TrackerConfig
) -> None:
    assert submit(client).status_code == 202
    for path in ("/api/v2/orders/PO-100", "/api/v2/orders/PO-100/status"):
        assert_body(client.get(path), 404, refusal("No record found", "Provided: PO-100"))
    assert client.get("/api/v2/orders").get_json()["total"] == 0

    assert run_import(session_factory, tracker_config) == 1
    (number,) = imported_numbers(session_factory)
    assert number == 10001
    order = client.get("/api/v2/orders/PO-100").get_json()
    assert (order["orderNumber"], order["status"], order["statusDesc"]) == ("10001", "V", "Valid")
    assert (order["currentStation"], order["currentStationDateTime"]) == (
        "REC",
        "2026-12-07T09:30:00.123Z",
    )
    assert (order["trayNumber"], order["dateOrdered"]) == ("1", "2026-12-07")
    assert [a["code"] for a in order["addons"]] == ["AR"]
    assert client.get("/api/v2/orders").get_json()["total"] == 1


def test_the_import_sets_what_rx_universe_assigns(
    client: FlaskClient, session_factory: Factory, tracker_config: TrackerConfig
) -> None:
    client.post("/api/sim/orders", json={"trayNumber": "1"})  # tray 1 is taken by an active order
    submit(client, poNumber="PO-A")
    submit(client, poNumber="PO-B", dateWanted="2026-12-24", onHold=True, frameName="AVIATOR")
    assert run_import(session_factory, tracker_config) == 2
    with session_factory() as session:
        a, b = (
            session.execute(select(Order).where(Order.po_number == po)).scalar_one()
            for po in ("PO-A", "PO-B")
        )
        assert (a.order_number, b.order_number) == (10002, 10003)
        assert (a.tray_number, b.tray_number) == ("2", "3")
        assert (a.date_received, a.date_wanted) == (IMPORTED_DAY, date(2026, 12, 10))
        assert (b.date_wanted, b.on_hold) == (date(2026, 12, 24), True)
        assert (b.customer_number, b.customer_job_id) == ("1001", "JOB-1")
        assert '"frameName":"AVIATOR"' in (b.submitted or "")


def test_the_import_fills_the_lowest_free_trays_around_those_in_use(
    client: FlaskClient, session_factory: Factory, tracker_config: TrackerConfig
) -> None:
    for tray in ("1", "2", "4", "10", "012"):  # active orders in these trays ("012" is not 12)
        client.post("/api/sim/orders", json={"trayNumber": tray})
    client.post("/api/sim/orders", json={"trayNumber": "3", "status": "C"})  # tray 3 is free again
    client.post("/api/sim/orders", json={"trayNumber": "5", "deleted": True})  # and tray 5
    for index in range(8):
        submit(client, poNumber=f"PO-{index}")
    assert run_import(session_factory, tracker_config) == 8
    with session_factory() as session:
        trays = session.execute(
            select(Order.tray_number).where(Order.po_number.like("PO-%")).order_by(Order.po_number)
        ).scalars()
        assert list(trays) == ["3", "5", "6", "7", "8", "9", "11", "12"]


def test_identical_submissions_are_two_orders_and_their_shared_po_names_neither(
    client: FlaskClient, session_factory: Factory, tracker_config: TrackerConfig
) -> None:
    submit(client)
    submit(client)
    assert run_import(session_factory, tracker_config) == 2
    assert sorted(imported_numbers(session_factory)) == [10001, 10002]
    assert_body(
        client.get("/api/v2/orders/PO-100"), 404, refusal("No record found", "Provided: PO-100")
    )
    assert client.get("/api/v2/orders/10002").status_code == 200


# ---- the processor: paused, resumed, off, exactly once --------------------------------------


def test_a_paused_processor_queues_and_imports_once_resumed(
    client: FlaskClient, session_factory: Factory, tracker_config: TrackerConfig
) -> None:
    paused = client.post("/api/sim/processor/pause")
    assert_body(paused, 200, {"paused": True, "waiting": 0, "oldestWaiting": None})
    with freeze_time("2026-12-07T09:00:00.5Z"):
        assert submit(client).status_code == 202
    assert run_import(session_factory, tracker_config) == 0
    assert_body(
        client.get("/api/sim/processor"),
        200,
        {"paused": True, "waiting": 1, "oldestWaiting": "2026-12-07T09:00:00.500Z"},
    )
    assert client.get("/api/v2/orders/PO-100").status_code == 404

    assert client.post("/api/sim/processor/resume").get_json()["paused"] is False
    assert run_import(session_factory, tracker_config) == 1
    assert client.get("/api/v2/orders/PO-100").status_code == 200
    assert client.get("/api/sim/processor").get_json() == {
        "paused": False,
        "waiting": 0,
        "oldestWaiting": None,
    }


def test_a_tracker_with_the_processor_switched_off_imports_nothing(
    client: FlaskClient, session_factory: Factory, tracker_config: TrackerConfig
) -> None:
    submit(client)
    off = dataclasses.replace(tracker_config, import_orders=False)
    assert run_import(session_factory, off) == 0
    assert waiting(session_factory) == 1
    assert run_import(session_factory, tracker_config) == 1


def test_each_submission_is_imported_once_by_repeated_and_batched_polls(
    client: FlaskClient, session_factory: Factory, tracker_config: TrackerConfig
) -> None:
    for n in range(5):
        submit(client, poNumber=f"PO-{n}")
    small = dataclasses.replace(tracker_config, batch_size=2)
    assert run_import(session_factory, small) == 5  # three batches in one poll
    assert run_import(session_factory, small) == 0
    assert imported_numbers(session_factory) == [10001, 10002, 10003, 10004, 10005]


def test_a_batch_whose_number_a_client_took_meanwhile_is_imported_one_order_at_a_time(
    client: FlaskClient,
    session_factory: Factory,
    tracker_config: TrackerConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for n in range(3):
        submit(client, poNumber=f"PO-{n}")
    # The batch read 10001 as the next number, and a client then created order 10002 with its
    # own number (POST /api/sim/orders takes no numbering turn): the batch's INSERT collides.
    real = submissions.next_order_number
    stale = iter([10001])

    def read_before_the_client(session: Session, first: int) -> int:
        return next(stale, None) or real(session, first)

    monkeypatch.setattr(submissions, "next_order_number", read_before_the_client)
    assert client.post("/api/sim/orders", json={"orderNumber": 10002}).status_code == 201
    assert run_import(session_factory, tracker_config) == 3
    # One at a time, each takes the number after the highest: the client's 10002 is passed over.
    assert imported_numbers(session_factory) == [10003, 10004, 10005]
    for n, number in enumerate((10003, 10004, 10005)):
        assert client.get(f"/api/v2/orders/PO-{n}").get_json()["orderNumber"] == str(number)
    # The client's order is its own still, with no addon or check-in of an imported one.
    assert client.get("/api/v2/orders/10002").get_json()["poNumber"] == ""


def test_trackers_importing_at_once_import_each_submission_exactly_once(
    client: FlaskClient, engine: Engine, session_factory: Factory, tracker_config: TrackerConfig
) -> None:
    for n in range(40):
        submit(client, poNumber=f"PO-{n}")
    small = dataclasses.replace(tracker_config, batch_size=3)
    errors: list[BaseException] = []

    def drain() -> None:
        try:
            while import_batch(session_factory, small).taken:
                pass
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=drain) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    if engine.dialect.name == "sqlite":
        # SQLite serialises writers: a busy one may give up; what is left is imported next poll.
        errors = [e for e in errors if "database is locked" not in str(e)]
        while import_batch(session_factory, small).taken:
            pass
    assert errors == []
    numbers = imported_numbers(session_factory)
    assert None not in numbers
    assert sorted(numbers) == list(range(10001, 10041))
    with session_factory() as session:
        assert session.execute(select(func.count()).select_from(Order)).scalar_one() == 40


def test_an_import_takes_the_submissions_another_holds_without_waiting_for_them(
    postgresql_url: str, client: FlaskClient, engine: Engine, tracker_config: TrackerConfig
) -> None:
    """The import's SKIP LOCKED: another transaction holds the two oldest submissions' rows, as
    an import that has taken them does (not its numbering turn, which any import waits for);
    an import now takes the two others at once, and not those."""
    for n in range(4):
        submit(client, poNumber=f"PO-{n}")
    # Its lock waits give up after a second (the default, ten): waiting is the failure here.
    impatient = make_engine(postgresql_url, timeout=1)
    try:
        with engine.begin() as other_import:
            held = set(
                other_import.execute(
                    select(Submission.id).order_by(Submission.id).limit(2).with_for_update()
                ).scalars()
            )
            with freeze_time(IMPORTED):
                outcome = import_batch(make_session_factory(impatient), tracker_config)
    finally:
        impatient.dispose()
    assert outcome.taken == 2
    assert len(held) == 2 and held.isdisjoint(outcome.imported)


def test_a_reset_empties_the_import_queue_too(
    client: FlaskClient, session_factory: Factory, tracker_config: TrackerConfig
) -> None:
    submit(client)
    assert client.post("/api/sim/reset").status_code == 200
    assert waiting(session_factory) == 0
    assert run_import(session_factory, tracker_config) == 0


# ---- the database down; trackers killed mid-import --------------------------------------------


def test_a_submission_while_the_database_is_down_answers_503_and_queues_nothing(
    stoppable: Stoppable,
) -> None:
    app, switch = stoppable
    client = app.test_client()
    switch(True)
    assert_body(
        submit(client),
        503,
        refusal("Service unavailable", "The database is unavailable; try again"),
    )
    switch(False)
    assert client.get("/api/sim/processor").get_json()["waiting"] == 0
    assert client.get("/api/v2/orders").get_json()["total"] == 0
    assert submit(client).status_code == 202


def seed_submissions(engine: Engine, count: int, first: int = 0) -> int:
    """`count` queued submissions, each with its own PO, inserted at once (the HTTP route would
    take minutes for this many); how many there are from `first` on."""
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            insert(Submission),
            [
                {"received_at": now, "payload": json.dumps({**ORDER, "poNumber": f"KILL-{n}"})}
                for n in range(first, first + count)
            ],
        )
    return first + count


@pytest.mark.e2e
def test_four_trackers_killed_again_and_again_import_each_submission_exactly_once(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    seeded = seed_submissions(engine, KILLED_SUBMISSIONS)
    rng = random.Random()
    deadline = time.monotonic() + DRAIN_DEADLINE
    kill = 0
    while (waiting_in(engine) or kill < MIN_KILLS) and time.monotonic() < deadline:
        if not waiting_in(engine):  # drained too soon to be killed again and again: more
            seeded = seed_submissions(engine, KILLED_SUBMISSIONS, seeded)
        with ExitStack() as stack:
            trackers = []
            for number in range(4):
                folder = tmp_path / f"kill-{kill}-{number}"
                folder.mkdir()
                trackers.append(
                    stack.enter_context(
                        live.run_tracker(
                            database_url,
                            folder,
                            TRACKER_INTERVAL=0.05,
                            TRACKER_BATCH_SIZE=KILLED_BATCH,
                            TRACKER_ID=f"kill-{kill}-{number}",
                        )
                    )
                )
            # Kill them once they are importing: at a random moment of the next batches.
            before = waiting_in(engine)
            live.wait_until(
                lambda before=before: waiting_in(engine) < before or None,
                STARTUP_TIMEOUT,
                "the trackers to import",
                every=0.02,
            )
            time.sleep(rng.uniform(0, 0.05))
            for tracker in trackers:
                tracker.process.kill()
                tracker.process.wait(10)
        kill += 1
    with engine.connect() as connection:
        per_po = connection.execute(
            select(Order.po_number, func.count()).group_by(Order.po_number)
        ).all()
        numbers = connection.execute(select(Submission.order_number)).scalars().all()
    assert waiting_in(engine) == 0, f"not drained in {DRAIN_DEADLINE:g} s after {kill} kills"
    assert kill >= MIN_KILLS
    assert len(per_po) == seeded
    assert {count for _, count in per_po} == {1}  # never zero, never two
    assert None not in numbers and len(set(numbers)) == seeded


def waiting_in(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(
            select(func.count()).where(Submission.imported_at.is_(None))
        ).scalar_one()
