"""Input a database refuses (PostgreSQL stores no NUL in text) and input that is not JSON (NaN,
a trailing newline in a code): refused with 400 in our shape, or stored faithfully, on both
engines; never a 500 and never an entry lost."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient

MakeClient = Callable[..., FlaskClient]
NUL = "\x00"


def operations(client: FlaskClient) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path template, operation) for every operation the OpenAPI document declares."""
    document = client.get("/api/v2/openapi.json").get_json()
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def test_a_nul_in_any_path_or_query_parameter_answers_in_our_shape_never_500(
    client: FlaskClient,
) -> None:
    """Each parameter of each operation in turn is a NUL; the others an ordinary value."""
    tried = 0
    for method, template, operation in operations(client):
        parameters = [p for p in operation.get("parameters", []) if p["in"] in {"path", "query"}]
        for nul_parameter in parameters:
            name = nul_parameter["name"]
            path = re.sub(
                r"\{(\w+)\}",
                lambda m, name=name: quote(NUL if m.group(1) == name else "1"),
                template,
            )
            query = (
                f"?{nul_parameter['name']}={quote(NUL)}" if nul_parameter["in"] == "query" else ""
            )
            body = {} if method in {"POST", "PUT", "PATCH"} else None
            answer = client.open(path + query, method=method, json=body)
            tried += 1
            assert answer.status_code < 500, (method, path + query, answer.get_data(as_text=True))
            assert answer.is_json, (method, path + query)
            assert set(answer.get_json()) >= {"error", "details"}, (method, path + query)
    assert tried > 20  # the document's parameters, each of them


def test_a_nul_in_a_station_filter_is_refused_naming_it(client: FlaskClient) -> None:
    answer = client.get(f"/api/v2/orders?station={quote(NUL)}")
    assert answer.status_code == 400
    assert answer.get_json()["details"] == ["station: Must not contain a NUL character."]


def test_a_nul_anywhere_in_a_call_is_journaled_written_as_json_writes_it(
    make_client: MakeClient,
) -> None:
    client = make_client(journal=True)
    client.post(
        "/api/v2/orders/%00/complete?x=%00", data=b'{"a": "\x00"}', content_type="text/plain"
    )
    [entry] = client.get("/api/sim/requests").get_json()["requests"]
    assert (entry["path"], entry["query"], entry["body"]) == (
        "/api/v2/orders/\\u0000/complete",
        "x=%00",
        '{"a": "\\u0000"}',
    )


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json_anywhere(client: FlaskClient, constant: str) -> None:
    """Python's parser reads them; JSON has no such values, and a fault's body would serve them
    back as text no client could parse."""
    fault = '{"path": "/api/v2/orders/*/status", "status": 500, "body": {"x": ' + constant + "}}"
    answer = client.post("/api/sim/faults", data=fault, content_type="application/json")
    assert answer.status_code == 400
    assert answer.get_json()["details"] == [f"Malformed JSON: {constant} is not a JSON value"]
    assert client.get("/api/sim/faults").get_json()["faults"] == []


def test_a_code_with_a_trailing_newline_is_refused_and_the_lab_kept(client: FlaskClient) -> None:
    """`^[0-9]{2}$` lets "05\\n" through: three characters for a two-character code (a 500 on
    PostgreSQL, after the snapshot had deleted every order)."""
    kept = {"orderNumber": "777", "status": "V"}
    assert client.put("/api/sim/snapshot", json={"orders": [kept]}).status_code == 200
    order = {
        "orderNumber": "778",
        "status": "V",
        "completionError": {"code": "05\n", "message": "Order on hold"},
    }
    answer = client.put("/api/sim/snapshot", json={"orders": [order]})
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["details"] == ["orders.0.completionError.code: Must be 2 digits."]
    assert client.get("/api/v2/orders/777/status").status_code == 200
