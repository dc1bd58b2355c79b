"""Fresh databases per measurement: a SQLite file, or a PostgreSQL schema dropped after."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, make_url, text

import live
from bench import ROOT
from shared.db.engine import make_engine

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
KINDS = ("sqlite", "postgresql")


@dataclass(frozen=True)
class Target:
    """One database engine the suite runs on; each measurement gets a fresh database on it."""

    kind: str
    workdir: Path
    server_url: str = DEFAULT_POSTGRES_URL

    @property
    def label(self) -> str:
        """The name the report uses."""
        return "SQLite" if self.kind == "sqlite" else "PostgreSQL"


@contextmanager
def fresh_database(target: Target, name: str) -> Iterator[str]:
    """A new database with the current schema; its URL, removed after whatever happens."""
    if target.kind == "sqlite":
        template = target.workdir / "template.sqlite3"
        if not template.exists():
            migrate(live.sqlite_url(template))
        path = target.workdir / f"{name}-{uuid.uuid4().hex[:8]}.sqlite3"
        shutil.copyfile(template, path)  # the schema, without a migrate.py start-up each time
        try:
            yield live.sqlite_url(path)
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    schema_name = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(target.server_url, timeout=60)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"CREATE SCHEMA {schema_name}")
        in_schema = make_url(target.server_url).update_query_dict(
            {"options": f"-csearch_path={schema_name}"}
        )
        url = in_schema.render_as_string(hide_password=False)
        try:
            migrate(url)
            yield url
        finally:
            with admin.begin() as connection:
                connection.exec_driver_sql(f"DROP SCHEMA {schema_name} CASCADE")
    finally:
        admin.dispose()


def migrate(url: str) -> None:
    """`python migrate.py`, as a lab creates the schema: the code on disk, like every process
    the suite starts, even if the working tree changed since the suite itself started."""
    run = subprocess.run(
        [sys.executable, "migrate.py"],
        cwd=ROOT,
        env=live.make_env(url),
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode:
        raise RuntimeError(f"migrate.py failed ({run.returncode}): {run.stdout}{run.stderr}")


def engine_for(url: str) -> Engine:
    """An engine set up as the API and the tracker set theirs up, so timings compare."""
    return make_engine(url, timeout=60)


def server_version(server_url: str) -> str:
    """The PostgreSQL server's version and the settings that move its timings."""
    engine = make_engine(server_url, timeout=10)
    try:
        with engine.connect() as connection:
            version = connection.execute(text("SHOW server_version")).scalar_one()
            settings = {
                name: connection.execute(text(f"SHOW {name}")).scalar_one()
                for name in ("shared_buffers", "synchronous_commit", "fsync")
            }
    finally:
        engine.dispose()
    details = ", ".join(f"{key}={value}" for key, value in settings.items())
    return f"{version} ({details})"
