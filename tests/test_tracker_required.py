"""COMPLETE_REQUIRES_TRACKER=on: a completion call is refused with 503 while no tracker runs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient
from freezegun import freeze_time
from helpers import assert_body
from sqlalchemy.orm import Session, sessionmaker

from tracker.jobs import TrackerConfig, beat, stop

NO_TRACKER = {
    "error": "Could not complete order",
    "details": ["Error Code: 99", "Error Message: Job Tracker not running"],
}
ACCEPTED = {"orderNumber": "33719", "message": "Successful"}
START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
COMPLETE = "/api/v2/orders/33719/complete"


def test_with_no_tracker_ever_seen_a_completion_answers_503_with_retry_after(
    make_client: Callable[..., FlaskClient],
) -> None:
    client = make_client(complete_requires_tracker=True, tracker_interval=5.0)
    client.post("/api/sim/orders", json={"orderNumber": "33719"})
    response = client.post(COMPLETE)
    assert_body(response, 503, NO_TRACKER)
    assert response.headers["Retry-After"] == "5"
    # Nothing was flagged: the call changed nothing.
    assert client.get("/api/v2/orders/33719/status").get_json()["pendingCompletion"] is False


def test_a_fresh_heartbeat_lets_completions_through_until_it_goes_stale(
    make_client: Callable[..., FlaskClient],
    session_factory: sessionmaker[Session],
    tracker_config: TrackerConfig,
) -> None:
    client = make_client(complete_requires_tracker=True, tracker_interval=0.5)
    client.post("/api/sim/orders", json={"orderNumber": "33719"})
    beat(session_factory, tracker_config, START)  # the tracker polls every second
    with freeze_time(START + timedelta(seconds=3)):  # three missed polls: still running
        assert_body(client.post(COMPLETE), 201, ACCEPTED)
    with freeze_time(START + timedelta(seconds=3, milliseconds=1)):
        response = client.post(COMPLETE)
        assert_body(response, 503, NO_TRACKER)
        assert response.headers["Retry-After"] == "1"  # at least a second


def test_a_tracker_that_stopped_cleanly_no_longer_counts(
    make_client: Callable[..., FlaskClient],
    session_factory: sessionmaker[Session],
    tracker_config: TrackerConfig,
) -> None:
    client = make_client(complete_requires_tracker=True)
    client.post("/api/sim/orders", json={"orderNumber": "33719"})
    beat(session_factory, tracker_config, START)
    stop(session_factory, tracker_config, START + timedelta(seconds=1))
    with freeze_time(START + timedelta(seconds=2)):
        assert_body(client.post(COMPLETE), 503, NO_TRACKER)


def test_off_by_default_an_order_is_accepted_and_waits_with_no_tracker(
    client: FlaskClient,
) -> None:
    client.post("/api/sim/orders", json={"orderNumber": "33719"})
    assert_body(client.post(COMPLETE), 201, ACCEPTED)


def test_refusals_keep_their_own_answer_only_when_a_tracker_runs(
    make_client: Callable[..., FlaskClient],
    session_factory: sessionmaker[Session],
    tracker_config: TrackerConfig,
) -> None:
    # Without a tracker even an unknown order answers 503: nothing can be completed now.
    client = make_client(complete_requires_tracker=True)
    assert_body(client.post("/api/v2/orders/1/complete"), 503, NO_TRACKER)
    beat(session_factory, tracker_config, START)
    with freeze_time(START):
        assert client.post("/api/v2/orders/1/complete").status_code == 404
