"""Tracker throughput: one `run_tracker.py --once` draining flagged orders, beside its limits."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import Engine, update

from bench.databases import Target, engine_for, fresh_database
from bench.processes import drain
from bench.seed import count_completed, seed_orders, today
from bench.sizes import Size
from config.lab_file import load_lab
from config.settings import DEFAULT_LAB_FILE, UTC_ZONE
from shared.db.engine import make_session_factory
from shared.db.models import Order
from shared.domain.codes import OrderStatus
from tracker.jobs import TrackerConfig, process_batch

BATCH_SIZE = 2000


@dataclass(frozen=True)
class TrackerResult:
    """Orders per second: the tracker, the set-based limit, one job per order, more trackers."""

    orders: int
    tracker_rate: float
    startup_seconds: float
    set_based_rate: float
    per_order_rate: float
    per_order_sample: int
    scaling: dict[int, float] = field(default_factory=dict)


def measure(target: Target, size: Size) -> TrackerResult:
    """Each figure on a fresh database seeded with the same flagged, verifiable orders."""
    counts = size.trackers if target.kind == "postgresql" else (1,)
    scaling: dict[int, float] = {}
    startup = 0.0
    for trackers in counts:
        rate, startup_k = drained_rate(target, size.tracker_orders, trackers)
        scaling[trackers] = rate
        if trackers == 1:
            startup = startup_k
    return TrackerResult(
        orders=size.tracker_orders,
        tracker_rate=scaling[1],
        startup_seconds=startup,
        set_based_rate=set_based_rate(target, size.tracker_orders),
        per_order_rate=per_order_rate(target, size.per_order_sample),
        per_order_sample=size.per_order_sample,
        scaling=scaling if len(counts) > 1 else {},
    )


def drained_rate(target: Target, orders: int, trackers: int) -> tuple[float, float]:
    """Orders/s of `trackers` processes draining `orders`, timed by the trackers' own clock
    from the first beat to the last recorded stop; and the start-up that came before."""
    with fresh_database(target, f"tracker{trackers}") as url:
        engine = engine_for(url)
        try:
            seed_orders(engine, orders, flagged=True)
            run = drain(url, trackers, batch_size=BATCH_SIZE)
            _check_drained(engine, orders)
        finally:
            engine.dispose()
    return orders / run.drain_seconds, run.seconds - run.drain_seconds


def _check_drained(engine: Engine, orders: int) -> None:
    done, checkins, flagged = count_completed(engine, "CMP")
    if (done, checkins, flagged) != (orders, orders, 0):
        raise RuntimeError(
            f"the drain left {flagged} flagged, completed {done} with {checkins} check-ins"
        )


def set_based_rate(target: Target, orders: int) -> float:
    """The limit: one UPDATE marking the same flagged orders complete, without verification."""
    with fresh_database(target, "setbased") as url:
        engine = engine_for(url)
        try:
            seed_orders(engine, orders, flagged=True)
            statement = (
                update(Order)
                .where(Order.completion_requested_at.is_not(None))
                .values(
                    status=OrderStatus.COMPLETE,
                    date_completed=today(),
                    completion_requested_at=None,
                    completion_error_code=None,
                    completion_error_message=None,
                )
            )
            started = time.perf_counter()
            with engine.begin() as connection:
                changed = connection.execute(statement).rowcount
            seconds = time.perf_counter() - started
        finally:
            engine.dispose()
    if changed != orders:
        raise RuntimeError(f"the set-based UPDATE changed {changed} of {orders} orders")
    return orders / seconds


def per_order_rate(target: Target, orders: int) -> float:
    """What a general-purpose job queue reaches: one transaction per order, one job each.

    The tracker's own code with a batch of one: take the next flagged order, load its facts,
    verify, write the completion and the check-in, commit; the floor any per-job queue pays.
    """
    lab = load_lab(DEFAULT_LAB_FILE)
    config = TrackerConfig("bench-per-order", lab, interval=5.0, batch_size=1, timezone=UTC_ZONE)
    with fresh_database(target, "perorder") as url:
        engine = engine_for(url)
        try:
            seed_orders(engine, orders, flagged=True)
            factory = make_session_factory(engine)
            started = time.perf_counter()
            done = sum(len(process_batch(factory, config).completed) for _ in range(orders))
            seconds = time.perf_counter() - started
            _check_drained(engine, orders)
        finally:
            engine.dispose()
    if done != orders:
        raise RuntimeError(f"the per-order loop completed {done} of {orders} orders")
    return orders / seconds
