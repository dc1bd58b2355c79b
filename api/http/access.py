"""Who may call what: API keys for /api/v2, the admin key for /api/sim, and CORS for browsers.

Each hook is registered only when its setting is given, so an open API (the default, as
Rx-Universe is) pays nothing for them on the completion call.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from flask import Flask, Request, Response, request

from api.http.errors import ADMIN_KEY_REQUIRED, API_KEY_REQUIRED, UNAUTHORIZED, error_response
from config.settings import Settings

V2_PREFIX = "/api/v2/"
SIM_PREFIX = "/api/sim/"


# Read-only simulator endpoints anyone may call when SIM_ADMIN_KEY is set: whether a tracker
# runs is what a dashboard or a start-up probe reads, and it holds no client data.
OPEN_SIM_PATHS = frozenset({"/api/sim/tracker"})


# Headers a browser may send and read across origins: the keys, our request id, the JSON body.
CORS_REQUEST_HEADERS = "Authorization, Content-Type, X-API-Key, X-Request-ID"
CORS_EXPOSED_HEADERS = "Retry-After, WWW-Authenticate, X-Request-ID"
CORS_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"
CORS_MAX_AGE = "600"


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
        path = request.path
        if path.startswith(V2_PREFIX):
            keys, detail = api_keys, API_KEY_REQUIRED
        elif path.startswith(SIM_PREFIX) and path not in OPEN_SIM_PATHS:
            keys, detail = admin_keys, ADMIN_KEY_REQUIRED
        else:
            return None
        if keys and not key_matches(presented_key(request), keys):
            return unauthorized(detail)
        return None


def _register_cors(app: Flask, origins: Sequence[str]) -> None:
    anyone = "*" in origins

    def allowed(origin: str | None) -> bool:
        return origin is not None and (anyone or origin in origins)

    # Registered before the key check: a browser's preflight never carries the key.
    @app.before_request
    def _preflight() -> Response | None:
        origin = request.headers.get("Origin")
        if (
            request.method == "OPTIONS"
            and "Access-Control-Request-Method" in request.headers
            and allowed(origin)
        ):
            response = Response(status=204)
            response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
            response.headers["Access-Control-Allow-Headers"] = CORS_REQUEST_HEADERS
            response.headers["Access-Control-Max-Age"] = CORS_MAX_AGE
            return response
        return None

    @app.after_request
    def _allow_origin(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if allowed(origin):
            response.headers["Access-Control-Allow-Origin"] = "*" if anyone else str(origin)
            response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSED_HEADERS
        if not anyone:
            response.vary.add("Origin")
        return response
