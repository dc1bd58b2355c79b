"""The request journal: every /api/v2 call recorded (none refused for its key), listed newest
first, filtered, counted, emptied, bounded, switchable, and shared by every API worker."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from freezegun import freeze_time
from helpers import assert_body
from prometheus_client.parser import text_string_to_metric_families

import live

MakeClient = Callable[..., FlaskClient]
COMPLETE = "/api/v2/orders/42/complete"
COMPLETE_ROUTE = "/api/v2/orders/<identifier:order_identifier>/complete"
NOT_FOUND_BODY = (
    '{"error":"Could not complete order","details":'
    '["Error Code: 01","Error Message: Order not found"]}\n'
)


@pytest.fixture
def client(make_client: MakeClient) -> FlaskClient:
    """The API with the journal on (it is off by default)."""
    return make_client(journal=True)


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


def test_with_the_journal_off_the_default_nothing_is_recorded(make_client: MakeClient) -> None:
    for client in (make_client(), make_client(journal=False)):
        client.get("/api/v2/orders/1/status")
        assert count(client) == 0


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
        # Each worker answers from the same table, whichever serves the read.
        for _ in range(4):
            assert api.call("GET", "/api/sim/requests/count?method=POST") == (
                200,
                {"count": calls},
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
