"""gunicorn's settings for the API, used as
`python -m gunicorn -c gunicorn.conf.py -w 4 -b HOST:PORT 'api.app:create_app()'`.

gunicorn's default worker serves one connection at a time, so a client that sends half a request
holds a whole worker until the worker timeout kills it: four such clients stopped a four-worker
API for 30 s. The threaded worker gives each connection a thread, so a stalled client holds one
thread of THREADS, and the worker's main loop keeps accepting and keeps its heartbeat. gunicorn has
no timeout for a request that has started arriving: each stalled client holds its thread until it
goes away, so it takes THREADS of them on one worker to make that worker's new requests wait.
Where clients are not all well behaved, put nginx in front (deploy/nginx.conf,
docs/deploying.md): it reads each request whole before gunicorn sees it.

It also makes /metrics add up every worker's counters (prometheus-client's multiprocess
mode): each worker writes its metrics to files in PROMETHEUS_MULTIPROC_DIR; without one given, a
fresh directory is made here, in the master, before any worker starts (prometheus-client reads
the variable when it is first imported, in the worker). gunicorn reads this file by itself
when it starts in the project root.

With LOG_FORMAT=json, gunicorn's own lines (its error log, and its access log when asked for)
are JSON objects in the shape of the API's (config.logs), an access line with the request's id.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import timedelta
from logging.handlers import SysLogHandler
from typing import Any

from gunicorn.glogging import Logger

# The threaded worker: connections waiting between requests cost no thread, only a socket.
worker_class = "gthread"
# Threads per worker; workers come from -w (gunicorn's default, 1, or WEB_CONCURRENCY).
threads = 32
# Seconds an idle kept-alive connection is held open for the client's next request.
keepalive = 5
# Connections one worker holds at once (gunicorn's default, said here): past it the worker stops
# accepting, and a flood waits in the listen backlog instead of costing each worker more open
# files. It bounds no slow client: 64 of them in their headers still hold 2 workers' threads.
worker_connections = 1000
# Connections the kernel queues for gunicorn to accept (gunicorn's default, said here).
backlog = 2048
# A worker whose main loop stops for this long is restarted (the default, said here).
timeout = 30
# Requests in hand get this long after SIGTERM (a request waits at most twice DATABASE_TIMEOUT).
graceful_timeout = 30
# The request line: 0 is gunicorn's "no limit", the one setting above 8190 bytes it allows. The
# README promises that an identifier of 10,000 characters (up to 90,000 bytes once
# percent-encoded) gets Rx-Universe's 404 code 01, which a request line of 8190 bytes cannot
# carry. The price: gunicorn holds a request line in memory however long a client makes it.
limit_request_line = 0
# Headers: up to 256 of them, each up to 128 KiB (gunicorn's defaults are 100 and 8190 bytes),
# about the room waitress gives under run_api.py (256 KiB for the request line and headers).
limit_request_fields = 256
limit_request_field_size = 128 * 1024
# No header sets SCRIPT_NAME or PATH_INFO: the API is served at the root. gunicorn's default
# takes them from any client on this machine (a trusted forwarder), and a SCRIPT_NAME the path
# does not start with made it answer a 500 page of its own.
forwarder_headers = ""

_made_here = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _made_here:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="rx-jobtracker-metrics-")
else:
    # Files left by an earlier run would be added to this one's counts.
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.remove(os.path.join(directory, name))


def child_exit(_server: Any, worker: Any) -> None:
    """A worker gone: its live gauges no longer count (its counters still do)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]  # untyped in prometheus-client


def on_exit(_server: Any) -> None:
    """Remove the directory made for this run."""
    if _made_here:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def on_starting(_server: Any) -> None:
    """Load the SCENARIO setting's scenario once, in the master, before any worker starts: in
    each worker it would run again whenever gunicorn replaces one, wiping the lab it served."""
    from sqlalchemy.exc import OperationalError

    from api.sim.scenarios import (
        ScenarioNotLoaded,
        load_configured_scenario,
    )
    from config.lab_file import LabFileError, load_lab
    from config.settings import Settings, SettingsError

    try:
        settings = Settings.load()
        lab = load_lab(settings.lab_file) if settings.scenario else None
    except (SettingsError, LabFileError):
        return  # each worker's create_app stops on it with its own message
    if lab is None:
        return
    try:
        load_configured_scenario(settings, lab)
    except ScenarioNotLoaded as error:
        raise SystemExit(f"gunicorn: {error}") from None
    except OperationalError as error:
        raise SystemExit(f"gunicorn: cannot reach the database: {error.orig}") from None


class LogFormatLogger(Logger):
    """gunicorn's logger, following LOG_FORMAT: with text, gunicorn's own layout; with json, the
    API's JSON shape, each access line also with its request's id, method, path, status and
    duration, as the API's own `api.access` line has them."""

    writes_json = False

    def setup(self, cfg: Any) -> None:
        """gunicorn's handlers (its error log, its access log when asked for), then the JSON
        formatter on them; run at start and again on SIGHUP."""
        super().setup(cfg)
        from config.logs import json_formatter
        from config.settings import Settings, SettingsError

        try:
            self.writes_json = Settings.load().log_format == "json"
        except SettingsError:
            self.writes_json = False  # each worker's create_app stops on it with its own message
        if not self.writes_json:
            return
        formatter = json_formatter("api")  # the program create_app names under gunicorn
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                # Only the handlers gunicorn made: a --log-config's are the user's to format,
                # and syslog keeps gunicorn's prefix, which names the program there.
                if getattr(handler, "_gunicorn", False) and not isinstance(handler, SysLogHandler):
                    handler.setFormatter(formatter)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        """gunicorn's access line (its --access-logformat) as the message, with fields: the id
        is the X-Request-ID the API answered with, its middleware's context being gone by now."""
        if not self.writes_json:
            super().access(resp, req, environ, request_time)
            return
        # No one takes the line (no --access-logfile, --log-config or syslog): nothing built. Not
        # gunicorn's `access_log_enabled`, which the gunicorns setup.cfg allows (>=22) lack.
        if not self.access_log.hasHandlers():
            return
        atoms = self.atoms_wrapper_class(self.atoms(resp, req, environ, request_time))
        path: str = environ.get("PATH_INFO", "")
        self.access_log.info(
            self.cfg.access_log_format,
            atoms,
            extra={
                "request_id": next(
                    (value for name, value in resp.headers if name.lower() == "x-request-id"), None
                ),
                "method": environ.get("REQUEST_METHOD", ""),
                # Decoded as request.path is (WSGI hands it over as latin-1), as api.access has it.
                "path": path.encode("latin-1").decode("utf-8", "replace"),
                "status": getattr(resp, "status_code", None),  # None: the app never answered
                "duration_ms": round(request_time.total_seconds() * 1000, 3),
            },
        )


logger_class = LogFormatLogger
