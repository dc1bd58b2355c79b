"""The board's data endpoint (`GET /api/sim/board`) against table size: the same lab at work, with
a thousand completed orders behind it and then with a million; its indexes must keep it flat."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from api.app import close_app, create_app
from bench.databases import Target, engine_for, fresh_database
from bench.seed import analyze, seed_orders
from bench.sizes import Size
from config.settings import Settings

RUNS_WARM_UP = 20
ROUNDS = 10  # alternating between the two table sizes
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
    """The board read with `poll_small` completed orders behind the lab and with `poll_big`: two
    databases, timed in alternating rounds, so a busy moment of the machine hits both alike."""
    with (
        fresh_database(target, "board_small") as small_url,
        fresh_database(target, "board_big") as big_url,
    ):
        clients, apps = [], []
        for url, orders in ((small_url, size.poll_small), (big_url, size.poll_big)):
            engine = engine_for(url)
            try:
                _seed_lab(engine)
                _age(engine, seed_orders(engine, orders, completed=True))
            finally:
                engine.dispose()
            apps.append(create_app(Settings(database_url=url)))
            clients.append(apps[-1].test_client())
        try:
            for client in clients:
                for _ in range(RUNS_WARM_UP):
                    _read(client)
            times: tuple[list[float], list[float]] = ([], [])
            for _ in range(ROUNDS):
                for client, timed in zip(clients, times, strict=True):
                    timed.extend(_time(client, max(1, size.poll_runs // ROUNDS)))
        finally:
            for app in apps:
                close_app(app)
    return BoardResult(
        BoardTimes(size.poll_small + ACTIVE + FLAGGED, statistics.median(times[0])),
        BoardTimes(size.poll_big + ACTIVE + FLAGGED, statistics.median(times[1])),
    )


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


def _time(client: FlaskClient, runs: int) -> list[float]:
    """Milliseconds of each of `runs` board reads."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        _read(client)
        times.append((time.perf_counter() - started) * 1000)
    return times


def _read(client: FlaskClient) -> None:
    response = client.get("/api/sim/board")
    body = response.get_json()
    if response.status_code != 200 or (body["active"], body["flagged"]) != (
        ACTIVE + FLAGGED,
        FLAGGED,
    ):
        raise RuntimeError(f"GET /api/sim/board: {response.status_code} {body}")
