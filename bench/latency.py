"""Flag-to-complete latency over HTTP, from the 201 until the status endpoint shows `C`; and what
listening for the wake-up costs an idle tracker."""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import live
from bench.databases import Target, engine_for, fresh_database
from bench.pinning import cpu_seconds
from bench.processes import tracker_daemon
from bench.seed import seed_orders
from bench.sizes import Size
from config.settings import Settings

POLLING_INTERVAL = 0.25
# The wake-up is measured with the default settings, as a new user runs it (TRACKER_INTERVAL 5 s).
WAKE_UP_INTERVAL = Settings.tracker_interval
STATUS_EVERY = 0.002
SEED = 4567  # the jitter before each flag is random, but the same in every run


@dataclass(frozen=True)
class Latencies:
    """One mode's samples, in milliseconds."""

    mode: str
    interval: float
    flag_to_complete_ms: list[float]
    round_trip_ms: list[float]  # POST -> 201 of the same flags: the baseline

    @property
    def p50(self) -> float:
        """Half the orders were completed sooner."""
        return percentile(self.flag_to_complete_ms, 50)

    @property
    def p95(self) -> float:
        """All but one order in twenty were completed sooner."""
        return percentile(self.flag_to_complete_ms, 95)

    @property
    def p99(self) -> float:
        """All but one order in a hundred were completed sooner."""
        return percentile(self.flag_to_complete_ms, 99)

    @property
    def round_trip_p50(self) -> float:
        """The baseline: one completion request's own round trip."""
        return percentile(self.round_trip_ms, 50)


def percentile(values: list[float], pct: float) -> float:
    """Linear-interpolated percentile (statistics.quantiles needs two values or more)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(pct) - 1]


def measure(target: Target, size: Size, log_dir: Path) -> list[Latencies]:
    """Polling alone, then the wake-up (NOTIFY on PostgreSQL, the doorbell on SQLite)."""
    modes = [("polling", POLLING_INTERVAL), ("wake-up", WAKE_UP_INTERVAL)]
    return [_mode(target, size, log_dir, mode, interval) for mode, interval in modes]


def _mode(target: Target, size: Size, log_dir: Path, mode: str, interval: float) -> Latencies:
    rng = random.Random(SEED)
    flag_to_complete: list[float] = []
    round_trips: list[float] = []
    with fresh_database(target, "latency") as url:
        engine = engine_for(url)
        try:
            numbers = seed_orders(engine, size.latency_samples)
        finally:
            engine.dispose()
        mode_dir = log_dir / f"latency-{target.kind}-{mode}"
        mode_dir.mkdir(exist_ok=True)
        with (
            live.run_api(url, mode_dir) as api,
            tracker_daemon(url, mode_dir, interval=interval, wake_up=mode == "wake-up"),
        ):
            live.wait_until(lambda: _running(api), 30, "the tracker's first heartbeat")
            time.sleep(0.5)  # its listener is in place once its first poll has run
            for number in numbers:
                # A random phase against the poll interval, or every sample would wait alike.
                time.sleep(rng.uniform(0, POLLING_INTERVAL))
                round_trip, latency = _flag_and_wait(api, number, timeout=interval + 15)
                round_trips.append(round_trip)
                flag_to_complete.append(latency)
    return Latencies(mode, interval, flag_to_complete, round_trips)


def _running(api: live.Api) -> bool:
    status, body = api.call("GET", "/api/sim/tracker")
    return status == 200 and bool(body["running"])


def _flag_and_wait(api: live.Api, number: int, timeout: float) -> tuple[float, float]:
    sent = time.perf_counter()
    status, body = api.call("POST", f"/api/v2/orders/{number}/complete")
    accepted = time.perf_counter()
    if status != 201:
        raise RuntimeError(f"flagging order {number} answered {status}: {body}")
    while True:
        status, body = api.call("GET", f"/api/v2/orders/{number}/status")
        if status == 200 and body["status"] == "C":
            done = time.perf_counter()
            return (accepted - sent) * 1000, (done - accepted) * 1000
        if time.perf_counter() - accepted > timeout:
            raise TimeoutError(f"order {number} was not completed within {timeout:g}s")
        time.sleep(STATUS_EVERY)


@dataclass(frozen=True)
class IdleCpu:
    """An idle tracker's CPU, in percent of one core, over the same span: listening for the
    wake-up, and polling alone (the baseline), both at the default interval."""

    seconds: float
    listening_percent: float
    polling_percent: float

    @property
    def rise(self) -> float:
        """What listening adds, in percent of one core."""
        return self.listening_percent - self.polling_percent


def measure_idle_cpu(target: Target, size: Size, log_dir: Path) -> IdleCpu:
    """Each tracker alone on an empty database for `size.idle_seconds`, after its first poll."""
    percents = {}
    with fresh_database(target, "idle") as url:
        for wake_up in (True, False):
            mode_dir = log_dir / f"idle-{target.kind}-{'listening' if wake_up else 'polling'}"
            mode_dir.mkdir(exist_ok=True)
            with tracker_daemon(url, mode_dir, interval=WAKE_UP_INTERVAL, wake_up=wake_up) as t:
                live.wait_until(
                    lambda: "polling every" in t.log_path.read_text(errors="replace") or None,
                    30,
                    "the tracker to start",
                )
                time.sleep(1.0)  # past its start-up and first poll
                pid = t.process.pid
                before, started = cpu_seconds(pid), time.monotonic()
                time.sleep(size.idle_seconds)
                used, span = cpu_seconds(pid) - before, time.monotonic() - started
            percents[wake_up] = 100 * used / span
    return IdleCpu(size.idle_seconds, percents[True], percents[False])
