"""The landing page (`/`): what is running and where to go from here; and the favicon."""

from __future__ import annotations

from html import escape
from pathlib import Path

from flask import Blueprint, Response, request, url_for
from sqlalchemy.orm import Session

from api.http.endpoints import HTML, Answer, endpoint, html_page
from api.http.errors import OURS
from api.http.fields import utc_millis
from api.http.runtime import runtime, transactional
from api.web import DOCS_TAG
from shared.db.engine import database_place
from shared.domain.clock import utcnow
from shared.monitoring.health import read_health

blueprint = Blueprint("landing", __name__)

FAVICON = Path(__file__).resolve().parent / "static" / "favicon.svg"
SVG = "image/svg+xml"

PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Rx-Universe v2 API simulator</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" type="image/svg+xml" href="{favicon}">
<style>body{{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;
line-height:1.5;color:#1d2733}}h1{{font-size:1.6rem}}h2{{font-size:1.15rem;margin-top:1.8rem}}
th{{text-align:left;padding:.2rem 1.2rem .2rem 0;vertical-align:top;font-weight:600}}
pre{{white-space:pre-wrap;background:#f3f5f7;padding:.75rem;border-radius:4px}}
.ok{{color:#1b7a3a}}.warn{{color:#b4541a}}a{{color:#1457a6}}</style></head>
<body>
<h1>Rx-Universe v2 API simulator</h1>
<p>Rx-Universe's v2 order API and its Job Tracker, simulated: build and test a client against
it, or run a lab on it.</p>
<h2>Running now</h2>
<table id="running">
<tr><th>Database</th><td id="database">{database}</td></tr>
<tr><th>Job Tracker</th><td id="tracker">{tracker}</td></tr>
<tr><th>Remote Order Processor</th><td id="importer">{importer}</td></tr>
<tr><th>Lab</th><td id="lab">{lab}</td></tr>
</table>
<h2>Where to go</h2>
<ul id="links">
<li><a href="{docs}">API reference</a> (Swagger UI: every endpoint, try it out)</li>
<li><a href="{board}">Lab board</a> (the lab live, for a wall screen)</li>
<li><a href="{health}">Health</a> (what a load balancer asks)</li>
<li><a href="{metrics}">Metrics</a> (Prometheus)</li>
<li><a href="{document}">OpenAPI document</a> (JSON, to generate a client)</li>
</ul>
<h2>Quick start</h2>
<pre id="quick-start">curl -X POST {base}/api/sim/orders -H 'Content-Type: application/json' \
  -d '{{"orderNumber": "33719", "stations": ["GEN"]}}'
curl -X POST {base}/api/v2/orders/33719/complete
curl {base}/api/v2/orders/33719/status</pre>
<p>An order made by the simulator, flagged for completion, then read: the Job Tracker completes
it at its next poll.</p>
<h2>The manual</h2>
<p id="manual">In the project's <code>docs/</code> folder: start at <code>docs/index.md</code>, or
run <code>.venv/bin/mkdocs serve</code> there (after <code>scripts/setup test</code>) and open
http://127.0.0.1:8000. The API reference above is its contract, served by this process.</p>
</body>
</html>
"""


@endpoint(
    blueprint,
    "GET",
    "/",
    tag=DOCS_TAG,
    summary="The landing page",
    description=OURS + "what is running (database, Job Tracker, Remote Order Processor, lab), "
    "links to the API reference, the board, health, metrics and the OpenAPI document, a quick "
    "start, and where the manual is.",
    ok=Answer(200, "An HTML page.", content_type=HTML),
)
@transactional(write=False)
def landing(session: Session) -> Response:
    """Where a person who opens the API in a browser starts."""
    app = runtime()
    # What /healthz reads, read the same way (its tracker and importer are there once the
    # schema is current, as it is in any process that started).
    health = read_health(session, utcnow())
    tracker, importer_state = health.tracker, health.importer
    if tracker is not None and tracker.running:
        beat = utc_millis(tracker.last_heartbeat)
        tracker_text = f'<span class="ok">running</span> (last heartbeat {beat})'
    else:
        tracker_text = (
            '<span class="warn">not running</span>: flagged orders wait until one runs '
            "(<code>run_tracker.py</code>)"
        )
    tracker_text += f"; {health.pending or 0} flagged order(s) waiting"
    importer = (
        '<span class="warn">paused</span> (<code>POST /api/sim/processor/resume</code> resumes it)'
        if importer_state is not None and importer_state.paused
        else "importing with the Job Tracker"
    ) + f"; {importer_state.waiting if importer_state else 0} submitted order(s) waiting"
    settings = app.settings
    engine = "SQLite" if app.engine.dialect.name == "sqlite" else "PostgreSQL"
    lab = app.lab
    body = PAGE.format(
        favicon=url_for("landing.favicon"),
        database=escape(f"{engine}, {database_place(settings.database_url)}"),
        tracker=tracker_text,
        importer=importer,
        lab=escape(
            f"{settings.lab_file.name}: {sum(s.takes_checkins for s in lab.stations.values())} "
            f"stations, {len(lab.addons)} addons"
        ),
        docs=url_for("docs.docs"),
        board=url_for("board_page.board"),
        health=url_for("health.healthz"),
        metrics=url_for("metrics.scrape"),
        document=url_for("docs.openapi_document"),
        base=escape(request.host_url.rstrip("/")),
    )
    return html_page(body)


@endpoint(
    blueprint,
    "GET",
    "/favicon.ico",
    tag=DOCS_TAG,
    summary="The favicon",
    description=OURS + "the pages' icon (SVG), at the address every browser asks for.",
    ok=Answer(200, "An SVG image.", content_type=SVG),
)
def favicon() -> Response:
    """So that no browser session starts with a 404."""
    return Response(FAVICON.read_bytes(), mimetype=SVG, headers={"Cache-Control": "max-age=86400"})
