"""Assertions and helpers the tests share."""

from __future__ import annotations

import dataclasses
import time
import uuid
from typing import Any

from sqlalchemy import Engine, make_url, text
from werkzeug.test import TestResponse

import live
from api.app import close_app as close_app  # for the tests: one way to close an app
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


# ---- a test's own PostgreSQL backends --------------------------------------------------------


def application_name() -> str:
    """A new application_name, for one test's connections alone."""
    return f"rx-test-{uuid.uuid4().hex[:12]}"


def with_application_name(database_url: str, name: str) -> str:
    """`database_url` whose connections carry `name` as their application_name (PostgreSQL), so
    that a test finds its own backends in pg_stat_activity, and no other test's."""
    url = make_url(database_url).update_query_dict({"application_name": name})
    return url.render_as_string(hide_password=False)


def backends(engine: Engine, name: str) -> set[int]:
    """The pids of the server backends whose connections carry application_name `name`; read
    through `engine`, whose own connections carry another."""
    with engine.connect() as connection:
        found = connection.execute(
            text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
            {"name": name},
        )
        return set(found.scalars())


def terminate_backends(engine: Engine, name: str, timeout: float = 10.0) -> int:
    """What a restart of the server does to the connections named `name`: end each backend;
    answer how many, once every one has gone."""
    with engine.connect() as connection:
        ended = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = :name"
            ),
            {"name": name},
        ).scalar_one()
    deadline = time.monotonic() + timeout
    while backends(engine, name):
        assert time.monotonic() < deadline, f"the backends of {name} did not end"
        time.sleep(0.01)
    return int(ended)
