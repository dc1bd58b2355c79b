"""Applies the HTTP faults set through POST /api/sim/faults to the /api/v2 requests they match.

Only Rx-Universe's API is faulted: the simulator's controls must always answer (a fault must
never lock a client out of clearing it), and /healthz and /metrics must tell the truth.
Installed only while the simulator API is on. With no fault set this costs each request one
small read of the `faults` table: the faults live in the database so that every worker obeys a
fault the moment it is set, whichever worker it was set on.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time

from flask import Flask, Response, g, request
from sqlalchemy import Connection

from api.errors import error_response
from api.runtime import runtime
from shared.db.engine import run_autocommit
from shared.faults import HttpFault, fire, http_faults

FAULTED_PREFIX = "/api/v2/"
# nginx's "no response": what the journal records for a dropped connection.
DROPPED = 444
# Where run_api.py's server (api/server.py) puts the client's socket, as gunicorn does its own.
SOCKET_KEY = "rx_jobtracker.socket"
FAULT_ERROR = "Simulated fault"

log = logging.getLogger(__name__)


def register_faults(app: Flask) -> None:
    """Check each /api/v2 request against the faults set."""

    @app.before_request
    def _apply_fault() -> Response | tuple[Response, int] | None:
        if not request.path.startswith(FAULTED_PREFIX):
            return None
        fault = run_autocommit(runtime().autocommit_engine, _firing)
        if fault is None:
            return None
        g.fault = fault.describe()
        log.info("Applying %s to %s %s", g.fault, request.method, request.path)
        if fault.delay_ms is not None:
            time.sleep(fault.delay_ms / 1000)
            return None
        if fault.drop:
            return _drop()
        return _answer(fault)


def _firing(connection: Connection) -> HttpFault | None:
    faults = http_faults(connection)
    return fire(connection, faults, request.method, request.path) if faults else None


def _answer(fault: HttpFault) -> Response | tuple[Response, int]:
    status = fault.status or 500
    if fault.body is None:
        return error_response(status, FAULT_ERROR, [f"{fault.describe()} ({request.path})"])
    return Response(fault.body, status=status, mimetype="application/json")


def _drop() -> Response:
    """Close the client's connection without an answer, where the server lets us reach it."""
    environ = request.environ
    sock = (
        environ.get("gunicorn.socket") or environ.get(SOCKET_KEY) or environ.get("werkzeug.socket")
    )
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):  # already gone
            sock.shutdown(socket.SHUT_RDWR)
    return Response(status=DROPPED)
