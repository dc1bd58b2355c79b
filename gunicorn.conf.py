"""gunicorn reads this file from the directory it starts in: it makes /metrics add up every
worker's counters (prometheus-client's multiprocess mode) without any setting.

Each worker writes its metrics to files in PROMETHEUS_MULTIPROC_DIR; without one given, a fresh
directory is made here, in the master, before any worker starts (prometheus-client reads the
variable when it is first imported, in the worker).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

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
