"""Order reads, the order list, history and cancel through the API: exact bodies and refusals."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from freezegun import freeze_time
from helpers import assert_body, close_app, completion_error
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from config.settings import Settings
from shared.domain.lab_setup import Lab
from tracker.jobs import TrackerConfig, process_batch, run_cycle

MakeOrder = Callable[..., str]


def no_record(provided: str) -> dict[str, Any]:
    return {"error": "No record found", "details": [f"Provided: {provided}"]}


def cancelled(
    number: str, message: str = "", tray: str | None = None, po: str | None = None
) -> dict[str, Any]:
    return {"orderNumber": number, "trayNumber": tray, "poNumber": po, "message": message}


MARKED = {"error": "Order marked for cancelation", "details": []}


def eye(side: str, calculated: bool, **given: Any) -> dict[str, Any]:
    """One eye's fields of the order model, in its order: "" for text, null for numbers."""
    text = {"LensMaterial", "LensStyle"}
    names = ("Add", "Axis", "Calculated", "Cylinder", "LensMaterial", "LensStyle", "OCHeight")
    names += ("PD", "Prism", "PrismAngle", "SegHeight", "Sphere")
    return {
        f"{side}{name}": calculated
        if name == "Calculated"
        else given.get(name, "" if name in text else None)
        for name in names
    }


def test_an_order_reads_whole_with_its_addons_dates_and_station(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    with freeze_time("2026-11-27T17:26:21.123456Z"):
        number = make_order(
            trayNumber="123", poNumber="PO-7", addons=["BSC", "AR"], stations=["GEN", "BSC"]
        )
    assert_body(
        client.get(f"/api/v2/orders/{number}"),
        200,
        {
            "orderNumber": number,
            "trayNumber": "123",
            "poNumber": "PO-7",
            "arCode": "AR",
            "arDesc": "ANTI-REFLECTIVE",
            "balanceLens": "",
            "calculationDesc": "Both eyes calculated",
            "corridorLength": None,
            "createdUser": "",
            "currentStation": "BSC",
            "currentStationCustomerDesc": "IN COATING",
            "currentStationDateTime": "2026-11-27T17:26:21.123Z",
            "currentStationDesc": "BACKSIDE COATER",
            "customerJobId": "",
            "customerNumber": "",
            "dateCompleted": None,
            "dateOrdered": "2026-11-27",
            "dateReceived": None,
            "dateTimeValid": None,
            "dateWanted": None,
            "frameA": None,
            "frameB": None,
            "frameBridge": None,
            "frameCircumference": None,
            "frameColor": "",
            "frameED": None,
            "frameEye": None,
            "frameManufacturer": "",
            "frameName": "",
            "frameSKU": "",
            "frameStatusCode": "",
            "frameTemple": None,
            "frameType": "",
            "frameUPC": "",
            "jobType": "F",
            **eye("lt", True),
            "onHold": False,
            **eye("rt", True),
            "status": "P",
            "statusDesc": "Process",
            "unvalidMessage": "",
            "addons": [
                {"code": "AR", "desc": "ANTI-REFLECTIVE"},
                {"code": "BSC", "desc": "BACKSIDE COAT"},
            ],
            "jobTypeDesc": "Full",
            "deleted": False,
            "pendingCompletion": False,
            "completionError": None,
        },
    )


def test_a_submitted_order_reads_with_what_was_submitted_and_what_the_import_set(
    client: FlaskClient,
    session_factory: sessionmaker[Session],
    tracker_config: TrackerConfig,
) -> None:
    submission = {
        "customerJobId": "JOB-9",
        "customerNumber": "1002",
        "jobType": "U",
        "poNumber": "PO-9",
        "balanceLens": "L",
        "crib": 65.0,
        "dateWanted": "2026-12-24",
        "frameColor": "BLACK",
        "frameEye": 52,
        "frameTemple": 140,
        "rtLensStyle": "PROG",
        "rtLensMaterial": "PC",
        "rtSphere": 1.25,
        "rtAxis": 90,
        "rtAdd": 2.0,
        "onHold": True,
    }
    assert client.post("/api/v2/orders", json=submission).status_code == 202
    with freeze_time("2026-12-07T09:30:00.123456Z"):
        run_cycle(session_factory, tracker_config)
    order = client.get("/api/v2/orders/PO-9").get_json()
    assert {key: order[key] for key in order if key.startswith(("rt", "lt"))} == {
        **eye("lt", False),
        **eye("rt", True, LensStyle="PROG", LensMaterial="PC", Sphere=1.25, Axis=90, Add=2.0),
    }
    expected = {
        "customerJobId": "JOB-9",
        "customerNumber": "1002",
        "balanceLens": "L",
        "dateReceived": "2026-12-07",
        "dateTimeValid": "2026-12-07T09:30:00.123Z",
        "dateWanted": "2026-12-24",
        "frameColor": "BLACK",
        "frameEye": 52,
        "frameTemple": 140,
        "frameA": None,
        "onHold": True,
        "status": "W",
        "calculationDesc": "Right eye calculated",
        "jobType": "U",
    }
    assert {key: order[key] for key in expected} == expected
    assert "crib" not in order  # not a field of the model


def test_status_history_and_read_take_a_tray_or_a_po_and_refuse_an_ambiguous_one(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    number = make_order(trayNumber="55", poNumber="PO-ONE")
    make_order(poNumber="PO-TWICE")
    make_order(poNumber="PO-TWICE")
    for path in ("", "/status", "/history"):
        for identifier in (number, "55", "PO-ONE"):
            response = client.get(f"/api/v2/orders/{identifier}{path}")
            assert response.status_code == 200, (path, identifier)
            assert response.get_json()["orderNumber"] == number
        assert_body(client.get(f"/api/v2/orders/PO-TWICE{path}"), 404, no_record("PO-TWICE"))
        assert_body(client.get(f"/api/v2/orders/999999{path}"), 404, no_record("999999"))


def test_a_completed_orders_tray_no_longer_names_it(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    make_order(trayNumber="9", status="C")
    assert_body(client.get("/api/v2/orders/9/status"), 404, no_record("9"))


def test_completion_keeps_to_the_order_number(client: FlaskClient, make_order: MakeOrder) -> None:
    make_order(trayNumber="56", poNumber="PO-C", stations=["GEN"])
    for identifier in ("56", "PO-C"):
        assert_body(
            client.post(f"/api/v2/orders/{identifier}/complete"),
            404,
            completion_error("01", "Order not found"),
        )


def test_history_lists_checkins_oldest_first_the_tracker_completion_included(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    number = make_order(status="V")
    with freeze_time("2026-11-27T08:00:00Z"):
        client.post("/api/v2/job_track/stations/GEN", json={"orderIdentifier": number})
    with freeze_time("2026-11-27T09:30:00.5Z"):
        client.post(
            "/api/v2/job_track/stations/LM", json={"orderIdentifier": number, "operator": "RK"}
        )
    assert_body(
        client.get(f"/api/v2/orders/{number}/history"),
        200,
        {
            "orderNumber": number,
            "checkins": [
                {
                    "code": "GEN",
                    "desc": "GEN-LOH GENERATOR",
                    "customerDesc": "IN SURFACING",
                    "operator": None,
                    "statusDateTime": "2026-11-27T08:00:00.000Z",
                },
                {
                    "code": "LM",
                    "desc": "LENSOMETER CHECK",
                    "customerDesc": "IN INSPECTION",
                    "operator": "RK",
                    "statusDateTime": "2026-11-27T09:30:00.500Z",
                },
            ],
        },
    )


def test_the_order_list_is_newest_first_with_filters_and_a_total(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    a = make_order(status="V")
    b = make_order(stations=["GEN", "BSC"])
    c = make_order(onHold=True, stations=["BSC", "GEN"])
    d = make_order(status="C")

    def listed(query: str = "") -> tuple[int, list[str]]:
        response = client.get(f"/api/v2/orders{query}")
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert list(body) == ["total", "orders"]
        return body["total"], [o["orderNumber"] for o in body["orders"]]

    assert listed() == (4, [d, c, b, a])
    assert listed("?limit=2") == (4, [d, c])
    assert listed("?limit=2&offset=2") == (4, [b, a])
    assert listed("?offset=3") == (4, [a])
    assert listed("?status=V") == (1, [a])
    assert listed("?status=P") == (1, [b])  # c is on hold: shown as W
    assert listed("?status=W") == (1, [c])
    assert listed("?station=BSC") == (1, [b])
    assert listed("?station=GEN") == (1, [c])
    assert listed("?station=bsc") == (0, [])
    assert listed("?status=P&station=BSC&limit=1") == (1, [b])
    first = client.get("/api/v2/orders?limit=1").get_json()["orders"][0]
    assert first == client.get(f"/api/v2/orders/{d}").get_json()


@pytest.mark.parametrize("query", ["status=X", "limit=-1", "offset=z", "station=", "sort=asc"])
def test_a_bad_list_parameter_is_a_400_naming_it(client: FlaskClient, query: str) -> None:
    response = client.get(f"/api/v2/orders?{query}")
    assert response.status_code == 400
    assert response.get_json()["details"][0].startswith(query.split("=")[0] + ":")


# ---- cancel -----------------------------------------------------------------------------------


def test_a_cancel_marks_the_order_and_its_status_read_says_so(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    number = make_order(trayNumber="42", poNumber="PO-42", stations=["GEN"])
    assert_body(client.delete("/api/v2/orders/42"), 200, cancelled(number, "", "42", "PO-42"))
    assert_body(client.get(f"/api/v2/orders/{number}/status"), 200, MARKED)
    assert_body(client.get("/api/v2/orders/PO-42/status"), 200, MARKED)
    assert client.get(f"/api/v2/orders/{number}").get_json()["deleted"] is True
    assert_body(
        client.post(f"/api/v2/orders/{number}/complete"),
        400,
        completion_error("02", "Order deleted"),
    )


def test_a_second_cancel_answers_400_order_already_completed(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    number = make_order(poNumber="PO-7")
    assert client.delete(f"/api/v2/orders/{number}").status_code == 200
    for identifier in (number, "PO-7"):
        assert_body(
            client.delete(f"/api/v2/orders/{identifier}"),
            400,
            {"error": "Order already completed", "details": []},
        )
    assert client.get(f"/api/v2/orders/{number}").get_json()["deleted"] is True


def test_a_lab_without_the_job_tracker_module_refuses_a_cancel(
    client: FlaskClient, settings: Settings, lab: Lab, make_order: MakeOrder
) -> None:
    number = make_order()
    app = create_app(settings, lab=dataclasses.replace(lab, job_tracker_module=False))
    try:
        without = app.test_client()
        assert_body(
            without.delete(f"/api/v2/orders/{number}"),
            400,
            {"error": "Job Tracker module required for cancel method", "details": []},
        )
        assert_body(
            without.delete("/api/v2/orders/999999"),
            404,
            {"error": "No record found", "details": ["Provided: 999999"]},
        )
    finally:
        close_app(app)
    assert client.get(f"/api/v2/orders/{number}").get_json()["deleted"] is False


def test_a_reason_the_lab_does_not_ask_for_is_ignored_with_a_warning(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    number = make_order()
    assert_body(
        client.delete(f"/api/v2/orders/{number}?deleteReason=1"),
        200,
        cancelled(number, "deleteReason ignored"),
    )


@pytest.mark.parametrize(
    ("order", "error"),
    [
        ({"status": "C"}, "Order already completed"),
        ({"stations": ["GEN", "EDG"]}, "Order has been through a non-cancel station"),
        ({"stations": ["FQA", "GEN"]}, "Order has been through a non-cancel station"),
    ],
)
def test_a_cancel_is_refused_for_a_completed_order_or_one_past_a_non_cancel_station(
    client: FlaskClient, make_order: MakeOrder, order: dict[str, Any], error: str
) -> None:
    number = make_order(**order)
    assert_body(client.delete(f"/api/v2/orders/{number}"), 400, {"error": error, "details": []})
    assert client.get(f"/api/v2/orders/{number}").get_json()["deleted"] is False


def test_an_unknown_order_cannot_be_cancelled(client: FlaskClient) -> None:
    assert_body(client.delete("/api/v2/orders/999999"), 404, no_record("999999"))


@pytest.fixture
def strict_app(app: Flask) -> Flask:
    """The same app, its lab requiring a delete reason."""
    runtime = app.extensions["rx_jobtracker"]
    strict = dataclasses.replace(runtime.lab, delete_reason_required=True)
    app.extensions["rx_jobtracker"] = dataclasses.replace(runtime, lab=strict)
    return app


def test_a_lab_that_requires_a_reason_takes_only_its_own(
    strict_app: Flask, make_order: MakeOrder
) -> None:
    client = strict_app.test_client()
    number = make_order()
    unknown = {"error": "Delete reason code does not exist", "details": ["Provided: 9999"]}
    assert_body(client.delete(f"/api/v2/orders/{number}?deleteReason=9999"), 400, unknown)
    missing = {"error": "Delete reason code does not exist", "details": ["Provided: "]}
    assert_body(client.delete(f"/api/v2/orders/{number}"), 400, missing)
    assert_body(client.delete(f"/api/v2/orders/{number}?deleteReason=2"), 200, cancelled(number))


def test_a_flagged_order_cancelled_is_rejected_by_the_tracker_with_02(
    client: FlaskClient,
    make_order: MakeOrder,
    session_factory: sessionmaker[Session],
    tracker_config: TrackerConfig,
) -> None:
    number = make_order(stations=["GEN"])
    assert client.post(f"/api/v2/orders/{number}/complete").status_code == 201
    assert client.delete(f"/api/v2/orders/{number}").status_code == 200
    outcome = process_batch(session_factory, tracker_config)
    assert [r.code for r in outcome.rejected] == ["02"]
    order = client.get(f"/api/v2/orders/{number}").get_json()
    assert order["completionError"] == {"code": "02", "message": "Order deleted"}
