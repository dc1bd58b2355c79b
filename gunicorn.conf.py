"""gunicorn's settings for the API, used as
`python -m gunicorn -c gunicorn.conf.py -w 4 -b HOST:PORT 'api.app:create_app()'`.

gunicorn's default worker serves one connection at a time, so a client that sends half a request
holds a whole worker until the worker timeout kills it: four such clients stopped a four-worker
API for 30 s. The threaded worker gives each connection a thread, so a stalled client holds one
thread of THREADS, and the worker's main loop keeps accepting and keeps its heartbeat. gunicorn has
no timeout for a request that has started arriving: each stalled client holds its thread until it
goes away, so it takes THREADS of them on one worker to make that worker's new requests wait.

It also makes /metrics add up every worker's counters (prometheus-client's multiprocess
mode): each worker writes its metrics to files in PROMETHEUS_MULTIPROC_DIR; without one given, a
fresh directory is made here, in the master, before any worker starts (prometheus-client reads
the variable when it is first imported, in the worker). gunicorn reads this file by itself
when it starts in the project root.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

# The threaded worker: connections waiting between requests cost no thread, only a socket.
worker_class = "gthread"
# Threads per worker; workers come from -w (gunicorn's default, 1, or WEB_CONCURRENCY).
threads = 32
# Seconds an idle kept-alive connection is held open for the client's next request.
keepalive = 5
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
