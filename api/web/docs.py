"""The contract in a browser: Swagger UI at `/api/v2/docs` and the OpenAPI document it reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, send_from_directory, url_for
from swagger_ui_bundle import swagger_ui_path
from werkzeug.exceptions import NotFound

from api.http.endpoints import HTML, Answer, endpoint, html_page
from api.http.errors import API_KEY_REFUSED, OURS
from api.http.runtime import runtime
from api.web import DOCS_TAG

blueprint = Blueprint("docs", __name__)

# The Swagger UI files the docs page loads; nothing else of the package is served.
SWAGGER_ASSETS = frozenset(
    {"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png", "favicon-16x16.png"}
)


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


@endpoint(
    blueprint,
    "GET",
    "/api/v2/docs",
    tag=DOCS_TAG,
    summary="The API documentation (Swagger UI)",
    description=OURS + "Swagger UI on this document, served from the installed package.",
    ok=Answer(200, "An HTML page.", content_type=HTML),
    errors=(API_KEY_REFUSED,),
)
def docs() -> Response:
    """Swagger UI, every asset from this server."""
    asset = {name: url_for("docs.swagger_asset", filename=name) for name in SWAGGER_ASSETS}
    return html_page(
        DOCS_PAGE.format(
            css=asset["swagger-ui.css"],
            js=asset["swagger-ui-bundle.js"],
            icon32=asset["favicon-32x32.png"],
            icon16=asset["favicon-16x16.png"],
            document=url_for("docs.openapi_document"),
        )
    )


@endpoint(
    blueprint,
    "GET",
    "/api/v2/openapi.json",
    tag=DOCS_TAG,
    summary="This OpenAPI document",
    description=OURS + "generated from the same declarations that route and validate requests.",
    ok=Answer(200, "The OpenAPI 3.0 document."),
    errors=(API_KEY_REFUSED,),
)
def openapi_document() -> dict[str, Any]:
    """The document of every endpoint the app serves."""
    # Imported here, not at the top: `python -m api.http.openapi` imports api.app (so this module)
    # first, and runpy warns when that has already imported the module it runs.
    from api.http.openapi import build_document

    return build_document(tuple(current_app.blueprints.values()), runtime().lab)


# Static files of the viewer, not part of the API: routed plainly, left out of the document.
@blueprint.get("/api/v2/docs/<path:filename>")
def swagger_asset(filename: str) -> Response:
    """One of Swagger UI's files, from the installed package."""
    if filename not in SWAGGER_ASSETS:
        raise NotFound()
    return send_from_directory(Path(str(swagger_ui_path)), filename)
