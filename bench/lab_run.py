"""The lab simulator as a load generator: the orders `run_lab.py` pushes end to end through
gunicorn, beside the API's own check-in capacity measured with wrk in the same run.

Both are expressed in check-ins per second. wrk's figure is check-in requests per second. The
lab's is every request it makes per second (creations, check-ins, holds, cancels, completion
calls, status reads), each counted as one check-in: each is one small write or read of one order,
as a check-in is, and most of them are check-ins (the report gives the share). If the lab reaches
the API's capacity, the API, not the lab, is what limits it.

On two CPUs or more the server side (gunicorn, the tracker, a local PostgreSQL) runs on the first
half of them and the client (wrk, then the lab) on the rest, so each client has the same CPUs
and the lab's own cost no longer takes the server's share: the ratio says whether the lab can
drive the API. The CPU time of the lab's processes and of gunicorn's over the same run, per
request, says what each request costs on either side.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import live
from bench import ROOT
from bench.databases import Target, engine_for, fresh_database
from bench.endpoint import WARM_UP_SECONDS, Load, run_wrk, wrk_path
from bench.job_tracking import REQUESTS
from bench.pinning import (
    Pinning,
    busy_seconds,
    cpu_seconds,
    database_pinned,
    plan,
    tree_cpu_seconds,
    waited_children_cpu_seconds,
)
from bench.processes import gunicorn_server, tracker_daemon
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
    # Defaults: a result pickled (--save-results) before the pinning has none of these.
    pinning: str = "unpinned (measured before the bench pinned server and client)"
    processes: int = 1  # the lab's client processes (run_lab.py --processes)
    client_cpus: int = 0  # the CPUs the lab was given; 0: unpinned
    lab_cpu_seconds: float = math.nan  # the lab's processes, start-up included
    api_cpu_seconds: float = math.nan  # gunicorn's master and workers over the lab's run
    wrk_api_cpu_seconds: float = math.nan  # the same over wrk's measured run
    tracker_cpu_seconds: float = math.nan  # the tracker over the lab's run
    # The share of the server's CPUs (every CPU when unpinned) busy over each run, whatever ran
    # on them: near 100%, the server side had no CPU to spare.
    server_busy: float = math.nan
    wrk_server_busy: float = math.nan

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

    @property
    def lab_us_per_request(self) -> float:
        """The lab's CPU time per request it made, in microseconds."""
        return self.lab_cpu_seconds / self.requests * 1e6

    @property
    def api_us_per_request(self) -> float:
        """The API's CPU time per lab request, in microseconds."""
        return self.api_cpu_seconds / self.requests * 1e6

    @property
    def api_us_per_checkin(self) -> float:
        """The API's CPU time per check-in under wrk, in microseconds."""
        return self.wrk_api_cpu_seconds / self.wrk.requests * 1e6

    @property
    def tracker_us_per_request(self) -> float:
        """The tracker's CPU time per lab request, in microseconds."""
        return self.tracker_cpu_seconds / self.requests * 1e6

    @property
    def client_busy(self) -> float:
        """The share of its CPUs the lab kept busy (of one CPU when unpinned)."""
        return self.lab_cpu_seconds / (self.seconds * max(self.client_cpus, 1))


def measure(target: Target, size: Size, log_dir: Path) -> LabResult:
    """wrk's check-ins, then the lab flat out, each on a fresh database behind gunicorn; the
    server side (gunicorn, the tracker, a local PostgreSQL) and the client (wrk, the lab) on
    CPUs of their own when the machine has two or more, the lab in one process per client CPU."""
    wrk_path()
    pinning = plan()
    wrk, wrk_api_cpu, wrk_server_busy = _capacity(target, size, log_dir, pinning)
    processes = max(len(pinning.client), 1)
    summary_file = log_dir / f"lab-{target.kind}-summary.json"
    server_side = pinning.server_command([])
    with (
        fresh_database(target, "lab") as url,
        database_pinned(url, pinning) as database,
        gunicorn_server(
            APP, url, log_dir, f"gunicorn-{target.kind}-lab", prefix=server_side
        ) as api,
        tracker_daemon(
            url, log_dir, interval=TRACKER_INTERVAL, wake_up=True, prefix=server_side
        ) as tracker,
    ):
        command = [sys.executable, "run_lab.py", "--url", api.base_url, "--seed", str(SEED)]
        command += ["--orders", str(size.lab_orders), "--rate", "0", "--station-time", "0"]
        command += ["--concurrency", str(CONCURRENCY), "--processes", str(processes)]
        command += ["--summary-json", str(summary_file)]
        api_before = tree_cpu_seconds(api.pid)
        tracker_before = cpu_seconds(tracker.process.pid)
        lab_before = waited_children_cpu_seconds()
        busy_before, started = busy_seconds(pinning.server), time.monotonic()
        run = subprocess.run(
            pinning.client_command(command),
            cwd=ROOT,
            env=live.make_env(url),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=LAB_TIMEOUT,
            check=False,
        )
        lab_cpu = waited_children_cpu_seconds() - lab_before
        api_cpu = tree_cpu_seconds(api.pid) - api_before
        tracker_cpu = cpu_seconds(tracker.process.pid) - tracker_before
        server_busy = _busy_share(pinning, busy_before, started)
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
        pinning=f"{pinning.describe()}; {database}",
        processes=processes,
        client_cpus=len(pinning.client),
        lab_cpu_seconds=lab_cpu,
        api_cpu_seconds=api_cpu,
        wrk_api_cpu_seconds=wrk_api_cpu,
        tracker_cpu_seconds=tracker_cpu,
        server_busy=server_busy,
        wrk_server_busy=wrk_server_busy,
    )


def _capacity(
    target: Target, size: Size, log_dir: Path, pinning: Pinning
) -> tuple[Load, float, float]:
    """wrk's check-ins at GEN, each to a new seeded order in turn, as `job_tracking` measures,
    pinned as the lab will be; the API's CPU seconds over wrk's measured run, and the share of
    the server's CPUs busy meanwhile."""
    with fresh_database(target, "lab_wrk") as url:
        engine = engine_for(url)
        try:
            warm = seed_orders(engine, size.endpoint_orders // 10)
            numbers = seed_orders(engine, size.endpoint_orders, first=warm.stop)
        finally:
            engine.dispose()
        label = f"gunicorn-{target.kind}-lab-wrk"
        client = pinning.client_command([])
        with (
            database_pinned(url, pinning),
            gunicorn_server(APP, url, log_dir, label, prefix=pinning.server_command([])) as api,
        ):
            request = REQUESTS["check-in"]
            run_wrk(
                api.base_url,
                request,
                warm,
                WARM_UP_SECONDS,
                log_dir,
                f"{label}-warm",
                prefix=client,
            )
            before = tree_cpu_seconds(api.pid)
            busy_before, started = busy_seconds(pinning.server), time.monotonic()
            load = run_wrk(
                api.base_url, request, numbers, size.endpoint_seconds, log_dir, label, prefix=client
            )
            server_busy = _busy_share(pinning, busy_before, started)
            api_cpu = tree_cpu_seconds(api.pid) - before
    if load.non_2xx or load.socket_errors:
        raise RuntimeError(f"{label}: {load.non_2xx} non-2xx answers, {load.socket_errors} errors")
    return load, api_cpu, server_busy


def _busy_share(pinning: Pinning, busy_before: float, started: float) -> float:
    """The share of the server's CPUs (every CPU when unpinned) busy since `started`."""
    cpus = len(pinning.server) or len(os.sched_getaffinity(0))
    return (busy_seconds(pinning.server) - busy_before) / (time.monotonic() - started) / cpus
