"""`POST /api/v2/orders/{orderIdentifier}/complete`, exactly as the seed documents it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from freezegun import freeze_time
from helpers import assert_body, close_app, completion_error
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from config.settings import Settings
from shared.db.models import Order
from shared.domain.lab_setup import Lab

MakeOrder = Callable[..., str]


def complete(client: FlaskClient, identifier: str) -> Any:
    return client.post(f"/api/v2/orders/{identifier}/complete")


def status(client: FlaskClient, number: str) -> dict[str, Any]:
    return client.get(f"/api/v2/orders/{number}/status").get_json()


def test_a_ready_order_is_flagged_and_answers_201_successful(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    number = make_order(orderNumber="33719", addons=["BSC"], stations=["GEN", "BSC"])
    assert_body(complete(client, number), 201, {"orderNumber": "33719", "message": "Successful"})


def test_flagging_does_not_complete_the_order(client: FlaskClient, make_order: MakeOrder) -> None:
    number = make_order()
    complete(client, number)
    state = status(client, number)
    assert (state["status"], state["pendingCompletion"]) == ("P", True)


@pytest.mark.parametrize(
    ("order", "status_code", "code", "message"),
    [
        (dict(deleted=True), 400, "02", "Order deleted"),
        (dict(status="U", unvalidMessage="Missing PD"), 400, "03", "Order unvalid"),
        (dict(status="C"), 400, "04", "Order already completed"),
        (dict(onHold=True), 400, "05", "Order on hold"),
        (dict(addons=["BSC"], stations=["GEN", "AR1"]), 400, "20", "Needs Backside Coat!"),
        (dict(jobType="A"), 400, "20", "Needs Final QA!"),
    ],
)
def test_each_documented_refusal_has_its_exact_body(
    client: FlaskClient,
    make_order: MakeOrder,
    order: dict[str, Any],
    status_code: int,
    code: str,
    message: str,
) -> None:
    number = make_order(**order)
    assert_body(complete(client, number), status_code, completion_error(code, message))
    assert client.get(f"/api/v2/orders/{number}").get_json()["pendingCompletion"] is False


def test_an_unknown_order_answers_404_code_01(client: FlaskClient) -> None:
    assert_body(complete(client, "33719"), 404, completion_error("01", "Order not found"))


@pytest.mark.parametrize(
    ("order", "code"),
    [
        (dict(deleted=True, status="U", onHold=True, addons=["BSC"]), "02"),
        (dict(status="U", onHold=True, addons=["BSC"]), "03"),
        (dict(status="C", onHold=True, addons=["BSC"]), "04"),
        (dict(onHold=True, addons=["BSC"]), "05"),
    ],
)
def test_checks_run_in_the_documented_order_of_precedence(
    client: FlaskClient, make_order: MakeOrder, order: dict[str, Any], code: str
) -> None:
    response = complete(client, make_order(**order))
    assert response.get_json()["details"][0] == f"Error Code: {code}"


def test_a_repeat_while_flagged_answers_201_and_flags_nothing_twice(
    client: FlaskClient, make_order: MakeOrder, session_factory: sessionmaker[Session]
) -> None:
    number = make_order()
    with freeze_time("2026-11-27T10:00:00Z"):
        first = complete(client, number)
    with freeze_time("2026-11-27T10:05:00Z"):
        second = complete(client, number)
    assert first.get_json() == second.get_json() == {"orderNumber": number, "message": "Successful"}
    assert second.status_code == 201
    with session_factory() as session:
        order = session.get(Order, int(number))
        assert order is not None
        # The flag keeps its first time, so the order keeps its place in the tracker's queue.
        assert order.completion_requested_at == datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({"onHold": True}, "05", "Order on hold"),
        ({"deleted": True}, "02", "Order deleted"),
    ],
)
def test_a_repeat_while_flagged_checks_the_order_again_and_refuses_what_changed(
    client: FlaskClient,
    make_order: MakeOrder,
    change: dict[str, Any],
    code: str,
    message: str,
) -> None:
    """A repeat is a success only while the order still passes the checks: one changed since its
    flag is refused with the reason, as the tracker will reject it (the flag stays for it)."""
    number = make_order()
    assert complete(client, number).status_code == 201
    assert client.patch(f"/api/sim/orders/{number}", json=change).status_code == 200
    assert_body(complete(client, number), 400, completion_error(code, message))
    assert client.get(f"/api/v2/orders/{number}").get_json()["pendingCompletion"] is True


def test_leading_zeros_name_the_same_order(client: FlaskClient, make_order: MakeOrder) -> None:
    make_order(orderNumber="33719")
    accepted = {"orderNumber": "33719", "message": "Successful"}
    assert_body(complete(client, "0033719"), 201, accepted)
    # However many: more zeros than the 18 digits an order number may have are still ignored.
    assert_body(complete(client, "000000000000000033719"), 201, accepted)
    assert_body(complete(client, "0" * 100 + "33719"), 201, accepted)
    assert status(client, "33719")["pendingCompletion"] is True


@pytest.mark.parametrize(
    "identifier",
    [
        "abc",
        "1" * 10_000,
        "9" * 19,
        "0" + "9" * 19,
        "0",
        "0" * 25,
        "-33719",
        "33719.0",
        "ünïcødé-😀",
        "%D9%A3%D9%A3%D9%A7%D9%A1%D9%A9",  # Arabic-Indic digits for 33719
        "33719%20",
        "%2033719",
        "33719%0A",
        "33719%00",
        "1%3B%20DROP%20TABLE%20orders",
        "33719'%20OR%20'1'='1",
        "12%2F34",
        "..%2F33719",
        "%2e%2e",
        "33719%2F..%2F1",
        "%25",
    ],
)
def test_anything_but_an_existing_order_number_answers_404_code_01(
    client: FlaskClient,
    make_order: MakeOrder,
    session_factory: sessionmaker[Session],
    identifier: str,
) -> None:
    make_order(orderNumber="33719")
    make_order(orderNumber="1")
    assert_body(complete(client, identifier), 404, completion_error("01", "Order not found"))
    with session_factory() as session:
        assert session.execute(select(func.count()).select_from(Order)).scalar_one() == 2
        flagged = select(func.count()).where(Order.completion_requested_at.is_not(None))
        assert session.execute(flagged).scalar_one() == 0


def test_other_methods_get_405_in_the_error_shape(client: FlaskClient) -> None:
    response = client.get("/api/v2/orders/33719/complete")
    assert_body(
        response,
        405,
        {"error": "Method not allowed", "details": ["GET is not allowed here; use POST"]},
    )
    assert "POST" in response.headers["Allow"]


def test_head_is_not_allowed_405_with_allow_and_no_body(client: FlaskClient) -> None:
    response = client.head("/api/v2/orders/33719/complete")
    assert (response.status_code, response.mimetype) == (405, "application/json")
    assert response.headers["Allow"] == "OPTIONS, POST"
    assert response.get_data() == b""  # a HEAD answer has no body, only the headers of one


def test_options_answers_200_with_allow_and_an_empty_body(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    number = make_order()
    response = client.options(f"/api/v2/orders/{number}/complete")
    assert response.status_code == 200
    assert sorted(response.headers["Allow"].split(", ")) == ["OPTIONS", "POST"]
    assert response.get_data() == b""
    assert status(client, number)["pendingCompletion"] is False


def test_a_trailing_slash_answers_404_code_01_and_flags_nothing(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    number = make_order()
    assert_body(
        client.post(f"/api/v2/orders/{number}/complete/"),
        404,
        completion_error("01", "Order not found"),
    )
    assert status(client, number)["pendingCompletion"] is False


def test_a_body_sent_with_the_request_is_ignored(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    number = make_order()
    response = client.post(f"/api/v2/orders/{number}/complete", data="{not json")
    assert response.status_code == 201


def test_an_empty_identifier_is_an_order_not_found(client: FlaskClient) -> None:
    assert_body(
        client.post("/api/v2/orders//complete"),
        404,
        completion_error("01", "Order not found"),
    )


def test_unknown_paths_answer_404_in_the_error_shape(client: FlaskClient) -> None:
    assert_body(
        client.post("/api/v2/orderz/1/complete"),
        404,
        {"error": "Not found", "details": ["No endpoint for POST /api/v2/orderz/1/complete"]},
    )


def test_by_default_only_an_order_number_names_the_order_to_complete(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    number = make_order(trayNumber="31", poNumber="PO-31")
    for identifier in ("31", "PO-31"):
        assert_body(complete(client, identifier), 404, completion_error("01", "Order not found"))
    assert status(client, number)["pendingCompletion"] is False


def test_a_lab_completing_by_any_identifier_takes_a_tray_or_a_po(
    settings: Settings, lab: Lab, client: FlaskClient, make_order: MakeOrder
) -> None:
    by_tray = make_order(trayNumber="31")
    by_po = make_order(poNumber="PO-32")
    shared_po = [make_order(poNumber="PO-SHARED") for _ in range(2)]
    app = create_app(settings, lab=dataclasses.replace(lab, completion_by_any_identifier=True))
    try:
        any_client = app.test_client()
        for identifier, number in (("31", by_tray), ("PO-32", by_po)):
            assert_body(
                complete(any_client, identifier),
                201,
                {"orderNumber": number, "message": "Successful"},
            )
        # A PO two orders share names neither, as on the other order pages.
        assert_body(
            complete(any_client, "PO-SHARED"), 404, completion_error("01", "Order not found")
        )
    finally:
        close_app(app)
    assert [status(client, n)["pendingCompletion"] for n in (by_tray, by_po, *shared_po)] == [
        True,
        True,
        False,
        False,
    ]
