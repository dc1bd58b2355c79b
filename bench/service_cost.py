"""What the request journal and the fault check cost the completion endpoint: wrk against
gunicorn with each setting, in alternating rounds on fresh databases, as bench.endpoint loads it.

`python -m bench.service_cost [rounds]` (PostgreSQL at BENCH_DATABASE_URL); the figures are in
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
