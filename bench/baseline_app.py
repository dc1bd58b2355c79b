"""The endpoint's baseline: bare Flask, one route, the same single-row flag with the raw driver.

Served by the same gunicorn command as the API (`bench.baseline_app:create_app()`), it measures
what the machine, the server and the database allow, so the API's figure can be read as a ratio.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from sqlalchemy import make_url

# A diagnostic only: the PostgreSQL baseline also sends the API's NOTIFY in its transaction,
# to measure what that one statement costs under concurrency.
NOTIFY_ENV = "BENCH_BASELINE_NOTIFY"

FLAG_SQL = (
    "UPDATE orders SET completion_requested_at = {p}, completion_error_code = NULL,"
    " completion_error_message = NULL"
    " WHERE order_number = {p} AND completion_requested_at IS NULL"
)


def create_app() -> Flask:
    """The bare app, on the database DATABASE_URL names (one connection per gunicorn worker
    thread: gunicorn.conf.py serves with threads, as it serves the API)."""
    flag = _flagger(os.environ["DATABASE_URL"])
    app = Flask(__name__)

    @app.post("/api/v2/orders/<int:number>/complete")
    def complete(number: int) -> tuple[dict[str, Any], int]:
        flag(number)
        return {"orderNumber": str(number), "message": "Successful"}, 201

    return app


def _flagger(database_url: str) -> Callable[[int], None]:
    """A function that flags one order and commits, with sqlite3 or psycopg directly."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        sql = FLAG_SQL.format(p="?")
        local = threading.local()

        def sqlite_connection() -> sqlite3.Connection:
            connection: sqlite3.Connection | None = getattr(local, "connection", None)
            if connection is None:
                # As shared.db sets SQLite up: WAL, a busy wait instead of "database is locked".
                connection = sqlite3.connect(str(url.database), timeout=10, isolation_level=None)
                connection.execute("PRAGMA journal_mode = WAL")
                connection.execute("PRAGMA synchronous = NORMAL")
                local.connection = connection
            return connection

        def flag_sqlite(number: int) -> None:
            # SQLAlchemy's SQLite DateTime stores naive UTC text in this exact format.
            now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
            sqlite_connection().execute(sql, (now, number))

        return flag_sqlite

    import psycopg  # only the PostgreSQL baseline needs it

    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    pg_sql = FLAG_SQL.format(p="%s")
    notify = os.environ.get(NOTIFY_ENV) == "1"
    local = threading.local()

    def flag_postgresql(number: int) -> None:
        pg: psycopg.Connection[Any] | None = getattr(local, "connection", None)
        if pg is None:
            pg = local.connection = psycopg.connect(conninfo, autocommit=True)
        if not notify:
            pg.execute(pg_sql, (datetime.now(UTC), number))  # autocommit: one round trip
            return
        with pg.transaction():
            pg.execute(pg_sql, (datetime.now(UTC), number))
            pg.execute("NOTIFY rx_jobtracker_flagged")

    return flag_postgresql
