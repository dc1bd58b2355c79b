"""The board's data endpoint (`GET /api/sim/board`) against table size: the same lab at work, with
a thousand completed orders behind it and then with a million; its indexes must keep it flat."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from api import create_app
from bench.databases import Target, engine_for, fresh_database
from bench.seed import analyze, seed_orders
from bench.sizes import Size
from config.settings import Settings

RUNS_WARM_UP = 20
# The lab at work, the same at both table sizes: orders in process spread over the stations,
# some on hold, some flagged and waiting, and their check-ins within the board's window.
ACTIVE = 300
FLAGGED = 50
ACTIVE_FIRST = 9_000_000
STATIONS = ("REC", "PICK", "BLK", "GEN", "FIN", "SPL", "DBK", "LM", "BSC", "EDG", "FQA", "SHP")
# The completed orders behind it: finished two days ago, every tenth rejected once before.
COMPLETED_AGO = timedelta(days=2)


@dataclass(frozen=True)
class BoardTimes:
    """Median milliseconds of one board read at one table size, through the app in-process."""

    orders: int
    board_ms: float


@dataclass(frozen=True)
class BoardResult:
    small: BoardTimes
    big: BoardTimes


def measure(target: Target, size: Size) -> BoardResult:
    """The board read with `poll_small` completed orders in the table, then with `poll_big`."""
    with fresh_database(target, "board") as url:
        engine = engine_for(url)
        app = create_app(Settings(database_url=url))
        try:
            _seed_lab(engine)
            small = seed_orders(engine, size.poll_small, completed=True)
            _age(engine, small)
            client = app.test_client()
            small_times = _time(client, size.poll_small + ACTIVE + FLAGGED, size.poll_runs)
            rest = seed_orders(
                engine, size.poll_big - size.poll_small, first=small.stop, completed=True
            )
            _age(engine, rest)
            big_times = _time(client, size.poll_big + ACTIVE + FLAGGED, size.poll_runs)
        finally:
            for extension in ("engine", "autocommit_engine"):
                getattr(app.extensions["rx_jobtracker"], extension).dispose()
            engine.dispose()
    return BoardResult(small_times, big_times)


def _seed_lab(engine: Engine) -> None:
    """The orders in process: spread over `STATIONS`, every seventh on hold, and `FLAGGED` more
    waiting for a tracker."""
    active = seed_orders(engine, ACTIVE, first=ACTIVE_FIRST)
    seed_orders(engine, FLAGGED, first=active.stop, flagged=True)
    spread = " ".join(f"WHEN {i} THEN '{code}'" for i, code in enumerate(STATIONS))
    with engine.begin() as connection:
        connection.execute(
            text(
                f"UPDATE checkins SET station = CASE order_number % {len(STATIONS)} {spread} END"
                " WHERE order_number >= :first"
            ),
            {"first": ACTIVE_FIRST},
        )
        connection.execute(
            text(
                "UPDATE orders SET on_hold = true"
                " WHERE order_number >= :first AND order_number % 7 = 0"
            ),
            {"first": ACTIVE_FIRST},
        )


def _age(engine: Engine, numbers: range) -> None:
    """Completed two days ago, as a lab's history is: their check-ins moved back, a completion
    check-in each, and every tenth one's earlier rejection recorded."""
    then = datetime.now(UTC) - COMPLETED_AGO
    stamp = then.replace(tzinfo=None) if engine.dialect.name == "sqlite" else then
    bounds = {"first": numbers.start, "stop": numbers.stop, "then": stamp}
    within = "order_number >= :first AND order_number < :stop"
    with engine.begin() as connection:
        connection.execute(
            text(f"UPDATE checkins SET checked_in_at = :then WHERE {within}"), bounds
        )
        connection.execute(
            text(
                "INSERT INTO checkins (order_number, station, checked_in_at)"
                f" SELECT order_number, 'CMP', :then FROM orders WHERE {within}"
            ),
            bounds,
        )
        connection.execute(
            text(
                "UPDATE orders SET last_rejected_at = :then, last_rejection_code = '20'"
                f" WHERE {within} AND order_number % 10 = 0"
            ),
            bounds,
        )
    analyze(engine)


def _time(client: FlaskClient, orders: int, runs: int) -> BoardTimes:
    for _ in range(RUNS_WARM_UP):
        _read(client)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        _read(client)
        times.append((time.perf_counter() - started) * 1000)
    return BoardTimes(orders=orders, board_ms=statistics.median(times))


def _read(client: FlaskClient) -> None:
    response = client.get("/api/sim/board")
    body = response.get_json()
    if response.status_code != 200 or (body["active"], body["flagged"]) != (
        ACTIVE + FLAGGED,
        FLAGGED,
    ):
        raise RuntimeError(f"GET /api/sim/board: {response.status_code} {body}")
