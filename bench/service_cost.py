"""What the request journal and the fault check cost the completion endpoint: wrk against
gunicorn with each setting, in alternating rounds on fresh databases, as bench.endpoint loads it.

`python -m bench.service_cost [rounds]` (PostgreSQL at BENCH_DATABASE_URL), or
`python -m bench.service_cost --per-call URL...` (one process, no wrk); the figures are in
docs/benchmarks.md.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from bench.databases import DEFAULT_POSTGRES_URL, Target
from bench.endpoint import APP, Load, _load, pooled
from bench.sizes import SIZES

CONFIGURATIONS = {
    "journal on, faults checked (default)": {},
    "journal off, faults checked": {"JOURNAL": "off"},
    "journal off, SIM_API=off (neither)": {"JOURNAL": "off", "SIM_API": "off"},
}


def measure(target: Target, rounds: int, log_dir: Path) -> dict[str, Load]:
    """Each configuration's pooled load; each round runs them in a rotated order."""
    size = SIZES["small"]
    names = list(CONFIGURATIONS)
    loads: dict[str, list[Load]] = {name: [] for name in names}
    for number in range(rounds):
        turn = names[number % len(names) :] + names[: number % len(names)]
        for index, name in enumerate(turn):
            env = CONFIGURATIONS[name]
            label = f"cost-{number}-{index}"
            loads[name].append(_load(target, size, log_dir, APP, label, extra_env=env))
    return {name: pooled(runs) for name, runs in loads.items()}


def main(argv: list[str]) -> int:
    if argv[:1] == ["--per-call"]:
        for url in argv[1:]:
            for name, millis in per_call_ms(url).items():
                print(f"{url.split(':')[0]} | {name} | {millis:.3f} ms per call", flush=True)
        return 0
    rounds = int(argv[0]) if argv else 3
    server = os.environ.get("BENCH_DATABASE_URL", DEFAULT_POSTGRES_URL)
    with tempfile.TemporaryDirectory() as work:
        for kind in ("sqlite", "postgresql"):
            result = measure(Target(kind, Path(work), server), rounds, Path(work))
            neither = result["journal off, SIM_API=off (neither)"].requests_per_second
            for name, load in result.items():
                print(
                    f"{kind} | {name} | {load.requests_per_second:,.0f} req/s"
                    f" | p50 {load.p50_ms:.2f} ms | p99 {load.p99_ms:.2f} ms"
                    f" | {load.requests_per_second / neither:.2f}x | non-2xx {load.non_2xx}",
                    flush=True,
                )
    return 0


def per_call_ms(database_url: str, rounds: int = 7, calls: int = 200) -> dict[str, float]:
    """The completion call's time in one process through Flask's test client, per configuration:
    the median over rounds (configurations taking turns) of the mean per call. On a machine too
    busy for wrk's throughput to settle, this still shows what each hook adds to one call."""
    import dataclasses
    import statistics
    import time

    from api.app import create_app
    from config.settings import Settings

    base = Settings(database_url=database_url)
    changes = {
        "journal on, faults checked (default)": {},
        "journal off, faults checked": {"journal": False},
        "journal off, SIM_API=off (neither)": {"journal": False, "sim_api": False},
    }
    clients = {}
    for name, change in changes.items():
        app = create_app(dataclasses.replace(base, **change))
        clients[name] = app.test_client()
    setup = clients["journal on, faults checked (default)"]
    body = {"orderNumber": "33719", "addons": ["BSC"], "stations": ["BSC"]}
    assert setup.post("/api/sim/orders", json=body).status_code == 201
    times: dict[str, list[float]] = {name: [] for name in clients}
    for number in range(rounds):
        names = list(clients)
        for name in names[number % 3 :] + names[: number % 3]:
            client = clients[name]
            started = time.perf_counter()
            for _ in range(calls):  # a repeat call: the order stays flagged, answered 201
                client.post("/api/v2/orders/33719/complete")
            times[name].append((time.perf_counter() - started) * 1000 / calls)
        setup.delete("/api/sim/requests")
    return {name: statistics.median(values) for name, values in times.items()}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
