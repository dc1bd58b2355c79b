"""Applies the HTTP faults set through POST /api/sim/faults to the /api/v2 requests they match.

Only Rx-Universe's API is faulted: the simulator's controls must always answer (a fault must
never lock a client out of clearing it), and /healthz and /metrics must tell the truth.
Installed only while the simulator API is on. The faults live in the database so that every
worker obeys a fault the moment it is set, whichever worker it was set on; the table is read
only when a fault may be set (api.fault_watch says when), so with none set the check costs
each process one query a tenth of a second.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time

from flask import Flask, Response, current_app, g, request
from sqlalchemy import Connection

from api.errors import error_response
from api.fault_watch import FaultWatch
from api.runtime import runtime
from shared.db.engine import run_autocommit
from shared.faults import HttpFault, fire, http_faults

FAULTED_PREFIX = "/api/v2/"
# nginx's "no response": what the journal records for a dropped connection.
DROPPED = 444
# Where run_api.py's server (api/server.py) puts the client's socket, as gunicorn does its own.
SOCKET_KEY = "rx_jobtracker.socket"
FAULT_ERROR = "Simulated fault"
_WATCH = "rx_jobtracker.fault_watch"

log = logging.getLogger(__name__)


def register_faults(app: Flask) -> None:
    """Check each /api/v2 request against the faults set."""
    watch = app.extensions[_WATCH] = FaultWatch()

    @app.before_request
    def _apply_fault() -> Response | tuple[Response, int] | None:
        if not request.path.startswith(FAULTED_PREFIX):
            return None
        if watch.skip():
            return None
        started = watch.started()
        fault = run_autocommit(
            runtime().autocommit_engine, lambda connection: _firing(connection, watch, started)
        )
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


def fault_watch() -> FaultWatch:
    """The running app's FaultWatch, which setting a fault must tell."""
    watch: FaultWatch = current_app.extensions[_WATCH]
    return watch


def _firing(connection: Connection, watch: FaultWatch, started: float) -> HttpFault | None:
    faults = http_faults(connection)
    if not faults:
        watch.found_none(started)
        return None
    return fire(connection, faults, request.method, request.path)


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
