"""The contract as a document: valid OpenAPI, true to the seed, committed, and readable offline."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Blueprint, Flask
from flask.testing import FlaskClient
from jsonschema import Draft4Validator
from marshmallow import Schema, fields
from openapi_spec_validator import validate
from swagger_ui_bundle import swagger_ui_path

from api.app import BLUEPRINTS
from api.http.endpoints import Answer, endpoint
from api.http.errors import register_error_handlers
from api.http.openapi import DOCUMENT_PATH, build_document, main, render
from shared.domain.lab_setup import Lab

# A verbatim copy of the contract's source (the project's shared/seed/), so the suite runs from
# a clone alone.
SEED_FILE = Path(__file__).resolve().parent / "seed" / "complete-order-endpoint.txt"
COMPLETE = "/api/v2/orders/{orderIdentifier}/complete"


@pytest.fixture(scope="module")
def document(lab: Lab) -> dict[str, Any]:
    return build_document(BLUEPRINTS, lab)


def seed_examples() -> list[tuple[int, dict[str, Any]]]:
    """The seed page's seven bodies with their statuses (its error samples lack the closing `}`)."""
    text = SEED_FILE.read_text(encoding="utf-8")
    # Each body runs from a line holding only `{` to the next empty line or bullet.
    blocks = re.findall(r"^ *\{\n(?:(?! *•).+\n)+", text, re.MULTILINE)
    bodies = [json.loads(b if b.count("{") == b.count("}") else b + "}") for b in blocks]
    statuses = [201] + [
        int(s) for s in re.findall(r"an HTTP (\d{3}) code will be returned with an error", text)
    ]
    assert len(bodies) == len(statuses) == 7
    return list(zip(statuses, bodies, strict=True))


def response_validator(document: dict[str, Any], path: str, method: str, status: int) -> Any:
    """A JSON Schema validator for one response's body, `$ref`s resolved within the document.

    Draft 4 with `nullable` turned into a null type: what OpenAPI 3.0's schema objects mean.
    """
    schema = document["paths"][path][method]["responses"][str(status)]["content"][
        "application/json"
    ]["schema"]
    return Draft4Validator({**schema, "components": _as_json_schema(document["components"])})


def _as_json_schema(node: Any) -> Any:
    if isinstance(node, dict):
        node = {key: _as_json_schema(value) for key, value in node.items() if key != "example"}
        if node.pop("nullable", False):
            node = {"anyOf": [node, {"type": "null"}]}
        return node
    if isinstance(node, list):
        return [_as_json_schema(item) for item in node]
    return node


def test_the_document_is_valid_openapi_3_0(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"] == "3.0.3"


def test_the_document_covers_every_route_the_app_serves(
    app: Flask, document: dict[str, Any]
) -> None:
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    routed = {
        (method, re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", "{}", rule.rule))
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in {"HEAD", "OPTIONS"}
        # The trailing-slash completion path is a misspelling answered with code 01, not an
        # operation of its own.
        and rule.endpoint
        not in {
            "static",
            "docs.swagger_asset",
            "board_page.board_asset",
            "v2_completion.complete_order_trailing_slash",
        }
    }
    assert {(method, re.sub(r"\{[^}]+\}", "{}", path)) for method, path in documented} == routed


def test_every_seed_example_is_documented_and_fits_the_schema_of_its_response(
    document: dict[str, Any],
) -> None:
    for status, body in seed_examples():
        response = document["paths"][COMPLETE]["post"]["responses"][str(status)]
        examples = [
            e["value"] for e in response["content"]["application/json"]["examples"].values()
        ]
        assert body in examples
        response_validator(document, COMPLETE, "post", status).validate(body)


def test_every_documented_example_fits_the_schema_of_its_response(
    document: dict[str, Any],
) -> None:
    count = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                content = response.get("content", {}).get("application/json", {})
                for example in content.get("examples", {}).values():
                    response_validator(document, path, method, int(status)).validate(
                        example["value"]
                    )
                    count += 1
    assert count >= 30


def test_a_body_that_breaks_the_schema_is_caught_by_the_validator(
    document: dict[str, Any],
) -> None:
    """The examples test above proves something only if the schemas do reject wrong bodies."""
    accepted = response_validator(document, COMPLETE, "post", 201)
    assert not accepted.is_valid({"orderNumber": "33719"})
    assert not accepted.is_valid({"orderNumber": "33719", "message": "Successful", "extra": 1})
    status = response_validator(document, "/api/v2/orders/{orderIdentifier}/status", "get", 200)
    assert not status.is_valid({"orderNumber": 33719})


# Rx-Universe's own operations (domain.md); every other one is ours and must say so.
RX_UNIVERSE = {
    ("post", "/api/v2/orders/{orderIdentifier}/complete"),
    ("get", "/api/v2/orders/{orderIdentifier}/status"),
    ("get", "/api/v2/orders/{orderIdentifier}"),
    ("delete", "/api/v2/orders/{orderIdentifier}"),
    ("get", "/api/v2/orders"),
    ("post", "/api/v2/orders"),
    ("get", "/api/v2/job_track/stations"),
    ("get", "/api/v2/job_track/stations/{code}"),
    ("post", "/api/v2/job_track/stations/{code}"),
    ("get", "/api/v2/addons"),
    ("get", "/api/v2/addons/{code}"),
    ("get", "/api/v2/orders/{orderIdentifier}/pick"),
    ("post", "/api/v2/orders/{orderIdentifier}/pick"),
    ("post", "/api/v2/orders/{orderIdentifier}/print_ticket"),
}


# The server errors Rx-Universe documents itself: the submission's Frame Inventory refusal, and
# the work ticket's refusals for the lab's settings.
RX_UNIVERSE_ERRORS = {
    ("post", "/api/v2/orders", "500"),
    ("post", "/api/v2/orders/{orderIdentifier}/print_ticket", "500"),
}


def test_ours_is_marked_as_ours(document: dict[str, Any]) -> None:
    status_schema = document["components"]["schemas"]["OrderStatus"]["properties"]
    for key in ("pendingCompletion", "completionError"):
        assert status_schema[key]["description"].startswith("Ours, not Rx-Universe's")
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if (method, path) not in RX_UNIVERSE:
                assert operation["description"].startswith("Ours, not Rx-Universe's"), path
            for status in ("500", "503"):
                if (method, path, status) in RX_UNIVERSE_ERRORS:
                    continue
                if status in operation["responses"]:
                    assert operation["responses"][status]["description"].startswith("Ours")


def test_the_committed_document_is_the_generated_one(document: dict[str, Any]) -> None:
    committed = DOCUMENT_PATH.read_text(encoding="utf-8")
    assert committed == render(document), (
        "run `python -m api.http.openapi` and commit docs/openapi.json"
    )


def test_python_m_api_openapi_writes_the_document(tmp_path: Path, document: dict[str, Any]) -> None:
    assert main([str(tmp_path / "openapi.json")]) == 0
    assert (tmp_path / "openapi.json").read_text(encoding="utf-8") == render(document)


def test_the_api_serves_the_document_for_its_lab(
    client: FlaskClient, document: dict[str, Any]
) -> None:
    response = client.get("/api/v2/openapi.json")
    assert (response.status_code, response.mimetype) == (200, "application/json")
    assert response.get_json() == document
    schemas = response.get_json()["components"]["schemas"]
    checkin = schemas["CheckIn"]["properties"]

    def values(prop: dict[str, Any]) -> list[Any]:
        """An enum's values, inline or through the component it is named as."""
        ref = prop["$ref"] if "$ref" in prop else prop.get("allOf", [{}])[0].get("$ref")
        return schemas[ref.rsplit("/", 1)[1]]["enum"] if ref else prop["enum"]

    assert values(checkin["station"])[:3] == ["REC", "PICK", "BLK"]
    assert values(checkin["operator"]) == ["JD", "MS", "RK", "TL", None]


def test_the_docs_page_is_swagger_ui_loaded_from_this_server_only(client: FlaskClient) -> None:
    response = client.get("/api/v2/docs")
    assert (response.status_code, response.mimetype) == (200, "text/html")
    page = response.get_data(as_text=True)
    assert 'url: "/api/v2/openapi.json"' in page
    assert "validatorUrl: null" in page
    assert "http://" not in page and "https://" not in page
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sorted(assets) == [
        "/api/v2/docs/favicon-16x16.png",
        "/api/v2/docs/favicon-32x32.png",
        "/api/v2/docs/swagger-ui-bundle.js",
        "/api/v2/docs/swagger-ui.css",
    ]
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200, asset
        expected = (Path(str(swagger_ui_path)) / asset.rsplit("/", 1)[1]).read_bytes()
        assert served.get_data() == expected
        served.close()


def test_only_the_assets_the_docs_page_uses_are_served(client: FlaskClient) -> None:
    response = client.get("/api/v2/docs/index.html")
    assert (response.status_code, response.get_json()) == (
        404,
        {"error": "Not found", "details": ["No endpoint for GET /api/v2/docs/index.html"]},
    )


def test_the_landing_page_says_what_runs_and_links_every_page(client: FlaskClient) -> None:
    response = client.get("/")
    assert (response.status_code, response.mimetype) == (200, "text/html")
    page = response.get_data(as_text=True)
    links = re.findall(r'href="([^"]+)"', page)
    assert links == [
        "/favicon.ico",
        "/api/v2/docs",
        "/board",
        "/healthz",
        "/metrics",
        "/api/v2/openapi.json",
    ]
    for link in links:
        assert client.get(link).status_code == 200, link
    assert "not running</span>" in page  # no tracker in a test client's lab
    assert "curl -X POST http://localhost/api/v2/orders/33719/complete" in page
    assert client.get("/readme").status_code == 404  # the manual took its place


def test_the_favicon_is_an_svg_every_page_names(client: FlaskClient) -> None:
    icon = client.get("/favicon.ico")
    assert (icon.status_code, icon.mimetype) == (200, "image/svg+xml")
    assert icon.data.startswith(b"<svg")
    assert 'href="/favicon.ico"' in client.get("/board").get_data(as_text=True)


def test_a_declared_query_is_loaded_and_documented(lab: Lab) -> None:
    """How a list endpoint (`limit`, `offset`) is declared (as `GET /api/sim/requests` is)."""

    class Page(Schema):
        limit = fields.Integer(load_default=None)

    class Listed(Schema):
        limit = fields.Integer(allow_none=True)

    blueprint = Blueprint("example", __name__, url_prefix="/example")

    @endpoint(
        blueprint, "GET", "/things", tag="t", summary="s", query=Page, ok=Answer(200, "d", Listed)
    )
    def things(query: dict[str, Any]) -> dict[str, Any]:
        """Things."""
        return query

    app = Flask(__name__)
    register_error_handlers(app)
    app.register_blueprint(blueprint)
    client = app.test_client()
    assert client.get("/example/things?limit=3").get_json() == {"limit": 3}
    assert client.get("/example/things?limit=x").get_json() == {
        "error": "Invalid request",
        "details": ["limit: Not a valid integer."],
    }
    operation = build_document((blueprint,), lab)["paths"]["/example/things"]["get"]
    assert operation["parameters"][0]["name"] == "limit"
    assert operation["parameters"][0]["in"] == "query"


def test_every_guarded_operation_declares_its_key_schemes_and_its_401(
    document: dict[str, Any],
) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKey"] == schemes["AdminKey"] | {
        "description": schemes["ApiKey"]["description"]
    }
    assert (schemes["ApiBearer"]["type"], schemes["ApiBearer"]["scheme"]) == ("http", "bearer")
    guarded = {"api": 0, "admin": 0}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            if path.startswith("/api/v2/") and path not in ("/api/v2/docs", "/api/v2/openapi.json"):
                kind, key = "api", "ApiKey"
            elif path.startswith("/api/sim/") and path != "/api/sim/tracker":
                kind, key = "admin", "AdminKey"
            else:
                assert "security" not in operation, where
                continue
            guarded[kind] += 1
            assert operation["security"] == [{}, {key: []}, {key.replace("Key", "Bearer"): []}]
            assert "401" in operation["responses"], where
    assert guarded["api"] > 10 and guarded["admin"] > 10


@pytest.mark.database_free
def test_every_simulator_write_declares_its_415_and_403_and_nothing_else_does(
    document: dict[str, Any],
) -> None:
    writes = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            guarded = path.startswith("/api/sim/") and method in ("post", "put", "patch", "delete")
            writes += guarded
            assert ("415" in operation["responses"]) is guarded, where
            assert ("403" in operation["responses"]) is guarded, where
    assert writes == 12


def test_with_keys_set_the_contract_and_the_pages_stay_public(make_client: Any) -> None:
    client = make_client(api_keys=("key-one",), sim_admin_key="admin")
    for path in ("/", "/api/v2/docs", "/api/v2/openapi.json", "/favicon.ico", "/board"):
        assert client.get(path).status_code == 200, path
    assert client.get("/api/v2/docs/swagger-ui.css").status_code == 200
    assert client.get("/api/v2/orders/1/status").status_code == 401
    assert client.get("/api/sim/board").status_code == 401
