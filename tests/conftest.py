"""Fixtures: a fresh database per test, the app on it, and the tracker's configuration."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from proxy import Proxy
from sqlalchemy import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from config.lab_file import load_lab
from config.settings import DEFAULT_LAB_FILE, UTC_ZONE, Settings
from shared.db import schema
from shared.db.engine import make_engine, make_session_factory
from shared.domain.lab_setup import Lab
from tracker.jobs import TrackerConfig

# The shared assertions (assert_body ...) show what differed, as a test's own asserts do.
pytest.register_assert_rewrite("helpers")
from helpers import close_app  # noqa: E402  # after the line above, so it is rewritten


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The PostgreSQL pass (TEST_DATABASE_URL set) leaves out the tests marked database_free:
    the SQLite pass has run them, and they would only run again on the same code."""
    if not os.environ.get("TEST_DATABASE_URL"):
        return
    kept = [item for item in items if item.get_closest_marker("database_free") is None]
    if len(kept) < len(items):
        config.hook.pytest_deselected(
            items=[item for item in items if item.get_closest_marker("database_free")]
        )
        items[:] = kept


@pytest.fixture(scope="session")
def lab() -> Lab:
    return load_lab(DEFAULT_LAB_FILE)


@pytest.fixture
def database_url(tmp_path: Any) -> Iterator[str]:
    """A new, empty database: a SQLite file, or a schema of its own on TEST_DATABASE_URL."""
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        yield f"sqlite:///{tmp_path / 'test.sqlite3'}"
        return
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = make_engine(server, timeout=5)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {name}")
    url = make_url(server).update_query_dict({"options": f"-csearch_path={name}"})
    yield url.render_as_string(hide_password=False)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
    admin.dispose()


@pytest.fixture
def postgresql_url(database_url: str) -> str:
    """`database_url` for a test of what only PostgreSQL has (a server to restart, LISTEN, SKIP
    LOCKED): skipped in the SQLite pass, run in the PostgreSQL pass (TEST_DATABASE_URL), which
    scripts/test never skips with CI=true."""
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("PostgreSQL only: run in the PostgreSQL pass (TEST_DATABASE_URL)")
    return database_url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, tracker_interval=1.0)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    schema.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def app(settings: Settings, lab: Lab) -> Iterator[Flask]:
    app = create_app(settings, lab=lab)
    yield app
    close_app(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def tracker_config(lab: Lab) -> TrackerConfig:
    return TrackerConfig(
        tracker_id="test-tracker", lab=lab, interval=1.0, batch_size=100, timezone=UTC_ZONE
    )


@pytest.fixture
def make_order(client: FlaskClient) -> Callable[..., str]:
    """Create an order through the simulator API; answer its order number."""

    def make(**fields: Any) -> str:
        response = client.post("/api/sim/orders", json=fields)
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.get_json()["orderNumber"]

    return make


@pytest.fixture
def make_client(settings: Settings, lab: Lab) -> Iterator[Callable[..., FlaskClient]]:
    """A test client for an app built with these settings changed (`api_keys=("k",)`)."""
    apps: list[Flask] = []

    def make(**changes: Any) -> FlaskClient:
        app = create_app(dataclasses.replace(settings, **changes), lab=lab)
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        close_app(app)


# An app and the switch that takes its database away (True) and brings it back (False).
Stoppable = tuple[Flask, Callable[[bool], None]]


@pytest.fixture
def stoppable(settings: Settings, lab: Lab, tmp_path: Path) -> Iterator[Stoppable]:
    """An app whose database can be taken away: its SQLite file's folder moved aside, or the
    PostgreSQL proxy in front of it cut. Yields the app and a switch:
    True stops the database, False starts it again."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        folder = tmp_path / "db"
        folder.mkdir()
        local = Settings(database_url=f"sqlite:///{folder / 'h.sqlite3'}", tracker_interval=1.0)
        app = create_app(local, lab=lab)

        def switch(stop: bool) -> None:
            runtime = app.extensions["rx_jobtracker"]
            for engine in (runtime.engine, runtime.autocommit_engine):
                engine.dispose()  # pooled connections hold the file open
            if stop:
                folder.rename(tmp_path / "gone")
            else:
                (tmp_path / "gone").rename(folder)

        yield app, switch
        close_app(app)
        return
    with Proxy() as link:
        behind = Settings(
            database_url=link.url_for(settings.database_url),
            tracker_interval=1.0,
            database_timeout=2.0,
        )
        app = create_app(behind, lab=lab)

        def cut(stop: bool) -> None:
            if stop:
                link.cut("refuse")
            else:
                link.restore()

        yield app, cut
        close_app(app)
