"""The request journal: every /api/v2 call recorded (none refused for its key), on by default,
listed newest first, filtered, counted, emptied, bounded in rows and in characters, switchable,
shared by every API worker; written late while the database is busy, never dropped unseen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from freezegun import freeze_time
from helpers import assert_body
from prometheus_client.parser import text_string_to_metric_families

import live
from api.sim.journal import MAX_HEADERS_CHARS, WRITER
from shared.db.engine import make_engine
from shared.domain.clock import utcnow
from shared.sim.journal import Exchange

MakeClient = Callable[..., FlaskClient]
COMPLETE = "/api/v2/orders/42/complete"
COMPLETE_ROUTE = "/api/v2/orders/<identifier:order_identifier>/complete"
NOT_FOUND_BODY = (
    '{"error":"Could not complete order","details":'
    '["Error Code: 01","Error Message: Order not found"]}\n'
)


@pytest.fixture
def client(make_client: MakeClient) -> FlaskClient:
    """The API with its default settings: the journal on."""
    return make_client()


def listing(client: FlaskClient, query: str = "") -> list[dict[str, Any]]:
    response = client.get(f"/api/sim/requests{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["requests"]


def count(client: FlaskClient, query: str = "") -> int:
    response = client.get(f"/api/sim/requests/count{query}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["count"]


def test_a_call_is_recorded_with_its_request_and_answer_and_keys_masked(
    make_client: MakeClient,
) -> None:
    client = make_client(api_keys=("secret-key",), journal=True)
    with freeze_time("2026-11-27T17:26:21.123Z"):
        client.post(
            "/api/v2/orders/42/complete?dryRun=1",
            headers={"Authorization": "Bearer secret-key", "X-Request-ID": "r1"},
            data="hello",
            content_type="text/plain",
        )
    [entry] = listing(client)
    assert list(entry) == [
        "id",
        "time",
        "method",
        "path",
        "query",
        "headers",
        "body",
        "response",
        "durationMs",
        "fault",
    ]
    assert (entry["time"], entry["method"], entry["path"], entry["query"], entry["body"]) == (
        "2026-11-27T17:26:21.123Z",
        "POST",
        "/api/v2/orders/42/complete",
        "dryRun=1",
        "hello",
    )
    assert entry["headers"]["Authorization"] == "***"
    assert entry["headers"]["X-Request-Id"] == "r1"
    assert "secret-key" not in json.dumps(entry)
    assert entry["response"] == {"status": 404, "body": NOT_FOUND_BODY}
    assert entry["durationMs"] >= 0 and entry["fault"] is None


def refusals_counted(client: FlaskClient) -> float:
    """What /metrics counts of the completion call's 401s."""
    text = client.get("/metrics").get_data(as_text=True)
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "rx_http_requests_total"
        and sample.labels == {"route": COMPLETE_ROUTE, "status": "401"}
    )


def test_calls_anyone_may_send_never_push_the_authenticated_ones_out(
    make_client: MakeClient,
) -> None:
    """More calls refused for their key than the journal holds, preflights and reads of the open
    contract besides: the journal still holds what the key let in; /metrics counts the 401s."""
    client = make_client(
        api_keys=("secret-key",),
        journal=True,
        journal_size=3,
        cors_origins=("https://app.example",),
    )
    for number in (1, 2, 3):
        client.get(f"/api/v2/orders/{number}/status", headers={"X-API-Key": "secret-key"})
    counted = refusals_counted(client)
    for attempt in range(5):
        assert client.post(COMPLETE).status_code == 401
        assert client.post(COMPLETE, headers={"X-API-Key": f"guess-{attempt}"}).status_code == 401
        assert client.get("/api/v2/openapi.json").status_code == 200
        preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
        assert client.options(COMPLETE, headers=preflight).status_code == 204
    assert [e["path"] for e in listing(client)] == [
        "/api/v2/orders/3/status",
        "/api/v2/orders/2/status",
        "/api/v2/orders/1/status",
    ]
    assert refusals_counted(client) - counted == 10


def test_only_v2_calls_are_recorded(client: FlaskClient) -> None:
    client.post("/api/sim/orders")
    client.get("/api/sim/tracker")
    client.get("/healthz")
    assert count(client) == 0


def test_the_listing_is_newest_first_filtered_and_paged(client: FlaskClient) -> None:
    number = client.post("/api/sim/orders", json={"orderNumber": "33719"}).get_json()
    assert number["orderNumber"] == "33719"
    with freeze_time("2026-11-27T10:00:00Z"):
        client.get("/api/v2/orders/33719/status")
    with freeze_time("2026-11-27T11:00:00Z"):
        client.post("/api/v2/orders/33719/complete")
    with freeze_time("2026-11-27T12:00:00Z"):
        client.post("/api/v2/orders/1/complete")
    with freeze_time("2026-11-27T13:00:00Z"):
        client.get("/api/v2/orders/1/status")

    def paths(query: str) -> list[tuple[str, str]]:
        return [(e["method"], e["path"]) for e in listing(client, query)]

    assert paths("") == [
        ("GET", "/api/v2/orders/1/status"),
        ("POST", "/api/v2/orders/1/complete"),
        ("POST", "/api/v2/orders/33719/complete"),
        ("GET", "/api/v2/orders/33719/status"),
    ]
    assert paths("?method=post") == [
        ("POST", "/api/v2/orders/1/complete"),
        ("POST", "/api/v2/orders/33719/complete"),
    ]
    assert paths("?path=/api/v2/orders/33719/") == [
        ("POST", "/api/v2/orders/33719/complete"),
        ("GET", "/api/v2/orders/33719/status"),
    ]
    assert paths("?status=201") == [("POST", "/api/v2/orders/33719/complete")]
    assert paths("?since=2026-11-27T11:00:00Z") == paths("")[:3]
    assert paths("?since=2026-11-27T12:00:00%2B00:00") == paths("")[:2]
    assert paths("?limit=2&offset=1") == paths("")[1:3]
    assert count(client, "?method=POST&path=/api/v2/orders/33719/complete&status=201") == 1
    assert count(client, "?since=2026-11-27T12:30:00%2B00:00") == 1
    assert count(client) == 4


def test_an_instant_without_a_time_zone_is_refused(client: FlaskClient) -> None:
    response = client.get("/api/sim/requests?since=2026-11-27T12:00:00")
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "Invalid request",
        "details": ["since: Must have a time zone (Z or an offset such as +01:00)."],
    }


def test_a_path_prefix_is_literal_not_a_pattern(client: FlaskClient) -> None:
    client.get("/api/v2/orders/1/status")
    assert count(client, "?path=/api/v2/orders/_") == 0
    assert count(client, "?path=/api/v2/orders/%25") == 0
    assert count(client, "?path=/api/v2/orders/1") == 1


@pytest.mark.parametrize(
    ("query", "details"),
    [
        ("?status=abc", ["status: Not a valid integer."]),
        ("?limit=0", ["limit: Must be greater than or equal to 1 and less than or equal to 1000."]),
        (
            "?since=yesterday",
            ["since: Must be a date and time with its time zone, e.g. 2026-11-27T08:00:00Z."],
        ),
        ("?order=asc", ["order: Unknown field."]),
    ],
)
def test_a_bad_filter_answers_400_naming_it(
    client: FlaskClient, query: str, details: list[str]
) -> None:
    assert_body(
        client.get(f"/api/sim/requests{query}"),
        400,
        {"error": "Invalid request", "details": details},
    )


def test_delete_empties_the_journal(client: FlaskClient) -> None:
    client.get("/api/v2/orders/1/status")
    client.get("/api/v2/orders/2/status")
    assert_body(
        client.delete("/api/sim/requests"), 200, {"message": "Successful", "requestsDeleted": 2}
    )
    assert count(client) == 0
    client.get("/api/v2/orders/3/status")
    assert [e["path"] for e in listing(client)] == ["/api/v2/orders/3/status"]


def test_the_journal_keeps_the_newest_journal_size_entries(make_client: MakeClient) -> None:
    client = make_client(journal=True, journal_size=3)
    for number in range(1, 6):
        client.get(f"/api/v2/orders/{number}/status")
    assert [e["path"] for e in listing(client)] == [
        "/api/v2/orders/5/status",
        "/api/v2/orders/4/status",
        "/api/v2/orders/3/status",
    ]


def test_the_journal_is_on_by_default(make_client: MakeClient) -> None:
    client = make_client()
    client.get("/api/v2/orders/1/status")
    assert [(e["method"], e["path"]) for e in listing(client)] == [
        ("GET", "/api/v2/orders/1/status")
    ]


def test_with_the_journal_off_nothing_new_is_recorded(make_client: MakeClient) -> None:
    recording = make_client()
    recording.get("/api/v2/orders/1/status")
    assert count(recording) == 1
    client = make_client(journal=False)
    client.get("/api/v2/orders/2/status")
    assert [e["path"] for e in listing(client)] == ["/api/v2/orders/1/status"]


def test_rows_never_exceed_journal_size_over_many_batches(make_client: MakeClient) -> None:
    client = make_client(journal_size=7)
    for round_number in range(3):
        with ThreadPoolExecutor(4) as pool:
            statuses = pool.map(
                lambda n: client.get(f"/api/v2/orders/{n}/status").status_code,
                range(round_number * 20, round_number * 20 + 20),
            )
            assert set(statuses) == {404}
        assert count(client) == 7
    ids = [e["id"] for e in listing(client)]
    assert ids == list(range(ids[0], ids[0] - 7, -1))  # the newest seven


def metric(client: FlaskClient, name: str, **labels: str) -> float:
    """A sample of /metrics, 0 if absent."""
    text = client.get("/metrics").get_data(as_text=True)
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and sample.labels == labels
    )


@contextmanager
def journal_locked(database_url: str) -> Iterator[None]:
    """Another connection holding the lock the journal's writes need: SQLite's one write lock
    (BEGIN IMMEDIATE), or on PostgreSQL the journal table's, in EXCLUSIVE mode (reads go on)."""
    engine = make_engine(database_url, timeout=30)
    try:
        # make_engine's transactions take SQLite's write lock as they begin (BEGIN IMMEDIATE).
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.exec_driver_sql("LOCK TABLE request_journal IN EXCLUSIVE MODE")
            yield
    finally:
        engine.dispose()


def impatient_client(make_client: MakeClient, **changes: Any) -> FlaskClient:
    """A client whose app gives up on a lock after 0.2 s, so its writer retries soon. The schema
    is made first by an app with the usual timeout: on PostgreSQL a migration's transaction may
    sit idle for longer than 0.2 s on a busy machine, and the server would end it."""
    make_client()
    return make_client(database_timeout=0.2, **changes)


def test_an_entry_recorded_while_the_journal_is_locked_is_written_once_the_lock_is_gone(
    make_client: MakeClient, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The writer's attempts time out (DATABASE_TIMEOUT) while the lock is held, and it tries
    again: the entry waits, counted in rx_journal_waiting, and none is dropped."""
    client = impatient_client(make_client)
    dropped = metric(client, "rx_journal_dropped_total", reason="full")
    with journal_locked(database_url):
        assert client.get("/api/v2/orders/1/status").status_code == 404
        live.wait_until(
            lambda: "busy or unavailable, retrying" in caplog.text or None,
            timeout=10,
            what="the writer to find the journal locked",
        )
        assert metric(client, "rx_journal_waiting") >= 1
    live.wait_until(lambda: count(client) == 1 or None, timeout=10, what="the entry written")
    assert [e["path"] for e in listing(client)] == ["/api/v2/orders/1/status"]
    assert metric(client, "rx_journal_dropped_total", reason="full") == dropped


def test_a_full_buffer_drops_new_entries_and_counts_them_in_metrics(
    make_client: MakeClient, database_url: str
) -> None:
    client = impatient_client(make_client, journal_buffer=2)
    dropped = metric(client, "rx_journal_dropped_total", reason="full")
    with journal_locked(database_url):
        for number in range(1, 6):
            assert client.get(f"/api/v2/orders/{number}/status").status_code == 404
        assert metric(client, "rx_journal_dropped_total", reason="full") - dropped == 3
    live.wait_until(lambda: count(client) == 2 or None, timeout=10, what="the kept two written")
    assert [e["path"] for e in listing(client)] == [
        "/api/v2/orders/2/status",
        "/api/v2/orders/1/status",
    ]


def test_an_entry_that_cannot_be_stored_is_dropped_alone_and_counted(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """One entry the write refuses (here one whose time is no time) does not take the rest of
    its batch with it."""
    client = make_client()
    writer = client.application.extensions[WRITER]
    dropped = metric(client, "rx_journal_dropped_total", reason="unstorable")
    good = Exchange(utcnow(), "GET", "/api/v2/orders/1/status", "", "{}", "", 404, "", 1.0)
    writer.submit(good)
    writer.submit(good._replace(recorded_at="yesterday", path="/api/v2/orders/2/status"))
    writer.submit(good._replace(path="/api/v2/orders/3/status"))
    assert [e["path"] for e in listing(client)] == [
        "/api/v2/orders/3/status",
        "/api/v2/orders/1/status",
    ]
    assert metric(client, "rx_journal_dropped_total", reason="unstorable") - dropped == 1
    assert "the entry of GET /api/v2/orders/2/status could not be stored" in caplog.text


def test_a_clear_is_not_followed_by_entries_of_calls_made_before_it(client: FlaskClient) -> None:
    for number in range(1, 21):
        client.get(f"/api/v2/orders/{number}/status")
    cleared = client.delete("/api/sim/requests").get_json()
    assert cleared == {"message": "Successful", "requestsDeleted": 20}
    time.sleep(0.2)  # past the writer's gathering time (LINGER): anything late would be in
    assert count(client) == 0


EXITING = """
import sys
from api.app import create_app
from api.sim.journal import WRITER
from config.settings import Settings

app = create_app(Settings(database_url=sys.argv[1]))
app.extensions[WRITER].linger = 30.0  # the writer would still be gathering at exit
client = app.test_client()
for number in (1, 2, 3):
    client.get(f"/api/v2/orders/{number}/status")
"""


def test_a_process_that_exits_writes_its_entries_first(
    make_client: MakeClient, database_url: str
) -> None:
    subprocess.run(
        [sys.executable, "-c", EXITING, database_url],
        check=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert [e["path"] for e in listing(make_client())] == [
        "/api/v2/orders/3/status",
        "/api/v2/orders/2/status",
        "/api/v2/orders/1/status",
    ]


def test_headers_are_cut_to_their_bound_and_stay_an_object(client: FlaskClient) -> None:
    many = {f"X-Filler-{n}": "f" * 2000 for n in range(12)}
    client.get("/api/v2/orders/1/status", headers={"X-Huge": "h" * 100_000, **many})
    [entry] = listing(client)
    stored = json.dumps(entry["headers"])
    assert len(stored) <= MAX_HEADERS_CHARS
    assert entry["headers"]["X-Huge"].startswith("hhh")
    assert entry["headers"]["X-Huge"].endswith(" more characters)")
    assert entry["headers"]["(cut)"] == "12 more headers not kept"
    assert entry["headers"]["Host"] == "localhost"


def test_a_path_and_a_query_beyond_their_bound_are_cut_with_a_note(client: FlaskClient) -> None:
    identifier = "9" * 20_000
    client.get(f"/api/v2/orders/{identifier}/status?x={'q' * 20_000}")
    [entry] = listing(client)
    assert entry["path"] == (
        f"{('/api/v2/orders/' + identifier)[: 16 * 1024]}... "
        f"({len('/api/v2/orders//status') + 20_000 - 16 * 1024} more characters)"
    )
    assert entry["query"].endswith(f"... ({20_002 - 16 * 1024} more characters)")


@pytest.mark.e2e
def test_two_gunicorn_workers_write_to_and_read_from_one_journal(
    database_url: str, tmp_path: Path
) -> None:
    with live.run_gunicorn(database_url, tmp_path, workers=2, JOURNAL="on") as api:
        assert api.call("DELETE", "/api/sim/requests")[0] == 200
        calls = 40

        def complete(number: int) -> int:
            return api.call("POST", f"/api/v2/orders/{number}/complete")[0]

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(complete, range(1, calls + 1))) == {404}
        # Each worker answers from the same table, whichever serves the read, once the other
        # worker's writer has written its entries (a read waits for its own worker's only).
        for _ in range(4):
            live.wait_until(
                lambda: (
                    api.call("GET", "/api/sim/requests/count?method=POST")
                    == (200, {"count": calls})
                    or None
                ),
                timeout=10,
                what="every call written",
            )
        status, body = api.call("GET", "/api/sim/requests?limit=1000")
        assert status == 200
        assert sorted(e["path"] for e in body["requests"]) == sorted(
            f"/api/v2/orders/{n}/complete" for n in range(1, calls + 1)
        )


@pytest.mark.parametrize(
    ("query", "details"),
    [
        ("?path=/api%00", ["path: Must not contain a NUL character."]),
        ("?method=P%00ST", ["method: Must not contain a NUL character."]),
        (
            "?since=0001-01-01T00:00:00%2B01:00",
            ["since: Must be within the years 1 to 9999 in UTC."],
        ),
        (
            "?offset=9223372036854775808",
            [
                "offset: Must be greater than or equal to 0 and less than or equal to "
                "9223372036854775807."
            ],
        ),
    ],
)
def test_a_filter_no_database_could_take_answers_400_not_500(
    client: FlaskClient, query: str, details: list[str]
) -> None:
    assert_body(
        client.get(f"/api/sim/requests{query}"),
        400,
        {"error": "Invalid request", "details": details},
    )


@pytest.mark.e2e
def test_under_gunicorn_drops_add_up_in_metrics_whichever_worker_answers(
    database_url: str, tmp_path: Path
) -> None:
    with live.run_gunicorn(
        database_url, tmp_path, workers=2, JOURNAL_BUFFER=1, DATABASE_TIMEOUT=0.2
    ) as api:
        with journal_locked(database_url):
            statuses = [api.call("GET", f"/api/v2/orders/{n}/status")[0] for n in range(1, 21)]
            assert set(statuses) == {404}

            def dropped() -> float:
                with urllib.request.urlopen(api.base_url + "/metrics", timeout=10) as response:
                    text = response.read().decode()
                return sum(
                    sample.value
                    for family in text_string_to_metric_families(text)
                    for sample in family.samples
                    if sample.name == "rx_journal_dropped_total"
                    and sample.labels == {"reason": "full"}
                )

            # Each worker keeps one entry; every other call is counted, in either worker.
            kept = 20 - dropped()
            assert 1 <= kept <= 2
            assert all(dropped() == 20 - kept for _ in range(4))
        live.wait_until(
            lambda: api.call("GET", "/api/sim/requests/count")[1] == {"count": kept} or None,
            timeout=10,
            what="the kept entries written",
        )
