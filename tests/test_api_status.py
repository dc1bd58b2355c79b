"""`GET /api/v2/orders/{orderNumber}/status`: Rx-Universe's fields, then our two."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import pytest
from flask.testing import FlaskClient
from freezegun import freeze_time
from helpers import assert_body

MakeOrder = Callable[..., str]


def test_the_status_representation_has_every_documented_field_in_order(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    with freeze_time("2026-11-27T17:26:21.123456Z"):
        number = make_order(
            orderNumber=33719, trayNumber="123", poNumber="PO-7", addons=["BSC"], stations=["GEN"]
        )
    assert_body(
        client.get(f"/api/v2/orders/{number}/status"),
        200,
        {
            "orderNumber": "33719",
            "trayNumber": "123",
            "poNumber": "PO-7",
            "status": "P",
            "statusDesc": "Process",
            "onHold": False,
            "unvalidMessage": None,
            "calculationDesc": "Both eyes calculated",
            "rtCalculated": True,
            "ltCalculated": True,
            "currentStation": "GEN",
            "currentStationDesc": "GEN-LOH GENERATOR",
            "currentStationCustomerDesc": "IN SURFACING",
            "currentStationDateTime": "2026-11-27T17:26:21.123Z",
            "pendingCompletion": False,
            "completionError": None,
        },
    )


def test_an_order_never_scanned_has_no_current_station(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    state = client.get(f"/api/v2/orders/{make_order()}/status").get_json()
    assert [state[k] for k in state if k.startswith("currentStation")] == [None] * 4


def test_the_latest_check_in_is_the_current_station(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    number = make_order(stations=["GEN", "BSC"])
    with freeze_time("2030-01-02T03:04:05Z"):
        client.post(f"/api/sim/orders/{number}/checkins", json={"station": "AR1"})
    state = client.get(f"/api/v2/orders/{number}/status").get_json()
    assert (state["currentStation"], state["currentStationCustomerDesc"]) == (
        "AR1",
        "IN AR COATING",
    )
    assert state["currentStationDateTime"] == "2030-01-02T03:04:05.000Z"


@pytest.mark.parametrize(
    ("order", "code", "description"),
    [
        (dict(status="U", unvalidMessage="Missing PD"), "U", "Unvalid"),
        (dict(status="V"), "V", "Valid"),
        (dict(status="P"), "P", "Process"),
        (dict(status="C"), "C", "Completed"),
        (dict(status="V", onHold=True), "W", "On Hold"),
    ],
)
def test_status_and_its_description(
    client: FlaskClient, make_order: MakeOrder, order: dict[str, Any], code: str, description: str
) -> None:
    state = client.get(f"/api/v2/orders/{make_order(**order)}/status").get_json()
    assert (state["status"], state["statusDesc"], state["onHold"]) == (
        code,
        description,
        code == "W",
    )


@pytest.mark.parametrize(
    ("rt", "lt", "description"),
    [
        (True, True, "Both eyes calculated"),
        (True, False, "Right eye calculated"),
        (False, True, "Left eye calculated"),
        (False, False, "Calculations not done"),
    ],
)
def test_calculation_description(
    client: FlaskClient, make_order: MakeOrder, rt: bool, lt: bool, description: str
) -> None:
    number = make_order(rtCalculated=rt, ltCalculated=lt)
    state = client.get(f"/api/v2/orders/{number}/status").get_json()
    assert (state["calculationDesc"], state["rtCalculated"], state["ltCalculated"]) == (
        description,
        rt,
        lt,
    )


@pytest.mark.parametrize("identifier", ["999999", "abc", "ünï", "1%2F2", "1' OR 1=1"])
def test_an_unknown_order_answers_no_record_found_with_what_was_provided(
    client: FlaskClient, identifier: str
) -> None:
    assert_body(
        client.get(f"/api/v2/orders/{identifier}/status"),
        404,
        {"error": "No record found", "details": [f"Provided: {unquote(identifier)}"]},
    )


def test_leading_zeros_name_the_same_order_however_many(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    make_order(orderNumber="33719")
    for identifier in ("033719", "000000000000000033719", "0" * 100 + "33719"):
        response = client.get(f"/api/v2/orders/{identifier}/status")
        assert response.status_code == 200
        assert response.get_json()["orderNumber"] == "33719"


def test_head_answers_the_headers_get_would_with_no_body(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    number = make_order()
    for path in (f"/api/v2/orders/{number}/status", "/api/v2/orders/999999/status"):
        same_id = {"X-Request-ID": "head-and-get"}  # else each answer carries an id of its own
        got, head = client.get(path, headers=same_id), client.head(path, headers=same_id)
        assert head.status_code == got.status_code
        assert head.headers == got.headers
        assert head.get_data() == b""


def test_options_answers_200_with_allow_and_an_empty_body(client: FlaskClient) -> None:
    response = client.options("/api/v2/orders/33719/status")
    assert response.status_code == 200
    assert sorted(response.headers["Allow"].split(", ")) == ["GET", "HEAD", "OPTIONS"]
    assert response.get_data() == b""
