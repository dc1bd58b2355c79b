"""`GET /board`: the lab board's page and its files (in `static/`)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory
from werkzeug.exceptions import NotFound

from api.http.endpoints import HTML, Answer, endpoint
from api.http.errors import OURS
from api.sim import TAG

blueprint = Blueprint("board_page", __name__)


FILES = Path(__file__).resolve().parent / "static"


# What the page loads; nothing else of the folder is served.
ASSETS = frozenset({"board.css", "board.js"})


@endpoint(
    blueprint,
    "GET",
    "/board",
    tag=TAG,
    summary="The lab board",
    description=OURS + "a wall-screen page showing the lab live: work in process per station, "
    "the queue, the Job Tracker, recent completions and rejections, the latest events. It reads "
    "`GET /api/sim/board` every 1.5 s; with `SIM_ADMIN_KEY` set, open it as `/board#key=<key>`.",
    ok=Answer(200, "An HTML page.", content_type=HTML),
)
def board() -> Response:
    """The board's page; its script does the rest."""
    return send_from_directory(FILES, "board.html", mimetype=HTML, max_age=0)


# Static files of the page, routed plainly and left out of the document, as Swagger UI's are.
@blueprint.get("/board/<path:filename>")
def board_asset(filename: str) -> Response:
    """The board's stylesheet or script."""
    if filename not in ASSETS:
        raise NotFound()
    return send_from_directory(FILES, filename, max_age=0)
