"""run_api.py's HTTP server: waitress, set up so slow or broken clients get our JSON and a timeout.

waitress reads each request whole (headers and body) on one event loop before a worker thread
sees it, so a client that sends half a request holds no thread, only a socket, and loses that
after CHANNEL_TIMEOUT of silence. It is pure Python: nothing to compile. What it answers by
itself (a malformed request, an invalid Content-Length, a body or headers over its limits) is
answered in our error shape, as the app answers the rest.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server
from waitress.task import ErrorTask, WSGITask
from waitress.utilities import BadRequest

# Seconds a connection may stay silent (half a request, or idle between requests) before it is
# closed; waitress checks every CLEANUP_INTERVAL seconds.
CHANNEL_TIMEOUT = 20
CLEANUP_INTERVAL = 5
# Server threads: as many as gunicorn.conf.py gives each gunicorn worker. A delay fault holds
# one while it sleeps; api.sim.faults leaves RESERVED_THREADS of them to every other request.
THREADS = 32
RESERVED_THREADS = 8


# Connections held open at once; beyond it waitress stops accepting until some close.
CONNECTION_LIMIT = 500


# The request line and headers together: 256 KiB, waitress's default, room for any identifier.
MAX_HEADER_BYTES = 256 * 1024


# How many times the app's body limit waitress buffers at most (see make_server).
WAITRESS_BODY_FACTOR = 8


# How long a stop waits for the requests in hand to be answered.
STOP_GRACE = 10.0


log = logging.getLogger(__name__)
# Where this server puts the client's socket in the environ, as gunicorn does its own
# ("gunicorn.socket"): a drop fault (api.sim.faults) closes it.
SOCKET_KEY = "rx_jobtracker.socket"


_ERRORS = {
    400: ("Invalid request", "Malformed HTTP request: {}"),
    413: ("Request too large", "The body may be at most {limit} bytes"),
    431: (
        "Request header fields too large",
        "The request line and headers may be at most {header_limit} bytes",
    ),
    501: ("Not implemented", "{}"),
}


class _BodyCutShort(BadRequest):  # type: ignore[misc]  # waitress is untyped
    """The client closed its side of the connection before its body's end: the detail is ours."""


class _JSONErrorTask(ErrorTask):  # type: ignore[misc]  # waitress is untyped: ErrorTask is Any
    """waitress's answer to a request it refused itself, in our error shape."""

    body_limit = 0  # the app's limit, which the 413 names (set per server)

    def execute(self) -> None:
        error = self.request.error
        summary, detail = _ERRORS.get(error.code, ("Internal server error", "{}"))
        if isinstance(error, _BodyCutShort):
            detail = "{}"
        detail = detail.format(
            error.body,
            limit=self.body_limit,
            header_limit=self.channel.server.adj.max_request_header_size,
        )
        body = json.dumps({"error": summary, "details": [detail]}).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class _SocketTask(WSGITask):  # type: ignore[misc]  # waitress is untyped: WSGITask is Any
    """A request as waitress runs it, with the client's socket in the environ, so that a `drop`
    fault (api/sim/faults.py) can close the connection without an answer, as under gunicorn."""

    def get_environment(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environment()
        environ[SOCKET_KEY] = self.channel.socket
        return environ


class _Channel(HTTPChannel):  # type: ignore[misc]  # waitress is untyped: HTTPChannel is Any
    """A connection. A client that half-closes in the middle of its body gets a 400 in our
    shape, as under gunicorn, where waitress would close without a word."""

    request: Any  # waitress's parser of the request being read, or None

    def handle_read(self) -> None:
        request = self.request
        if request is None or not request.headers_finished or request.completed:
            super().handle_read()
            return
        try:
            data = self.socket.recv(self.adj.recv_bytes)
        except OSError:
            super().handle_close()
            return
        if data:
            self.last_activity = time.time()
            self.received(data)
            return
        if request.chunked:
            detail = "The body ended before its last chunk"
        else:
            taken = request.content_length - request.body_rcv.remain
            detail = (
                f"The body ended after {taken} of the {request.content_length} bytes its "
                "Content-Length announced"
            )
        log.info("Refused %s %s: %s", request.command, request.path, detail)
        request.error = _BodyCutShort(detail)
        request.completed = True
        with self.requests_lock:
            self.request = None
            self.requests.append(request)
            if len(self.requests) == 1:
                self.server.add_task(self)


def make_server(app: Callable[..., Any], host: str, port: int, max_body_bytes: int) -> Server:
    """A server for `app` bound to host:port (OSError if it cannot be), not yet serving."""
    socket_map: dict[int, Any] = {}
    server = create_server(
        app,
        map=socket_map,
        host=host,
        port=port,
        threads=THREADS,
        channel_timeout=CHANNEL_TIMEOUT,
        cleanup_interval=CLEANUP_INTERVAL,
        connection_limit=CONNECTION_LIMIT,
        max_request_header_size=MAX_HEADER_BYTES,
        # waitress counts a chunked body's framing too (a body sent a byte per chunk costs six),
        # so its own limit, which bounds what it buffers, is well above the app's. The app's
        # limit is the exact one: waitress gives it the decoded body's length.
        max_request_body_size=WAITRESS_BODY_FACTOR * max_body_bytes,
        asyncore_use_poll=True,  # select() cannot watch more than 1024 sockets
        ident="rx-jobtracker",
    )
    task = type("JSONErrorTask", (_JSONErrorTask,), {"body_limit": max_body_bytes})
    channel = type("Channel", (_Channel,), {"error_task_class": task, "task_class": _SocketTask})
    return Server(server, socket_map, channel)


class Server:
    """A bound waitress server that serves until `stop()`, then answers what it has in hand."""

    def __init__(self, server: Any, socket_map: dict[int, Any], channel: type) -> None:
        self._server = server
        self._map = socket_map
        self._stopping = threading.Event()
        for dispatcher in self._listeners():
            dispatcher.channel_class = channel

    @property
    def port(self) -> int:
        """The port listened on (the one asked for, or the one the OS chose for port 0)."""
        return int(next(iter(self._listeners())).effective_port)

    def stop(self) -> None:
        """Ask `serve_forever` to return; safe from a signal handler."""
        self._stopping.set()

    def serve_forever(self) -> None:
        """Serve until `stop()`; then stop accepting, answer the requests already received
        (for at most STOP_GRACE seconds) and close every connection."""
        while not self._stopping.is_set():
            wasyncore.loop(timeout=0.2, map=self._map, use_poll=True, count=1)
        for listener in self._listeners():
            wasyncore.dispatcher.close(listener)
        deadline = time.monotonic() + STOP_GRACE
        while self._busy() and time.monotonic() < deadline:
            wasyncore.loop(timeout=0.05, map=self._map, use_poll=True, count=1)
        if self._busy():
            log.warning("Stopping with requests still in hand after %.0f s", STOP_GRACE)
        self._server.task_dispatcher.shutdown(timeout=1)
        wasyncore.close_all(self._map)

    def _listeners(self) -> list[Any]:
        return [d for d in list(self._map.values()) if isinstance(d, BaseWSGIServer)]

    def _busy(self) -> bool:
        return any(
            isinstance(channel, HTTPChannel) and (channel.requests or channel.total_outbufs_len)
            for channel in list(self._map.values())
        )
