"""Flag-to-complete latency over HTTP: from the 201 until the status endpoint shows `C`."""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import live
from bench.databases import Target, engine_for, fresh_database
from bench.processes import tracker_daemon
from bench.seed import seed_orders
from bench.sizes import Size

POLLING_INTERVAL = 0.25
WAKE_UP_INTERVAL = 30.0
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
    def round_trip_p50(self) -> float:
        """The baseline: one completion request's own round trip."""
        return percentile(self.round_trip_ms, 50)


def percentile(values: list[float], pct: float) -> float:
    """Linear-interpolated percentile (statistics.quantiles needs two values or more)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(pct) - 1]


def measure(target: Target, size: Size, log_dir: Path) -> list[Latencies]:
    """Polling alone on every database; PostgreSQL's LISTEN/NOTIFY wake-up on PostgreSQL."""
    modes = [("polling", POLLING_INTERVAL)]
    if target.kind == "postgresql":
        modes.append(("wake-up", WAKE_UP_INTERVAL))
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
            time.sleep(0.5)  # its LISTEN is in place once its first poll has run
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
