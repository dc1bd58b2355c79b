"""The one place that turns errors into the documented JSON error shape."""

from __future__ import annotations

import logging
import math
from typing import Any, NoReturn

from flask import Flask, Request, Response, g, jsonify, request
from marshmallow import ValidationError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge

from api.runtime import EXTENSION
from shared.domain.errors import (
    CompletionRejected,
    InvalidInput,
    OrderContended,
    OrderNotFound,
    RecordNotFound,
    TrackerNotRunning,
)

log = logging.getLogger(__name__)

COMPLETION_FAILED = "Could not complete order"
INVALID_REQUEST = "Invalid request"


class MalformedJSON(Exception):
    """The request body is not JSON."""


class JSONRequest(Request):
    """A request whose unreadable JSON body is reported in our shape, with the parser's reason."""

    def on_json_loading_failed(self, e: ValueError | None) -> NoReturn:
        raise MalformedJSON(str(e) if e else "the body could not be decoded")


def error_response(status: int, error: str, details: list[str]) -> tuple[Response, int]:
    """`{"error": ..., "details": [...]}` with `status`."""
    return jsonify({"error": error, "details": details}), status


def register_error_handlers(app: Flask) -> None:
    """Map every error a request can meet to the error shape; nothing leaks as a traceback."""

    @app.errorhandler(CompletionRejected)
    def _rejected(e: CompletionRejected) -> tuple[Response, int]:
        details = [f"Error Code: {e.code}", f"Error Message: {e.message}"]
        return error_response(
            404 if isinstance(e, OrderNotFound) else 400, COMPLETION_FAILED, details
        )

    @app.errorhandler(TrackerNotRunning)
    def _no_tracker(e: TrackerNotRunning) -> tuple[Response, int]:
        details = [f"Error Code: {e.code}", f"Error Message: {e.message}"]
        response, status = error_response(503, COMPLETION_FAILED, details)
        # A tracker that starts beats at once; its poll interval is when to look again.
        retry = max(1, math.ceil(app.extensions[EXTENSION].settings.tracker_interval))
        response.headers["Retry-After"] = str(retry)
        return response, status

    @app.errorhandler(RecordNotFound)
    def _no_record(e: RecordNotFound) -> tuple[Response, int]:
        return error_response(404, "No record found", [f"Provided: {e.provided}"])

    @app.errorhandler(InvalidInput)
    def _invalid(e: InvalidInput) -> tuple[Response, int]:
        return error_response(400, INVALID_REQUEST, [f"{e.field}: {e.message}"])

    @app.errorhandler(ValidationError)
    def _validation(e: ValidationError) -> tuple[Response, int]:
        return error_response(400, INVALID_REQUEST, flatten_messages(e.messages))

    @app.errorhandler(MalformedJSON)
    def _malformed(e: MalformedJSON) -> tuple[Response, int]:
        return error_response(400, INVALID_REQUEST, [f"Malformed JSON: {e}"])

    @app.errorhandler(NotFound)
    def _no_route(e: NotFound) -> tuple[Response, int]:
        return error_response(
            404, "Not found", [f"No endpoint for {request.method} {request.path}"]
        )

    @app.errorhandler(MethodNotAllowed)
    def _wrong_method(e: MethodNotAllowed) -> tuple[Response, int]:
        allowed = ", ".join(sorted(set(e.valid_methods or []) - {"HEAD", "OPTIONS"}))
        response, status = error_response(
            405, "Method not allowed", [f"{request.method} is not allowed here; use {allowed}"]
        )
        response.headers["Allow"] = ", ".join(sorted(e.valid_methods or []))
        return response, status

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(e: RequestEntityTooLarge) -> tuple[Response, int]:
        limit = app.config["MAX_CONTENT_LENGTH"]
        return error_response(413, "Request too large", [f"The body may be at most {limit} bytes"])

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException) -> tuple[Response, int]:
        return error_response(e.code or 500, e.name, [e.description or e.name])

    @app.errorhandler(OrderContended)
    def _contended(e: OrderContended) -> tuple[Response, int]:
        log.warning("%s", e)
        return error_response(
            503, "Service unavailable", ["The order is changing too often; try again"]
        )

    @app.errorhandler(OperationalError)
    def _database_down(e: OperationalError) -> tuple[Response, int]:
        g.database_unavailable = True  # the journal does not try to write it down
        log.error("Database unavailable: %s", e.orig)
        return error_response(
            503, "Service unavailable", ["The database is unavailable; try again"]
        )

    @app.errorhandler(Exception)
    def _unexpected(e: Exception) -> tuple[Response, int]:
        log.exception("Unexpected error on %s %s", request.method, request.path)
        return error_response(500, "Internal server error", ["The error has been logged"])


def flatten_messages(messages: Any, prefix: str = "") -> list[str]:
    """marshmallow's nested messages as `field: message` lines, in the order of the input."""
    if isinstance(messages, dict):
        lines: list[str] = []
        for key, value in messages.items():
            name = prefix if key == "_schema" else f"{prefix}.{key}" if prefix else str(key)
            lines += flatten_messages(value, name)
        return lines
    if isinstance(messages, list):
        return [line for item in messages for line in flatten_messages(item, prefix)]
    return [f"{prefix}: {messages}" if prefix else str(messages)]
