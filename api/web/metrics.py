"""`GET /metrics` in Prometheus's format (prometheus-client).

Counters and histograms are kept per process; under gunicorn, with PROMETHEUS_MULTIPROC_DIR
set (gunicorn.conf.py sets one up), each worker writes them to files there and a scrape adds up
every worker's, whichever worker answers it. What lives in the database (the queue, the
trackers' heartbeats, the rejections on record) is read from it at scrape time, so every worker
tells the same. The trackers' own figures (batch durations, orders completed and rejected by
code) are served by each tracker (TRACKER_METRICS_PORT, tracker.metrics).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

from flask import Blueprint, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from api.http.endpoints import Answer, endpoint
from api.http.errors import OURS
from api.http.runtime import runtime
from api.web import WATCH_TAG
from shared.db.engine import transaction
from shared.domain.clock import utcnow
from shared.monitoring.metrics import read_metric_facts

blueprint = Blueprint("metrics", __name__)

log = logging.getLogger(__name__)


@endpoint(
    blueprint,
    "GET",
    "/metrics",
    tag=WATCH_TAG,
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
        yield GaugeMetricFamily(
            "rx_import_queue_depth",
            "Submitted orders (202) waiting for the Remote Order Processor",
            value=facts.import_waiting,
        )
        yield GaugeMetricFamily(
            "rx_import_oldest_wait_seconds",
            "How long the oldest waiting submission has waited (0 when none waits)",
            value=facts.import_oldest_wait_seconds,
        )
        yield GaugeMetricFamily(
            "rx_import_paused",
            "1 while the Remote Order Processor is paused (POST /api/sim/processor/pause)",
            value=int(facts.import_paused),
        )
        beat = GaugeMetricFamily(
            "rx_tracker_last_heartbeat_timestamp_seconds",
            "When a tracker last beat (Unix time), per tracker",
            labels=["tracker"],
        )
        for tracker_id, at in facts.heartbeats:
            beat.add_metric([tracker_id], at.timestamp())
        yield beat
