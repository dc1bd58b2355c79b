"""The connection budget: the largest deployment docs/deploying.md shows (gunicorn's workers and
its trackers) holds, under load, no more PostgreSQL connections than the sum that page states,
counted by the server itself (pg_stat_activity)."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import psycopg
import pytest
from helpers import application_name, with_application_name
from sqlalchemy import make_url

import live
from config.settings import PROJECT_ROOT, Settings
from run_tracker import TRACKER_POOL_SIZE

DEPLOYING = PROJECT_ROOT / "docs" / "deploying.md"
# Each tracker keeps its pool and one connection of its own that LISTENs for the wake-up.
PER_TRACKER = TRACKER_POOL_SIZE + 1
CLIENTS = 48
ROUNDS = 12
SAMPLE_EVERY = 0.02
DRAIN_TIMEOUT = 30.0
# docs/deploying.md's PostgreSQL recipe and the sum it states.
GUNICORN_LINE = re.compile(r"-m gunicorn -c gunicorn\.conf\.py -w (\d+) ")
TRACKER_LINE = re.compile(r"^\.venv/bin/python run_tracker\.py &", re.MULTILINE)
# The page writes products with the multiplication sign, U+00D7.
STATED_SUM = re.compile(
    r"(\d+) workers and (\d+) trackers, needs"
    r" (\d+) \u00d7 2 \u00d7 (\d+) \+ (\d+) \u00d7 (\d+) = \*\*(\d+)\*\*"
)


def budget(workers: int, trackers: int, pool_size: int) -> int:
    """docs/deploying.md's formula: two pools a worker, a pool and a listener a tracker."""
    return workers * 2 * pool_size + trackers * PER_TRACKER


def documented_deployment() -> tuple[int, int, int]:
    """The workers and trackers of the page's recipe, and the sum it states for them."""
    text = DEPLOYING.read_text()
    recipe = text.split("## PostgreSQL, several API workers and trackers", 1)[1].split("```")[1]
    workers = GUNICORN_LINE.search(recipe)
    stated = STATED_SUM.search(text.replace("\n", " "))
    assert workers is not None and stated is not None
    return int(workers.group(1)), len(TRACKER_LINE.findall(recipe)), int(stated.group(7))


@pytest.mark.database_free
def test_the_deploying_page_states_the_connection_budget_of_its_own_recipe() -> None:
    workers, trackers, stated = documented_deployment()
    default_pool_size = Settings().database_pool_size
    assert (workers, trackers) == (4, 2)
    assert stated == budget(workers, trackers, default_pool_size)
    # "Well within" PostgreSQL's default max_connections of 100, less its 3 reserved.
    assert stated <= 97 // 2
    numbers = STATED_SUM.search(DEPLOYING.read_text().replace("\n", " "))
    assert numbers is not None
    assert [int(n) for n in numbers.groups()[:6]] == [
        workers,
        trackers,
        workers,
        default_pool_size,
        trackers,
        PER_TRACKER,
    ]


class ConnectionCount:
    """The server's count of the connections named `application_name`, sampled until stopped;
    its highest."""

    def __init__(self, database_url: str, application_name: str) -> None:
        url = make_url(database_url).set(drivername="postgresql", query={})
        self.conninfo = url.render_as_string(hide_password=False)
        self.application_name = application_name
        self.highest = 0
        self.samples = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="connection-count")

    def __enter__(self) -> ConnectionCount:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join(10)

    def now(self) -> int:
        with psycopg.connect(self.conninfo, autocommit=True) as connection:
            return self._count(connection)

    def _count(self, connection: psycopg.Connection[tuple[int]]) -> int:
        query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
        row = connection.execute(query, (self.application_name,)).fetchone()
        assert row is not None
        return int(row[0])

    def _run(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as connection:
            while not self.stopping.is_set():
                self.highest = max(self.highest, self._count(connection))
                self.samples += 1
                time.sleep(SAMPLE_EVERY)


SUBMISSION = {
    "customerJobId": "JOB-1",
    "customerNumber": "1001",
    "jobType": "F",
    "rtLensStyle": "SV",
    "rtLensMaterial": "PC",
    "ltLensStyle": "SV",
    "ltLensMaterial": "PC",
    "rtSphere": -2.25,
    "ltSphere": -2.0,
    "addons": ["BSC"],
}


def a_client_day(api: live.Api, client: int) -> Counter[tuple[str, int]]:
    """ROUNDS of what a lab's clients do, on both of each worker's pools: create and read an
    order (transactions), flag it and read its status (the completion call's pool), submit one."""
    answers: Counter[tuple[str, int]] = Counter()
    for round_ in range(ROUNDS):
        status, body = api.call("POST", "/api/sim/orders", {"addons": ["BSC"], "stations": ["BSC"]})
        answers["create", status] += 1
        if status != 201:
            continue
        number = body["orderNumber"]
        calls = [
            ("POST", f"/api/v2/orders/{number}/complete", None),
            ("GET", f"/api/v2/orders/{number}/status", None),
            ("GET", f"/api/v2/orders/{number}/history", None),
            ("POST", "/api/v2/orders", {**SUBMISSION, "poNumber": f"PO-{client}-{round_}"}),
        ]
        for method, path, payload in calls:
            status, _ = api.call(method, path, payload, timeout=30)
            answers[f"{method} {path.rsplit('/', 1)[-1]}", status] += 1
    return answers


@pytest.mark.e2e
def test_the_largest_documented_deployment_under_load_stays_within_its_connection_budget(
    postgresql_url: str, tmp_path: Path
) -> None:
    workers, trackers, stated = documented_deployment()
    name = application_name()
    named_url = with_application_name(postgresql_url, name)
    with ExitStack() as deployment:
        api = deployment.enter_context(live.run_gunicorn(named_url, tmp_path, workers=workers))
        for number in range(trackers):
            log_dir = tmp_path / f"tracker-{number}"
            log_dir.mkdir()
            deployment.enter_context(live.run_tracker(named_url, log_dir, TRACKER_INTERVAL=0.1))
        count = deployment.enter_context(ConnectionCount(postgresql_url, name))
        with ThreadPoolExecutor(CLIENTS) as clients:
            days = list(clients.map(lambda client: a_client_day(api, client), range(CLIENTS)))
        live.wait_until(
            lambda: api.call("GET", "/api/sim/tracker")[1]["pending"] == 0,
            DRAIN_TIMEOUT,
            "the trackers to drain the queue",
        )
        after_the_load = count.now()

    answers = sum(days, Counter())
    assert {status for (_, status) in answers} <= {200, 201, 202}, answers
    assert sum(answers.values()) == CLIENTS * ROUNDS * 5
    report = f"highest {count.highest} of {stated} over {count.samples} samples"
    assert count.samples > 10, report
    assert count.highest <= stated, report
    # The load reached every process: each worker keeps what it used, each tracker its two.
    assert after_the_load >= workers + trackers * PER_TRACKER, report
    print(f"connections: {report}, {after_the_load} kept after the load")
