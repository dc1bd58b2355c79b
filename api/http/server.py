"""run_api.py's HTTP server: waitress, set up so slow or broken clients get our JSON and a timeout.

waitress reads each request whole (headers and body) on one event loop before a worker thread
sees it, so a client that sends half a request holds no thread, only a socket, and loses that
after CHANNEL_TIMEOUT of silence; one that sends it a byte at a time, never silent for long, loses
it REQUEST_DEADLINE seconds after the request's first byte, with a 408. It is pure Python: nothing
to compile. What it answers by itself (a malformed request, an invalid Content-Length, a body or
headers over its limits) is answered in our error shape, as the app answers the rest.
"""

from __future__ import annotations

import contextlib
import json
import logging
import resource
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


# Connections held open at once; beyond it waitress stops accepting until some close. A thousand
# stalled or trickling clients cost a socket each, not a thread: this leaves room for as many
# ordinary ones. Each costs an open file: see open_files_needed().
CONNECTION_LIMIT = 2000
# Open files the process needs beside its connections: the database, logs, waitress's own.
SPARE_FILES = 100
# Seconds from a request's first byte to its last (line, headers and body) before it is refused
# with a 408 and the connection closed. CHANNEL_TIMEOUT only closes a silent connection: a client
# sending a byte every few seconds would hold its socket for ever. The largest body the API takes
# (1 MiB) needs 35 KB/s to arrive in time: a lab's clients on its network send it in milliseconds.
REQUEST_DEADLINE = 30.0


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
    408: ("Request timeout", "{}"),
    413: ("Request too large", "The body may be at most {limit} bytes"),
    431: (
        "Request header fields too large",
        "The request line and headers may be at most {header_limit} bytes",
    ),
    501: ("Not implemented", "{}"),
}


class _Refused(BadRequest):  # type: ignore[misc]  # waitress is untyped
    """A request this module refuses itself: its detail is ours, already written."""


class _BodyCutShort(_Refused):
    """The client closed its side of the connection before its body's end."""


class _RequestTooSlow(_Refused):
    """The request was not received whole within REQUEST_DEADLINE seconds of its first byte."""

    code = 408
    reason = "Request Timeout"


class _JSONErrorTask(ErrorTask):  # type: ignore[misc]  # waitress is untyped: ErrorTask is Any
    """waitress's answer to a request it refused itself, in our error shape."""

    body_limit = 0  # the app's limit, which the 413 names (set per server)

    def execute(self) -> None:
        error = self.request.error
        summary, detail = _ERRORS.get(error.code, ("Internal server error", "{}"))
        if isinstance(error, _Refused):
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
    shape, as under gunicorn, where waitress would close without a word. The time of the first
    byte of the request being read is kept, for the deadline (`Server`)."""

    request: Any  # waitress's parser of the request being read, or None
    timed: Any = None  # the request whose first byte `started` timed
    started = 0.0  # time.monotonic() at that first byte

    def received(self, data: bytes) -> bool:
        """waitress's parsing, noting when a new request began."""
        done: bool = super().received(data)
        if self.request is not None and self.request is not self.timed:
            self.timed, self.started = self.request, time.monotonic()
        return done

    def refuse_if_late(self, now: float, deadline: float) -> None:
        """Answer a 408 if the request being read began more than `deadline` seconds ago."""
        request = self.request
        if request is None or request.completed or self.requests or now - self.started <= deadline:
            return
        if request is not self.timed or self.will_close or self.close_when_flushed:
            return
        detail = f"The request was not received whole within {deadline:g} seconds"
        log.info("Refused a request from %s: %s", self.addr[0] if self.addr else "?", detail)
        self.refuse(request, _RequestTooSlow(detail))

    def refuse(self, request: Any, error: _Refused) -> None:
        """Answer `request`, still being read, with `error`; the connection closes after."""
        request.error = error
        request.completed = True
        with self.requests_lock:
            self.request = None
            self.requests.append(request)
            if len(self.requests) == 1:
                self.server.add_task(self)

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
        self.refuse(request, _BodyCutShort(detail))


def make_server(
    app: Callable[..., Any],
    host: str,
    port: int,
    max_body_bytes: int,
    *,
    request_deadline: float = REQUEST_DEADLINE,
) -> Server:
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
    return Server(server, socket_map, channel, request_deadline)


def open_files_needed() -> int:
    """The open files run_api.py needs at most: a connection each, and spares."""
    return CONNECTION_LIMIT + SPARE_FILES


def raise_open_files_limit(needed: int) -> str | None:
    """Raise this process's soft limit on open files toward `needed` (at most to the hard limit);
    a one-line warning if it is still lower, else None."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return None
    return (
        f"the open-files limit is {soft} (ulimit -n; hard limit {hard}), below the {needed} this "
        f"server needs: past about {max(soft - SPARE_FILES, 0)} connections it refuses new ones"
    )


class Server:
    """A bound waitress server that serves until `stop()`, then answers what it has in hand.
    Every CLEANUP_INTERVAL seconds it refuses the requests still arriving past their deadline."""

    def __init__(
        self, server: Any, socket_map: dict[int, Any], channel: type, request_deadline: float
    ) -> None:
        self._server = server
        self._map = socket_map
        self._deadline = request_deadline
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
        sweep_at = time.monotonic()
        while not self._stopping.is_set():
            wasyncore.loop(timeout=0.2, map=self._map, use_poll=True, count=1)
            now = time.monotonic()
            if now >= sweep_at:
                # As often as waitress looks for silent connections; a late one waits that more.
                sweep_at = now + min(CLEANUP_INTERVAL, self._deadline / 4)
                for channel in list(self._map.values()):
                    if isinstance(channel, _Channel):
                        channel.refuse_if_late(now, self._deadline)
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
