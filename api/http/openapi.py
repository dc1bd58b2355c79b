"""The OpenAPI document, built from the endpoint declarations; `python -m api.http.openapi`
writes it.

apispec's marshmallow plugin turns the declared schemas into JSON Schema, so the document says
what the code validates and dumps. OpenAPI 3.0.3, not 3.1: the Swagger UI we serve offline (the
`swagger-ui-bundle` package, Swagger UI 4) renders 3.0 only.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Iterable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin, resolver
from flask import Blueprint
from marshmallow import fields

from api.http.access import is_guarded
from api.http.endpoints import JSON, Answer, Endpoint, declared
from api.http.errors import OURS, UNEXPECTED
from config.lab_file import load_lab
from config.settings import DEFAULT_LAB_FILE
from shared.domain.lab_setup import Lab

OPENAPI_VERSION = "3.0.3"


DOCUMENT_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


DESCRIPTION = """\
A faithful simulator of the Rx-Universe v2 order-completion API and of its Job Tracker.

`POST /api/v2/orders/{orderIdentifier}/complete` answers exactly as Rx-Universe documents it; the
order is flagged, and the Job Tracker (a separate process) completes it. Every error, on every
endpoint, has one shape: `{"error": "<summary>", "details": ["<string>", ...]}`; so do routes that
do not exist (404 `Not found`) and wrong methods (405 `Method not allowed`).

What is ours and not Rx-Universe's says so in its description: `pendingCompletion` and
`completionError` in the status representation, the 401, 503 and 500 answers, the whole simulator
API under `/api/sim` (the request journal and faults on demand included), `/healthz` and
`/metrics`.
"""
TAGS = [
    {"name": "Rx-Universe v2", "description": "Rx-Universe's endpoints, as documented."},
    {
        "name": "Simulator controls (ours)",
        "description": "Ours, not Rx-Universe's: set up orders for tests and demos.",
    },
    {
        "name": "Request journal (ours)",
        "description": "Ours, not Rx-Universe's: what each `/api/v2` call sent and got "
        "(`JOURNAL`, on by default).",
    },
    {
        "name": "Faults on demand (ours)",
        "description": "Ours, not Rx-Universe's: make `/api/v2` or the Job Trackers misbehave.",
    },
    {
        "name": "Watching it (ours)",
        "description": "Ours, not Rx-Universe's: health check and metrics, always open.",
    },
    {"name": "Documentation (ours)", "description": "Ours: this document and its viewer."},
]


@functools.cache
def build_document(blueprints: tuple[Blueprint, ...], lab: Lab) -> dict[str, Any]:
    """The OpenAPI document of every endpoint declared on `blueprints`, with `lab`'s codes.

    Built once per app, then kept: it changes only with the code and the lab file.
    """
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="Rx-Universe v2 API simulator (rx-jobtracker)",
        version=version("rx-jobtracker"),
        openapi_version=OPENAPI_VERSION,
        plugins=[plugin],
        info={"description": DESCRIPTION},
        tags=TAGS,
    )
    assert plugin.converter is not None  # set by APISpec(plugins=...)
    # apispec leaves this method unannotated.
    plugin.converter.add_attribute_function(_own_description)  # type: ignore[no-untyped-call]
    for blueprint in blueprints:
        for declaration in declared(blueprint):
            spec.path(
                path=declaration.path,
                operations={declaration.method: _operation(declaration)},
            )
    document = spec.to_dict()
    _declare_security(document)
    _close_response_schemas(document)
    _add_schema_extras(document, blueprints)
    _list_lab_codes(document, lab)
    _name_enums(document)
    return document


# The keys, as Swagger UI's Authorize asks for them: each in either of the two places a call may
# carry it. Optional (`{}` first): with no API_KEYS or SIM_ADMIN_KEY set, the API is open.
SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    "ApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": OURS + "one of `API_KEYS`, for `/api/v2`; needed only when it is set.",
    },
    "ApiBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": OURS + "one of `API_KEYS`, as `Authorization: Bearer <key>`.",
    },
    "AdminKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": OURS + "`SIM_ADMIN_KEY`, for `/api/sim`; needed only when it is set.",
    },
    "AdminBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": OURS + "`SIM_ADMIN_KEY`, as `Authorization: Bearer <key>`.",
    },
}
_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "api": [{}, {"ApiKey": []}, {"ApiBearer": []}],
    "admin": [{}, {"AdminKey": []}, {"AdminBearer": []}],
}


def _declare_security(document: dict[str, Any]) -> None:
    """The key schemes, and on each guarded operation the ones it takes (`is_guarded`)."""
    document.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    for path, operations in document["paths"].items():
        guard = is_guarded(path)
        if guard is not None:
            for operation in operations.values():
                operation["security"] = _SECURITY[guard]


def _name_enums(document: dict[str, Any]) -> None:
    """Every string enum of a model's property (or of its list's items) becomes a component,
    named once and referenced: client generators name inline enums after the model and the
    property, and `Order.status` came out as `OrderStatus`, the status model's own name
    (openapi-python-client then dropped `Order` and `OrderList`). The same values share one
    component; a name already taken (by a model, or by other values) is prefixed with the model's
    name, then suffixed `Enum`."""
    schemas = document["components"]["schemas"]
    models = set(schemas)
    named: dict[tuple[str, ...], str] = {}
    taken: set[str] = set()

    def component(model: str, prop: str, values: list[Any]) -> str:
        key = tuple(values)
        if key in named:
            return named[key]
        base = prop[0].upper() + prop[1:]
        for name in (base, model + base, model + base + "Enum"):
            if name not in models and name not in taken:
                break
        taken.add(name)
        named[key] = name
        return name

    def referenced(model: str, prop: str, schema: dict[str, Any]) -> dict[str, Any]:
        values = schema["enum"]
        if schema.get("type") != "string" or not all(isinstance(v, str) for v in values):
            return schema
        name = component(model, prop, values)
        enum = {"type": "string", "enum": values}
        added = document["components"]["schemas"].setdefault(name, enum)
        assert added == enum, name
        rest = {k: v for k, v in schema.items() if k not in ("type", "enum")}
        ref = {"$ref": f"#/components/schemas/{name}"}
        return {"allOf": [ref], **rest} if rest else ref

    for model in list(schemas):  # as declared: the v2 models first, so theirs are the plain names
        for prop, schema in (schemas[model].get("properties") or {}).items():
            if "enum" in schema:
                schemas[model]["properties"][prop] = referenced(model, prop, schema)
            items = schema.get("items") if schema.get("type") == "array" else None
            if isinstance(items, dict) and "enum" in items:
                singular = prop[:-1] if prop.endswith("s") else prop + "Item"
                schema["items"] = referenced(model, singular, items)


def _own_description(self: Any, field: fields.Field[Any], **kwargs: Any) -> dict[str, Any]:
    """Our custom fields describe themselves (`openapi_property`); apispec cannot guess them."""
    describe = getattr(field, "openapi_property", None)
    return describe() if describe is not None else {}


def _operation(declaration: Endpoint) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": declaration.operation_id,
        "summary": declaration.summary,
        "description": declaration.description,
        "tags": [declaration.tag],
        "responses": _responses((*declaration.answers, UNEXPECTED)),
    }
    located = (("path", declaration.path_schema), ("query", declaration.query_schema))
    parameters = [{"in": where, "schema": schema} for where, schema in located if schema]
    if parameters:
        operation["parameters"] = parameters
    if declaration.body_schema is not None:
        schema = declaration.body_schema
        required = any(f.required for f in schema().fields.values()) or bool(
            getattr(schema, "openapi_extra", {}).get("minProperties")
        )
        operation["requestBody"] = {
            "required": required,
            "content": {JSON: {"schema": schema}},
        }
    return operation


def _responses(answers: Iterable[Answer]) -> dict[str, Any]:
    """Answers by status; several answers with one status (two 503s) become one, examples merged."""
    responses: dict[str, Any] = {}
    for answer in answers:
        response = responses.setdefault(str(answer.status), {"description": ""})
        described = answer.description
        if response["description"].startswith(OURS) and described.startswith(OURS):
            described = described[len(OURS)].upper() + described[len(OURS) + 1 :]
        response["description"] = " ".join(filter(None, [response["description"], described]))
        content = response.setdefault("content", {}).setdefault(answer.content_type, {})
        schema = answer.schema or _untyped(answer.content_type)
        if "schema" not in content or content["schema"] == schema:
            content["schema"] = schema
        else:
            # Two bodies for one status (a cancelled order's status read is a 200 with an error
            # body, as Rx-Universe answers it): either may come.
            shown = content["schema"]
            either = shown["oneOf"] if isinstance(shown, dict) and "oneOf" in shown else [shown]
            content["schema"] = {"oneOf": [*either, schema]}
        if answer.examples:
            content.setdefault("examples", {}).update(
                {name: {"value": body} for name, body in answer.examples.items()}
            )
    return dict(sorted(responses.items()))


def _untyped(content_type: str) -> dict[str, Any]:
    """A body the view builds itself: a JSON object, or text (HTML, Prometheus's format)."""
    return {"type": "object"} if content_type == JSON else {"type": "string"}


def _add_schema_extras(document: dict[str, Any], blueprints: Iterable[Blueprint]) -> None:
    """A schema's `openapi_extra` (what a whole-schema validator or a post_dump does) joins its
    component; for a response schema, after it was closed, so its own `required` wins."""
    schemas = document["components"]["schemas"]
    for blueprint in blueprints:
        for declaration in declared(blueprint):
            answered = [answer.schema for answer in declaration.answers]
            for schema in (declaration.body_schema, *answered):
                if schema is not None and hasattr(schema, "openapi_extra"):
                    schemas[resolver(schema)].update(schema.openapi_extra)


def _list_lab_codes(node: Any, lab: Lab) -> None:
    """Replace each `x-lab` mark (api.http.fields' LAB_...) with the lab's codes as an enum."""
    if isinstance(node, dict):
        kind = node.pop("x-lab", None)
        if kind is not None:
            codes: list[str | None] = [
                code
                for code, station in lab.stations.items()
                if kind == "stations" or station.is_operator
            ]
            node["enum"] = list(lab.addons) if kind == "addons" else codes
            if node.get("nullable"):
                node["enum"].append(None)
            node["description"] = f"A code from the lab file ({kind})."
        for value in node.values():
            _list_lab_codes(value, lab)
    elif isinstance(node, list):
        for item in node:
            _list_lab_codes(item, lab)


def _close_response_schemas(document: dict[str, Any]) -> None:
    """Say that a response has every key of its schema and no other, as a dump writes it.

    marshmallow's `required` is about input; a response schema never loads, and its dump writes
    every field, so the document states it here rather than on each field.
    """
    schemas = document["components"]["schemas"]
    names = {
        ref.rsplit("/", 1)[1]
        for operations in document["paths"].values()
        for operation in operations.values()
        for response in operation["responses"].values()
        for content in response.get("content", {}).values()
        for ref in [content["schema"].get("$ref", "")]
        if ref
    }
    seen: set[str] = set()
    while names:
        name = names.pop()
        seen.add(name)
        schema = schemas[name]
        schema["required"] = list(schema["properties"])
        schema["additionalProperties"] = False
        names |= {ref.rsplit("/", 1)[1] for ref in _refs(schema)} - seen


def _refs(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def render(document: dict[str, Any]) -> str:
    """The document as committed in docs/openapi.json: indented, keys in declaration order."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the document, for the default lab file, to docs/openapi.json (or the path given)."""
    # The app's blueprints (the simulator's too: SIM_API is on by default); imported here, as the
    # app imports this module's kit (api.web.docs), and the kit imports no surface at its top.
    from api.app import BLUEPRINTS

    parser = argparse.ArgumentParser(prog="python -m api.http.openapi", description=main.__doc__)
    parser.add_argument("path", nargs="?", type=Path, default=DOCUMENT_PATH)
    path = parser.parse_args(argv).path
    document = build_document(BLUEPRINTS, load_lab(DEFAULT_LAB_FILE))
    path.write_text(render(document), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
