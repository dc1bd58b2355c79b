"""Assertions the tests share."""

from __future__ import annotations

import dataclasses
from typing import Any

from werkzeug.test import TestResponse

import live
from shared.domain.codes import JobType, OrderStatus
from shared.domain.orders import OrderFacts


def facts(**changes: object) -> OrderFacts:
    """A Process order of job type F, no addons, no stations, but for `changes`."""
    base = OrderFacts(
        order_number=33719,
        status=OrderStatus.PROCESS,
        on_hold=False,
        deleted=False,
        job_type=JobType.FULL,
        addons=frozenset(),
        stations=frozenset(),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def assert_body(response: TestResponse, status: int, body: dict[str, Any]) -> None:
    """The response has this status and exactly this JSON body, keys in this order."""
    assert (response.status_code, response.get_json()) == (status, body)
    assert list(response.get_json()) == list(body)
    assert response.mimetype == "application/json"


def completion_error(code: str, message: str) -> dict[str, Any]:
    """The documented body of a refused completion."""
    return {
        "error": "Could not complete order",
        "details": [f"Error Code: {code}", f"Error Message: {message}"],
    }


# ---- a running API (live/__init__.py) ------------------------------------------------------


def create_ready_order(api: live.Api) -> str:
    """An order that passes every completion check: addon BSC, and it passed station BSC."""
    status, body = api.call("POST", "/api/sim/orders", {"addons": ["BSC"], "stations": ["BSC"]})
    assert status == 201, body
    return str(body["orderNumber"])


def flag(api: live.Api, number: str) -> None:
    assert api.call("POST", f"/api/v2/orders/{number}/complete") == (
        201,
        {"orderNumber": number, "message": "Successful"},
    )


def order_status(api: live.Api, number: str) -> dict[str, Any]:
    status, body = api.call("GET", f"/api/v2/orders/{number}/status")
    assert status == 200, body
    return body


def create_and_flag(api: live.Api, orders: int) -> list[tuple[str, int, Any]]:
    """Create `orders` orders (each scanned at GEN) and ask to complete each; every exchange as
    (order number, or "create", status, body)."""
    exchanges: list[tuple[str, int, Any]] = []
    for _ in range(orders):
        status, body = api.call("POST", "/api/sim/orders", {"stations": ["GEN"]})
        exchanges.append(("create", status, body))
        if status == 201:
            number = body["orderNumber"]
            status, body = api.call("POST", f"/api/v2/orders/{number}/complete")
            exchanges.append((number, status, body))
    return exchanges
