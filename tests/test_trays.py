"""Tray assignment: Rx-Universe's messages in its priority order, one tray per active order
(trays freed by completion and cancel), and no tray given twice by clients racing for it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import assert_body
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shared.db.models import Order
from tracker.jobs import TrackerConfig, run_cycle

MakeOrder = Callable[..., str]


def assign(client: FlaskClient, identifier: str, tray: Any, **more: Any) -> Any:
    return client.post(f"/api/v2/orders/{identifier}/tray", json={"trayNumber": tray, **more})


def rejected(message: str) -> dict[str, Any]:
    return {"error": "Tray assignment rejected", "details": [message]}


def test_an_order_is_put_in_a_tray_by_its_number_or_its_po(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    number = make_order(poNumber="PO-1")
    assert_body(
        assign(client, number, "123"),
        200,
        {"orderNumber": number, "trayNumber": "123", "poNumber": "PO-1"},
    )
    assert client.get("/api/v2/orders/123/status").get_json()["orderNumber"] == number
    other = make_order(poNumber="PO-2")
    assert_body(
        assign(client, "PO-2", 77),  # an integer tray is taken as its digits (ours)
        200,
        {"orderNumber": other, "trayNumber": "77", "poNumber": "PO-2"},
    )


def test_an_unknown_order_or_a_tray_number_as_identifier_is_not_found(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    make_order(trayNumber="55")
    for identifier in ("999999", "55", "NO-SUCH-PO"):
        assert_body(assign(client, identifier, "1"), 404, rejected("Order not found"))
    assert_body(
        assign(client, "X" * 30, "1"),
        400,
        rejected("You must use an order number or PO Number for orderIdentifier"),
    )


@pytest.mark.parametrize(
    ("order", "tray", "message"),
    [
        ({"status": "C"}, "1", "Cannot assign a completed order to a tray"),
        ({"status": "C"}, "12a", "Cannot assign a completed order to a tray"),
        ({}, "12a", "trayNumber only accepts numbers"),
        ({}, "", "trayNumber only accepts numbers"),
        ({}, "-5", "trayNumber only accepts numbers"),
        ({}, "١٢", "trayNumber only accepts numbers"),  # Arabic-Indic digits are not 0-9
        ({}, "123456", "trayNumber supports up to 5 digits"),
        ({"deleted": True}, "123456", "trayNumber supports up to 5 digits"),
        ({"deleted": True}, "1", "Cannot assign a deleted order to a tray"),
        ({"deleted": True, "onHold": True}, "1", "Cannot assign a deleted order to a tray"),
        ({"onHold": True}, "1", "Cannot assign an on-hold order to a tray"),
        ({"trayNumber": "9"}, "1", "Order already has a tray"),
    ],
)
def test_each_refusal_answers_its_documented_message_in_priority_order(
    client: FlaskClient, make_order: MakeOrder, order: dict[str, Any], tray: str, message: str
) -> None:
    number = make_order(**order)
    before = client.get(f"/api/v2/orders/{number}").get_json()["trayNumber"]
    assert_body(assign(client, number, tray), 400, rejected(message))
    assert client.get(f"/api/v2/orders/{number}").get_json()["trayNumber"] == before


def test_an_order_waiting_for_the_job_tracker_counts_as_completed(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    number = make_order(onHold=False)
    assert client.post(f"/api/v2/orders/{number}/complete").status_code == 201
    assert_body(
        assign(client, number, "1"), 400, rejected("Cannot assign a completed order to a tray")
    )


def test_a_tray_another_active_order_is_in_is_refused_before_the_order_s_own_tray(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    make_order(trayNumber="7")
    number = make_order(trayNumber="8")
    message = "Tray is already assigned to an active order"
    assert_body(assign(client, number, "7"), 400, rejected(message))
    assert_body(assign(client, number, "7", reassign=True), 400, rejected(message))


def test_reassign_moves_an_order_to_another_tray_and_frees_its_old_one(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    number = make_order(trayNumber="8")
    assert assign(client, number, "9", reassign=True).get_json()["trayNumber"] == "9"
    other = make_order()
    assert assign(client, other, "8").status_code == 200
    # The same tray again is no move: without reassign, the order has a tray.
    assert_body(assign(client, number, "9"), 400, rejected("Order already has a tray"))
    assert assign(client, number, "9", reassign=True).status_code == 200


def test_an_unvalid_order_may_be_given_a_tray(client: FlaskClient, make_order: MakeOrder) -> None:
    number = make_order(status="U", unvalidMessage="Needs a frame trace")
    assert assign(client, number, "31").status_code == 200


def test_cancel_and_completion_free_the_tray(
    client: FlaskClient,
    make_order: MakeOrder,
    session_factory: sessionmaker[Session],
    tracker_config: TrackerConfig,
) -> None:
    cancelled = make_order(trayNumber="5")
    assert client.delete(f"/api/v2/orders/{cancelled}").status_code == 200
    assert_body(
        assign(client, cancelled, "6"), 400, rejected("Cannot assign a deleted order to a tray")
    )
    completed = make_order()
    assert assign(client, completed, "5").status_code == 200  # the cancelled order's tray
    assert client.post(f"/api/v2/orders/{completed}/complete").status_code == 201
    assert run_cycle(session_factory, tracker_config).completed == 1
    assert assign(client, make_order(), "5").status_code == 200  # the completed order's tray


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "trayNumber: Missing data for required field."),
        ({"trayNumber": True}, "trayNumber: Must be a string or a non-negative integer."),
        ({"trayNumber": 1.5}, "trayNumber: Must be a string or a non-negative integer."),
        ({"trayNumber": "1", "reassign": "yes"}, "reassign: Not a valid boolean."),
        ({"trayNumber": "1", "tray": "2"}, "tray: Unknown field."),
    ],
)
def test_an_invalid_body_is_refused_naming_the_field(
    client: FlaskClient, make_order: MakeOrder, body: dict[str, Any], detail: str
) -> None:
    number = make_order()
    response = client.post(f"/api/v2/orders/{number}/tray", json=body)
    assert_body(response, 400, {"error": "Invalid request", "details": [detail]})


def test_clients_racing_for_one_tray_put_one_order_in_it(
    app: Flask, make_order: MakeOrder, session_factory: sessionmaker[Session]
) -> None:
    numbers = [make_order() for _ in range(8)]
    start = threading.Barrier(len(numbers))
    statuses: dict[str, int] = {}

    def race(number: str) -> None:
        client = app.test_client()
        start.wait()
        statuses[number] = assign(client, number, "42").status_code

    threads = [threading.Thread(target=race, args=(n,)) for n in numbers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses.values()) == [200] + [400] * (len(numbers) - 1)
    with session_factory() as session:
        in_tray = session.execute(
            select(func.count()).where(Order.tray_number == "42")
        ).scalar_one()
    assert in_tray == 1
