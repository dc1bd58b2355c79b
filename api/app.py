"""The Flask app factory: one app, its HTTP kit and every surface's blueprints."""

from __future__ import annotations

import logging

from flask import Flask

import api.sim.board
import api.sim.faults
import api.sim.journal
import api.sim.orders
import api.sim.printers
import api.sim.processor
import api.sim.scenarios
import api.v2.addons
import api.v2.cancel
import api.v2.completion
import api.v2.orders
import api.v2.pick
import api.v2.stations
import api.v2.submission
import api.v2.tickets
import api.v2.trays
import api.web.board
import api.web.docs
import api.web.health
import api.web.landing
import api.web.metrics
from api.http.access import register_access, register_write_guard
from api.http.body import JSONProvider
from api.http.errors import register_error_handlers
from api.http.paths import IdentifierConverter, SegmentConverter
from api.http.requests import ObservedRequest, RequestObserver
from api.http.runtime import EXTENSION, Runtime
from api.sim.faults import register_faults
from api.sim.journal import register_journal
from config.lab_file import load_lab
from config.logs import configure_logging
from config.settings import Settings
from shared.db import schema
from shared.db.engine import make_engine, make_session_factory
from shared.domain.lab_setup import Lab
from shared.wakeup import announcer_for

MAX_BODY_BYTES = 1024 * 1024


# The simulator's own: `SIM_API=off` leaves them out altogether.
SIM_BLUEPRINTS = (
    api.sim.orders.blueprint,
    api.sim.board.blueprint,
    api.sim.processor.blueprint,
    api.sim.printers.blueprint,
    api.sim.scenarios.blueprint,
    api.sim.journal.blueprint,
    api.sim.faults.blueprint,
    api.web.board.blueprint,
)
# Every blueprint the app serves, in this order; the OpenAPI document (api.http.openapi, and
# `python -m api.http.openapi`) covers the same ones, in the same order.
BLUEPRINTS = (
    api.web.landing.blueprint,
    api.web.docs.blueprint,
    api.v2.submission.blueprint,
    api.v2.completion.blueprint,
    api.v2.orders.blueprint,
    api.v2.cancel.blueprint,
    api.v2.pick.blueprint,
    api.v2.trays.blueprint,
    api.v2.tickets.blueprint,
    api.v2.stations.blueprint,
    api.v2.addons.blueprint,
    *SIM_BLUEPRINTS,
    api.web.health.blueprint,
    api.web.metrics.blueprint,
)


def create_app(settings: Settings | None = None, *, lab: Lab | None = None) -> Flask:
    """Build the API for `settings` (default: from the environment) on its database."""
    settings = settings or Settings.load()
    if not logging.getLogger().handlers:  # under gunicorn, which does not call config.startup
        configure_logging("api", level=settings.log_level, log_format=settings.log_format)
    lab = lab or load_lab(settings.lab_file)
    # Two engines of DATABASE_POOL_SIZE connections each, and never more: the process's share of
    # the server's max_connections (docs/deploying.md). Each connection a request holds is
    # watched: a server that stops answering costs the request a 503, not its thread.
    pool_size = settings.database_pool_size
    engine = make_engine(
        settings.database_url,
        timeout=settings.database_timeout,
        pool_size=pool_size,
        watchdog=True,
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
        watchdog=True,
    )
    announce_flag = announcer_for(autocommit_engine)
    app.extensions[EXTENSION] = Runtime(
        settings,
        lab,
        engine,
        make_session_factory(engine),
        autocommit_engine,
        announce_flag,
    )
    register_error_handlers(app)
    register_access(app, settings)
    if settings.journal:  # after the key check: a call it refuses is not recorded
        register_journal(app, settings)
    if settings.sim_api:  # after the key check: a fault plays a server that took the call
        register_faults(app)
        register_write_guard(app, settings, SIM_BLUEPRINTS)
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
        app.wsgi_app, log_each_request=settings.log_format == "json", max_body_bytes=MAX_BODY_BYTES
    )
    return app


def close_app(app: Flask, timeout: float = 2.0) -> None:
    """Let the app's journal writer write what it holds (at most `timeout` s), then close its
    connections. For an app made inside a process that goes on, a test or a benchmark: the
    writer's thread outlives the app, and must not write into a database dropped after it."""
    writer = app.extensions.get(api.sim.journal.WRITER)
    if writer is not None:
        writer.wait_until_written(timeout)
    found: Runtime = app.extensions[EXTENSION]
    found.engine.dispose()
    found.autocommit_engine.dispose()
