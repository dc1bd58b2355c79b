"""The API's NOTIFY to the trackers (shared.wakeup): coalesced, and never missing a flag.

A tracker woken only by notifications must find every flag; and a burst of flags must not cost a
NOTIFY each, which is what made the completion call slow on PostgreSQL. The real processes'
wake-up is tested in tests/test_outage.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import psycopg
import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, make_url, select

from config.settings import Settings
from shared.db.engine import make_engine
from shared.db.models import Order
from shared.wakeup import FLAGGED_CHANNEL, FlagAnnouncer

FLAGS = 40


@pytest.fixture
def listener(database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A connection that LISTENs as a tracker does (shared.wakeup)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite trackers poll")
    conninfo = url.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f"LISTEN {FLAGGED_CHANNEL}")
        yield connection


def _flagged(engine: Engine) -> int:
    with engine.connect() as connection:
        query = select(func.count()).where(Order.completion_requested_at.is_not(None))
        return connection.execute(query).scalar_one()


def test_a_tracker_woken_only_by_notifications_finds_every_flag_of_a_burst(
    listener: psycopg.Connection[tuple[object, ...]],
    client: FlaskClient,
    make_order: Callable[..., str],
    engine: Engine,
) -> None:
    numbers = [make_order() for _ in range(FLAGS)]
    for number in numbers:
        assert client.post(f"/api/v2/orders/{number}/complete").status_code == 201

    # What a tracker that polls only when notified sees: the flags found at each wake-up.
    seen_at_wake_ups = []
    for _ in listener.notifies(timeout=2.0):
        seen_at_wake_ups.append(_flagged(engine))
        if seen_at_wake_ups[-1] == FLAGS:
            break
    assert seen_at_wake_ups, "no notification at all"
    assert seen_at_wake_ups[-1] == FLAGS, seen_at_wake_ups
    # Coalesced: a burst of flags is announced a few times, not once a flag.
    assert len(seen_at_wake_ups) < FLAGS / 2, seen_at_wake_ups


@pytest.fixture
def autocommit_engine(settings: Settings, engine: Engine) -> Iterator[Engine]:
    made = make_engine(settings.database_url, autocommit=True)
    yield made
    made.dispose()


def test_a_lone_flag_is_announced_at_once_and_the_next_once_the_gap_has_passed(
    listener: psycopg.Connection[tuple[object, ...]],
    autocommit_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gap = 0.3
    monkeypatch.setattr("shared.wakeup.IDLE_SECONDS", 0.4)  # longer than the gap
    announcer = FlagAnnouncer(autocommit_engine, gap=gap)
    list(listener.notifies(timeout=0.3))  # what an earlier test's app may still have announced
    for round_ in range(2):  # the second after the idle thread has ended
        started = time.monotonic()
        announcer.flagged()
        # Sent by the caller before flagged() returned: no thread, no wait.
        assert announcer.thread is None, round_
        assert len(list(listener.notifies(timeout=1.0, stop_after=1))) == 1, round_

        announcer.flagged()  # within the gap: left to the thread, sent when the gap has passed
        assert announcer.thread is not None
        assert len(list(listener.notifies(timeout=2.0, stop_after=1))) == 1, round_
        assert time.monotonic() - started >= gap
        assert list(listener.notifies(timeout=0.2)) == []  # one announcement for the two

        deadline = time.monotonic() + 5
        while announcer.thread is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert announcer.thread is None, "the idle announcer's thread did not end"
