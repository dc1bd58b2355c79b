"""Access: API keys on /api/v2, the admin key on /api/sim, SIM_API=off, CORS for browsers, and
the simulator's writes kept from other sites' pages."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from helpers import assert_body

from api.app import SIM_BLUEPRINTS
from api.http.endpoints import declared
from config.settings import Settings

UNAUTHORIZED = {"error": "Unauthorized", "details": ["A valid API key is required"]}
ADMIN_REQUIRED = {"error": "Unauthorized", "details": ["A valid simulator admin key is required"]}
NOT_FOUND = {
    "error": "Could not complete order",
    "details": ["Error Code: 01", "Error Message: Order not found"],
}
COMPLETE = "/api/v2/orders/424242/complete"

MakeClient = Callable[..., FlaskClient]


def test_with_no_keys_set_the_api_is_open_as_rx_universe_is(client: FlaskClient) -> None:
    assert_body(client.post(COMPLETE), 404, NOT_FOUND)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"X-API-Key": "wrong"},
        {"Authorization": "Bearer key-on"},  # a prefix of a real key
        {"Authorization": "Basic key-one"},  # the key, but not as a bearer token
        {"Authorization": "Bearer "},
        {"X-API-Key": "key-one "},
    ],
    ids=["none", "wrong-bearer", "wrong-x-api-key", "prefix", "basic", "empty-bearer", "space"],
)
def test_a_v2_call_without_a_valid_key_answers_401_the_same_whatever_was_tried(
    make_client: MakeClient, headers: dict[str, str]
) -> None:
    client = make_client(api_keys=("key-one", "key-two"))
    response = client.post(COMPLETE, headers=headers)
    assert_body(response, 401, UNAUTHORIZED)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="rx-jobtracker"'
    assert_body(client.get("/api/v2/orders/424242/status", headers=headers), 401, UNAUTHORIZED)


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer key-one"},
        {"Authorization": "bearer key-two"},
        {"X-API-Key": "key-two"},
        {"Authorization": "Basic abc", "X-API-Key": "key-one"},
    ],
    ids=["bearer", "bearer-lowercase", "x-api-key", "x-api-key-beside-other-auth"],
)
def test_a_v2_call_with_any_listed_key_in_either_header_gets_its_answer(
    make_client: MakeClient, headers: dict[str, str]
) -> None:
    client = make_client(api_keys=("key-one", "key-two"))
    assert_body(client.post(COMPLETE, headers=headers), 404, NOT_FOUND)


def test_api_keys_do_not_guard_the_simulator_api(make_client: MakeClient) -> None:
    client = make_client(api_keys=("key-one",))
    assert client.post("/api/sim/orders").status_code == 201


def test_keys_are_read_from_a_file_given_as_at_path(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text("# integrators\nalpha\n\n  beta  \n")
    settings = Settings.load({"API_KEYS": f"@{key_file}"}, env_file=None)
    assert settings.api_keys == ("alpha", "beta")
    assert "alpha" not in repr(settings)  # keys never reach a log through the settings


def test_a_missing_key_file_stops_the_processes_naming_it(tmp_path: Path) -> None:
    from config.settings import SettingsError

    with pytest.raises(SettingsError, match=r"API_KEYS='@.*nope': Cannot read key file .*nope"):
        Settings.load({"API_KEYS": f"@{tmp_path / 'nope'}"}, env_file=None)


def test_a_key_from_a_file_opens_the_api(make_client: MakeClient, tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text("alpha\nbeta\n")
    keys = Settings.load({"API_KEYS": f"@{key_file}"}, env_file=None).api_keys
    client = make_client(api_keys=keys)
    assert_body(client.post(COMPLETE, headers={"X-API-Key": "beta"}), 404, NOT_FOUND)
    assert_body(client.post(COMPLETE, headers={"X-API-Key": "gamma"}), 401, UNAUTHORIZED)


def test_the_simulator_api_needs_the_admin_key_when_one_is_set(make_client: MakeClient) -> None:
    client = make_client(api_keys=("key-one",), sim_admin_key="admin")
    for headers in ({}, {"X-API-Key": "key-one"}, {"Authorization": "Bearer wrong"}):
        response = client.post("/api/sim/reset", headers=headers)
        assert_body(response, 401, ADMIN_REQUIRED)
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="rx-jobtracker"'
    for headers in ({"Authorization": "Bearer admin"}, {"X-API-Key": "admin"}):
        assert_body(
            client.post("/api/sim/reset", headers=headers),
            200,
            {"message": "Successful", "ordersDeleted": 0},
        )
    # The admin key is not an API key.
    assert_body(client.post(COMPLETE, headers={"X-API-Key": "admin"}), 401, UNAUTHORIZED)


def test_whether_a_tracker_runs_stays_readable_without_the_admin_key(
    make_client: MakeClient,
) -> None:
    client = make_client(sim_admin_key="admin")
    assert client.get("/api/sim/tracker").status_code == 200


def test_with_the_simulator_api_off_its_routes_are_not_there(make_client: MakeClient) -> None:
    client = make_client(sim_api=False)
    for method, path in (("POST", "/api/sim/reset"), ("GET", "/api/sim/tracker")):
        assert_body(
            client.open(path, method=method),
            404,
            {"error": "Not found", "details": [f"No endpoint for {method} {path}"]},
        )
    assert_body(client.post(COMPLETE), 404, NOT_FOUND)


def test_a_preflight_from_a_listed_origin_is_allowed_without_a_key(
    make_client: MakeClient,
) -> None:
    client = make_client(cors_origins=("https://app.example",), api_keys=("key-one",))
    response = client.options(
        COMPLETE,
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, x-api-key, content-type",
        },
    )
    assert (response.status_code, response.get_data()) == (204, b"")
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
    allowed = response.headers["Access-Control-Allow-Methods"].split(", ")
    assert sorted(allowed) == ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
    headers = response.headers["Access-Control-Allow-Headers"].lower().split(", ")
    assert sorted(headers) == ["authorization", "content-type", "x-api-key"]

    answer = client.post(
        COMPLETE, headers={"Origin": "https://app.example", "X-API-Key": "key-one"}
    )
    assert_body(answer, 404, NOT_FOUND)
    assert answer.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "X-Request-ID" in answer.headers["Access-Control-Expose-Headers"]


def test_an_origin_not_listed_gets_no_cors_headers(make_client: MakeClient) -> None:
    client = make_client(cors_origins=("https://app.example",))
    response = client.options(
        COMPLETE,
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in response.headers
    answer = client.post(COMPLETE, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_with_no_cors_origins_no_cors_header_is_ever_sent(client: FlaskClient) -> None:
    answer = client.post(COMPLETE, headers={"Origin": "https://app.example"})
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_cors_origins_star_allows_any_origin(make_client: MakeClient) -> None:
    client = make_client(cors_origins=("*",))
    answer = client.post(COMPLETE, headers={"Origin": "https://anyone.example"})
    assert answer.headers["Access-Control-Allow-Origin"] == "*"


def preflight(client: FlaskClient, path: str, method: str, origin: str) -> Any:
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type",
        },
    )


def test_a_listed_origin_may_upload_a_snapshot_from_a_browser(make_client: MakeClient) -> None:
    """The snapshot upload is a PUT: its preflight allows it, and its answer can be read."""
    client = make_client(cors_origins=("https://app.example",))
    response = preflight(client, "/api/sim/snapshot", "PUT", "https://app.example")
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "PUT" in response.headers["Access-Control-Allow-Methods"].split(", ")
    snapshot = client.get("/api/sim/snapshot").get_json()
    answer = client.put(
        "/api/sim/snapshot", json=snapshot, headers={"Origin": "https://app.example"}
    )
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == "https://app.example"


def test_cors_origins_star_never_covers_a_simulator_write(make_client: MakeClient) -> None:
    client = make_client(cors_origins=("*",))
    anyone = "https://anyone.example"
    for method, path in (("PUT", "/api/sim/snapshot"), ("POST", "/api/sim/reset")):
        response = preflight(client, path, method, anyone)
        assert "Access-Control-Allow-Methods" not in response.headers, method
    written = client.post("/api/sim/reset", headers={"Origin": anyone})
    assert written.status_code == 403  # and, had it got through, unreadable:
    assert not [h for h, _ in written.headers.items() if h.startswith("Access-Control-")]
    # Reads of the simulator, and the v2 API, stay open to any origin.
    read = client.get("/api/sim/tracker", headers={"Origin": anyone})
    assert read.headers["Access-Control-Allow-Origin"] == "*"
    response = preflight(client, COMPLETE, "POST", anyone)
    assert "POST" in response.headers["Access-Control-Allow-Methods"].split(", ")


def test_the_settings_read_every_access_setting() -> None:
    settings = Settings.load(
        {
            "API_KEYS": "a, b",
            "SIM_ADMIN_KEY": "admin",
            "SIM_API": "off",
            "CORS_ORIGINS": "https://app.example/, http://localhost:3000",
        },
        env_file=None,
    )
    assert (settings.api_keys, settings.sim_admin_key, settings.sim_api) == (
        ("a", "b"),
        "admin",
        False,
    )
    assert settings.cors_origins == ("https://app.example", "http://localhost:3000")


# ---- Simulator writes and other sites' pages (CSRF), with no SIM_ADMIN_KEY ----

# Every simulator write, a path parameter as "1": the guard answers before any view.
SIM_WRITES = sorted(
    (declaration.method.upper(), re.sub(r"\{[^}]+\}", "1", declaration.path))
    for blueprint in SIM_BLUEPRINTS
    for declaration in declared(blueprint)
    if declaration.method in ("post", "put", "patch", "delete")
)
ELSEWHERE = "http://elsewhere.example"


def not_json(mimetype: str) -> dict[str, Any]:
    return {
        "error": "Unsupported media type",
        "details": [f"Content-Type: a simulator write takes application/json, not {mimetype!r}"],
    }


def from_elsewhere(origin: str) -> dict[str, Any]:
    return {
        "error": "Forbidden",
        "details": [
            f"Origin: a simulator write from a page on {origin!r} must send "
            "Content-Type: application/json"
        ],
    }


@pytest.mark.database_free
def test_a_simulator_write_whose_body_is_not_json_answers_415(client: FlaskClient) -> None:
    """What a cross-site form or a no-cors fetch can send, from anywhere, Origin or not."""
    assert len(SIM_WRITES) == 12  # every one, reset included
    for method, path in SIM_WRITES:
        for content_type in (
            "text/plain;charset=UTF-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ):
            response = client.open(
                path, method=method, data='{"orderNumber": "1"}', content_type=content_type
            )
            assert_body(response, 415, not_json(content_type.partition(";")[0]))
            assert response.headers["Accept"] == "application/json"


@pytest.mark.database_free
def test_a_simulator_write_without_a_content_type_from_another_origin_answers_403(
    client: FlaskClient,
) -> None:
    """What a cross-site fetch in no-cors mode sends with no body, or with a Blob of no type."""
    for method, path in SIM_WRITES:
        for body in (b"", b'{"orderNumber": "1"}'):
            response = client.open(path, method=method, data=body, headers={"Origin": ELSEWHERE})
            assert_body(response, 403, from_elsewhere(ELSEWHERE))


def test_a_form_or_a_foreign_page_cannot_reset_the_lab(client: FlaskClient) -> None:
    client.post("/api/sim/orders", json={"orderNumber": "33719"})
    attempts = [
        {"data": {"a": "b"}},  # a form, urlencoded
        {"data": "{}", "content_type": "text/plain"},
        {"headers": {"Origin": ELSEWHERE}},
        {"headers": {"Origin": "null"}},  # a sandboxed page, or a data: URL
        {"headers": {"Origin": "http://localhost:8000"}},  # this host, another port
    ]
    for attempt in attempts:
        assert client.post("/api/sim/reset", **attempt).status_code in (403, 415), attempt
    assert client.get("/api/v2/orders/33719/status").status_code == 200


def test_curl_this_servers_own_pages_listed_origins_and_json_still_write(
    make_client: MakeClient,
) -> None:
    """No Origin (curl, scripts, the lab), this server's own pages, CORS_ORIGINS, JSON."""
    client = make_client(cors_origins=("https://app.example",))
    reset = {"message": "Successful", "ordersDeleted": 0}
    for headers in (
        {},
        {"Origin": "http://localhost"},  # the test client's own host
        {"Origin": "https://localhost"},  # behind a proxy that ends TLS
        {"Origin": "https://app.example"},
    ):
        assert_body(client.post("/api/sim/reset", headers=headers), 200, reset)
    for content_type in (
        "application/json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "application/merge-patch+json",
    ):
        response = client.post(
            "/api/sim/orders",
            data="{}",
            content_type=content_type,
            headers={"Origin": ELSEWHERE},  # a browser sends that only if CORS allowed it
        )
        assert response.status_code == 201, content_type
    assert (
        client.put("/api/sim/snapshot", data=client.get("/api/sim/snapshot").data).status_code
        == 200
    )


@pytest.mark.database_free
def test_reads_are_not_guarded(client: FlaskClient) -> None:
    headers = {"Origin": ELSEWHERE, "Content-Type": "text/plain"}
    assert client.get("/api/sim/tracker", headers=headers).status_code == 200
    assert client.options("/api/sim/reset", headers=headers).status_code == 200


def test_with_the_admin_key_set_a_write_needs_the_key_and_nothing_else(
    make_client: MakeClient,
) -> None:
    client = make_client(sim_admin_key="admin")
    for headers in ({"Origin": ELSEWHERE}, {"Origin": ELSEWHERE, "X-API-Key": "admin"}):
        response = client.post(
            "/api/sim/reset", data="{}", content_type="text/plain", headers=headers
        )
        assert response.status_code == (200 if "X-API-Key" in headers else 401)
