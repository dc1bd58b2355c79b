"""Each request's id (from `X-Request-ID`, or made here), echoed back and put on its log lines;
its count and time in the metrics; with LOG_FORMAT=json, one structured line per request.

A WSGI middleware around the Flask app rather than Flask's before/after/teardown hooks: the
hooks' own dispatch cost the status read about a fifth of its throughput (docs/benchmarks.md),
and the middleware also sees the answers Flask builds for its own errors.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import Counter, Histogram
from werkzeug.routing import Rule

from api.http.body import BodyRefused, JSONRequest, take_whole_body
from config.logs import REQUEST_ID

REQUEST_ID_HEADER = "X-Request-ID"


# What a client's id may look like to be kept: anything else (too long, control characters that
# could forge a log line) is replaced by one of ours.
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")


# Named as the manual documents it (docs/api/monitoring.md), whichever module writes it.
access_log = logging.getLogger("api.access")
log = logging.getLogger(__name__)


# Where the request notes the route it matched: Flask forgets the request before the middleware
# has the answer in hand.
ROUTE_KEY = "rx_jobtracker.route"


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


REQUESTS = Counter(
    "rx_http_requests_total", "HTTP requests answered, by route and status", ["route", "status"]
)
LATENCY = Histogram(
    "rx_http_request_duration_seconds",
    "Time to answer an HTTP request, by route",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


# Routes that did not match are one label, so a scan of random paths cannot grow the series.
UNMATCHED = "unmatched"


def record_request(route: str, status: int, seconds: float) -> None:
    """Count and time one answered request (the middleware below calls it for each)."""
    count, time_taken = _series(route, status)
    count()
    time_taken(seconds)


@functools.cache
def _series(route: str, status: int) -> tuple[Callable[[], None], Callable[[float], None]]:
    """The request counter's and the latency histogram's series for a route and status, looked
    up once: the routes are ours, the statuses few, so the cache stays small."""
    return REQUESTS.labels(route, str(status)).inc, LATENCY.labels(route).observe


class ObservedRequest(JSONRequest):
    """The request class of the app: notes the route it matched in its environ, for the
    metrics' route label."""

    _url_rule: Rule | None = None

    @property  # Flask keeps it as a plain attribute; this one also notes the route
    def url_rule(self) -> Rule | None:
        return self._url_rule

    @url_rule.setter
    def url_rule(self, rule: Rule | None) -> None:
        self._url_rule = rule
        if rule is not None:
            self.environ[ROUTE_KEY] = rule.rule


class _Ids:
    """Request ids unique to the process: 16 random hex digits drawn once per process (again in
    a forked worker), then a count. A uuid4 per request cost a getrandom call, 4 µs."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.count = itertools.count(1)

    def __call__(self) -> str:
        return f"{self.prefix}{next(self.count):016x}"  # next() on a count is atomic under the GIL


_new_id = _Ids()


class RequestObserver:
    """Wraps the Flask app (`app.wsgi_app`): ids, metrics and the JSON access line."""

    def __init__(self, app: WSGIApp, *, log_each_request: bool, max_body_bytes: int) -> None:
        self.app = app
        self.log_each_request = log_each_request
        self.max_body_bytes = max_body_bytes

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        started = time.perf_counter()
        given = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = given if _CLIENT_ID.fullmatch(given) else _new_id()
        statuses: list[int] = []

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            statuses.append(int(status[:3]))
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(status, headers, exc_info)

        token = REQUEST_ID.set(request_id)
        try:
            try:
                take_whole_body(environ, self.max_body_bytes)
            except BodyRefused as refused:
                return _refuse_body(environ, refused, start)
            return self.app(environ, start)
        finally:
            if statuses:
                self._answered(environ, statuses[-1], time.perf_counter() - started)
            REQUEST_ID.reset(token)

    def _answered(self, environ: dict[str, Any], status: int, seconds: float) -> None:
        record_request(environ.get(ROUTE_KEY, UNMATCHED), status, seconds)
        if self.log_each_request:
            # Text logs carry no access line: a line per request costs the hot path, and
            # waitress and gunicorn write their own only when asked.
            path = _path(environ)
            method = environ.get("REQUEST_METHOD", "")
            access_log.info(
                "%s %s %d",
                method,
                path,
                status,
                extra={
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                },
            )


def _path(environ: dict[str, Any]) -> str:
    """The path as Flask's `request.path` decodes it (WSGI hands it over as latin-1)."""
    raw: str = environ.get("PATH_INFO", "")
    return raw.encode("latin-1").decode("utf-8", "replace")


def _refuse_body(
    environ: dict[str, Any], refused: BodyRefused, start: Callable[..., Any]
) -> list[bytes]:
    """The error shape for a body that could not be taken, and one log line."""
    log.info("Refused %s %s: %s", environ.get("REQUEST_METHOD", ""), _path(environ), refused.detail)
    body = json.dumps(
        {"error": refused.error, "details": [refused.detail]}, separators=(",", ":")
    ).encode()
    reason = "Bad Request" if refused.status == 400 else "Request Entity Too Large"
    start(
        f"{refused.status} {reason}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]
