"""Stations, addons and verified check-ins through the API: every success and error, exactly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from freezegun import freeze_time
from helpers import assert_body
from sqlalchemy import Engine, delete, update

import shared.orders.checkins
from shared.db.models import Order, OrderAddon
from shared.domain.lab_setup import ADDON_FLAG_PROCESSES, Lab

MakeOrder = Callable[..., str]
CHECKIN_FAILED = "Checkin not performed"


def refused(reason: str) -> dict[str, Any]:
    return {"error": CHECKIN_FAILED, "details": [reason]}


def no_record(provided: str) -> dict[str, Any]:
    return {"error": "No record found", "details": [f"Provided: {provided}"]}


def checkin(client: FlaskClient, station: str, identifier: Any, **more: Any) -> Any:
    return client.post(
        f"/api/v2/job_track/stations/{station}", json={"orderIdentifier": identifier, **more}
    )


# ---- stations ---------------------------------------------------------------------------------


def test_the_station_list_is_the_labs_in_flow_order_without_decision_points(
    client: FlaskClient, lab: Lab
) -> None:
    response = client.get("/api/v2/job_track/stations")
    body = response.get_json()
    listed = [s for s in lab.stations.values() if not s.code.startswith("#")]
    assert response.status_code == 200
    assert list(body) == ["total", "stations"]
    assert body["total"] == len(listed) >= 20
    assert [s["code"] for s in body["stations"]] == [s.code for s in listed]
    assert body["stations"][0] == {
        "code": "REC",
        "desc": "ORDER RECEIVING",
        "customerDesc": "RECEIVED",
        "operator": False,
    }
    assert {s["code"] for s in body["stations"] if s["operator"]} == {"JD", "MS", "RK", "TL"}
    assert not any(s["code"].startswith("#") for s in body["stations"])


@pytest.mark.parametrize(
    ("query", "codes"),
    [
        ("limit=2", ["REC", "PICK"]),
        ("limit=2&offset=3", ["GEN", "FIN"]),
        ("offset=27", ["RK", "TL"]),
        ("limit=0", []),
        ("offset=1000", []),
    ],
)
def test_stations_page_by_limit_and_offset_with_the_total_ignoring_them(
    client: FlaskClient, query: str, codes: list[str]
) -> None:
    body = client.get(f"/api/v2/job_track/stations?{query}").get_json()
    assert body["total"] == 29
    assert [s["code"] for s in body["stations"]] == codes


@pytest.mark.parametrize("query", ["limit=-1", "limit=x", "offset=-2", "limit=1.5", "color=red"])
def test_a_bad_page_parameter_is_a_400_naming_it(client: FlaskClient, query: str) -> None:
    response = client.get(f"/api/v2/job_track/stations?{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "Invalid request"
    assert body["details"][0].startswith(query.split("=")[0] + ":")


def test_one_station_by_its_case_sensitive_code(client: FlaskClient) -> None:
    assert_body(
        client.get("/api/v2/job_track/stations/BSC"),
        200,
        {"code": "BSC", "desc": "BACKSIDE COATER", "customerDesc": "IN COATING", "operator": False},
    )
    assert_body(
        client.get("/api/v2/job_track/stations/JD"),
        200,
        {"code": "JD", "desc": "JANE DOE", "customerDesc": "IN PROCESS", "operator": True},
    )
    for code in ("bsc", "Bsc", "XYZ", "%23CV1", "%20BSC"):
        response = client.get(f"/api/v2/job_track/stations/{code}")
        provided = code.replace("%23", "#").replace("%20", " ")
        assert_body(
            response, 404, {"error": "No record found", "details": [f"Provided: {provided}"]}
        )


# ---- addons -----------------------------------------------------------------------------------


def test_an_addon_shows_every_flag_in_the_documented_order(client: FlaskClient) -> None:
    assert_body(
        client.get("/api/v2/addons/AR"),
        200,
        {
            "code": "AR",
            "desc": "ANTI-REFLECTIVE",
            "excludeFromRxSite": False,
            "externalCode": "AR-STD",
            "isAR": True,
            "isBackside": False,
            "isMirror": False,
            "isTint": False,
            "isUV": False,
            "requiresDropBall": False,
            "requiresEtching": False,
            "requiresHarden": False,
            "requiresPolish": False,
        },
    )
    sun = client.get("/api/v2/addons/SUN").get_json()
    assert [flag for flag in ADDON_FLAG_PROCESSES if sun[flag]] == ["isTint", "isUV"]
    assert_body(
        client.get("/api/v2/addons/ar"),
        404,
        {"error": "No record found", "details": ["Provided: ar"]},
    )


def test_the_addon_list_and_the_rx_site_filter(client: FlaskClient, lab: Lab) -> None:
    every = client.get("/api/v2/addons").get_json()
    assert every["total"] == len(lab.addons)
    assert [a["code"] for a in every["addons"]] == list(lab.addons)
    shown = client.get("/api/v2/addons?rxSite=true").get_json()
    assert "DBT" not in [a["code"] for a in shown["addons"]]
    assert shown["total"] == len(lab.addons) - 1
    assert client.get("/api/v2/addons?rxSite=false").get_json() == every
    assert client.get("/api/v2/addons?limit=1&offset=1").get_json() == {
        "total": len(lab.addons),
        "addons": [every["addons"][1]],
    }
    assert client.get("/api/v2/addons?rxSite=yes").status_code == 400


# ---- check-ins --------------------------------------------------------------------------------


def test_a_checkin_answers_the_order_the_station_and_the_time(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    number = make_order(trayNumber="123", poNumber="PO-7", status="V", addons=["BSC"])
    with freeze_time("2026-11-27T17:26:21.123456Z"):
        response = checkin(client, "BSC", number)
    assert_body(
        response,
        201,
        {
            "orderNumber": number,
            "trayNumber": "123",
            "poNumber": "PO-7",
            "code": "BSC",
            "desc": "BACKSIDE COATER",
            "customerDesc": "IN COATING",
            "statusDateTime": "2026-11-27T17:26:21.123Z",
        },
    )
    state = client.get(f"/api/v2/orders/{number}/status").get_json()
    assert (state["status"], state["currentStation"]) == ("P", "BSC")  # Valid goes in Process


@pytest.mark.parametrize("identifier", ["tray", "po", "number-as-integer", "leading-zeros"])
def test_any_v2_identifier_checks_an_order_in(
    client: FlaskClient, make_order: MakeOrder, identifier: str
) -> None:
    number = make_order(trayNumber="77", poNumber="PO-X")
    given: Any = {
        "tray": "77",
        "po": "PO-X",
        "number-as-integer": int(number),
        "leading-zeros": "000" + number,
    }[identifier]
    response = checkin(client, "GEN", given)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["orderNumber"] == number


@pytest.mark.parametrize(
    ("station", "reason"),
    [
        ("XYZ", "Station not found"),
        ("bsc", "Station not found"),
        ("JD", "Station not found"),
        ("%23CV1", "Station not found"),
        ("CMP", "Station is reserved for the Job Tracker"),
    ],
)
def test_what_is_not_a_station_for_a_client_refuses_the_checkin(
    client: FlaskClient, make_order: MakeOrder, station: str, reason: str
) -> None:
    number = make_order()
    assert_body(checkin(client, station, number), 400, refused(reason))
    assert client.get(f"/api/v2/orders/{number}/history").get_json()["checkins"] == []


def test_an_unknown_order_is_a_400_and_an_unknown_operator_a_404(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    assert_body(checkin(client, "GEN", "999999"), 400, refused("Order not found"))
    assert_body(checkin(client, "XYZ", "999999"), 400, refused("Station not found"))
    number = make_order()
    assert_body(checkin(client, "GEN", number, operator="XX"), 404, refused("Operator not found"))
    assert_body(checkin(client, "GEN", number, operator="GEN"), 404, refused("Operator not found"))
    assert_body(checkin(client, "GEN", number, operator="jd"), 404, refused("Operator not found"))


def test_an_operator_is_required_where_the_station_says_and_recorded_wherever_given(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    number = make_order(jobType="A")
    assert_body(checkin(client, "FQA", number), 400, refused("Operator required"))
    assert_body(checkin(client, "FQA", number, operator=None), 400, refused("Operator required"))
    assert checkin(client, "FQA", number, operator="MS").status_code == 201
    assert checkin(client, "GEN", number, operator="JD").status_code == 201
    history = client.get(f"/api/v2/orders/{number}/history").get_json()["checkins"]
    assert [(c["code"], c["operator"]) for c in history] == [("FQA", "MS"), ("GEN", "JD")]


@pytest.mark.parametrize(
    ("order", "reason"),
    [
        ({"deleted": True}, "Order marked for cancelation"),
        ({"status": "U"}, "Order unvalid"),
        ({"status": "C"}, "Order already completed"),
        ({"onHold": True}, "Order on hold"),
    ],
)
def test_an_order_out_of_the_labs_flow_is_not_checked_in(
    client: FlaskClient, make_order: MakeOrder, order: dict[str, Any], reason: str
) -> None:
    number = make_order(**order)
    assert_body(checkin(client, "GEN", number), 400, refused(reason))


def _change_between_check_and_write(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, change: Callable[[], None]
) -> None:
    """Make `change` land once the check-in has found and checked the order, before its write:
    on SQLite after the lookup, before the one statement that writes; on PostgreSQL, where the
    order is found in the write's transaction with its row locked, just before that begins."""
    if client.application.extensions["rx_jobtracker"].engine.dialect.name == "sqlite":
        real_order = shared.orders.checkins._order

        def found_then_changed(*args: Any) -> Any:
            found = real_order(*args)
            change()
            return found

        monkeypatch.setattr("shared.orders.checkins._order", found_then_changed)
    else:
        real_transaction = shared.orders.checkins.driver_transaction

        def changed_first(connection: Any, work: Callable[[], Any]) -> Any:
            change()
            return real_transaction(connection, work)

        monkeypatch.setattr("shared.orders.checkins.driver_transaction", changed_first)


@pytest.mark.parametrize("status", ["V", "P"])  # on SQLite: the transaction, the one statement
def test_an_order_put_on_hold_while_its_checkin_is_under_way_is_not_checked_in(
    client: FlaskClient, make_order: MakeOrder, monkeypatch: pytest.MonkeyPatch, status: str
) -> None:
    """The hold lands after the order was found and checked, before the check-in's write: the
    write sees the hold, and records nothing. On SQLite the order is found before the write; on
    PostgreSQL it is found in the write's transaction, with its row locked, so the hold lands
    just before that transaction."""
    number = make_order(status=status)
    held = []

    def put_on_hold() -> None:
        if not held:
            other = client.application.test_client()
            patched = other.patch(f"/api/sim/orders/{number}", json={"onHold": True})
            held.append(patched.status_code)

    _change_between_check_and_write(client, monkeypatch, put_on_hold)
    assert_body(checkin(client, "GEN", number), 400, refused("Order on hold"))
    monkeypatch.undo()
    assert held == [200]
    history = client.get(f"/api/v2/orders/{number}/history").get_json()
    assert history["checkins"] == []


@pytest.mark.parametrize(
    ("changed", "answer"),
    [
        ({"trayNumber": "456"}, {"trayNumber": "456", "poNumber": "PO-7"}),
        ({"poNumber": "PO-8"}, {"trayNumber": "123", "poNumber": "PO-8"}),
    ],
)
def test_a_checkin_answers_the_tray_and_po_the_order_has_when_it_is_written(
    client: FlaskClient,
    make_order: MakeOrder,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    changed: dict[str, str],
    answer: dict[str, str],
) -> None:
    """The tray or PO changes after the order was found: the check-in's write (on SQLite, the one
    statement, which records only if the tray and PO are still those found) answers the new one."""
    number = make_order(status="P", trayNumber="123", poNumber="PO-7")
    columns = {"trayNumber": "tray_number", "poNumber": "po_number"}
    values = {columns[key]: value for key, value in changed.items()}

    def change() -> None:
        with engine.begin() as connection:
            connection.execute(
                update(Order).where(Order.order_number == int(number)).values(**values)
            )

    _change_between_check_and_write(client, monkeypatch, change)
    response = checkin(client, "GEN", number)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert {key: body[key] for key in answer} == answer


def test_an_addon_removed_between_a_checkins_check_and_write_refuses_the_checkin(
    client: FlaskClient, make_order: MakeOrder, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The order had AR when found and checked; the addon goes before the write: the write (on
    SQLite, the one statement, which records only if the addons are still those checked) checks
    the order again, and AR1 is not needed any more."""
    number = make_order(status="P", addons=["AR"])

    def remove_addons() -> None:
        with engine.begin() as connection:
            connection.execute(delete(OrderAddon).where(OrderAddon.order_number == int(number)))

    _change_between_check_and_write(client, monkeypatch, remove_addons)
    assert_body(checkin(client, "AR1", number), 400, refused("AR not needed"))
    monkeypatch.undo()
    assert client.get(f"/api/v2/orders/{number}/history").get_json()["checkins"] == []


@pytest.mark.parametrize("flag", list(ADDON_FLAG_PROCESSES))
def test_each_addon_flag_opens_its_station_and_is_needed_for_completion(
    client: FlaskClient, make_order: MakeOrder, lab: Lab, flag: str
) -> None:
    """The same lab, for each flag: "X not needed" at check-in without the addon; with it, the
    completion says "Needs X!" until the order has been checked in there."""
    process = ADDON_FLAG_PROCESSES[flag]
    addon = next(a.code for a in lab.addons.values() if a.processes == {process})
    station = next(s.code for s in lab.stations.values() if s.process == process)
    operator = {"operator": "JD"} if lab.stations[station].requires_operator else {}
    without = make_order(addons=[])
    assert_body(
        checkin(client, station, without, **operator),
        400,
        refused(lab.process(process).not_needed_message),
    )
    with_addon = make_order(addons=[addon])
    refusal = client.post(f"/api/v2/orders/{with_addon}/complete").get_json()
    assert refusal["details"] == [
        "Error Code: 20",
        f"Error Message: {lab.process(process).missing_message}",
    ]
    assert checkin(client, station, with_addon, **operator).status_code == 201
    assert client.post(f"/api/v2/orders/{with_addon}/complete").status_code == 201


def test_ar_on_an_order_without_an_ar_addon_is_refused_with_the_labs_message(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    number = make_order(addons=["BSC"])
    assert_body(
        checkin(client, "AR1", number),
        400,
        {"error": "Checkin not performed", "details": ["AR not needed"]},
    )


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "orderIdentifier: Missing data for required field."),
        ({"orderIdentifier": None}, "orderIdentifier: Field may not be null."),
        ({"orderIdentifier": True}, "orderIdentifier: Must be a string or a non-negative integer."),
        ({"orderIdentifier": -5}, "orderIdentifier: Must be a string or a non-negative integer."),
        ({"orderIdentifier": "1", "operator": 7}, "operator: Not a valid string."),
        ({"orderIdentifier": "1", "color": "red"}, "color: Unknown field."),
    ],
)
def test_a_malformed_checkin_body_is_a_400_naming_the_field(
    client: FlaskClient, body: dict[str, Any], detail: str
) -> None:
    assert_body(
        client.post("/api/v2/job_track/stations/GEN", json=body),
        400,
        {"error": "Invalid request", "details": [detail]},
    )


@pytest.mark.parametrize(
    "identifier", ["", "'; DROP TABLE orders; --", "\u0000", "\ud800", "9" * 10_000, "é" * 50]
)
def test_a_nasty_identifier_is_an_order_not_found(
    client: FlaskClient, make_order: MakeOrder, identifier: str
) -> None:
    make_order(poNumber="PO-1")
    assert_body(checkin(client, "GEN", identifier), 400, refused("Order not found"))


def test_an_order_checked_through_its_whole_flow_by_checkins_completes(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    number = make_order(status="V", jobType="A", addons=["AR", "BSC", "SUN"])
    flow = ["REC", "BSC", "CLN", "AR2", "TNT", "UV", "EDG", "FQA"]
    for station in flow:
        operator = {"operator": "TL"} if station == "FQA" else {}
        assert checkin(client, station, number, **operator).status_code == 201, station
    assert client.post(f"/api/v2/orders/{number}/complete").status_code == 201
