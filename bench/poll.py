"""Idle poll cost against table size: the queue's partial index must make it independent of it."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from bench.databases import Target, engine_for, fresh_database
from bench.seed import seed_orders
from bench.sizes import Size
from config.lab_file import load_lab
from config.settings import DEFAULT_LAB_FILE, Settings
from shared.db.engine import make_session_factory
from tracker.jobs import TrackerConfig, process_batch, run_cycle

WARM_UP = 20


@dataclass(frozen=True)
class PollTimes:
    """Idle polls at one table size, in milliseconds."""

    orders: int
    batch_ms: list[float]  # process_batch: the queue query in its transaction
    cycle_ms: list[float]  # run_cycle: the heartbeat, then that batch

    @property
    def batch_median(self) -> float:
        """The figure: half of the polls took longer."""
        return statistics.median(self.batch_ms)

    @property
    def cycle_median(self) -> float:
        """The whole poll, heartbeat included."""
        return statistics.median(self.cycle_ms)


@dataclass(frozen=True)
class PollResult:
    """The same idle poll with a small table (the baseline) and a big one."""

    small: PollTimes
    big: PollTimes


def tracker_config() -> TrackerConfig:
    """The tracker's configuration with the shipped defaults (batch size, interval)."""
    defaults = Settings()
    return TrackerConfig(
        tracker_id="bench-poll",
        lab=load_lab(DEFAULT_LAB_FILE),
        interval=defaults.tracker_interval,
        batch_size=defaults.tracker_batch_size,
        timezone=defaults.lab_timezone,
    )


def measure(target: Target, size: Size) -> PollResult:
    """Time idle polls with `poll_small` completed orders, then grow the table to `poll_big`."""
    with fresh_database(target, "poll") as url:
        engine = engine_for(url)
        try:
            factory = make_session_factory(engine)
            small = seed_orders(engine, size.poll_small, completed=True)
            small_times = time_polls(factory, size.poll_runs, size.poll_small)
            seed_orders(engine, size.poll_big - size.poll_small, first=small.stop, completed=True)
            big_times = time_polls(factory, size.poll_runs, size.poll_big)
        finally:
            engine.dispose()
    return PollResult(small=small_times, big=big_times)


def time_polls(factory: sessionmaker[Session], runs: int, orders: int) -> PollTimes:
    """`runs` idle polls of each kind, after a warm-up that fills the caches a live tracker has."""
    config = tracker_config()

    def batch() -> None:
        if process_batch(factory, config).taken:
            raise RuntimeError("the idle poll found flagged orders")

    def cycle() -> None:
        run_cycle(factory, config)

    return PollTimes(orders, _timed(batch, runs), _timed(cycle, runs))


def _timed(poll: Callable[[], None], runs: int) -> list[float]:
    for _ in range(WARM_UP):
        poll()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        poll()
        times.append((time.perf_counter() - started) * 1000)
    return times
