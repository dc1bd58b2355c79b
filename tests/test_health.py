"""`GET /healthz`: 200 while the API can serve, 503 when its database is gone or outdated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from conftest import Stoppable
from flask.testing import FlaskClient
from freezegun import freeze_time
from helpers import assert_body
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from api.web.health import HEAD_REVISION
from shared.db import schema
from shared.db.schema import head_revision
from tracker.jobs import TrackerConfig, beat

START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
UNAVAILABLE = {
    "status": "unavailable",
    "database": {"reachable": False, "schemaRevision": None, "schemaCurrent": False},
    "tracker": None,
    "pending": None,
    "importer": None,
    "problems": ["The database is unavailable"],
}


def test_a_fresh_database_with_no_tracker_is_healthy_and_says_so(client: FlaskClient) -> None:
    assert_body(
        client.get("/healthz"),
        200,
        {
            "status": "ok",
            "database": {
                "reachable": True,
                "schemaRevision": schema.head_revision(),
                "schemaCurrent": True,
            },
            "tracker": {"running": False, "lastHeartbeat": None, "heartbeatAgeSeconds": None},
            "pending": 0,
            "importer": {"paused": False, "waiting": 0, "oldestWaitSeconds": None},
            "problems": [],
        },
    )


def test_the_tracker_heartbeat_age_and_the_pending_count_are_reported(
    client: FlaskClient,
    session_factory: sessionmaker[Session],
    tracker_config: TrackerConfig,
) -> None:
    client.post("/api/sim/orders", json={"orderNumber": "33719"})
    client.post("/api/v2/orders/33719/complete")
    beat(session_factory, tracker_config, START)
    with freeze_time(START + timedelta(seconds=2.5)):
        body = client.get("/healthz").get_json()
    assert (body["status"], body["pending"]) == ("ok", 1)
    assert body["tracker"] == {
        "running": True,
        "lastHeartbeat": "2026-11-27T12:00:00.000Z",
        "heartbeatAgeSeconds": 2.5,
    }


def test_a_schema_behind_this_release_answers_503_naming_the_revisions(
    client: FlaskClient, engine: Engine
) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    assert_body(
        client.get("/healthz"),
        503,
        {
            "status": "unavailable",
            "database": {"reachable": True, "schemaRevision": "0000", "schemaCurrent": False},
            "tracker": None,
            "pending": None,
            "importer": None,
            "problems": [
                f"The database is at revision 0000; this release needs {schema.head_revision()}"
            ],
        },
    )


def test_with_the_database_stopped_health_answers_503_and_recovers_with_it(
    stoppable: Stoppable,
) -> None:
    app, switch = stoppable
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    switch(True)
    assert_body(client.get("/healthz"), 503, UNAVAILABLE)
    switch(False)
    assert client.get("/healthz").get_json()["status"] == "ok"


def test_the_documented_example_shows_this_releases_schema_revision() -> None:
    assert head_revision() == HEAD_REVISION


def test_the_remote_order_processor_is_reported_paused_or_not_with_its_queue(
    client: FlaskClient,
) -> None:
    client.post("/api/sim/processor/pause")
    with freeze_time("2026-12-07T09:00:00Z"):
        submitted = client.post(
            "/api/v2/orders",
            json={
                "customerJobId": "J",
                "customerNumber": "1001",
                "jobType": "F",
                "poNumber": "P",
                "rtLensStyle": "SV",
                "rtLensMaterial": "PC",
            },
        )
        assert submitted.status_code == 202
    with freeze_time("2026-12-07T09:00:02.5Z"):
        body = client.get("/healthz").get_json()
    assert (body["status"], body["importer"]) == (
        "ok",
        {"paused": True, "waiting": 1, "oldestWaitSeconds": 2.5},
    )
