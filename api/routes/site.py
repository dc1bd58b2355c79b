"""The pages a person opens (ours): a landing page, the README, Swagger UI and the document.

Swagger UI comes from the installed `swagger-ui-bundle` package and is served by us, so the
documentation works on a lab's machine with no internet.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, send_from_directory, url_for
from swagger_ui_bundle import swagger_ui_path
from werkzeug.exceptions import NotFound

from api.endpoints import HTML, Answer, endpoint
from api.errors import API_KEY_REFUSED, OURS
from api.runtime import runtime

site = Blueprint("site", __name__)
TAG = "Documentation (ours)"
README = Path(__file__).resolve().parent.parent.parent / "README.md"
# The Swagger UI files the docs page loads; nothing else of the package is served.
SWAGGER_ASSETS = frozenset(
    {"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png", "favicon-16x16.png"}
)
PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;
line-height:1.5}}pre{{white-space:pre-wrap;background:#f6f6f6;padding:.75rem}}</style></head>
<body>
{body}
</body>
</html>
"""
DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Rx-Universe v2 API simulator: API documentation</title>
<link rel="stylesheet" href="{css}">
<link rel="icon" type="image/png" href="{icon32}" sizes="32x32">
<link rel="icon" type="image/png" href="{icon16}" sizes="16x16"></head>
<body>
<div id="swagger-ui"></div>
<script src="{js}"></script>
<script>
window.ui = SwaggerUIBundle({{
  url: "{document}",
  dom_id: "#swagger-ui",
  deepLinking: true,
  // No call to the public validator service: the page must work offline.
  validatorUrl: null
}});
</script>
</body>
</html>
"""


def _html(text: str) -> Response:
    return Response(text, mimetype=HTML)


def _readme_sections() -> list[tuple[str, str, str]]:
    """The README's `## ` sections as (anchor, title, text); none if the README is not shipped."""
    if not README.is_file():
        return []
    parts = re.split(r"^## (.+)$", README.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return [
        (re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-"), title, text.strip())
        for title, text in zip(parts[1::2], parts[2::2], strict=True)
    ]


@endpoint(
    site,
    "GET",
    "/",
    tag=TAG,
    summary="The landing page",
    description=OURS + "links to the API documentation, this document and the README.",
    ok=Answer(200, "An HTML page.", content_type=HTML),
)
def landing() -> Response:
    """Where a person who opens the API in a browser starts."""
    readme = "".join(
        f'<li><a href="{url_for("site.readme")}#{anchor}">{escape(title)}</a></li>\n'
        for anchor, title, _ in _readme_sections()
    )
    body = f"""<h1>Rx-Universe v2 API simulator</h1>
<p>A simulator of the Rx-Universe order-completion API and of its Job Tracker.</p>
<ul>
<li><a href="{url_for("site.docs")}">API documentation</a> (Swagger UI)</li>
<li><a href="{url_for("site.openapi_document")}">The OpenAPI document</a> (JSON)</li>
</ul>
<h2>The README</h2>
<ul>
{readme}</ul>"""
    return _html(PAGE.format(title="Rx-Universe v2 API simulator", body=body))


@endpoint(
    site,
    "GET",
    "/readme",
    tag=TAG,
    summary="The README",
    description=OURS + "the project's README, one anchored section per heading.",
    ok=Answer(200, "An HTML page.", content_type=HTML),
)
def readme() -> Response:
    """The README as text, so the landing page can link its sections."""
    body = "".join(
        f'<h2 id="{anchor}">{escape(title)}</h2>\n<pre>{escape(text)}</pre>\n'
        for anchor, title, text in _readme_sections()
    )
    return _html(PAGE.format(title="rx-jobtracker: README", body=f"<h1>rx-jobtracker</h1>\n{body}"))


@endpoint(
    site,
    "GET",
    "/api/v2/docs",
    tag=TAG,
    summary="The API documentation (Swagger UI)",
    description=OURS + "Swagger UI on this document, served from the installed package.",
    ok=Answer(200, "An HTML page.", content_type=HTML),
    errors=(API_KEY_REFUSED,),
)
def docs() -> Response:
    """Swagger UI, every asset from this server."""
    asset = {name: url_for("site.swagger_asset", filename=name) for name in SWAGGER_ASSETS}
    return _html(
        DOCS_PAGE.format(
            css=asset["swagger-ui.css"],
            js=asset["swagger-ui-bundle.js"],
            icon32=asset["favicon-32x32.png"],
            icon16=asset["favicon-16x16.png"],
            document=url_for("site.openapi_document"),
        )
    )


@endpoint(
    site,
    "GET",
    "/api/v2/openapi.json",
    tag=TAG,
    summary="This OpenAPI document",
    description=OURS + "generated from the same declarations that route and validate requests.",
    ok=Answer(200, "The OpenAPI 3.0 document."),
    errors=(API_KEY_REFUSED,),
)
def openapi_document() -> dict[str, Any]:
    """The document of every endpoint the app serves."""
    # Imported here, not at the top: `python -m api.openapi` imports the package `api` (so this
    # module) first, and runpy warns when that has already imported the module it runs.
    from api.openapi import build_document

    return build_document(tuple(current_app.blueprints.values()), runtime().lab)


# Static files of the viewer, not part of the API: routed plainly, left out of the document.
@site.get("/api/v2/docs/<path:filename>")
def swagger_asset(filename: str) -> Response:
    """One of Swagger UI's files, from the installed package."""
    if filename not in SWAGGER_ASSETS:
        raise NotFound()
    return send_from_directory(Path(str(swagger_ui_path)), filename)
