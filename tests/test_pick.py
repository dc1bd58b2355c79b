"""Lens and frame pick verification: the documented bodies, the Partial Picking rule, codes
checked against the order, `Order already picked`, and one pick at a time per order."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from freezegun import freeze_time
from helpers import assert_body, close_app
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from config.settings import Settings
from shared.domain.lab_setup import Lab
from tracker.jobs import TrackerConfig, run_cycle

MakeOrder = Callable[..., str]
LENS = "0209448281"  # the default lab's first lens (SV, PC)
FRAME = "0799431000017"  # the default lab's frame for simulator orders
REJECTED = "Pick verification rejected"


def pick(client: FlaskClient, identifier: str, **codes: str) -> Any:
    return client.post(f"/api/v2/orders/{identifier}/pick", json=codes)


def rejected(reason: str) -> dict[str, Any]:
    return {"error": REJECTED, "details": [reason]}


def picked_body(number: str, tray: str | None, po: str | None, **picked: bool) -> dict[str, Any]:
    flags = ("rtLens", "ltLens", "frame", "framePart", "frameSideShield", "misc1", "misc2")
    return {
        "orderNumber": number,
        "trayNumber": tray,
        "poNumber": po,
        **{f"{flag}Picked": picked.get(flag, False) for flag in flags},
        "warehouse": "DEFAULT",
    }


@pytest.fixture
def strict_client(settings: Settings, lab: Lab) -> Iterator[FlaskClient]:
    """A client of a lab with Partial Picking off."""
    strict = dataclasses.replace(lab, pick=dataclasses.replace(lab.pick, partial_picking=False))
    app = create_app(settings, lab=strict)
    yield app.test_client()
    close_app(app)


def test_a_new_order_has_two_lenses_and_a_frame_to_pick_in_the_documented_body(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    number = make_order(trayNumber="45", poNumber="XYZ123")
    assert_body(
        client.get("/api/v2/orders/XYZ123/pick"),
        200,
        {
            **picked_body(number, "45", "XYZ123"),
            "pickAllowed": True,
            "pickRejectReason": None,
            "rtOPC": LENS,
            "ltOPC": LENS,
            "frameUPC": FRAME,
            "frameSKU": None,
            "framePartSKU": None,
            "frameSideShieldSKU": None,
            "misc1SKU": None,
            "misc2SKU": None,
        },
    )


def test_picking_every_item_uses_the_pick_up(client: FlaskClient, make_order: MakeOrder) -> None:
    number = make_order(trayNumber="45", poNumber="XYZ123")
    assert_body(
        pick(client, "45", rtOPC=LENS, ltOPC=LENS),
        200,
        picked_body(number, "45", "XYZ123", rtLens=True, ltLens=True),
    )
    info = client.get(f"/api/v2/orders/{number}/pick").get_json()
    assert (info["pickAllowed"], info["pickRejectReason"]) == (True, None)
    assert_body(
        pick(client, number, frameUPC=FRAME),
        200,
        picked_body(number, "45", "XYZ123", rtLens=True, ltLens=True, frame=True),
    )
    info = client.get(f"/api/v2/orders/{number}/pick").get_json()
    assert (info["pickAllowed"], info["pickRejectReason"]) == (False, "Order already picked")
    assert_body(pick(client, number, rtOPC=LENS), 400, rejected("Order already picked"))


@pytest.mark.parametrize(
    ("order", "codes", "reason"),
    [
        ({}, {"rtOPC": "0209448212"}, "rtOPC 0209448212 does not match the order"),
        ({}, {"misc1SKU": "M-1"}, "misc1SKU M-1 is not needed for this order"),
        ({"ltOPC": None}, {"ltOPC": LENS}, f"ltOPC {LENS} is not needed for this order"),
        (
            {},
            {"frameUPC": FRAME, "frameSKU": "F-1"},
            "frameUPC cannot be provided alongside frameSKU",
        ),
        ({}, {}, "No pick codes provided"),
        ({"deleted": True}, {"rtOPC": LENS}, "Order marked for cancelation"),
        ({"status": "C"}, {"rtOPC": LENS}, "Order already completed"),
        (
            {"rtOPC": None, "ltOPC": None, "frameUPC": None},
            {"rtOPC": LENS},
            "Order has no items to pick",
        ),
    ],
)
def test_each_refusal_names_its_reason_and_picks_nothing(
    client: FlaskClient,
    make_order: MakeOrder,
    order: dict[str, Any],
    codes: dict[str, str],
    reason: str,
) -> None:
    number = make_order(**order)
    assert_body(pick(client, number, **codes), 400, rejected(reason))
    info = client.get(f"/api/v2/orders/{number}/pick").get_json()
    assert not any(value for key, value in info.items() if key.endswith("Picked"))


def test_a_code_longer_than_20_characters_is_an_invalid_request(
    client: FlaskClient, make_order: MakeOrder
) -> None:
    assert_body(
        pick(client, make_order(), rtOPC="1" * 21),
        400,
        {"error": "Invalid request", "details": ["rtOPC: Length must be between 1 and 20."]},
    )


def test_without_partial_picking_the_lenses_and_the_frame_items_come_together(
    strict_client: FlaskClient, make_order: MakeOrder
) -> None:
    number = make_order(frameUPC=None, frameSKU="F-1", framePartSKU="P-1")
    lens_reason = "Partial Picking is off: send every lens code in one call"
    frame_reason = "Partial Picking is off: send every frame code in one call"
    assert_body(pick(strict_client, number, rtOPC=LENS), 400, rejected(lens_reason))
    assert_body(pick(strict_client, number, frameSKU="F-1"), 400, rejected(frame_reason))
    # The lenses need not come with the frame.
    assert pick(strict_client, number, rtOPC=LENS, ltOPC=LENS).status_code == 200
    assert pick(strict_client, number, frameSKU="F-1", framePartSKU="P-1").status_code == 200
    # A one-eye job needs only its eye.
    one_eye = make_order(ltOPC=None)
    assert pick(strict_client, one_eye, rtOPC=LENS).status_code == 200


def test_an_imported_order_expects_the_lenses_of_its_styles_and_the_frame_it_was_sent_with(
    client: FlaskClient, session_factory: sessionmaker[Session], tracker_config: TrackerConfig
) -> None:
    body = {
        "customerJobId": "J-1",
        "customerNumber": "1001",
        "jobType": "F",
        "poNumber": "PO-PICK",
        "rtLensStyle": "SV",
        "rtLensMaterial": "PC",
        "ltLensStyle": "SV",
        "ltLensMaterial": "CR",
        "frameSKU": "SKU-9",
    }
    assert client.post("/api/v2/orders", json=body).status_code == 202
    with freeze_time("2026-12-07T09:30:00Z"):
        assert run_cycle(session_factory, tracker_config).imported == 1
    info = client.get("/api/v2/orders/PO-PICK/pick").get_json()
    assert (info["rtOPC"], info["ltOPC"]) == (LENS, "0209448212")
    assert (info["frameUPC"], info["frameSKU"]) == (None, "SKU-9")


def test_an_unknown_order_is_not_found(client: FlaskClient) -> None:
    not_found = {"error": "No record found", "details": ["Provided: 999999"]}
    assert_body(client.get("/api/v2/orders/999999/pick"), 404, not_found)
    assert_body(pick(client, "999999", rtOPC=LENS), 404, not_found)


def race_picks(app: Flask, number: str, callers: int) -> list[int]:
    """`callers` clients picking both lenses of the order at once; their statuses."""
    start = threading.Barrier(callers)
    statuses: list[int] = []

    def one() -> None:
        client = app.test_client()
        start.wait()
        statuses.append(pick(client, number, rtOPC=LENS, ltOPC=LENS).status_code)

    threads = [threading.Thread(target=one) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return statuses


def test_two_picks_racing_for_the_last_item_never_both_succeed(
    app: Flask, make_order: MakeOrder
) -> None:
    for _ in range(3):
        number = make_order(frameUPC=None)  # two lenses: one pick of both uses it up
        assert sorted(race_picks(app, number, 4)) == [200, 400, 400, 400]
