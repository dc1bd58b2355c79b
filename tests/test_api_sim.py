"""The simulator's controls under /api/sim: clear 400s, never a 500, data never half written."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from flask.testing import FlaskClient
from freezegun import freeze_time
from helpers import assert_body
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shared.db.models import CheckIn, Order, OrderAddon

MakeOrder = Callable[..., str]


def invalid(*details: str) -> dict[str, Any]:
    return {"error": "Invalid request", "details": list(details)}


def count(session_factory: sessionmaker[Session], model: type[Any]) -> int:
    with session_factory() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_an_order_with_no_keys_gets_a_number_and_the_defaults(client: FlaskClient) -> None:
    first = client.post("/api/sim/orders")
    second = client.post("/api/sim/orders", json={})
    assert (first.status_code, second.status_code) == (201, 201)
    assert int(second.get_json()["orderNumber"]) == int(first.get_json()["orderNumber"]) + 1
    state = first.get_json()
    assert (state["status"], state["onHold"], state["pendingCompletion"]) == ("P", False, False)


def test_an_order_is_created_with_everything_it_was_given(
    client: FlaskClient, session_factory: sessionmaker[Session]
) -> None:
    with freeze_time("2026-11-27T12:00:00Z"):
        response = client.post(
            "/api/sim/orders",
            json={
                "orderNumber": 33719,
                "trayNumber": 42,
                "poNumber": "PO 'x'; DROP--",
                "jobType": "U",
                "status": "C",
                "addons": ["AR", "BSC", "AR"],
                "stations": ["GEN", "BSC", "AR1"],
            },
        )
    state = response.get_json()
    assert response.status_code == 201
    assert (state["orderNumber"], state["trayNumber"], state["poNumber"]) == (
        "33719",
        "42",
        "PO 'x'; DROP--",
    )
    assert (state["status"], state["currentStation"]) == ("C", "AR1")
    with session_factory() as session:
        order = session.get(Order, 33719)
        assert order is not None
        assert order.date_completed == date(2026, 11, 27)
        assert sorted(a.addon_code for a in order.addons) == ["AR", "BSC"]
        assert [c.station for c in sorted(order.checkins, key=lambda c: c.id)] == [
            "GEN",
            "BSC",
            "AR1",
        ]


def test_a_taken_order_number_is_refused_and_the_first_order_kept(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    make_order(orderNumber="33719", poNumber="first")
    assert_body(
        client.post("/api/sim/orders", json={"orderNumber": "33719", "poNumber": "second"}),
        400,
        invalid("orderNumber: Order 33719 already exists."),
    )
    assert client.get("/api/v2/orders/33719/status").get_json()["poNumber"] == "first"


NOT_AT_COMPLETION = "Only a completed order (status C) can be at the completion station 'CMP'."


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({"orderNumber": "12a"}, ["orderNumber: Must be digits (0-9), as a string or an integer."]),
        ({"orderNumber": -5}, ["orderNumber: Must be digits (0-9), as a string or an integer."]),
        ({"orderNumber": 1.5}, ["orderNumber: Must be digits (0-9), as a string or an integer."]),
        ({"orderNumber": True}, ["orderNumber: Must be digits (0-9), as a string or an integer."]),
        ({"orderNumber": "٣٣"}, ["orderNumber: Must be digits (0-9), as a string or an integer."]),
        ({"orderNumber": "9" * 19}, ["orderNumber: Must be at most 18 digits."]),
        ({"orderNumber": 0}, ["orderNumber: Must be greater than 0."]),
        ({"trayNumber": "123456"}, ["trayNumber: Must be at most 5 digits."]),
        ({"poNumber": "x" * 22}, ["poNumber: Longer than maximum length 21."]),
        ({"poNumber": 7}, ["poNumber: Not a valid string."]),
        ({"jobType": "X"}, ["jobType: Must be one of: F, U, A, E."]),
        ({"status": "W"}, ["status: Must be one of: U, V, P, C."]),
        ({"onHold": "yes"}, ["onHold: Not a valid boolean."]),
        ({"deleted": 1}, ["deleted: Not a valid boolean."]),
        ({"addons": "BSC"}, ["addons: Not a valid list."]),
        ({"addons": [None]}, ["addons.0: Field may not be null."]),
        ({"addons": ["NOPE"]}, ["addons.0: Unknown addon 'NOPE'."]),
        ({"stations": ["GEN", "bsc"]}, ["stations.1: Unknown station 'bsc'."]),
        (
            {"stations": ["GEN", "CMP"]},
            [f"stations.1: {NOT_AT_COMPLETION}"],
        ),
        ({"color": "red"}, ["color: Unknown field."]),
        ({"orderNumber": None}, ["orderNumber: Field may not be null."]),
    ],
)
def test_wrong_input_gets_a_400_naming_the_field(
    client: FlaskClient,
    session_factory: sessionmaker[Session],
    body: dict[str, Any],
    details: list[str],
) -> None:
    assert_body(client.post("/api/sim/orders", json=body), 400, invalid(*details))
    assert count(session_factory, Order) == 0


@pytest.mark.parametrize(
    ("data", "details"),
    [
        (
            "{bad",
            [
                "Malformed JSON: Expecting property name enclosed in double quotes: "
                "line 1 column 2 (char 1)"
            ],
        ),
        ("[1, 2]", ["The request body must be a JSON object."]),
        ('"order"', ["The request body must be a JSON object."]),
        ("null", ["The request body must be a JSON object."]),
        (b"\xff\xfe", None),
    ],
)
def test_a_body_that_is_not_a_json_object_gets_a_400(
    client: FlaskClient, data: str | bytes, details: list[str] | None
) -> None:
    response = client.post("/api/sim/orders", data=data, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"] == "Invalid request"
    if details is not None:
        assert response.get_json()["details"] == details


def test_a_huge_body_gets_a_413_in_the_error_shape(client: FlaskClient) -> None:
    response = client.post("/api/sim/orders", json={"poNumber": "x" * 2_000_000})
    assert_body(
        response,
        413,
        {"error": "Request too large", "details": ["The body may be at most 1048576 bytes"]},
    )


def test_unicode_is_stored_and_returned_as_given(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    number = make_order(poNumber="Ünïcødé 😀 ルビー", unvalidMessage="Ça ne va pas", status="U")
    state = client.get(f"/api/v2/orders/{number}/status").get_json()
    assert (state["poNumber"], state["unvalidMessage"]) == ("Ünïcødé 😀 ルビー", "Ça ne va pas")


def test_patch_changes_what_it_is_given_and_nothing_else(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    number = make_order(status="U", unvalidMessage="Missing PD", poNumber="keep")
    response = client.patch(
        f"/api/sim/orders/{number}", json={"status": "V", "unvalidMessage": None}
    )
    state = response.get_json()
    assert response.status_code == 200
    assert (state["status"], state["unvalidMessage"], state["poNumber"]) == ("V", None, "keep")
    state = client.patch(f"/api/sim/orders/{number}", json={"onHold": True}).get_json()
    assert (state["status"], state["statusDesc"], state["onHold"]) == ("W", "On Hold", True)
    state = client.patch(f"/api/sim/orders/{number}", json={"onHold": False}).get_json()
    assert (state["status"], state["onHold"]) == ("V", False)


def test_patching_status_keeps_date_completed_in_step(
    client: FlaskClient, make_order: MakeOrder, session_factory: sessionmaker[Session]
) -> None:
    number = make_order()
    with freeze_time("2026-11-27T12:00:00Z"):
        client.patch(f"/api/sim/orders/{number}", json={"status": "C"})
    with session_factory() as session:
        assert session.get(Order, int(number)).date_completed == date(2026, 11, 27)  # type: ignore[union-attr]
    client.patch(f"/api/sim/orders/{number}", json={"status": "P"})
    with session_factory() as session:
        assert session.get(Order, int(number)).date_completed is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("body", "status_code", "details"),
    [
        ({}, 400, ["Give at least one of status, onHold, deleted, unvalidMessage."]),
        ({"poNumber": "x"}, 400, ["poNumber: Unknown field."]),
        ({"deleted": "true"}, 400, ["deleted: Not a valid boolean."]),
    ],
)
def test_patch_refuses_what_it_cannot_change(
    client: FlaskClient,
    make_order: MakeOrder,
    body: dict[str, Any],
    status_code: int,
    details: list[str],
) -> None:
    number = make_order()
    assert_body(
        client.patch(f"/api/sim/orders/{number}", json=body), status_code, invalid(*details)
    )


def test_patch_of_an_unknown_order_is_no_record_found(client: FlaskClient) -> None:
    assert_body(
        client.patch("/api/sim/orders/424242", json={"onHold": True}),
        404,
        {"error": "No record found", "details": ["Provided: 424242"]},
    )


def test_patch_on_the_check_ins_path_is_a_wrong_method_not_an_order_update(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    """Found by schemathesis: `/orders/<n>` took `33719/checkins` as its order number."""
    number = make_order()
    response = client.patch(f"/api/sim/orders/{number}/checkins", json={"station": "BSC"})
    assert_body(
        response,
        405,
        {"error": "Method not allowed", "details": ["PATCH is not allowed here; use POST"]},
    )
    assert response.headers["Allow"] == "OPTIONS, POST"


def test_a_check_in_moves_the_order_and_puts_a_valid_one_in_process(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    number = make_order(status="V")
    response = client.post(
        f"/api/sim/orders/{number}/checkins", json={"station": "BSC", "operator": "JD"}
    )
    state = response.get_json()
    assert response.status_code == 201
    assert (state["currentStation"], state["status"]) == ("BSC", "P")


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({}, ["station: Missing data for required field."]),
        ({"station": "NOPE"}, ["station: Unknown station 'NOPE'."]),
        ({"station": "bsc"}, ["station: Unknown station 'bsc'."]),
        ({"station": "BSC", "operator": "GEN"}, ["operator: Unknown station 'GEN'."]),
        ({"station": ["BSC"]}, ["station: Not a valid string."]),
        (
            {"station": "CMP"},
            [f"station: {NOT_AT_COMPLETION}"],
        ),
    ],
)
def test_a_check_in_needs_a_known_station(
    client: FlaskClient,
    make_order: MakeOrder,
    session_factory: sessionmaker[Session],
    body: dict[str, Any],
    details: list[str],
) -> None:
    number = make_order()
    assert_body(
        client.post(f"/api/sim/orders/{number}/checkins", json=body), 400, invalid(*details)
    )
    assert count(session_factory, CheckIn) == 0


def test_reset_empties_the_orders(
    client: FlaskClient, make_order: MakeOrder, session_factory: sessionmaker[Session]
) -> None:
    make_order(addons=["BSC"], stations=["BSC"])
    make_order()
    assert_body(client.post("/api/sim/reset"), 200, {"message": "Successful", "ordersDeleted": 2})
    assert [count(session_factory, m) for m in (Order, OrderAddon, CheckIn)] == [0, 0, 0]
    assert client.post("/api/sim/orders").status_code == 201


def test_the_tracker_endpoint_reports_no_tracker_and_the_pending_count(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    client.post(f"/api/v2/orders/{make_order()}/complete")
    make_order()
    assert_body(
        client.get("/api/sim/tracker"), 200, {"running": False, "lastHeartbeat": None, "pending": 1}
    )
