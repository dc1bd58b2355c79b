"""The database schema's version, managed with Alembic: create, upgrade, or refuse to start."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, inspect

MIGRATIONS = Path(__file__).with_name("migrations")
UPGRADE_COMMAND = "python migrate.py"
# PostgreSQL advisory lock taken by every migration and start-up check (env.py takes it too).
MIGRATION_LOCK = 4567


class SchemaOutOfDate(Exception):
    """The database's schema is not the one this release needs; the message says what to run."""


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The revision this release's models are at (None only before the first migration)."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for a database never migrated."""
    with engine.connect() as connection:
        return current_revision_on(connection)


def current_revision_on(connection: Connection) -> str | None:
    """The revision the database is at, read on `connection` (None: never migrated).

    Quietly: Alembic logs its set-up ("Context impl SQLiteImpl.") whenever it looks, and every
    start looks; it is left to speak only when it migrates.
    """
    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    alembic_log.setLevel(logging.WARNING)
    try:
        return MigrationContext.configure(connection).get_current_revision()
    finally:
        alembic_log.setLevel(level)


def upgrade(engine: Engine) -> None:
    """Create the schema, or bring it up to this release's revision, in one transaction."""
    with engine.begin() as connection:
        command.upgrade(_config(connection), "head")


def new_revision(engine: Engine, message: str) -> None:
    """Write a migration from the difference between the models and an up-to-date database."""
    with engine.begin() as connection:
        command.revision(_config(connection), message=message, autogenerate=True)


def prepare(engine: Engine) -> None:
    """Create the schema in a new database; refuse, saying what to run, an out-of-date one.

    Decided under the migration lock, so that processes starting together on a new database
    (gunicorn's workers) see either no schema or the whole of it, never half.
    """
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        current = current_revision_on(connection)
        if current is None and not inspect(connection).get_table_names():
            command.upgrade(_config(connection), "head")
            return
    head = head_revision()
    if current == head:
        return
    if current is not None and not _known(current):
        raise SchemaOutOfDate(
            f"The database is at revision {current}, which this release does not know: a newer "
            f"release has migrated it. Run that release (this one needs revision {head})."
        )
    found = f"is at revision {current}" if current else "has tables but no schema revision"
    raise SchemaOutOfDate(
        f"The database {found}; this release needs revision {head}. "
        f"Upgrade it with: {UPGRADE_COMMAND}"
    )


def _known(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except CommandError:
        return False
