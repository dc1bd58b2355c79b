"""Each endpoint declared once: the route, its input and output schemas, every documented answer.

A declaration serves twice. At request time it loads the body (and query) with the declared
schemas and dumps the view's result with the success schema; `api.http.openapi` builds the OpenAPI
document from the same declarations, so the document cannot drift from what the code does.
The wrapper does nothing an undeclared view would not: no body, no load; one dump, as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, request
from marshmallow import Schema

JSON = "application/json"
HTML = "text/html"
_RULE_VARIABLE = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


# Views answer with what their success schema dumps, or (schema None) with a ready response.
View = Callable[..., Any]


@dataclass(frozen=True)
class Answer:
    """One documented response: its status, what it means, its body's schema and examples.

    `schema` is a marshmallow schema class; None documents a body the view builds itself
    (HTML, the OpenAPI document). `examples` maps an example's name to the exact body.
    """

    status: int
    description: str
    schema: type[Schema] | None = None
    examples: Mapping[str, Any] = field(default_factory=dict)
    content_type: str = JSON


@dataclass(frozen=True)
class Endpoint:
    """What `api.http.openapi` needs to document one operation."""

    method: str
    path: str  # OpenAPI's form: /api/v2/orders/{orderIdentifier}/complete
    operation_id: str
    summary: str
    description: str
    tag: str
    path_schema: type[Schema] | None
    query_schema: type[Schema] | None
    body_schema: type[Schema] | None
    answers: tuple[Answer, ...]


# Each blueprint's declarations, in the order written: the document lists them so.
_DECLARED: dict[Blueprint, list[Endpoint]] = {}


def declared(blueprint: Blueprint) -> list[Endpoint]:
    """The endpoints declared on `blueprint`."""
    return _DECLARED.get(blueprint, [])


def endpoint(
    blueprint: Blueprint,
    method: str,
    rule: str,
    *,
    summary: str,
    tag: str,
    ok: Answer,
    errors: Sequence[Answer] = (),
    description: str = "",
    path: type[Schema] | None = None,
    query: type[Schema] | None = None,
    body: type[Schema] | None = None,
) -> Callable[[View], View]:
    """Route `method rule` on `blueprint` to the view and record its declaration.

    The view gets the rule's variables as Flask names them, plus `body=` (the loaded JSON body)
    when `body` is given and `query=` (the loaded query string) when `query` is given. It returns
    the object `ok.schema` dumps, answered with `ok.status`. `path` names and documents the rule's
    variables (a field per variable, its `data_key` the public name); it is not loaded, so a view
    sees exactly what the client sent in the URL.
    """

    def declare(view: View) -> View:
        _DECLARED.setdefault(blueprint, []).append(
            Endpoint(
                method=method.lower(),
                path=(blueprint.url_prefix or "") + _openapi_path(rule, path),
                operation_id=view.__name__,
                summary=summary,
                description=description or (view.__doc__ or "").strip(),
                tag=tag,
                path_schema=path,
                query_schema=query,
                body_schema=body,
                answers=(ok, *errors),
            )
        )
        blueprint.add_url_rule(
            rule, view.__name__, _handler(view, ok, body, query), methods=[method.upper()]
        )
        return view

    return declare


def _handler(view: View, ok: Answer, body: type[Schema] | None, query: type[Schema] | None) -> View:
    """The function Flask calls: load what is declared, call the view, dump its result."""
    # Schemas are built once here, not per request: the completion call is the hot path.
    dump = ok.schema().dump if ok.schema is not None else None
    status = ok.status
    load_body = body().load if body is not None else None
    load_query = query().load if query is not None else None

    if load_body is None and load_query is None:
        # The common case, and the completion call's: one call and one dump, nothing more.
        if dump is None:
            return view

        def respond(**kwargs: Any) -> tuple[Any, int]:
            return dump(view(**kwargs)), status

    else:

        def respond(**kwargs: Any) -> tuple[Any, int]:
            if load_body is not None:
                kwargs["body"] = load_body(_json_body())
            if load_query is not None:
                # A repeated key counts once (its first value), as Flask reads it.
                kwargs["query"] = load_query(request.args)
            result = view(**kwargs)
            return (result, status) if dump is None else (dump(result), status)

    respond.__name__ = view.__name__
    respond.__doc__ = view.__doc__
    return respond


def _json_body() -> Any:
    """The JSON body, whatever its Content-Type says; an empty body counts as `{}`."""
    return request.get_json(force=True) if request.get_data(cache=True) else {}


def _openapi_path(rule: str, path: type[Schema] | None) -> str:
    """`/orders/<identifier:order_identifier>` as `/orders/{orderIdentifier}`."""
    fields = path().fields if path is not None else {}

    def public_name(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in fields:
            raise ValueError(f"{rule}: declare <{name}> in the endpoint's path schema")
        return "{" + (fields[name].data_key or name) + "}"

    return _RULE_VARIABLE.sub(public_name, rule)


def html_page(text: str) -> Response:
    """A page of ours (`text`, HTML) as the answer of a view declared with `content_type=HTML`."""
    return Response(text, mimetype=HTML)
