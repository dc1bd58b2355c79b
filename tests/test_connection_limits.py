"""A process's database connections are a fixed number: a request that finds them all busy waits
at most DATABASE_TIMEOUT, then answers our 503 (never hangs); a tracker that finds its connection
busy backs off and completes the order at a later poll.

On both engines (SQLite's file pool is bounded the same way). The real deployment's count on
PostgreSQL is tests/test_connection_budget.py's; a server that stops answering is
tests/test_outage.py's.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest
from flask import Flask
from helpers import close_app
from sqlalchemy import Connection, Engine, text

from api.app import create_app
from config.settings import Settings
from shared.db.engine import make_engine, make_session_factory, run_autocommit
from shared.domain.lab_setup import Lab
from tracker.jobs import TrackerConfig
from tracker.scheduler import Poller

POOL_SIZE = 2
TIMEOUT = 1.0
# What a refused request may take beyond TIMEOUT on a loaded test machine.
MARGIN = 1.5
UNAVAILABLE = {
    "error": "Service unavailable",
    "details": ["The database is unavailable; try again"],
}


@pytest.fixture
def small_app(settings: Settings, lab: Lab) -> Iterator[Flask]:
    """The API with POOL_SIZE connections a pool and a TIMEOUT-second wait for one."""
    app = create_app(
        dataclasses.replace(settings, database_pool_size=POOL_SIZE, database_timeout=TIMEOUT),
        lab=lab,
    )
    yield app
    close_app(app)


def hold_autocommit_connections(engine: Engine, stack: ExitStack) -> None:
    """Take every connection of the autocommit engine, each held by a call that waits, until
    `stack` closes."""
    held, release = threading.Barrier(POOL_SIZE + 1, timeout=10), threading.Event()

    def busy(connection: Connection) -> None:
        connection.execute(text("SELECT 1"))
        held.wait()
        assert release.wait(10)

    pool = stack.enter_context(ThreadPoolExecutor(POOL_SIZE))
    calls = [pool.submit(run_autocommit, engine, busy) for _ in range(POOL_SIZE)]
    stack.callback(lambda: [call.result(timeout=10) for call in calls])
    stack.callback(release.set)
    held.wait()


def hold_session_connections(engine: Engine, stack: ExitStack) -> None:
    """Check every connection of the transactional engine out, until `stack` closes."""
    for _ in range(POOL_SIZE):
        stack.enter_context(engine.connect())  # checked out: the pool has it no more


@pytest.mark.parametrize(
    ("hold", "path"),
    [
        (hold_autocommit_connections, "/api/v2/orders/{number}/status"),
        (hold_session_connections, "/api/v2/orders/{number}/history"),
    ],
    ids=["the-completion-calls-pool", "the-transactions-pool"],
)
def test_a_request_that_finds_every_connection_busy_answers_503_after_the_timeout(
    small_app: Flask,
    hold: Callable[[Engine, ExitStack], None],
    path: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = small_app.test_client()
    created = client.post("/api/sim/orders", json={"stations": ["GEN"]})
    assert created.status_code == 201, created.get_data(as_text=True)
    path = path.format(number=created.get_json()["orderNumber"])
    runtime = small_app.extensions["rx_jobtracker"]
    engine = runtime.autocommit_engine if "status" in path else runtime.engine

    with ExitStack() as busy:
        hold(engine, busy)
        started = time.monotonic()
        response = client.get(path)
        elapsed = time.monotonic() - started
    assert (response.status_code, response.get_json()) == (503, UNAVAILABLE)
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + MARGIN, f"answered after {elapsed:.2f}s"
    assert "No database connection free" in caplog.text
    # Once a connection is free, the same request is served: nothing was left broken.
    assert client.get(path).status_code == 200


def test_a_tracker_that_finds_its_connection_busy_backs_off_then_completes_the_order(
    settings: Settings,
    small_app: Flask,
    tracker_config: TrackerConfig,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = small_app.test_client()
    number = client.post(
        "/api/sim/orders", json={"addons": ["BSC"], "stations": ["BSC"]}
    ).get_json()["orderNumber"]
    assert client.post(f"/api/v2/orders/{number}/complete").status_code == 201
    # The tracker's engine as run_tracker.py makes it: one connection, watched.
    engine = make_engine(settings.database_url, timeout=0.5, pool_size=1, watchdog=True)
    poller = Poller(make_session_factory(engine), dataclasses.replace(tracker_config, interval=0.2))
    try:
        # Its one connection busy: the poll waits half a second for it, then backs off.
        with engine.connect(), caplog.at_level(logging.WARNING, logger="tracker.scheduler"):
            poller()
        assert "Database unavailable" in caplog.text
        assert "retrying in 0.2s" in caplog.text
        assert poller.failures == 1
        time.sleep(0.25)
        poller()
        assert poller.failures == 0
    finally:
        engine.dispose()
    status = client.get(f"/api/v2/orders/{number}/status").get_json()
    assert (status["status"], status["currentStation"]) == ("C", "CMP")
