"""The tracker's own metrics, served on TRACKER_METRICS_PORT when set (prometheus-client)."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram

from shared.orders.batch import BatchOutcome
from shared.orders.submissions import ImportOutcome

BATCH_SECONDS = Histogram(
    "rx_tracker_batch_duration_seconds",
    "Time to verify and write one batch that took any order",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
COMPLETED = Counter("rx_tracker_orders_completed_total", "Orders the tracker completed")
REJECTED = Counter(
    "rx_tracker_orders_rejected_total", "Orders the tracker rejected, by code", ["code"]
)
IMPORTED = Counter(
    "rx_tracker_orders_imported_total", "Submitted orders the tracker imported (the processor)"
)
IMPORT_WAIT = Histogram(
    "rx_tracker_import_wait_seconds",
    "Time from a submission's 202 to its import, per imported order",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
LAST_HEARTBEAT = Gauge(
    "rx_tracker_last_heartbeat_timestamp_seconds", "When this tracker last beat (Unix time)"
)


def observe_batch(outcome: BatchOutcome, seconds: float) -> None:
    """Count a batch's orders and time it."""
    BATCH_SECONDS.observe(seconds)
    COMPLETED.inc(len(outcome.completed))
    for rejection in outcome.rejected:
        REJECTED.labels(rejection.code).inc()


def observe_import(outcome: ImportOutcome) -> None:
    """Count an import batch's orders and how long each waited."""
    IMPORTED.inc(len(outcome.imported))
    for seconds in outcome.waited:
        IMPORT_WAIT.observe(seconds)


def observe_heartbeat(now: datetime) -> None:
    LAST_HEARTBEAT.set(now.timestamp())
