"""The simulator's writes: numbers within reach, states the tracker handles, text both databases
store, and no lost update or 500 when a write meets the tracker or a reset."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import assert_body
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from shared.db.engine import transaction
from shared.db.models import Order
from shared.domain.clock import utcnow
from shared.domain.lab_setup import Lab
from shared.orders.batch import complete_flagged_orders
from tracker.jobs import TrackerConfig, run_cycle

MakeOrder = Callable[..., str]
TOP = "999999999999999999"
RACE_TRIES = 100


def invalid(*details: str) -> dict[str, Any]:
    return {"error": "Invalid request", "details": list(details)}


def flag(client: FlaskClient, number: str) -> None:
    response = client.post(f"/api/v2/orders/{number}/complete")
    assert response.status_code == 201, response.get_json()


def state(client: FlaskClient, number: str) -> dict[str, Any]:
    response = client.get(f"/api/v2/orders/{number}/status")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# ---- numbering --------------------------------------------------------------------------------


def test_after_the_top_number_is_taken_new_orders_get_the_lowest_free_number(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    make_order(orderNumber=TOP)
    first = make_order()
    second = make_order()
    assert (first, second) == ("10001", "10002")
    for number in (first, second):
        assert client.post(f"/api/v2/orders/{number}/complete").status_code == 201


def test_the_lowest_free_number_fills_a_gap_in_the_automatic_numbers(
    make_order: MakeOrder,
) -> None:
    for number in ("10001", "10002", "10004", TOP):
        make_order(orderNumber=number)
    assert (make_order(), make_order(), make_order()) == ("10003", "10005", "10006")


def test_when_no_number_is_left_creating_without_one_is_a_400(
    client: FlaskClient, make_order: MakeOrder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Filling 10**18 numbers is out of reach: the same rule over a range of three.
    monkeypatch.setattr("shared.orders.numbering.MAX_ORDER_NUMBER", 10003)
    for number in ("10001", "10002", "10003"):
        make_order(orderNumber=number)
    assert_body(
        client.post("/api/sim/orders", json={}),
        400,
        invalid("orderNumber: Every order number from 10001 to 10003 is taken; give one."),
    )
    assert make_order(orderNumber="5") == "5"


# ---- what the writes do to the completion flag ------------------------------------------------


def test_completing_a_flagged_order_by_hand_takes_it_out_of_the_queue(
    client: FlaskClient,
    make_order: MakeOrder,
    session_factory: sessionmaker[Session],
    tracker_config: TrackerConfig,
) -> None:
    number = make_order(addons=["BSC"], stations=["BSC"])
    flag(client, number)
    response = client.patch(f"/api/sim/orders/{number}", json={"status": "C"})
    assert response.status_code == 200
    assert (response.get_json()["pendingCompletion"], response.get_json()["completionError"]) == (
        False,
        None,
    )
    summary = run_cycle(session_factory, tracker_config)
    assert (summary.completed, summary.rejected) == (0, 0)
    after = state(client, number)
    assert (after["status"], after["pendingCompletion"], after["completionError"]) == (
        "C",
        False,
        None,
    )


def test_a_change_to_a_flagged_order_keeps_the_flag_and_the_tracker_rejects_it_with_the_reason(
    client: FlaskClient,
    make_order: MakeOrder,
    session_factory: sessionmaker[Session],
    tracker_config: TrackerConfig,
) -> None:
    number = make_order(addons=["BSC"], stations=["BSC"])
    flag(client, number)
    held = client.patch(f"/api/sim/orders/{number}", json={"onHold": True}).get_json()
    assert (held["status"], held["pendingCompletion"]) == ("W", True)
    run_cycle(session_factory, tracker_config)
    rejected = state(client, number)
    assert (rejected["pendingCompletion"], rejected["completionError"]) == (
        False,
        {"code": "05", "message": "Order on hold"},
    )
    # Completing it by hand clears the rejection, as the tracker's own completion does.
    done = client.patch(
        f"/api/sim/orders/{number}", json={"onHold": False, "status": "C"}
    ).get_json()
    assert (done["status"], done["completionError"]) == ("C", None)


def test_a_check_in_keeps_the_flag_and_the_tracker_counts_it(
    client: FlaskClient,
    make_order: MakeOrder,
    session_factory: sessionmaker[Session],
    tracker_config: TrackerConfig,
) -> None:
    number = make_order(addons=["BSC"])
    flag_response = client.post(f"/api/v2/orders/{number}/complete")
    assert flag_response.status_code == 400  # needs Backside Coat: not flagged
    client.post(f"/api/sim/orders/{number}/checkins", json={"station": "BSC"})
    flag(client, number)
    scanned = client.post(f"/api/sim/orders/{number}/checkins", json={"station": "FQA"})
    assert scanned.get_json()["pendingCompletion"] is True
    assert run_cycle(session_factory, tracker_config).completed == 1
    assert state(client, number)["status"] == "C"


# ---- text both databases store ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ('{"poNumber": "\\ud800"}', "poNumber: Must not contain a lone surrogate"),
        ('{"poNumber": "a\\u0000b"}', "poNumber: Must not contain a NUL character."),
        ('{"unvalidMessage": "\\udfff x"}', "unvalidMessage: Must not contain a lone surrogate"),
        ('{"addons": ["AR", "\\u0000"]}', "addons.1: Must not contain a NUL character."),
    ],
)
def test_text_no_database_can_store_is_a_400_naming_the_field(
    client: FlaskClient, make_order: MakeOrder, body: str, detail: str
) -> None:
    response = client.post("/api/sim/orders", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["details"][0].startswith(detail)
    number = make_order()
    if "addons" not in body:
        changes = body.replace("poNumber", "unvalidMessage")
        response = client.patch(
            f"/api/sim/orders/{number}", data=changes, content_type="application/json"
        )
        assert response.status_code == 400
        assert response.get_json()["details"][0].startswith(
            detail.replace("poNumber", "unvalidMessage")
        )


def test_the_refusal_of_a_lone_surrogate_names_the_range(client: FlaskClient) -> None:
    assert_body(
        client.post(
            "/api/sim/orders", data='{"poNumber": "\\ud800"}', content_type="application/json"
        ),
        400,
        invalid("poNumber: Must not contain a lone surrogate (\\ud800 to \\udfff)."),
    )


def test_a_station_or_operator_with_a_nul_is_a_400(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    number = make_order()
    assert_body(
        client.post(
            f"/api/sim/orders/{number}/checkins",
            data='{"station": "GEN", "operator": "J\\u0000D"}',
            content_type="application/json",
        ),
        400,
        invalid("operator: Must not contain a NUL character."),
    )


def test_a_document_nested_10000_levels_deep_is_malformed_json(client: FlaskClient) -> None:
    deep = "[" * 10_000 + "]" * 10_000
    for method, path in (("POST", "/api/sim/orders"), ("PATCH", "/api/sim/orders/1")):
        assert_body(
            client.open(path, method=method, data=deep, content_type="application/json"),
            400,
            invalid("Malformed JSON: the body is nested too deeply"),
        )


def test_an_invalid_content_length_is_a_400_and_creates_nothing(
    client: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    for length in ("abc", "-5"):
        assert_body(
            client.post(
                "/api/sim/orders",
                data=b'{"orderNumber": 777, "deleted": true}',
                environ_overrides={"CONTENT_LENGTH": length},
            ),
            400,
            invalid(f"Content-Length: must be a number of bytes, not {length!r}"),
        )
    with session_factory() as session:
        assert session.execute(select(Order)).first() is None


# ---- writes meeting the tracker, or a reset ---------------------------------------------------


def wait_until_blocked(engine: Engine) -> None:
    """Until another session waits for a lock (PostgreSQL); SQLite's writers queue at BEGIN, where
    no other connection can see them wait, so there a moment is given instead."""
    if engine.dialect.name != "postgresql":
        threading.Event().wait(0.3)
        return
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND datname = current_database()"
    )
    for _ in range(400):
        with engine.connect() as connection:
            if connection.execute(query).scalar_one():
                return
        threading.Event().wait(0.025)
    raise AssertionError("the simulator's write never waited for the tracker's lock")


def in_thread(app: Flask, method: str, path: str, body: dict[str, Any]) -> Callable[[], Any]:
    """Send a request from another thread; answer a function that waits for its response."""
    result: dict[str, Any] = {}

    def send() -> None:
        response = app.test_client().open(path, method=method, json=body)
        result["response"] = (response.status_code, response.get_json())

    thread = threading.Thread(target=send)
    thread.start()

    def wait() -> Any:
        thread.join(30)
        assert not thread.is_alive()
        return result["response"]

    return wait


@pytest.mark.parametrize(
    ("method", "suffix", "body", "ready", "seen"),
    [
        # The tracker completes the order; a PATCH to V read before the commit would answer
        # from the order it read (still flagged) and write its stale status over the completion.
        ("PATCH", "", {"status": "V"}, "P", {"status": "V", "pendingCompletion": False}),
        # A scan of a Valid order puts it in Process: read before the commit, the scan would put
        # the completed order back in Process.
        ("POST", "/checkins", {"station": "GEN"}, "V", {"status": "C", "pendingCompletion": False}),
    ],
    ids=["patch", "checkin"],
)
def test_a_simulator_write_waits_for_the_tracker_and_sees_its_completion(
    app: Flask,
    client: FlaskClient,
    make_order: MakeOrder,
    session_factory: sessionmaker[Session],
    engine: Engine,
    lab: Lab,
    method: str,
    suffix: str,
    body: dict[str, Any],
    ready: str,
    seen: dict[str, Any],
) -> None:
    number = make_order(status=ready, addons=["BSC"], stations=["BSC"])
    flag(client, number)
    with transaction(session_factory) as tracker:
        outcome = complete_flagged_orders(
            tracker, lab, now=utcnow(), today=date(2026, 11, 27), limit=10
        )
        assert outcome.completed == [int(number)]
        response = in_thread(app, method, f"/api/sim/orders/{number}{suffix}", body)
        wait_until_blocked(engine)
    status, answer = response()
    assert status in (200, 201), answer
    assert {key: answer[key] for key in seen} == seen
    assert answer["currentStation"] == ("GEN" if suffix else "CMP")
    with session_factory() as session:
        order = session.get(Order, int(number))
        assert order is not None
        assert order.status.value == seen["status"]
        assert order.completion_requested_at is None
        assert order.date_completed == (date(2026, 11, 27) if seen["status"] == "C" else None)


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [("PATCH", "", {"onHold": True}), ("POST", "/checkins", {"station": "GEN"})],
    ids=["patch", "checkin"],
)
def test_a_write_racing_a_reset_answers_404_or_succeeds_never_500(
    app: Flask, make_order: MakeOrder, method: str, suffix: str, body: dict[str, Any]
) -> None:
    answers: set[int] = set()

    def write(number: str) -> int:
        return (
            app.test_client()
            .open(f"/api/sim/orders/{number}{suffix}", method=method, json=body)
            .status_code
        )

    def reset() -> int:
        return app.test_client().post("/api/sim/reset").status_code

    with ThreadPoolExecutor(2) as pool:
        for _ in range(RACE_TRIES):
            number = make_order(stations=["GEN"], addons=["AR"])
            written = pool.submit(write, number)
            assert pool.submit(reset).result(30) == 200
            answers.add(written.result(30))
    assert answers <= {200 if method == "PATCH" else 201, 404}, answers
