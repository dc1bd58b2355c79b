"""How big each run is: `full` is the issue's numbers, `tiny` only keeps the suite working."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Size:
    """Every count and duration the measurements use, so one name sets them all."""

    name: str
    endpoint_orders: int  # ready orders wrk cycles over, more than it can flag in the run
    endpoint_seconds: int  # wrk's measured run, per server and round
    endpoint_rounds: int  # alternating runs of the API and its baseline
    tracker_orders: int  # flagged orders one tracker drains
    per_order_sample: int  # orders the one-job-per-order loop completes
    trackers: tuple[int, ...]  # tracker counts for the PostgreSQL scaling run
    poll_small: int  # orders in the table for the idle poll's baseline
    poll_big: int  # orders in the table for the idle poll's figure
    poll_runs: int  # idle polls timed at each table size
    latency_samples: int  # orders flagged one at a time, per mode
    memory_orders: int  # flagged orders the tracker drains while its memory is sampled
    profile_orders: int  # flagged orders a profiled drain completes
    profile_requests: int  # completion requests a profiled endpoint serves
    endpoint_diagnostics: bool  # on a miss, load both servers again in other ways (minutes)
    lab_orders: int  # orders run_lab.py drives end to end, flat out
    import_submissions: int  # submissions one tracker imports, and one INSERT ... SELECT makes
    idle_seconds: float = 60.0  # how long an idle tracker's CPU is measured, listening and not

    def warm_up_orders(self, *, distinct: bool = False) -> int:
        """Orders for the one-second warm-up before each measured run; `distinct` for a call
        that changes its order (a pick): more than a server can serve in it, so that no call
        meets an order twice (a second pick is a 400)."""
        orders = self.endpoint_orders // 10
        return max(orders, WARM_UP_DISTINCT_ORDERS) if distinct else orders


# A bare Flask route on SQLite answered 2,300 pick calls in the one-second warm-up on an idle
# machine, past the tiny size's 2,000 orders.
WARM_UP_DISTINCT_ORDERS = 6_000

SIZES = {
    "tiny": Size(
        name="tiny",
        endpoint_orders=20_000,
        endpoint_seconds=1,
        endpoint_rounds=1,
        tracker_orders=300,
        per_order_sample=100,
        trackers=(1, 2),
        poll_small=1_000,
        poll_big=10_000,
        poll_runs=50,
        latency_samples=5,
        memory_orders=2_000,
        profile_orders=300,
        profile_requests=100,
        endpoint_diagnostics=False,
        lab_orders=200,
        import_submissions=300,
        idle_seconds=2.0,
    ),
    "small": Size(
        name="small",
        endpoint_orders=100_000,
        endpoint_seconds=5,
        endpoint_rounds=3,
        tracker_orders=20_000,
        per_order_sample=1_000,
        trackers=(1, 2, 4),
        poll_small=1_000,
        poll_big=100_000,
        poll_runs=300,
        latency_samples=40,
        memory_orders=100_000,
        profile_orders=10_000,
        profile_requests=1_000,
        endpoint_diagnostics=True,
        lab_orders=3_000,
        import_submissions=20_000,
        idle_seconds=20.0,
    ),
    "full": Size(
        name="full",
        endpoint_orders=200_000,
        endpoint_seconds=8,
        endpoint_rounds=5,
        tracker_orders=100_000,
        per_order_sample=5_000,
        trackers=(1, 2, 4),
        poll_small=1_000,
        poll_big=1_000_000,
        poll_runs=1_000,
        latency_samples=100,
        memory_orders=1_000_000,
        profile_orders=30_000,
        profile_requests=3_000,
        endpoint_diagnostics=True,
        lab_orders=10_000,
        import_submissions=100_000,
        idle_seconds=60.0,
    ),
}
