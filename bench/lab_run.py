"""The lab simulator as a load generator: the orders `run_lab.py` pushes end to end through
gunicorn, beside the API's own check-in capacity measured with wrk in the same run.

Both are expressed in check-ins per second. wrk's figure is check-in requests per second. The
lab's is every request it makes per second (creations, check-ins, holds, cancels, completion
calls, status reads), each counted as one check-in: each is one small write or read of one order,
as a check-in is, and most of them are check-ins (the report gives the share). If the lab reaches
the API's capacity, the API, not the lab, is what limits it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import live
from bench import ROOT
from bench.databases import Target, engine_for, fresh_database
from bench.endpoint import WARM_UP_SECONDS, Load, run_wrk, wrk_path
from bench.job_tracking import REQUESTS
from bench.processes import gunicorn, tracker_daemon
from bench.seed import seed_orders
from bench.sizes import Size

APP = "api.app:create_app()"
# Orders the lab keeps in flight: as many connections as it may open, enough to keep gunicorn's
# 4 workers busy while others wait for the tracker's verdict.
CONCURRENCY = 32
SEED = 12
TRACKER_INTERVAL = 0.1
LAB_TIMEOUT = 1800.0


@dataclass(frozen=True)
class LabResult:
    """The lab's run and wrk's check-ins on the same server set-up."""

    orders: int
    seconds: float
    requests: int
    checkins: int
    completed: int
    errors: int
    wrk: Load

    @property
    def requests_per_second(self) -> float:
        """The lab's load, in check-ins per second (every request counted as one)."""
        return self.requests / self.seconds

    @property
    def orders_per_second(self) -> float:
        """Orders started and brought to an end per second."""
        return self.orders / self.seconds

    @property
    def share(self) -> float:
        """The lab's load over the API's check-in capacity."""
        return self.requests_per_second / self.wrk.requests_per_second


def measure(target: Target, size: Size, log_dir: Path) -> LabResult:
    """wrk's check-ins, then the lab flat out, each on a fresh database behind gunicorn."""
    wrk_path()
    wrk = _capacity(target, size, log_dir)
    summary_file = log_dir / f"lab-{target.kind}-summary.json"
    with (
        fresh_database(target, "lab") as url,
        gunicorn(APP, url, log_dir, f"gunicorn-{target.kind}-lab") as base_url,
        tracker_daemon(url, log_dir, interval=TRACKER_INTERVAL, wake_up=True),
    ):
        command = [sys.executable, "run_lab.py", "--url", base_url, "--seed", str(SEED)]
        command += ["--orders", str(size.lab_orders), "--rate", "0", "--station-time", "0"]
        command += ["--concurrency", str(CONCURRENCY), "--summary-json", str(summary_file)]
        run = subprocess.run(
            command,
            cwd=ROOT,
            env=live.make_env(url),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=LAB_TIMEOUT,
            check=False,
        )
        (log_dir / f"lab-{target.kind}.out").write_text(run.stdout + run.stderr)
        if run.returncode != 0:
            raise RuntimeError(f"run_lab.py exited {run.returncode}: {run.stderr[-2000:]}")
    summary = json.loads(summary_file.read_text())
    return LabResult(
        orders=summary["created"],
        seconds=summary["seconds"],
        requests=summary["requests"],
        checkins=summary["checkins"],
        completed=summary["completed"],
        errors=summary["errors"],
        wrk=wrk,
    )


def _capacity(target: Target, size: Size, log_dir: Path) -> Load:
    """wrk's check-ins at GEN, each to a new seeded order in turn, as `job_tracking` measures."""
    with fresh_database(target, "lab_wrk") as url:
        engine = engine_for(url)
        try:
            warm = seed_orders(engine, size.endpoint_orders // 10)
            numbers = seed_orders(engine, size.endpoint_orders, first=warm.stop)
        finally:
            engine.dispose()
        label = f"gunicorn-{target.kind}-lab-wrk"
        with gunicorn(APP, url, log_dir, label) as base_url:
            request = REQUESTS["check-in"]
            run_wrk(base_url, request, warm, WARM_UP_SECONDS, log_dir, f"{label}-warm")
            load = run_wrk(base_url, request, numbers, size.endpoint_seconds, log_dir, label)
    if load.non_2xx or load.socket_errors:
        raise RuntimeError(f"{label}: {load.non_2xx} non-2xx answers, {load.socket_errors} errors")
    return load
