"""The API's NOTIFY to the trackers (shared.wakeup): sent only after what it announces is
committed, coalesced, and never missing a flag.

A tracker woken only by notifications must find every flag; and a burst of flags must not cost a
NOTIFY each, which is what made the completion call slow on PostgreSQL. The real processes'
wake-up is tested in tests/test_outage.py.
"""

from __future__ import annotations

import dataclasses
import importlib
import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from flask.testing import FlaskClient
from helpers import application_name, backends, with_application_name
from sqlalchemy import Connection, Engine, false, func, make_url, select

import shared.orders.flag
from api.http.runtime import EXTENSION
from shared.db.driver import DriverStatement
from shared.db.engine import make_engine, make_session_factory, transaction
from shared.db.models import Order, Submission
from shared.wakeup import ANNOUNCE_GAP, FLAGGED_CHANNEL, FlagAnnouncer

FLAGS = 40
# A submission POST /api/v2/orders accepts.
SUBMISSION = {
    "customerJobId": "JOB-1",
    "customerNumber": "1001",
    "jobType": "F",
    "poNumber": "PO-1",
    "rtLensStyle": "SV",
    "rtLensMaterial": "PC",
}
Listener = psycopg.Connection[tuple[object, ...]]


@pytest.fixture
def listener(postgresql_url: str) -> Iterator[Listener]:
    """A connection that LISTENs as a tracker does (shared.wakeup)."""
    url = make_url(postgresql_url)
    conninfo = url.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f"LISTEN {FLAGGED_CHANNEL}")
        yield connection


def _flagged(engine: Engine) -> int:
    """How many orders are flagged, read on a connection of the test's own, in a read-only
    transaction (which on SQLite waits for no writer)."""
    query = select(func.count()).where(Order.completion_requested_at.is_not(None))
    with transaction(make_session_factory(engine), write=False) as session:
        return session.execute(query).scalar_one()


def _waiting(engine: Engine) -> int:
    """How many submissions wait for the import, read as `_flagged` reads."""
    query = select(func.count()).where(Submission.imported_at.is_(None))
    with transaction(make_session_factory(engine), write=False) as session:
        return session.execute(query).scalar_one()


# ---- after the commit -------------------------------------------------------------------------


def _what_each_announcement_finds(client: FlaskClient, read: Callable[[], int]) -> list[int]:
    """From now on, each announcement the app makes first records what `read` finds on a
    connection of the test's own: what a tracker woken by that NOTIFY would find. A NOTIFY sent
    after the commit comes later still, so what this sees, a woken tracker sees too."""
    app = client.application
    runtime = app.extensions[EXTENSION]
    found: list[int] = []

    def announce(connection: Connection) -> None:
        found.append(read())
        runtime.announce_flag(connection)

    app.extensions[EXTENSION] = dataclasses.replace(runtime, announce_flag=announce)
    return found


def test_a_flag_is_announced_only_once_it_is_committed(
    client: FlaskClient, make_order: Callable[..., str], engine: Engine
) -> None:
    numbers = [make_order() for _ in range(3)]
    found = _what_each_announcement_finds(client, lambda: _flagged(engine))
    for number in numbers:
        assert client.post(f"/api/v2/orders/{number}/complete").status_code == 201
    assert found == [1, 2, 3]  # each announcement finds its own flag, committed


def test_a_flag_set_by_the_second_write_is_announced_only_once_it_is_committed(
    client: FlaskClient,
    make_order: Callable[..., str],
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The completion call's other way to flag (shared.orders.flag): its one statement found the
    order not completable, the check in Python finds it is (it changed in between), and a second
    write flags it."""
    runtime = client.application.extensions[EXTENSION]
    dialect = runtime.autocommit_engine.dialect
    real = shared.orders.flag._completion_statements(dialect, runtime.lab)
    never = DriverStatement.compile(shared.orders.flag._flag(false()), dialect)
    monkeypatch.setattr(
        "shared.orders.flag._completion_statements",
        lambda *_: real._replace(flag_if_completable=never),
    )
    number = make_order()
    found = _what_each_announcement_finds(client, lambda: _flagged(engine))
    assert client.post(f"/api/v2/orders/{number}/complete").status_code == 201
    assert found == [1]


def test_a_submission_is_announced_only_once_it_is_committed(
    client: FlaskClient, engine: Engine
) -> None:
    found = _what_each_announcement_finds(client, lambda: _waiting(engine))
    for _ in range(2):
        assert client.post("/api/v2/orders", json=SUBMISSION).status_code == 202
    assert found == [1, 2]  # each announcement finds its own submission, committed


# ---- a burst ----------------------------------------------------------------------------------


class HeldClock:
    """time.monotonic and time.sleep for shared.wakeup, on a clock that moves only when the test
    moves it: a sleep ends once the clock has moved past it (or after ten real seconds, so that a
    test that fails never leaves a thread asleep for good)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.moved = threading.Condition()

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.moved:
            until = self.now + seconds
            self.moved.wait_for(lambda: self.now >= until, timeout=10)

    def advance(self, seconds: float) -> None:
        with self.moved:
            self.now += seconds
            self.moved.notify_all()


def _notified(listener: Listener, engine: Engine, name: str, within: float) -> bool:
    """Whether a NOTIFY sent on a connection named `name` arrives within `within` seconds; any
    other (another test's, on the same server) is passed over. Read through `engine`."""
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        for notification in listener.notifies(timeout=left, stop_after=1):
            if notification.pid in backends(engine, name):
                return True
    return False


def test_a_burst_of_flags_is_announced_once_as_it_begins_and_once_after_its_last_flag(
    listener: Listener,
    postgresql_url: str,
    make_client: Callable[..., FlaskClient],
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The announcer's clock stands still through the burst, then moves past the gap: so the
    first flag is announced at once, the others wait for the gap, and a single NOTIFY, sent when
    the gap has passed, covers them all; a tracker woken by it finds every one. Each NOTIFY is
    read before the flags after it are sent: read only after the whole burst, the first would find
    every flag, whether or not the last ones were ever announced."""
    clock = HeldClock()
    # importlib: the module itself, whose `time` the announcer reads.
    monkeypatch.setattr(importlib.import_module("shared.wakeup"), "time", clock)
    name = application_name()
    client = make_client(database_url=with_application_name(postgresql_url, name))
    numbers = []
    for _ in range(FLAGS):
        response = client.post("/api/sim/orders", json={})
        assert response.status_code == 201
        numbers.append(response.get_json()["orderNumber"])

    def flag(number: str) -> None:
        assert client.post(f"/api/v2/orders/{number}/complete").status_code == 201

    # At each NOTIFY, what a tracker woken by it finds: how many orders are flagged.
    wake_ups = []
    flag(numbers[0])
    if _notified(listener, engine, name, within=5.0):
        wake_ups.append(_flagged(engine))
    assert wake_ups == [1], "the first flag of a burst is not announced at once"
    for number in numbers[1:]:
        flag(number)
    # Flagged within the gap, they wait for it: nothing until the clock moves.
    assert not _notified(listener, engine, name, within=0.3), "a NOTIFY within the gap"

    clock.advance(ANNOUNCE_GAP)
    if _notified(listener, engine, name, within=5.0):
        wake_ups.append(_flagged(engine))
    assert wake_ups == [1, FLAGS], "the flags after the first were never announced"
    assert not _notified(listener, engine, name, within=0.3), "more than one NOTIFY"


def test_a_lone_flag_is_announced_at_once_and_the_next_once_the_gap_has_passed(
    listener: Listener, postgresql_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    gap = 0.3
    monkeypatch.setattr("shared.wakeup.IDLE_SECONDS", 0.4)  # longer than the gap
    name = application_name()
    announcing = make_engine(with_application_name(postgresql_url, name), autocommit=True)
    announcer = FlagAnnouncer(announcing, gap=gap)
    try:
        for round_ in range(2):  # the second after the idle thread has ended
            started = time.monotonic()
            with announcing.connect() as connection:
                announcer.flagged(connection)
                # Sent by the caller, on its own connection, before flagged() returned: no
                # thread, no wait, no second connection.
                assert announcer.thread is None, round_
            assert _notified(listener, engine, name, within=1.0), round_

            with announcing.connect() as connection:
                # Within the gap: left to the thread, sent once the gap has passed.
                announcer.flagged(connection)
            assert announcer.thread is not None
            assert _notified(listener, engine, name, within=2.0), round_
            assert time.monotonic() - started >= gap
            # One announcement for the two.
            assert not _notified(listener, engine, name, within=0.2), round_

            deadline = time.monotonic() + 5
            while announcer.thread is not None and time.monotonic() < deadline:
                time.sleep(0.01)
            assert announcer.thread is None, "the idle announcer's thread did not end"
    finally:
        announcing.dispose()
