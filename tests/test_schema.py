"""The schema is Alembic's: created on a new database, checked on start, exactly the models'."""

from __future__ import annotations

import logging

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from helpers import close_app
from sqlalchemy import Engine, inspect, text

from api.app import create_app
from config.settings import Settings
from shared.db import schema
from shared.db.engine import make_engine
from shared.db.models import Base
from shared.domain.lab_setup import Lab


def test_the_migrations_build_exactly_the_models_schema(engine: Engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_the_migrations_build_the_models_constraints_and_partial_index(engine: Engine) -> None:
    # compare_metadata does not look at CHECK constraints or index conditions: look here.
    inspector = inspect(engine)
    checks = {c["name"] for c in inspector.get_check_constraints("orders")}
    assert {"ck_orders_job_type", "ck_orders_status"} <= checks
    queue = {i["name"]: i for i in inspector.get_indexes("orders")}["ix_orders_completion_queue"]
    assert queue["column_names"] == ["completion_requested_at", "order_number"]
    options = queue["dialect_options"]
    where = str(options.get("postgresql_where", options.get("sqlite_where")))
    assert where.strip("()") == "completion_requested_at IS NOT NULL"


def test_a_new_database_gets_the_schema_on_first_start(settings: Settings, lab: Lab) -> None:
    app = create_app(settings, lab=lab)
    engine = app.extensions["rx_jobtracker"].engine
    assert schema.current_revision(engine) == schema.head_revision()
    assert app.test_client().post("/api/sim/orders").status_code == 201


def test_a_database_behind_this_release_stops_start_up_saying_what_to_run(
    engine: Engine, settings: Settings, lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    current = schema.current_revision(engine)
    monkeypatch.setattr(schema, "head_revision", lambda: "9999")  # a release one migration on
    with pytest.raises(schema.SchemaOutOfDate) as refused:
        create_app(settings, lab=lab)
    assert str(refused.value) == (
        f"The database is at revision {current}; this release needs revision 9999. "
        "Upgrade it with: python migrate.py"
    )


def test_a_database_migrated_by_a_newer_release_is_refused_without_advice_to_upgrade(
    engine: Engine, settings: Settings, lab: Lab
) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'ffff9999'"))
    with pytest.raises(schema.SchemaOutOfDate, match="a newer release has migrated it"):
        create_app(settings, lab=lab)


def test_a_database_with_tables_but_no_revision_is_not_touched(
    database_url: str, settings: Settings, lab: Lab
) -> None:
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE orders (legacy INTEGER)"))
    with pytest.raises(schema.SchemaOutOfDate, match="has tables but no schema revision"):
        create_app(settings, lab=lab)
    assert [c["name"] for c in inspect(engine).get_columns("orders")] == ["legacy"]
    engine.dispose()


def test_upgrading_twice_is_harmless(engine: Engine) -> None:
    schema.upgrade(engine)
    assert schema.current_revision(engine) == schema.head_revision()


def test_alembic_speaks_when_it_migrates_and_is_quiet_on_every_other_start(
    settings: Settings, lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    def alembic_lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name.startswith("alembic")]

    apps = [create_app(settings, lab=lab)]  # a new database: migrated, and said so
    assert any(line.startswith("Running upgrade") for line in alembic_lines())
    caplog.clear()
    apps.append(create_app(settings, lab=lab))  # up to date: nothing to say
    assert alembic_lines() == []
    for app in apps:
        close_app(app)
