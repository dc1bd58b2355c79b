"""The Rx-Universe v2 API simulator: a Flask app factory."""

from __future__ import annotations

import logging

from flask import Flask

from api.access import register_access
from api.errors import JSONProvider, register_error_handlers
from api.faults import register_faults
from api.flag_announcer import FlagAnnouncer
from api.journal import register_journal
from api.metrics import metrics
from api.observability import ObservedRequest, RequestObserver
from api.routes import IdentifierConverter, SegmentConverter
from api.routes.board import board_page
from api.routes.faults import faults
from api.routes.health import health
from api.routes.job_track import job_track
from api.routes.journal import journal
from api.routes.scenarios import scenarios
from api.routes.sim import sim
from api.routes.site import site
from api.routes.v2 import v2
from api.runtime import EXTENSION, Runtime
from config.lab_file import load_lab
from config.logs import configure_logging
from config.settings import Settings
from shared.db import schema
from shared.db.engine import make_engine, make_session_factory
from shared.domain.lab import Lab

MAX_BODY_BYTES = 1024 * 1024
# Every blueprint the app serves, in this order; the OpenAPI document (api.openapi, and
# `python -m api.openapi`) covers the same ones, in the same order.
BLUEPRINTS = (site, v2, job_track, sim, scenarios, journal, faults, board_page, health, metrics)
# The simulator's own: `SIM_API=off` leaves them out altogether.
SIM_BLUEPRINTS = (sim, scenarios, journal, faults, board_page)


def create_app(settings: Settings | None = None, *, lab: Lab | None = None) -> Flask:
    """Build the API for `settings` (default: from the environment) on its database."""
    settings = settings or Settings.load()
    if not logging.getLogger().handlers:  # under gunicorn, which does not call config.startup
        configure_logging("api", level=settings.log_level, log_format=settings.log_format)
    lab = lab or load_lab(settings.lab_file)
    pool_size = settings.database_pool_size
    engine = make_engine(
        settings.database_url, timeout=settings.database_timeout, pool_size=pool_size
    )
    schema.prepare(engine)

    app = Flask(__name__)
    app.request_class = ObservedRequest
    json = JSONProvider(app)
    json.sort_keys = False  # the documented key order is part of the contract
    app.json = json
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    autocommit_engine = make_engine(
        settings.database_url,
        timeout=settings.database_timeout,
        autocommit=True,
        pool_size=pool_size,
    )
    announce_flag = (
        FlagAnnouncer(autocommit_engine).flagged
        if autocommit_engine.dialect.name == "postgresql"
        else lambda: None
    )
    app.extensions[EXTENSION] = Runtime(
        settings,
        lab,
        engine,
        make_session_factory(engine),
        autocommit_engine,
        announce_flag,
    )
    register_error_handlers(app)
    if settings.journal:  # before the key check, so that refused calls are recorded too
        register_journal(app, settings)
    register_access(app, settings)
    if settings.sim_api:  # after the key check: a fault plays a server that took the call
        register_faults(app)
    app.url_map.converters["identifier"] = IdentifierConverter
    app.url_map.converters["segment"] = SegmentConverter
    # werkzeug would answer `/api//sim/orders` with a redirect built from the Host header the
    # client sent (anywhere at all); such a path is simply not one of ours.
    app.url_map.merge_slashes = False
    for blueprint in BLUEPRINTS:
        # SIM_API off: /api/sim is not there at all, and answers our 404.
        if settings.sim_api or blueprint not in SIM_BLUEPRINTS:
            app.register_blueprint(blueprint)
    # Around everything, so that every answer, a refusal or Flask's own, has its id and counts.
    app.wsgi_app = RequestObserver(  # type: ignore[method-assign]  # Flask's documented way
        app.wsgi_app, log_each_request=settings.log_format == "json"
    )
    return app
