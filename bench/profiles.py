"""Profiles for missed targets: where the time goes, so the report can say why and what fixes it."""

from __future__ import annotations

import cProfile
import io
import pstats
import site
import sys
import sysconfig
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

from bench import ROOT
from bench.databases import Target, engine_for, fresh_database
from bench.poll import tracker_config
from bench.processes import drain
from bench.seed import seed_orders
from bench.tracker import BATCH_SIZE
from config.settings import Settings
from shared.db.engine import make_session_factory
from tracker.jobs import process_batch, run_cycle

TOP = 25


@dataclass(frozen=True)
class Profile:
    """One profile, as the report quotes it."""

    title: str
    command: str
    text: str


def _shorten(text: str) -> str:
    """Paths relative to the project and to site-packages, so lines fit and read."""
    prefixes = [
        f"{ROOT}/",
        *(f"{path}/" for path in site.getsitepackages()),
        f"{sysconfig.get_paths()['stdlib']}/",
        sys.prefix,
    ]
    for prefix in sorted(prefixes, key=len, reverse=True):
        text = text.replace(prefix, "")
    return text


def _top(stats: pstats.Stats) -> str:
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats("cumulative").print_stats(TOP)
    cumulative = out.getvalue()
    out.seek(0)
    out.truncate()
    stats.sort_stats("tottime").print_stats(TOP // 2)
    own = out.getvalue()
    # pstats heads a loaded file's output with its date and temporary path: noise in a report.
    body = "\n".join(
        line for line in (cumulative + own).splitlines() if line.strip() and ".prof" not in line
    )
    return _shorten(body)


def tracker_drain(target: Target, orders: int, work: Path) -> Profile:
    """cProfile of `run_tracker.py --once` draining `orders` flagged orders (sorted two ways)."""
    output = work / f"tracker-{target.kind}.prof"
    with fresh_database(target, "profile_tracker") as url:
        engine = engine_for(url)
        try:
            seed_orders(engine, orders, flagged=True)
        finally:
            engine.dispose()
        run = drain(url, batch_size=BATCH_SIZE, extra_args=["-m", "cProfile", "-o", str(output)])
    stats = pstats.Stats(str(output))
    command = (
        f"TRACKER_BATCH_SIZE={BATCH_SIZE} python -m cProfile -s cumtime run_tracker.py --once"
        f"  # {orders:,} flagged orders, {run.seconds:.1f} s under the profiler"
    )
    return Profile(f"Tracker drain on {target.label}", command, _top(stats))


def endpoint(target: Target, requests: int) -> Profile:
    """cProfile of the completion endpoint serving `requests` flags in one process."""
    from api.app import close_app, create_app

    with fresh_database(target, "profile_endpoint") as url:
        engine = engine_for(url)
        try:
            numbers = seed_orders(engine, requests + 50)
        finally:
            engine.dispose()
        app = create_app(Settings(database_url=url))
        client = app.test_client()
        try:
            for number in numbers[:50]:  # warm-up: connections, compiled-statement cache
                client.post(f"/api/v2/orders/{number}/complete")
            profiler = cProfile.Profile()
            started = time.perf_counter()
            profiler.enable()
            for number in numbers[50:]:
                response = client.post(f"/api/v2/orders/{number}/complete")
                if response.status_code != 201:
                    raise RuntimeError(f"profiled flag answered {response.status_code}")
            profiler.disable()
            seconds = time.perf_counter() - started
        finally:
            close_app(app)
    per_request = seconds / requests * 1000
    command = (
        f"cProfile of {requests:,} POST /api/v2/orders/N/complete through Flask's test client,"
        f" one process, no concurrency: {per_request:.2f} ms per request under the profiler"
    )
    return Profile(f"Completion endpoint on {target.label}", command, _top(pstats.Stats(profiler)))


def idle_poll(target: Target, orders: int, runs: int) -> Profile:
    """cProfile of `runs` idle polls with `orders` completed orders in the table."""
    with fresh_database(target, "profile_poll") as url:
        engine = engine_for(url)
        try:
            seed_orders(engine, orders, completed=True)
            factory = make_session_factory(engine)
            config = tracker_config()
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(runs):
                process_batch(factory, config)
            profiler.disable()
        finally:
            engine.dispose()
    command = f"cProfile of {runs:,} idle process_batch() calls, {orders:,} orders in the table"
    return Profile(f"Idle poll on {target.label}", command, _top(pstats.Stats(profiler)))


def completion_cycle(target: Target, runs: int) -> Profile:
    """cProfile of `runs` tracker cycles that each complete one just-flagged order."""
    with fresh_database(target, "profile_cycle") as url:
        engine = engine_for(url)
        try:
            factory = make_session_factory(engine)
            config = tracker_config()
            profiler = cProfile.Profile()
            for index in range(runs):
                seed_orders(engine, 1, first=1 + index, flagged=True)
                profiler.enable()
                run_cycle(factory, config)
                profiler.disable()
        finally:
            engine.dispose()
    command = f"cProfile of {runs:,} run_cycle() calls, each completing one flagged order"
    return Profile(
        f"One order's tracker cycle on {target.label}", command, _top(pstats.Stats(profiler))
    )


def memory(target: Target, orders: int) -> Profile:
    """tracemalloc's biggest allocation sites after an in-process drain of `orders` orders."""
    with fresh_database(target, "profile_memory") as url:
        engine = engine_for(url)
        try:
            seed_orders(engine, orders, flagged=True)
            factory = make_session_factory(engine)
            config = tracker_config()
            tracemalloc.start(10)
            run_cycle(factory, config)
            snapshot = tracemalloc.take_snapshot()
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        finally:
            engine.dispose()
    lines = [f"peak traced: {peak / 2**20:.1f} MiB"]
    for stat in snapshot.statistics("lineno")[:TOP]:
        lines.append(_shorten(str(stat)))
    command = f"tracemalloc over an in-process run_cycle() draining {orders:,} orders"
    return Profile(f"Tracker memory on {target.label}", command, "\n".join(lines))
