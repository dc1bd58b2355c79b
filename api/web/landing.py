"""The landing page (`/`) and the README (`/readme`)."""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

from flask import Blueprint, Response, url_for

from api.http.endpoints import HTML, Answer, endpoint, html_page
from api.http.errors import OURS
from api.web import DOCS_TAG

blueprint = Blueprint("landing", __name__)

README = Path(__file__).resolve().parent.parent.parent / "README.md"


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


def _readme_sections() -> list[tuple[str, str, str]]:
    """The README's `## ` sections as (anchor, title, text); none if the README is not shipped."""
    if not README.is_file():
        return []
    # The manual's include markers (`<!-- --8<-- ... -->`) are for MkDocs, not for a reader.
    text = re.sub(r"^<!--.*-->\n", "", README.read_text(encoding="utf-8"), flags=re.MULTILINE)
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return [
        (re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-"), title, text.strip())
        for title, text in zip(parts[1::2], parts[2::2], strict=True)
    ]


@endpoint(
    blueprint,
    "GET",
    "/",
    tag=DOCS_TAG,
    summary="The landing page",
    description=OURS + "links to the API documentation, this document and the README.",
    ok=Answer(200, "An HTML page.", content_type=HTML),
)
def landing() -> Response:
    """Where a person who opens the API in a browser starts."""
    readme = "".join(
        f'<li><a href="{url_for("landing.readme")}#{anchor}">{escape(title)}</a></li>\n'
        for anchor, title, _ in _readme_sections()
    )
    body = f"""<h1>Rx-Universe v2 API simulator</h1>
<p>A simulator of the Rx-Universe order-completion API and of its Job Tracker.</p>
<ul>
<li><a href="{url_for("docs.docs")}">API documentation</a> (Swagger UI)</li>
<li><a href="{url_for("docs.openapi_document")}">The OpenAPI document</a> (JSON)</li>
</ul>
<h2>The README</h2>
<ul>
{readme}</ul>"""
    return html_page(PAGE.format(title="Rx-Universe v2 API simulator", body=body))


@endpoint(
    blueprint,
    "GET",
    "/readme",
    tag=DOCS_TAG,
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
    return html_page(
        PAGE.format(title="rx-jobtracker: README", body=f"<h1>rx-jobtracker</h1>\n{body}")
    )
