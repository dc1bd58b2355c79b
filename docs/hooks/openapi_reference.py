"""MkDocs hook: renders the committed OpenAPI document as the manual's API reference, at build time.

A page asks for it with a line `<!-- openapi: openapi.json -->` (a path inside docs/); the line is
replaced by the document as Markdown: every operation by tag, with its parameters, body, answers
and their examples, then every schema. The page cannot drift from the contract: it is the contract.

Why a hook rather than a plugin: the document is ours, small and plain (OpenAPI 3.0.3 as apispec
writes it), so about two hundred lines render all of it, with no dependency beyond MkDocs, nothing
fetched at build or view time, and exactly our examples. neoteroi-mkdocs, which also renders at
build time, wants a stylesheet its wheel does not ship and adds example bodies of its own, marked
"not accurate", where the document has none; the Swagger UI plugins render in the reader's
browser, where a broken reference would not fail the strict build.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

MARKER = re.compile(r"^<!-- openapi: (?P<path>\S+) -->$", re.MULTILINE)
METHODS = ("get", "head", "post", "put", "patch", "delete", "options")
# Keywords shown as a property's limits, with how each reads.
LIMITS = {
    "minimum": "≥ {}",
    "maximum": "≤ {}",
    "minLength": "at least {} characters",
    "maxLength": "at most {} characters",
    "minItems": "at least {} items",
    "maxItems": "at most {} items",
    "pattern": "matches `{}`",
    "default": "default `{}`",
}

Json = dict[str, Any]


def on_page_markdown(markdown: str, *, page: Any, config: Any, files: Any) -> str:
    """Replace each marker line with the document it names, rendered."""

    def render(match: re.Match[str]) -> str:
        path = Path(config["docs_dir"]) / match["path"]
        return render_document(json.loads(path.read_text(encoding="utf-8")))

    return MARKER.sub(render, markdown)


def render_document(document: Json) -> str:
    """The whole document as Markdown: operations by tag, then the schemas."""
    lines: list[str] = []
    for tag in document.get("tags", []):
        operations = [
            (path, method, item[method])
            for path, item in document["paths"].items()
            for method in METHODS
            if method in item and tag["name"] in item[method].get("tags", [])
        ]
        if operations:
            lines += [f"## {tag['name']}", "", tag.get("description", ""), ""]
            for path, method, operation in operations:
                lines += _operation(path, method, operation)
    lines += ["## Schemas", ""]
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        lines += _schema(name, schema)
    return "\n".join(lines)


def _operation(path: str, method: str, operation: Json) -> list[str]:
    # Anchored by method and path, the contract's own names, not by operationId (a Python
    # function's name, which a refactoring may change): links from other pages stay put.
    anchor = operation_anchor(method, path)
    lines = [
        f"### `{method.upper()} {path}` {{#{anchor}}}",
        "",
        f"**{operation.get('summary', '')}**",
        "",
        operation.get("description", ""),
        "",
    ]
    parameters = operation.get("parameters", [])
    if parameters:
        lines += [
            "| Parameter | In | Type | Required | Description |",
            "| --- | --- | --- | --- | --- |",
        ]
        for parameter in parameters:
            schema = parameter.get("schema", {})
            lines.append(
                _row(
                    f"`{parameter['name']}`",
                    parameter["in"],
                    _type(schema),
                    "yes" if parameter.get("required") else "no",
                    _described(parameter.get("description", ""), schema),
                )
            )
        lines.append("")
    body = operation.get("requestBody")
    if body:
        for content_type, content in body.get("content", {}).items():
            required = "required" if body.get("required") else "optional"
            lines += [
                f"Body (`{content_type}`, {required}): {_type(content.get('schema', {}))}",
                "",
            ]
    lines += ["| Status | Answer | Body |", "| --- | --- | --- |"]
    examples: list[str] = []
    for status, response in operation.get("responses", {}).items():
        for content_type, content in response.get("content", {"": {}}).items():
            shape = _type(content["schema"]) if "schema" in content else ""
            if content_type and content_type != "application/json":
                shape = f"`{content_type.split(';')[0]}` {shape}"
            lines.append(_row(f"**{status}**", response.get("description", ""), shape))
            for title, example in content.get("examples", {}).items():
                text = json.dumps(example["value"], indent=2, ensure_ascii=False)
                caption = f"{status}: {title}".replace('"', "'")
                examples += [f'```json title="{caption}"', *text.splitlines(), "```", ""]
    lines.append("")
    if examples:
        lines += ['??? example "Examples"', ""]
        lines += [f"    {line}" if line else "" for line in examples]
    return lines


def _schema(name: str, schema: Json) -> list[str]:
    lines = [f"### {name} {{#schema-{name}}}", ""]
    if schema.get("description"):
        lines += [schema["description"], ""]
    properties: Json = schema.get("properties", {})
    if not properties:
        return [*lines, f"Type: {_type(schema)}", ""]
    required = set(schema.get("required", []))
    lines += ["| Key | Type | Required | Description |", "| --- | --- | --- | --- |"]
    for key, value in properties.items():
        lines.append(
            _row(
                f"`{key}`",
                _type(value),
                "yes" if key in required else "no",
                _described(value.get("description", ""), value),
            )
        )
    lines.append("")
    notes = []
    if schema.get("additionalProperties") is False:
        notes.append("No other key is accepted.")
    if "minProperties" in schema:
        notes.append(f"At least {schema['minProperties']} key(s).")
    for option in schema.get("oneOf", []):
        keys = ", ".join(f"`{key}`" for key in option.get("required", []))
        rule = option.get("description", "")
        notes.append(f"One of: {rule} {f'(requires {keys})' if keys else ''}".strip())
    lines += [f"- {note}" for note in notes]
    return [*lines, ""]


def _type(schema: Json) -> str:
    """A schema in a few words: its type, a link to a named one, or its choices."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#schema-{name})"
    choices = schema.get("oneOf") or schema.get("anyOf") or schema.get("allOf")
    if choices:
        # apispec writes "or null" as a bare nullable object beside the real choice.
        kinds = [
            "null" if choice == {"type": "object", "nullable": True} else _type(choice)
            for choice in choices
        ]
        text = " or ".join(dict.fromkeys(kinds))
    elif "enum" in schema:
        text = "one of " + ", ".join(f"`{json.dumps(value)}`" for value in schema["enum"])
    elif schema.get("type") == "array":
        text = f"array of {_type(schema.get('items', {}))}"
    else:
        text = f"`{schema['type']}`" if "type" in schema else "any JSON"
        if "format" in schema:
            text += f" ({schema['format']})"
    if schema.get("nullable") and "null" not in text:
        text += " or null"
    return text


def _described(description: str, schema: Json) -> str:
    """A description followed by the schema's limits, read-only mark and example."""
    limits = [
        "not empty"
        if (key, schema[key]) == ("minLength", 1)
        else form.format(json.dumps(schema[key]) if key == "default" else schema[key])
        for key, form in LIMITS.items()
        if key in schema
    ]
    if schema.get("exclusiveMinimum"):
        limits = [limit.replace("≥", ">") for limit in limits]
    if schema.get("readOnly"):
        limits.append("read-only")
    if "example" in schema:
        limits.append(f"e.g. `{json.dumps(schema['example'], ensure_ascii=False)}`")
    return "<br>".join(part for part in (description, "; ".join(limits)) if part)


def _row(*cells: str) -> str:
    # A table row is one line: a newline would end it, a bare pipe would split a cell.
    return "| " + " | ".join(cell.replace("\n", " ").replace("|", "\\|") for cell in cells) + " |"


def operation_anchor(method: str, path: str) -> str:
    """The anchor of an operation: `get-api-v2-addons-code` for GET /api/v2/addons/{code}."""
    return re.sub(r"[^a-z0-9]+", "-", f"{method} {path}".lower()).strip("-")
