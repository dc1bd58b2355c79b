"""Who may call what: API keys for /api/v2, the admin key for /api/sim, CORS for browsers, and
the simulator's writes kept from other sites' pages (CSRF).

Each hook is registered only when its setting is given, or (the write guard) only on the
simulator's routes, so an open API (the default, as Rx-Universe is) pays nothing for them on the
completion call.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Sequence

from flask import Blueprint, Flask, Request, Response, request
from flask_cors import CORS

from api.http.errors import (
    ADMIN_KEY_REQUIRED,
    API_KEY_REQUIRED,
    FORBIDDEN,
    UNAUTHORIZED,
    UNSUPPORTED_MEDIA_TYPE,
    cross_origin_detail,
    error_response,
    not_json_detail,
)
from config.settings import Settings

V2_PREFIX = "/api/v2/"
SIM_PREFIX = "/api/sim/"


# Read-only simulator endpoints anyone may call when SIM_ADMIN_KEY is set: whether a tracker
# runs is what a dashboard or a start-up probe reads, and it holds no client data.
OPEN_SIM_PATHS = frozenset({"/api/sim/tracker"})
# The contract itself stays public with API_KEYS set: it describes, it exposes no data.
DOCS_PATH = "/api/v2/docs"
OPEN_V2_PATHS = frozenset({DOCS_PATH, "/api/v2/openapi.json"})


def is_guarded(path: str) -> str | None:
    """Which key a path needs when keys are set: "api" (/api/v2), "admin" (/api/sim), or None
    (the pages, the contract, the tracker's status, health, metrics)."""
    if path.startswith(V2_PREFIX):
        if path in OPEN_V2_PATHS or path.startswith(DOCS_PATH + "/"):
            return None
        return "api"
    if path.startswith(SIM_PREFIX) and path not in OPEN_SIM_PATHS:
        return "admin"
    return None


# Headers a browser may send and read across origins: the keys, our request id, the JSON body.
CORS_REQUEST_HEADERS = ["Authorization", "Content-Type", "X-API-Key", "X-Request-ID"]
CORS_EXPOSED_HEADERS = ["Retry-After", "WWW-Authenticate", "X-Request-ID"]
# Every method the API answers (PUT: the snapshot upload).
CORS_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# What `CORS_ORIGINS=*` lets any site do on /api/sim: read, never change the lab.
CORS_READ_METHODS = ["GET", "HEAD", "OPTIONS"]
CORS_MAX_AGE = 600


def presented_key(req: Request) -> str | None:
    """The key in `Authorization: Bearer <key>` or, failing that, in `X-API-Key`."""
    scheme, _, credentials = req.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return req.headers.get("X-API-Key") or None


def key_matches(presented: str | None, keys: Sequence[str]) -> bool:
    """Whether `presented` is one of `keys`, each compared in constant time, all of them always
    (so the time taken says nothing about which key came close)."""
    if presented is None:
        return False
    given = presented.encode()
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key.encode())
    return matched


def unauthorized(detail: str) -> tuple[Response, int]:
    """401 in our error shape, the same whatever was tried, with the challenge RFC 6750 asks."""
    response, status = error_response(401, UNAUTHORIZED, [detail])
    response.headers["WWW-Authenticate"] = 'Bearer realm="rx-jobtracker"'
    return response, status


def register_access(app: Flask, settings: Settings) -> None:
    """Install the key checks and CORS that `settings` ask for, and nothing else."""
    if settings.cors_origins:
        _register_cors(app, settings.cors_origins)
    if settings.api_keys or settings.sim_admin_key:
        _register_keys(app, settings.api_keys, settings.sim_admin_key)


def _register_keys(app: Flask, api_keys: Sequence[str], admin_key: str | None) -> None:
    admin_keys = (admin_key,) if admin_key else ()

    @app.before_request
    def _require_key() -> tuple[Response, int] | None:
        guard = is_guarded(request.path)
        if guard == "api":
            keys, detail = api_keys, API_KEY_REQUIRED
        elif guard == "admin":
            keys, detail = admin_keys, ADMIN_KEY_REQUIRED
        else:
            return None
        if keys and not key_matches(presented_key(request), keys):
            return unauthorized(detail)
        return None


def _register_cors(app: Flask, origins: Sequence[str]) -> None:
    """flask-cors on the API's two prefixes, for the listed origins. With `*`, /api/sim answers
    any origin's reads only: a write's preflight is refused and its answer carries no CORS
    header, so no site can drive the simulator from a visitor's browser."""
    anyone = "*" in origins
    options = {
        "origins": "*" if anyone else list(origins),
        "methods": CORS_METHODS,
        "allow_headers": CORS_REQUEST_HEADERS,
        "expose_headers": CORS_EXPOSED_HEADERS,
        "max_age": CORS_MAX_AGE,
        "send_wildcard": anyone,  # `*` itself, not each caller's origin echoed
    }
    sim = {**options, "methods": CORS_READ_METHODS} if anyone else options

    # Registered first: a preflight is answered before the key check (a browser's never carries
    # the key) and before any fault; flask-cors adds its headers to this empty answer.
    @app.before_request
    def _preflight() -> Response | None:
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            return Response(status=204)
        return None

    if anyone:
        # Registered before CORS(app), so it runs after flask-cors's hook (Flask runs them in
        # reverse): what flask-cors added to a simulator write is taken off again.
        @app.after_request
        def _no_sim_writes(response: Response) -> Response:
            if request.path.startswith(SIM_PREFIX) and request.method not in CORS_READ_METHODS:
                for header in {key for key, _ in response.headers.items()}:
                    if header.startswith("Access-Control-"):
                        del response.headers[header]
            return response

    CORS(app, resources={rf"{V2_PREFIX}*": options, rf"{SIM_PREFIX}*": sim}, vary_header=True)


# What changes the lab; a write guard leaves reads (GET, HEAD) and preflights (OPTIONS) alone.
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON_TYPE = "application/json"


def is_json(mimetype: str) -> bool:
    """Whether a Content-Type's media type (lowercase, without parameters) is JSON:
    `application/json` or a JSON-based one (`application/merge-patch+json`)."""
    return mimetype == JSON_TYPE or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def register_write_guard(app: Flask, settings: Settings, blueprints: Iterable[Blueprint]) -> None:
    """Refuse, on `blueprints` (the simulator's), a write that a page on another site could have
    sent without the browser asking first: a form, or a `fetch` in no-cors mode.

    Such a "simple" request may only carry a form or `text/plain` body, or none, and its answer
    is unreadable to the page, but the write is done all the same: with `SIM_API` on and no
    admin key, any page a lab's browser opens could reset the lab. So a write's body must be
    declared JSON (415 otherwise), which no page can send elsewhere without a CORS preflight, and
    a write without a Content-Type must not come from a page on another origin (403): browsers
    send `Origin` on every POST, PUT, PATCH and DELETE, and curl, scripts and the lab send none.

    Not registered when `SIM_ADMIN_KEY` is set: every write must then carry the key, which no
    browser adds by itself. Registered on the simulator's blueprints only, so /api/v2 pays
    nothing for it.
    """
    if settings.sim_admin_key:
        return
    # The origins CORS_ORIGINS lets write already, with JSON; `*` never covers a simulator write.
    trusted = frozenset(origin for origin in settings.cors_origins if origin != "*")

    def _guard_write() -> tuple[Response, int] | None:
        if request.method not in WRITE_METHODS:
            return None
        mimetype = request.mimetype
        if mimetype:
            return None if is_json(mimetype) else _not_json(mimetype)
        origin = request.headers.get("Origin")
        if origin is None or origin in trusted or _is_this_server(origin):
            return None
        return error_response(403, FORBIDDEN, [cross_origin_detail(origin)])

    for blueprint in blueprints:
        app.before_request_funcs.setdefault(blueprint.name, []).append(_guard_write)


def _not_json(mimetype: str) -> tuple[Response, int]:
    """415, naming what would have been taken (RFC 9110: `Accept` on a 415 lists it)."""
    response, status = error_response(415, UNSUPPORTED_MEDIA_TYPE, [not_json_detail(mimetype)])
    response.headers["Accept"] = JSON_TYPE
    return response, status


def _is_this_server(origin: str) -> bool:
    """Whether `origin` (`scheme://host[:port]`) names the host and port the request was sent to.

    The scheme is not compared: behind a proxy that ends TLS the page is https and the API sees
    http; another site differs in its host or port, which the browser sets, not the page.
    """
    _, separator, host = origin.partition("://")
    return bool(separator) and host.lower() == request.host.lower()
