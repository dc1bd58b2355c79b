"""The wake-up on SQLite (shared.doorbell): a flag rings every tracker listening on the database
file, from any process; a lost ring costs one poll interval at most.

The unit tests drive the two ends directly; the end-to-end tests run run_api.py (and gunicorn with
two workers) and run_tracker.py as a user would, with an interval long enough that only a
wake-up can explain an order completed within the test's wait.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import create_ready_order, flag, order_status
from sqlalchemy import make_url

import live
from shared import doorbell
from shared.wakeup import announcer_for

pytestmark = pytest.mark.database_free  # SQLite's own wake-up: the PostgreSQL pass leaves it out

# Far longer than any wait below: an order completed within WAIT was woken for, not polled for.
LONG_INTERVAL = 120
WAIT = 20.0


class Rings:
    """What a listener heard: a count, and a way to wait for the next."""

    def __init__(self) -> None:
        self.count = 0
        self.changed = threading.Condition()

    def __call__(self) -> None:
        with self.changed:
            self.count += 1
            self.changed.notify_all()

    def wait_past(self, count: int, timeout: float = 5.0) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.count > count, timeout)


@pytest.fixture
def stopping() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def _listening(folder: Path, stopping: threading.Event) -> Rings:
    """A listener on `folder`, returned once it has bound (its first wake-up is that)."""
    rings = Rings()
    doorbell.listen(folder, rings, stopping)
    assert rings.wait_past(0), "the listener never bound its socket"
    return rings


def test_the_doorbells_hang_beside_the_database_file_and_nowhere_for_a_database_in_memory(
    tmp_path: Path,
) -> None:
    file_url = make_url(live.sqlite_url(tmp_path / "lab.db"))
    assert doorbell.folder_for(file_url) == tmp_path / "lab.db-wakeup"
    assert doorbell.folder_for(make_url("sqlite://")) is None
    assert doorbell.folder_for(make_url("sqlite:///:memory:")) is None
    assert doorbell.folder_for(make_url("postgresql+psycopg://u@h/test")) is None


def test_a_ring_from_another_process_wakes_every_tracker_listening_on_the_database(
    tmp_path: Path, stopping: threading.Event
) -> None:
    folder = tmp_path / "lab.db-wakeup"
    first, second = _listening(folder, stopping), _listening(folder, stopping)
    code = f"from shared.doorbell import Ringer; Ringer({str(folder)!r}).ring()"
    subprocess.run([sys.executable, "-c", code], cwd=live.ROOT, check=True, timeout=30)
    assert first.wait_past(1), "the first tracker was not woken"
    assert second.wait_past(1), "the second tracker was not woken"


def test_rings_that_come_together_wake_the_tracker_once_for_all_of_them(
    tmp_path: Path, stopping: threading.Event
) -> None:
    folder = tmp_path / "lab.db-wakeup"
    rings = _listening(folder, stopping)
    ringer = doorbell.Ringer(folder)
    for _ in range(200):
        ringer.ring()
    assert rings.wait_past(1)
    time.sleep(10 * doorbell.WAKE_SPACING)
    assert 2 <= rings.count < 10  # a wake-up per spacing at most: not one per ring


def test_a_ring_never_waits_on_a_tracker_that_was_killed_and_clears_its_socket_away(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "lab.db-wakeup"
    folder.mkdir()
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dead.bind(str(folder / "dead"))
    dead.close()  # bound, then gone without removing its file: a SIGKILLed tracker's
    (folder / "notes.txt").write_text("not a socket")
    doorbell.Ringer(folder).ring()
    assert sorted(os.listdir(folder)) == ["notes.txt"]


def test_a_tracker_whose_socket_was_deleted_binds_again_and_is_woken_again(
    tmp_path: Path, stopping: threading.Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(doorbell, "CHECK_SECONDS", 0.2)
    folder = tmp_path / "lab.db-wakeup"
    rings = _listening(folder, stopping)
    shutil.rmtree(folder)  # someone cleaned up: rings reach nobody until it binds again
    assert rings.wait_past(1, timeout=5.0), "the listener did not bind again"
    count = rings.count
    doorbell.Ringer(folder).ring()
    assert rings.wait_past(count), "rung after binding again, the tracker was not woken"


def test_a_socket_path_too_long_to_bind_leaves_the_tracker_polling_and_says_so(
    tmp_path: Path, stopping: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / ("d" * doorbell.MAX_PATH_BYTES) / "lab.db-wakeup"
    rings = Rings()
    with caplog.at_level(logging.WARNING, logger="shared.doorbell"):
        doorbell.listen(folder, rings, stopping)
        _wait(lambda: "too long" in caplog.text, "the listener to give up")
    assert "polling only" in caplog.text
    assert rings.count == 0 and not folder.exists()


def test_the_api_rings_only_for_a_database_file(tmp_path: Path, stopping: threading.Event) -> None:
    from shared.db.engine import make_engine

    rings = _listening(tmp_path / "lab.db-wakeup", stopping)
    file_engine = make_engine(live.sqlite_url(tmp_path / "lab.db"), autocommit=True)
    memory_engine = make_engine("sqlite://", autocommit=True)
    try:
        with file_engine.connect() as connection:
            announcer_for(file_engine)(connection)
        assert rings.wait_past(1)
        count = rings.count
        with memory_engine.connect() as connection:
            announcer_for(memory_engine)(connection)  # one process only: nobody to wake
        assert not rings.wait_past(count, timeout=0.3), "a database in memory rang a tracker"
        assert not (tmp_path / ":memory:-wakeup").exists()
    finally:
        file_engine.dispose()
        memory_engine.dispose()


def _wait(done: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


# ---- the real processes -----------------------------------------------------------------------


def _completed(api: live.Api, number: str) -> dict[str, Any] | None:
    body = order_status(api, number)
    return body if body["status"] == "C" else None


def _tracker_running(api: live.Api) -> bool | None:
    return api.call("GET", "/api/sim/tracker")[1]["running"] or None


@pytest.mark.e2e
@pytest.mark.parametrize("server", ["run_api.py", "gunicorn, 2 workers"])
def test_a_flag_wakes_the_tracker_on_sqlite_with_whichever_worker_takes_it(
    tmp_path: Path, server: str
) -> None:
    """With a poll every two minutes, orders flagged one after another through several API
    workers are each completed within seconds; so is a submission imported."""
    url = live.sqlite_url(tmp_path / "lab.db")
    serving = (
        live.run_api(url, tmp_path)
        if server == "run_api.py"
        else live.run_gunicorn(url, tmp_path, workers=2)
    )
    with serving as api, live.run_tracker(url, tmp_path, TRACKER_INTERVAL=LONG_INTERVAL):
        live.wait_until(lambda: _tracker_running(api), WAIT, "the tracker's first poll")
        for _ in range(6):
            number = create_ready_order(api)
            flag(api, number)
            completed = functools.partial(_completed, api, number)
            live.wait_until(completed, WAIT, f"order {number} completed")
        submission = {
            "customerJobId": "WAKE-1",
            "customerNumber": "1001",
            "jobType": "F",
            "poNumber": "PO-WAKE-1",
            "rtLensStyle": "SV",
            "rtLensMaterial": "PC",
        }
        assert api.call("POST", "/api/v2/orders", submission)[0] == 202
        live.wait_until(
            lambda: api.call("GET", "/api/v2/orders/PO-WAKE-1")[0] == 200 or None,
            WAIT,
            "the submission to be imported",
        )


@pytest.mark.e2e
def test_a_lost_ring_costs_the_order_one_poll_interval_at_most(tmp_path: Path) -> None:
    """The rings go nowhere (the doorbells' folder is a file, so no tracker can bind): every
    order is still completed, by the interval poll."""
    url = live.sqlite_url(tmp_path / "lab.db")
    (tmp_path / "lab.db-wakeup").write_text("not a folder")
    interval = 3.0
    with (
        live.run_api(url, tmp_path) as api,
        live.run_tracker(url, tmp_path, TRACKER_INTERVAL=interval) as tracker,
    ):
        live.wait_until(lambda: _tracker_running(api), WAIT, "the tracker's first poll")
        numbers = [create_ready_order(api) for _ in range(3)]
        started = time.monotonic()
        for number in numbers:
            flag(api, number)
        for number in numbers:
            completed = functools.partial(_completed, api, number)
            live.wait_until(completed, WAIT, f"order {number} completed")
        # One interval, and the slack of a loaded machine; never the next poll but one.
        assert time.monotonic() - started < interval + 3.0
        assert "polling only" in tracker.log_tail(200)
