"""The endpoints' baseline: bare Flask, one route each, the same rows written with the raw driver.

Served by the same gunicorn command as the API (`bench.baseline_app:create_app()`), it measures
what the machine, the server and the database allow, so the API's figure can be read as a ratio.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Flask, request
from sqlalchemy import make_url

FLAG_SQL = (
    "UPDATE orders SET completion_requested_at = {p}, completion_error_code = NULL,"
    " completion_error_message = NULL"
    " WHERE order_number = {p} AND completion_requested_at IS NULL"
)


def create_app() -> Flask:
    """The bare app, on the database DATABASE_URL names (one connection per gunicorn worker
    thread: gunicorn.conf.py serves with threads, as it serves the API)."""
    flag = _flagger(os.environ["DATABASE_URL"])
    reads = _Reads(os.environ["DATABASE_URL"])
    app = Flask(__name__)

    @app.post("/api/v2/orders/<int:number>/complete")
    def complete(number: int) -> tuple[dict[str, Any], int]:
        flag(number)
        return {"orderNumber": str(number), "message": "Successful"}, 201

    @app.post("/api/v2/job_track/stations/<code>")
    def checkin(code: str) -> tuple[dict[str, Any], int]:
        number = int(request.get_json()["orderIdentifier"])
        order, at = reads.checkin(number, code)
        body = {"orderNumber": str(number), "trayNumber": order[0], "poNumber": order[1]}
        return {**body, "code": code, "desc": "", "customerDesc": "", "statusDateTime": at}, 201

    @app.post("/api/v2/orders")
    def submit() -> tuple[dict[str, Any], int]:
        body = request.get_json()
        reads.queue(body)
        return {**body, "creationRemarks": []}, 202

    @app.get("/api/v2/orders/<int:number>/status")
    def status(number: int) -> dict[str, Any]:
        return reads.status(number)

    @app.get("/api/v2/orders/<int:number>/pick")
    def pick_information(number: int) -> dict[str, Any]:
        return reads.pick_information(number)

    @app.post("/api/v2/orders/<int:number>/pick")
    def pick(number: int) -> tuple[dict[str, Any], int]:
        body = request.get_json()
        return reads.pick(number, body.get("rtOPC"), body.get("ltOPC"))

    @app.get("/api/v2/orders/<int:number>")
    def order(number: int) -> dict[str, Any]:
        return {**reads.status(number), "addons": reads.addons(number)}

    return app


# The job-tracking baselines: the same rows read and written as the API's, with the raw driver
# and nothing else (no validation, no lab, no identifier lookup beyond the order number).
STATUS_SQL = (
    "SELECT o.order_number, o.tray_number, o.po_number, o.status, o.on_hold, o.unvalid_message,"
    " o.rt_calculated, o.lt_calculated, o.completion_requested_at, o.completion_error_code,"
    " (SELECT c.station FROM checkins c WHERE c.order_number = o.order_number"
    "  ORDER BY c.checked_in_at DESC, c.id DESC LIMIT 1),"
    " (SELECT c.checked_in_at FROM checkins c WHERE c.order_number = o.order_number"
    "  ORDER BY c.checked_in_at DESC, c.id DESC LIMIT 1)"
    " FROM orders o WHERE o.order_number = {p}"
)
ADDONS_SQL = "SELECT addon_code FROM order_addons WHERE order_number = {p} ORDER BY addon_code"
_PICK_KEYS = (
    "orderNumber", "trayNumber", "poNumber", "rtLensPicked", "ltLensPicked", "framePicked",
    "framePartPicked", "frameSideShieldPicked", "misc1Picked", "misc2Picked",
)  # fmt: skip
_CODE_KEYS = (
    "rtOPC", "ltOPC", "frameUPC", "frameSKU", "framePartSKU", "frameSideShieldSKU", "misc1SKU",
    "misc2SKU",
)  # fmt: skip
PICK_SQL = (
    "SELECT order_number, tray_number, po_number, rt_lens_picked, lt_lens_picked, frame_picked,"
    " frame_part_picked, frame_side_shield_picked, misc1_picked, misc2_picked, rt_opc, lt_opc,"
    " frame_upc, frame_sku, frame_part_sku, frame_side_shield_sku, misc1_sku, misc2_sku"
    " FROM orders WHERE order_number = {p}"
)
PICK_LENSES_SQL = (
    "UPDATE orders SET rt_lens_picked = {p}, lt_lens_picked = {p} WHERE order_number = {p}"
)
QUEUE_SQL = "INSERT INTO submissions (received_at, payload) VALUES ({p}, {p})"
CHECKIN_SQL = "INSERT INTO checkins (order_number, station, checked_in_at) VALUES ({p}, {p}, {p})"
ORDER_FOR_CHECKIN_SQL = (
    "SELECT tray_number, po_number, status, on_hold, deleted FROM orders WHERE order_number = {p}"
)


class _Reads:
    """Raw-driver reads and the check-in write, on one connection per thread (gunicorn.conf.py
    serves with threads, as it serves the API)."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        self.local = threading.local()
        self.is_sqlite = url.get_backend_name() == "sqlite"
        self.p = "?" if self.is_sqlite else "%s"
        self.path = str(url.database)
        self.conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)

    @property
    def connection(self) -> Any:
        connection = getattr(self.local, "connection", None)
        if connection is None:
            if self.is_sqlite:
                connection = sqlite3.connect(self.path, timeout=10, isolation_level=None)
                connection.execute("PRAGMA journal_mode = WAL")
                connection.execute("PRAGMA synchronous = NORMAL")
            else:
                import psycopg

                connection = psycopg.connect(self.conninfo, autocommit=True)
            self.local.connection = connection
        return connection

    def _all(self, sql: str, *values: Any) -> list[Any]:
        rows: list[Any] = self.connection.execute(sql.format(p=self.p), values).fetchall()
        return rows

    def _write(self, sql: str, *values: Any) -> None:
        self.connection.execute(sql.format(p=self.p), values)

    def status(self, number: int) -> dict[str, Any]:
        (row,) = self._all(STATUS_SQL, number)
        keys = (
            "orderNumber", "trayNumber", "poNumber", "status", "onHold", "unvalidMessage",
            "rtCalculated", "ltCalculated", "pendingCompletion", "completionError",
            "currentStation", "currentStationDateTime",
        )  # fmt: skip
        values = (str(value) if value is not None else None for value in row)
        return dict(zip(keys, values, strict=True))

    def addons(self, number: int) -> list[str]:
        return [code for (code,) in self._all(ADDONS_SQL, number)]

    def pick_information(self, number: int) -> dict[str, Any]:
        """The order's pick state and codes, as the API's GET answers them."""
        (row,) = self._all(PICK_SQL, number)
        body = dict(zip(_PICK_KEYS, row[:10], strict=True))
        body["orderNumber"] = str(body["orderNumber"])
        for key in _PICK_KEYS[3:]:
            body[key] = bool(body[key])
        codes = dict(zip(_CODE_KEYS, row[10:], strict=True))
        return {
            **body,
            "warehouse": "DEFAULT",
            "pickAllowed": True,
            "pickRejectReason": None,
            **codes,
        }

    def pick(self, number: int, rt: str | None, lt: str | None) -> tuple[dict[str, Any], int]:
        """The lenses checked against the order's and recorded, the row locked meanwhile."""
        if self.is_sqlite:
            self._write("BEGIN IMMEDIATE")
            try:
                (row,) = self._all(PICK_SQL, number)
                ok = (rt, lt) == (row[10], row[11]) and not (row[3] and row[4])
                if ok:
                    self._write(PICK_LENSES_SQL, 1, 1, number)
            finally:
                self._write("COMMIT")
        else:
            with self.connection.transaction():
                (row,) = self._all(PICK_SQL + " FOR UPDATE", number)
                ok = (rt, lt) == (row[10], row[11]) and not (row[3] and row[4])
                if ok:
                    self._write(PICK_LENSES_SQL, True, True, number)
        if not ok:
            return {"error": "Pick verification rejected", "details": []}, 400
        body = dict(zip(_PICK_KEYS, row[:10], strict=True))
        body.update(orderNumber=str(number), rtLensPicked=True, ltLensPicked=True)
        return {**body, "warehouse": "DEFAULT"}, 200

    def queue(self, body: dict[str, Any]) -> None:
        """The submission's queued row, as the API writes it (its fields as compact JSON)."""
        now = datetime.now(UTC)
        stamp = now.replace(tzinfo=None).isoformat(" ", "microseconds") if self.is_sqlite else now
        self._write(QUEUE_SQL, stamp, json.dumps(body, separators=(",", ":")))

    def checkin(self, number: int, station: str) -> tuple[Any, str]:
        """The order's row locked and read, the check-in written, in one transaction."""
        now = datetime.now(UTC)
        if self.is_sqlite:
            stamp = now.replace(tzinfo=None).isoformat(" ", "microseconds")
            self._write("BEGIN IMMEDIATE")
            try:
                (order,) = self._all(ORDER_FOR_CHECKIN_SQL, number)
                self._write(CHECKIN_SQL, number, station, stamp)
            finally:
                self._write("COMMIT")
        else:
            with self.connection.transaction():
                (order,) = self._all(ORDER_FOR_CHECKIN_SQL + " FOR UPDATE", number)
                self._write(CHECKIN_SQL, number, station, now)
        return order, now.isoformat()


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
    local = threading.local()

    def flag_postgresql(number: int) -> None:
        pg: psycopg.Connection[Any] | None = getattr(local, "connection", None)
        if pg is None:
            pg = local.connection = psycopg.connect(conninfo, autocommit=True)
        pg.execute(pg_sql, (datetime.now(UTC), number))  # autocommit: one round trip

    return flag_postgresql
