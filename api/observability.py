"""Each request's id (from `X-Request-ID`, or made here), echoed back and put on its log lines;
with LOG_FORMAT=json, one structured line per request."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from config.logs import REQUEST_ID
from config.settings import Settings

REQUEST_ID_HEADER = "X-Request-ID"
# What a client's id may look like to be kept: anything else (too long, control characters that
# could forge a log line) is replaced by one of ours.
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
# Where a request's start (time.perf_counter) is kept, for the access line and for api.metrics.
REQUEST_STARTED = "request_started"
access_log = logging.getLogger("api.access")


def register_request_ids(app: Flask, settings: Settings) -> None:
    """Give every request an id, set for its log lines and echoed in `X-Request-ID`."""
    log_each_request = settings.log_format == "json"

    @app.before_request
    def _take_id() -> None:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = given if _CLIENT_ID.fullmatch(given) else uuid.uuid4().hex
        g.request_id = request_id
        g.request_token = REQUEST_ID.set(request_id)
        setattr(g, REQUEST_STARTED, time.perf_counter())

    @app.after_request
    def _echo_id(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id is not None:
            response.headers[REQUEST_ID_HEADER] = request_id
            if log_each_request:
                _log_request(response)
        return response

    @app.teardown_request
    def _forget_id(_error: BaseException | None) -> None:
        token = g.pop("request_token", None)
        if token is not None:
            REQUEST_ID.reset(token)


def _log_request(response: Response) -> None:
    """The access line for JSON logs, with the request id (text logs carry none: a line per
    request costs the hot path, and waitress and gunicorn write their own only when asked)."""
    millis = round((time.perf_counter() - g.get(REQUEST_STARTED)) * 1000, 3)
    access_log.info(
        "%s %s %d",
        request.method,
        request.path,
        response.status_code,
        extra={
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": millis,
        },
    )
