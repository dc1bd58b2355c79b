"""The tracker's resident memory while it completes many orders: flat after warm-up, bounded."""

from __future__ import annotations

from dataclasses import dataclass

from bench.databases import Target, engine_for, fresh_database
from bench.processes import drain
from bench.seed import count_completed, seed_orders
from bench.sizes import Size
from bench.tracker import BATCH_SIZE

KIB_PER_MB = 1024


@dataclass(frozen=True)
class MemoryResult:
    """RSS samples of the drain, its peak, and the peak of the same tracker with nothing to do."""

    orders: int
    seconds: float  # the process's whole life
    drain_seconds: float  # the drain inside it, the window "flat after warm-up" looks at
    samples: list[tuple[float, int]]  # (seconds since start, KiB)
    peak_kib: int
    idle_peak_kib: int

    @property
    def peak_mb(self) -> float:
        """The figure: VmHWM, the most the process ever held in RAM."""
        return self.peak_kib / KIB_PER_MB

    @property
    def idle_peak_mb(self) -> float:
        """The baseline: a tracker that started, found nothing, and exited."""
        return self.idle_peak_kib / KIB_PER_MB

    def rss_mb_at(self, fraction: float) -> float:
        """RSS at this fraction of the drain (the nearest sample); start-up comes before it."""
        if not self.samples:
            return 0.0
        started = self.seconds - self.drain_seconds
        moment = started + self.drain_seconds * fraction
        nearest = min(self.samples, key=lambda sample: abs(sample[0] - moment))
        return nearest[1] / KIB_PER_MB


def measure(target: Target, size: Size) -> MemoryResult:
    """One `run_tracker.py --once` over `memory_orders` flagged orders, its RSS every 50 ms."""
    with fresh_database(target, "memory") as url:
        engine = engine_for(url)
        try:
            seed_orders(engine, size.memory_orders, flagged=True)
            run = drain(url, batch_size=BATCH_SIZE, sample_memory=True)
            done, _, flagged = count_completed(engine, "CMP")
            if (done, flagged) != (size.memory_orders, 0):
                raise RuntimeError(f"the drain completed {done}, left {flagged} flagged")
            idle = drain(url, batch_size=BATCH_SIZE, sample_memory=True)
        finally:
            engine.dispose()
    return MemoryResult(
        orders=size.memory_orders,
        seconds=run.seconds,
        drain_seconds=run.drain_seconds,
        samples=run.rss_samples,
        peak_kib=run.peak_kib,
        idle_peak_kib=idle.peak_kib,
    )
