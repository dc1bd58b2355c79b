"""`GET /metrics` in Prometheus's format (prometheus-client).

Counters and histograms are kept per process; under gunicorn, with PROMETHEUS_MULTIPROC_DIR
set (gunicorn.conf.py sets one up), each worker writes them to files there and a scrape adds up
every worker's, whichever worker answers it. What lives in the database (the queue, the
trackers' heartbeats, the rejections on record) is read from it at scrape time, so every worker
tells the same. The trackers' own figures (batch durations, orders completed and rejected by
code) are served by each tracker (TRACKER_METRICS_PORT, tracker.metrics).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterator

from flask import Blueprint, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from api.endpoints import Answer, endpoint
from api.errors import OURS
from api.runtime import runtime
from shared.db.engine import transaction
from shared.domain.clock import utcnow
from shared.metrics_facts import read_metric_facts

log = logging.getLogger(__name__)

REQUESTS = Counter(
    "rx_http_requests_total", "HTTP requests answered, by route and status", ["route", "status"]
)
LATENCY = Histogram(
    "rx_http_request_duration_seconds",
    "Time to answer an HTTP request, by route",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
COMPLETION_CALLS = Counter(
    "rx_completion_calls_total",
    "Completion calls answered by the API: accepted (201) or refused, by Rx-Universe code",
    ["outcome", "code"],
)

metrics = Blueprint("metrics", __name__)
# Routes that did not match are one label, so a scan of random paths cannot grow the series.
UNMATCHED = "unmatched"


def record_request(route: str, status: int, seconds: float) -> None:
    """Count and time one answered request (api.observability calls it for each)."""
    count, time_taken = _series(route, status)
    count()
    time_taken(seconds)


@functools.cache
def _series(route: str, status: int) -> tuple[Callable[[], None], Callable[[float], None]]:
    """The request counter's and the latency histogram's series for a route and status, looked
    up once: the routes are ours, the statuses few, so the cache stays small."""
    return REQUESTS.labels(route, str(status)).inc, LATENCY.labels(route).observe


def count_completion(refused_with: str | None = None) -> None:
    """Note a completion call's answer: accepted, or refused with Rx-Universe's code."""
    _completion_series(refused_with)()


@functools.cache
def _completion_series(refused_with: str | None) -> Callable[[], None]:
    if refused_with is None:
        return COMPLETION_CALLS.labels("accepted", "").inc
    return COMPLETION_CALLS.labels("refused", refused_with).inc


@endpoint(
    metrics,
    "GET",
    "/metrics",
    tag="Watching it (ours)",
    summary="Metrics, in Prometheus's text format",
    description=OURS + "requests by route and status, their latency, completion calls by "
    "outcome and code, the queue depth and the trackers' heartbeats (read from the database at "
    "each scrape; `rx_database_up` 0 when it did not answer). Under gunicorn, every worker's "
    "counters add up. Always open: no key, never faulted.",
    ok=Answer(200, "Every metric, in Prometheus's text format.", content_type=CONTENT_TYPE_LATEST),
)
def scrape() -> Response:
    """Every metric, in Prometheus's text format."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped in prometheus-client
    else:
        registry = CollectorRegistry()
        registry.register(_ThisProcess())
    registry.register(_DatabaseCollector(runtime().session_factory))
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


class _ThisProcess(Collector):
    """The process's own metrics, without a multiprocess directory (run_api: one process)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


class _DatabaseCollector(Collector):
    """What the database knows, read at scrape time: the queue depth and the heartbeats."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("rx_database_up", "1 if the database answered this scrape")
        try:
            with transaction(self.session_factory, write=False) as session:
                facts = read_metric_facts(session, utcnow())
        except SQLAlchemyError as error:
            log.warning("Metrics: the database is unavailable: %s", getattr(error, "orig", error))
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily(
            "rx_queue_depth", "Orders flagged and waiting for a tracker", value=facts.pending
        )
        yield GaugeMetricFamily(
            "rx_tracker_running", "1 if a tracker heartbeat is fresh", value=int(facts.running)
        )
        beat = GaugeMetricFamily(
            "rx_tracker_last_heartbeat_timestamp_seconds",
            "When a tracker last beat (Unix time), per tracker",
            labels=["tracker"],
        )
        for tracker_id, at in facts.heartbeats:
            beat.add_metric([tracker_id], at.timestamp())
        yield beat
