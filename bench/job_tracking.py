"""Job tracking's endpoints: check-in, status and order reads against raw-driver baselines under
the same gunicorn and wrk; and the order list's first page and tray and PO lookups against table
size, which their indexes (and the kept order count) must make independent of it."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from api.app import close_app, create_app
from bench.databases import Target, engine_for, fresh_database
from bench.endpoint import WARM_UP_SECONDS, Load, pooled, run_wrk, wrk_path
from bench.processes import gunicorn
from bench.seed import LENS_OPC, seed_orders
from bench.sizes import Size
from config.settings import Settings

APP = "api.app:create_app()"
BASELINE_APP = "bench.baseline_app:create_app()"
CHECKIN_STATION = "GEN"  # performs no process: every seeded order may be checked in there
TRAY = "4242"
PO = "PO-BENCH"
LOOKUP_RUNS_WARM_UP = 20

REQUESTS = {
    "check-in": (
        'return wrk.format("POST", "/api/v2/job_track/stations/' + CHECKIN_STATION + '",'
        ' {["Content-Type"] = "application/json"},'
        " '{\"orderIdentifier\": \"' .. number .. '\"}')"
    ),
    "status read": 'return wrk.format("GET", "/api/v2/orders/" .. number .. "/status")',
    "order read": 'return wrk.format("GET", "/api/v2/orders/" .. number)',
    "pick read": 'return wrk.format("GET", "/api/v2/orders/" .. number .. "/pick")',
    # Each call picks both lenses of an order not picked yet (wrk walks the seeded orders).
    "pick verify": (
        'return wrk.format("POST", "/api/v2/orders/" .. number .. "/pick",'
        ' {["Content-Type"] = "application/json"},'
        f' \'{{"rtOPC": "{LENS_OPC}", "ltOPC": "{LENS_OPC}"}}\')'
    ),
}


# The calls that change the order they are made on: no order may be met twice in a run.
CHANGING = {"pick verify"}


@dataclass(frozen=True)
class Operation:
    """One endpoint and its baseline under the same load, pooled over alternating rounds."""

    name: str
    api: Load
    baseline: Load

    @property
    def share(self) -> float:
        return self.api.requests_per_second / self.baseline.requests_per_second


@dataclass(frozen=True)
class LookupTimes:
    """Median milliseconds of each read at one table size, through the app in-process."""

    orders: int
    first_page_ms: float
    tray_ms: float
    po_ms: float


@dataclass(frozen=True)
class JobTrackingResult:
    operations: list[Operation]
    small: LookupTimes
    big: LookupTimes


def measure(target: Target, size: Size, log_dir: Path) -> JobTrackingResult:
    """Every job-tracking figure on one database."""
    wrk_path()
    operations = [_operation(target, size, log_dir, name) for name in REQUESTS]
    small, big = _lookups(target, size)
    return JobTrackingResult(operations, small, big)


def _operation(target: Target, size: Size, log_dir: Path, name: str) -> Operation:
    """The API and its baseline in alternating rounds, as the completion endpoint is measured."""
    apis, baselines = [], []
    for number in range(1, size.endpoint_rounds + 1):
        order = [(APP, apis), (BASELINE_APP, baselines)]
        for app, loads in order if number % 2 else reversed(order):
            loads.append(_load(target, size, log_dir, app, name, number))
    return Operation(name, pooled(apis), pooled(baselines))


def _load(target: Target, size: Size, log_dir: Path, app: str, name: str, round_: int) -> Load:
    with fresh_database(target, "jobs") as url:
        engine = engine_for(url)
        try:
            warm = seed_orders(engine, size.warm_up_orders(distinct=name in CHANGING))
            numbers = seed_orders(engine, size.endpoint_orders, first=warm.stop)
        finally:
            engine.dispose()
        label = f"gunicorn-{target.kind}-{name.replace(' ', '-')}-{app.split('.')[0]}-{round_}"
        with gunicorn(app, url, log_dir, label) as base_url:
            _wrk(base_url, name, warm, WARM_UP_SECONDS, log_dir, f"{label}-warm")
            return _wrk(base_url, name, numbers, size.endpoint_seconds, log_dir, label)


def _wrk(base_url: str, name: str, numbers: range, seconds: int, log_dir: Path, label: str) -> Load:
    load = run_wrk(base_url, REQUESTS[name], numbers, seconds, log_dir, label)
    if load.non_2xx or load.socket_errors:
        raise RuntimeError(f"{label}: {load.non_2xx} non-2xx answers, {load.socket_errors} errors")
    return load


def _lookups(target: Target, size: Size) -> tuple[LookupTimes, LookupTimes]:
    """The reads with `poll_small` orders in the table, then with `poll_big`: completed orders
    with a PO each (trays reused long ago), and one active order in tray 4242 with PO-BENCH."""
    with fresh_database(target, "lookups") as url:
        engine = engine_for(url)
        app = create_app(Settings(database_url=url))
        try:
            small = seed_orders(engine, size.poll_small, completed=True)
            _give_references(engine, small)
            client = app.test_client()
            active = client.post(
                "/api/sim/orders",
                json={
                    "orderNumber": 99_000,
                    "trayNumber": TRAY,
                    "poNumber": PO,
                    "stations": ["GEN"],
                },
            )
            if active.status_code != 201:
                raise RuntimeError(f"could not create the looked-up order: {active.get_json()}")
            small_times = _time_lookups(client, size.poll_small + 1, size.poll_runs)
            rest = seed_orders(
                engine, size.poll_big - size.poll_small, first=small.stop, completed=True
            )
            _give_references(engine, rest)
            big_times = _time_lookups(client, size.poll_big + 1, size.poll_runs)
        finally:
            close_app(app)
            engine.dispose()
    return small_times, big_times


def _give_references(engine: Engine, numbers: range) -> None:
    """A PO for each seeded order, and its tray: trays are reused, so many completed orders
    share each one; only the active order's tray must name it."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE orders SET po_number = 'PO-' || CAST(order_number AS TEXT),"
                " tray_number = CAST(order_number % 10000 AS TEXT)"
                " WHERE order_number >= :first AND order_number < :stop"
            ),
            {"first": numbers.start, "stop": numbers.stop},
        )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE orders"))


def _time_lookups(client: FlaskClient, orders: int, runs: int) -> LookupTimes:
    def timed(path: str, expected: int) -> float:
        for _ in range(LOOKUP_RUNS_WARM_UP):
            _get(client, path, expected)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            _get(client, path, expected)
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)

    return LookupTimes(
        orders=orders,
        first_page_ms=timed("/api/v2/orders?limit=10", orders),
        tray_ms=timed(f"/api/v2/orders/{TRAY}/status", 0),
        po_ms=timed(f"/api/v2/orders/{PO}/status", 0),
    )


def _get(client: FlaskClient, path: str, total: int) -> None:
    response = client.get(path)
    body = response.get_json()
    if response.status_code != 200 or (total and body["total"] != total):
        raise RuntimeError(f"GET {path}: {response.status_code} {body}")
