"""Work tickets: printed on workstation 00's simulated printers, refused as Rx-Universe lists it,
each refusal one lab-file setting away."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from freezegun import freeze_time
from helpers import assert_body, close_app

from api.app import create_app
from config.settings import Settings
from shared.domain.lab_setup import Lab

MakeOrder = Callable[..., str]
LabClient = Callable[..., FlaskClient]
REJECTED = "Printing request rejected"


def print_ticket(client: FlaskClient, identifier: str, **body: Any) -> Any:
    url = f"/api/v2/orders/{identifier}/print_ticket"
    return client.post(url, json=body) if body else client.post(url)


@pytest.fixture
def lab_client(settings: Settings, lab: Lab) -> Iterator[LabClient]:
    """A client of an app whose lab prints tickets with these `work_tickets` settings changed."""
    apps = []

    def make(**changes: Any) -> FlaskClient:
        tickets = dataclasses.replace(lab.work_tickets, **changes)
        app = create_app(settings, lab=dataclasses.replace(lab, work_tickets=tickets))
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        close_app(app)


def test_a_ticket_prints_on_lpt1_by_default_and_the_printer_shows_it(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    number = make_order(trayNumber="12", poNumber="PO-12")
    with freeze_time("2026-12-07T10:00:00.25Z"):
        response = print_ticket(client, "PO-12")
    assert_body(
        response,
        201,
        {
            "orderNumber": number,
            "trayNumber": "12",
            "poNumber": "PO-12",
            "message": "Printing in process",
        },
    )
    with freeze_time("2026-12-07T10:00:01Z"):
        assert print_ticket(client, "12", lpt="LPT2").status_code == 201  # by tray, on LPT2
    assert_body(
        client.get("/api/sim/printers"),
        200,
        {
            "printers": [
                {
                    "port": "LPT1",
                    "printer": "Lab office printer",
                    "printed": 1,
                    "tickets": [{"orderNumber": number, "printedAt": "2026-12-07T10:00:00.250Z"}],
                },
                {
                    "port": "LPT2",
                    "printer": "Surfacing printer",
                    "printed": 1,
                    "tickets": [{"orderNumber": number, "printedAt": "2026-12-07T10:00:01.000Z"}],
                },
            ]
        },
    )
    assert client.post("/api/sim/reset").status_code == 200
    assert [p["printed"] for p in client.get("/api/sim/printers").get_json()["printers"]] == [0, 0]


def test_an_order_without_a_tray_or_a_po_prints_with_nulls(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    number = make_order()
    assert_body(
        print_ticket(client, number),
        201,
        {
            "orderNumber": number,
            "trayNumber": None,
            "poNumber": None,
            "message": "Printing in process",
        },
    )


@pytest.mark.parametrize(
    ("settings_changes", "order", "body", "status", "details"),
    [
        ({"trays_required": True}, {}, {}, 400, ["Order waiting for tray"]),
        (
            {"ticket_format": "crystal"},
            {},
            {},
            500,
            ["Only the XML Work Ticket system setting is supported"],
        ),
        ({}, {"stock": True}, {}, 400, ["Order is a stock order and there is no work ticket"]),
        ({"xml_template": ""}, {}, {}, 500, ["No XML template is selected in system settings"]),
        (
            {"xml_template": "bad_xml_ticket_name.xml", "xml_template_exists": False},
            {},
            {},
            500,
            [
                "The XML template set in system settings does not exist",
                "Set: bad_xml_ticket_name.xml",
            ],
        ),
        ({}, {}, {"lpt": "LPT3"}, 500, ["No printer defined for workstation 00"]),
        ({"printers": {}}, {}, {}, 500, ["No printer defined for workstation 00"]),
        # Rx-Universe's order: the tray before the format, the format before the stock order...
        (
            {"trays_required": True, "ticket_format": "crystal"},
            {},
            {},
            400,
            ["Order waiting for tray"],
        ),
        (
            {"ticket_format": "crystal"},
            {"stock": True},
            {},
            500,
            ["Only the XML Work Ticket system setting is supported"],
        ),
        (
            {"xml_template": ""},
            {"stock": True},
            {},
            400,
            ["Order is a stock order and there is no work ticket"],
        ),
    ],
)
def test_each_refusal_is_one_setting_away_and_answers_rx_universes_body(
    lab_client: LabClient,
    make_order: MakeOrder,
    settings_changes: dict[str, Any],
    order: dict[str, Any],
    body: dict[str, Any],
    status: int,
    details: list[str],
) -> None:
    number = make_order(**order)
    client = lab_client(**settings_changes)
    assert_body(
        print_ticket(client, number, **body), status, {"error": REJECTED, "details": details}
    )
    assert all(p["printed"] == 0 for p in client.get("/api/sim/printers").get_json()["printers"])


def test_a_tray_prints_once_trays_are_required(
    lab_client: LabClient, make_order: MakeOrder
) -> None:
    assert (
        print_ticket(lab_client(trays_required=True), make_order(trayNumber="4")).status_code == 201
    )


def test_a_cancelled_order_answers_200_marked_for_cancelation_before_any_refusal(
    client: FlaskClient, lab_client: LabClient, make_order: MakeOrder
) -> None:
    number = make_order(stock=True)
    assert client.delete(f"/api/v2/orders/{number}").status_code == 200
    for asked in (client, lab_client(trays_required=True, ticket_format="crystal")):
        assert_body(
            print_ticket(asked, number),
            200,
            {"error": "Order marked for cancelation", "details": []},
        )


def test_an_unknown_order_and_an_unknown_port(client: FlaskClient, make_order: MakeOrder) -> None:
    assert_body(
        print_ticket(client, "999999"),
        404,
        {"error": "No record found", "details": ["Provided: 999999"]},
    )
    response = print_ticket(client, make_order(), lpt="COM1")
    assert response.status_code == 400
    assert response.get_json()["error"] == "Invalid request"
    assert response.get_json()["details"][0].startswith("lpt: Must be one of: LPT1, LPT2")


def test_the_work_tickets_scenario_shows_each_answer_one_setting_away(
    lab_client: LabClient,
) -> None:
    """The shipped scenario: each order-side answer as it is, each settings refusal on 55001 with
    one `[work_tickets]` setting changed (what docs/api/v2.md and the scenario's comments say)."""
    client = lab_client()
    loaded = client.post("/api/sim/scenarios/work_tickets")
    assert_body(loaded, 200, {"message": "Successful", "orders": 4})

    def refused(details: list[str]) -> dict[str, Any]:
        return {"error": REJECTED, "details": details}

    printed = {"trayNumber": "551", "poNumber": "TICKET-1", "message": "Printing in process"}
    assert_body(print_ticket(client, "55001"), 201, {"orderNumber": "55001", **printed})
    stock = refused(["Order is a stock order and there is no work ticket"])
    assert_body(print_ticket(client, "55002"), 400, stock)
    assert print_ticket(client, "55003").status_code == 201
    cancelled = {"error": "Order marked for cancelation", "details": []}
    assert_body(print_ticket(client, "55004"), 200, cancelled)

    trays = lab_client(trays_required=True)
    assert_body(print_ticket(trays, "55003"), 400, refused(["Order waiting for tray"]))
    assert_body(print_ticket(trays, "55004"), 200, cancelled)  # before any setting
    pdf = refused(["Only the XML Work Ticket system setting is supported"])
    assert_body(print_ticket(lab_client(ticket_format="pdf"), "55001"), 500, pdf)
    none = refused(["No XML template is selected in system settings"])
    assert_body(print_ticket(lab_client(xml_template=""), "55001"), 500, none)
    gone = refused(
        ["The XML template set in system settings does not exist", "Set: workticket.xml"]
    )
    assert_body(print_ticket(lab_client(xml_template_exists=False), "55001"), 500, gone)
    no_printer = refused(["No printer defined for workstation 00"])
    assert_body(print_ticket(client, "55001", lpt="LPT3"), 500, no_printer)
