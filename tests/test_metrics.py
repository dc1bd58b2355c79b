"""`GET /metrics`: requests by route and status, latency, completion answers by code, the queue
and the heartbeats; right under several gunicorn workers; the tracker's own figures."""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from freezegun import freeze_time
from helpers import create_ready_order, flag
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session, sessionmaker

import live
from tracker.jobs import TrackerConfig, beat, run_cycle

COMPLETE_ROUTE = "/api/v2/orders/<identifier:order_identifier>/complete"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client: FlaskClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    return parse(response.get_data(as_text=True))


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_are_counted_by_route_and_status_and_timed(client: FlaskClient) -> None:
    before = scrape(client)
    for number in range(3):
        client.post(f"/api/v2/orders/{number}/complete")
    client.get("/no/such/path")
    after = scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("rx_http_requests_total", route=COMPLETE_ROUTE, status="404") == 3
    assert moved("rx_http_requests_total", route="unmatched", status="404") == 1
    assert moved("rx_http_request_duration_seconds_count", route=COMPLETE_ROUTE) == 3
    assert moved("rx_http_request_duration_seconds_bucket", route=COMPLETE_ROUTE, le="+Inf") == 3
    assert moved("rx_completion_calls_total", outcome="refused", code="01") == 3


def test_accepted_completions_the_queue_and_the_heartbeat_are_shown(
    client: FlaskClient,
    session_factory: sessionmaker[Session],
    tracker_config: TrackerConfig,
) -> None:
    before = scrape(client)
    number = client.post("/api/sim/orders").get_json()["orderNumber"]
    client.post(f"/api/v2/orders/{number}/complete")
    at = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    beat(session_factory, tracker_config, at)
    after = scrape(client)
    accepted = value(after, "rx_completion_calls_total", outcome="accepted", code="")
    assert accepted - value(before, "rx_completion_calls_total", outcome="accepted", code="") == 1
    assert value(after, "rx_queue_depth") == 1
    assert value(after, "rx_database_up") == 1
    assert value(
        after, "rx_tracker_last_heartbeat_timestamp_seconds", tracker="test-tracker"
    ) == pytest.approx(at.timestamp())


def test_the_tracker_counts_its_batches_completions_and_rejections_by_code(
    client: FlaskClient,
    session_factory: sessionmaker[Session],
    tracker_config: TrackerConfig,
) -> None:
    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = (
        sample("rx_tracker_orders_completed_total"),
        sample("rx_tracker_orders_rejected_total", code="05"),
        sample("rx_tracker_batch_duration_seconds_count"),
    )
    ready = client.post("/api/sim/orders", json={"addons": ["BSC"], "stations": ["BSC"]})
    held = client.post("/api/sim/orders")
    for created in (ready, held):
        client.post(f"/api/v2/orders/{created.get_json()['orderNumber']}/complete")
    client.patch(f"/api/sim/orders/{held.get_json()['orderNumber']}", json={"onHold": True})
    run_cycle(session_factory, tracker_config)
    after = (
        sample("rx_tracker_orders_completed_total"),
        sample("rx_tracker_orders_rejected_total", code="05"),
        sample("rx_tracker_batch_duration_seconds_count"),
    )
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1]
    assert sample("rx_tracker_last_heartbeat_timestamp_seconds") > 0


SUBMISSION = {
    "customerJobId": "J",
    "customerNumber": "1001",
    "jobType": "F",
    "poNumber": "P",
    "rtLensStyle": "SV",
    "rtLensMaterial": "PC",
}


def test_the_import_queue_and_each_orders_wait_for_import_are_shown(
    client: FlaskClient,
    session_factory: sessionmaker[Session],
    tracker_config: TrackerConfig,
) -> None:
    def sample(name: str) -> float:
        return REGISTRY.get_sample_value(name) or 0.0

    client.post("/api/sim/processor/pause")
    with freeze_time("2026-12-07T09:00:00Z"):
        assert client.post("/api/v2/orders", json=SUBMISSION).status_code == 202
    with freeze_time("2026-12-07T09:00:03Z"):
        paused = scrape(client)
    assert value(paused, "rx_import_queue_depth") == 1
    assert value(paused, "rx_import_oldest_wait_seconds") == 3
    assert value(paused, "rx_import_paused") == 1

    before = (
        sample("rx_tracker_orders_imported_total"),
        sample("rx_tracker_import_wait_seconds_sum"),
    )
    client.post("/api/sim/processor/resume")
    with freeze_time("2026-12-07T09:00:04.5Z"):
        run_cycle(session_factory, tracker_config)
    after = (
        sample("rx_tracker_orders_imported_total"),
        sample("rx_tracker_import_wait_seconds_sum"),
    )
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 4.5]
    resumed = scrape(client)
    assert (value(resumed, "rx_import_queue_depth"), value(resumed, "rx_import_paused")) == (0, 0)


@pytest.mark.e2e
def test_counters_add_up_every_gunicorn_worker_whichever_answers_the_scrape(
    database_url: str, tmp_path: Path
) -> None:
    calls = 30
    with live.run_gunicorn(database_url, tmp_path, workers=2) as api:
        for number in range(calls):
            assert api.call("POST", f"/api/v2/orders/{number + 1}/complete")[0] == 404
        for _ in range(6):  # scrapes land on either worker
            with urllib.request.urlopen(api.base_url + "/metrics", timeout=10) as response:
                samples = parse(response.read().decode())
            assert value(samples, "rx_http_requests_total", route=COMPLETE_ROUTE, status="404") == (
                calls
            )
            assert value(samples, "rx_completion_calls_total", outcome="refused", code="01") == (
                calls
            )


@pytest.mark.e2e
def test_a_tracker_serves_its_metrics_on_tracker_metrics_port(
    database_url: str, tmp_path: Path
) -> None:
    port = live.free_port()
    with (
        live.run_api(database_url, tmp_path) as api,
        live.run_tracker(database_url, tmp_path, TRACKER_INTERVAL=0.2, TRACKER_METRICS_PORT=port),
    ):
        flag(api, create_ready_order(api))

        def completed_counted() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    samples = parse(r.read().decode())
            except OSError:
                return False
            return value(samples, "rx_tracker_orders_completed_total") == 1

        live.wait_until(completed_counted, 20, "the tracker to count the completion")
