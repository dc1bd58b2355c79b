"""The one place that turns errors into the documented JSON error shape, and the answers every
surface shares."""

from __future__ import annotations

import logging
import math
from typing import Any

import sqlalchemy.exc
from flask import Flask, Response, g, jsonify, request
from marshmallow import Schema, ValidationError, fields
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge

from api.http.body import InvalidContentLength, MalformedJSON
from api.http.endpoints import Answer
from api.http.runtime import EXTENSION
from shared.domain.errors import (
    CancelRefused,
    CheckinRefused,
    CompletionRejected,
    FrameInventoryOffline,
    InvalidInput,
    OperatorNotFound,
    OrderContended,
    OrderMarkedForCancelation,
    OrderNotFound,
    PickRefused,
    PrintRefused,
    RecordNotFound,
    ScenarioInvalid,
    SubmissionRefused,
    TrackerNotRunning,
    TrayAssignmentRefused,
    TrayOrderNotFound,
)


class ErrorSchema(Schema):
    """Every error, on every endpoint: a summary and its details."""

    error = fields.String(required=True)
    details = fields.List(fields.String(), required=True)


log = logging.getLogger(__name__)


COMPLETION_FAILED = "Could not complete order"
CHECKIN_FAILED = "Checkin not performed"
NO_RECORD_FOUND = "No record found"
INVALID_REQUEST = "Invalid request"
INVALID_SCENARIO = "Invalid scenario"
SERVICE_UNAVAILABLE = "Service unavailable"
DATABASE_DOWN_DETAIL = "The database is unavailable; try again"
ORDER_CONTENDED_DETAIL = "The order is changing too often; try again"
INTERNAL_ERROR = "Internal server error"
INTERNAL_ERROR_DETAIL = "The error has been logged"
UNAUTHORIZED = "Unauthorized"
API_KEY_REQUIRED = "A valid API key is required"
ADMIN_KEY_REQUIRED = "A valid simulator admin key is required"
UNSUPPORTED_MEDIA_TYPE = "Unsupported media type"
FORBIDDEN = "Forbidden"


def not_json_detail(mimetype: str) -> str:
    """Why a simulator write with a body that is not JSON was refused (415)."""
    return f"Content-Type: a simulator write takes application/json, not {mimetype!r}"


def cross_origin_detail(origin: str) -> str:
    """Why a simulator write without a Content-Type from another origin was refused (403)."""
    return (
        f"Origin: a simulator write from a page on {origin!r} must send "
        "Content-Type: application/json"
    )


def error_body(error: str, details: list[str]) -> dict[str, Any]:
    """`{"error": ..., "details": [...]}`: the one error shape (the documented examples too)."""
    return {"error": error, "details": details}


def error_response(status: int, error: str, details: list[str]) -> tuple[Response, int]:
    """The error shape with `status`."""
    return jsonify(error_body(error, details)), status


def refusal_details(e: CompletionRejected | TrackerNotRunning) -> list[str]:
    """Rx-Universe's two detail lines for a refused completion."""
    return [f"Error Code: {e.code}", f"Error Message: {e.message}"]


def register_error_handlers(app: Flask) -> None:
    """Map every error a request can meet to the error shape; nothing leaks as a traceback."""

    @app.errorhandler(CompletionRejected)
    def _rejected(e: CompletionRejected) -> tuple[Response, int]:
        return error_response(
            404 if isinstance(e, OrderNotFound) else 400, COMPLETION_FAILED, refusal_details(e)
        )

    @app.errorhandler(TrackerNotRunning)
    def _no_tracker(e: TrackerNotRunning) -> tuple[Response, int]:
        response, status = error_response(503, COMPLETION_FAILED, refusal_details(e))
        # A tracker that starts beats at once; its poll interval is when to look again.
        retry = max(1, math.ceil(app.extensions[EXTENSION].settings.tracker_interval))
        response.headers["Retry-After"] = str(retry)
        return response, status

    @app.errorhandler(RecordNotFound)
    def _no_record(e: RecordNotFound) -> tuple[Response, int]:
        return error_response(404, NO_RECORD_FOUND, [f"Provided: {e.provided}"])

    @app.errorhandler(OrderMarkedForCancelation)
    def _cancelled(e: OrderMarkedForCancelation) -> tuple[Response, int]:
        # Rx-Universe's own answer for a cancelled order's status: an error body, with a 200.
        return error_response(200, e.error, [])

    @app.errorhandler(CheckinRefused)
    def _checkin_refused(e: CheckinRefused) -> tuple[Response, int]:
        return error_response(
            404 if isinstance(e, OperatorNotFound) else 400, CHECKIN_FAILED, [e.reason]
        )

    @app.errorhandler(PickRefused)
    def _pick_refused(e: PickRefused) -> tuple[Response, int]:
        return error_response(400, e.error, [e.reason])

    @app.errorhandler(PrintRefused)
    def _print_refused(e: PrintRefused) -> tuple[Response, int]:
        return error_response(500 if e.server_side else 400, e.error, list(e.details))

    @app.errorhandler(TrayAssignmentRefused)
    def _tray_refused(e: TrayAssignmentRefused) -> tuple[Response, int]:
        return error_response(404 if isinstance(e, TrayOrderNotFound) else 400, e.error, [e.reason])

    @app.errorhandler(CancelRefused)
    def _cancel_refused(e: CancelRefused) -> tuple[Response, int]:
        return error_response(400, e.error, e.details)

    @app.errorhandler(SubmissionRefused)
    def _submission_refused(e: SubmissionRefused) -> tuple[Response, int]:
        # Rx-Universe answers an offline Frame Inventory module with a 500, the rest with a 400.
        return error_response(
            500 if isinstance(e, FrameInventoryOffline) else 400, e.error, e.details
        )

    @app.errorhandler(ScenarioInvalid)
    def _scenario_invalid(e: ScenarioInvalid) -> tuple[Response, int]:
        return error_response(400, INVALID_SCENARIO, e.problems)

    @app.errorhandler(InvalidInput)
    def _invalid(e: InvalidInput) -> tuple[Response, int]:
        return error_response(400, INVALID_REQUEST, [f"{e.field}: {e.message}"])

    @app.errorhandler(ValidationError)
    def _validation(e: ValidationError) -> tuple[Response, int]:
        return error_response(400, INVALID_REQUEST, flatten_messages(e.messages))

    @app.errorhandler(MalformedJSON)
    def _malformed(e: MalformedJSON) -> tuple[Response, int]:
        return error_response(400, INVALID_REQUEST, [f"Malformed JSON: {e}"])

    @app.errorhandler(InvalidContentLength)
    def _bad_length(e: InvalidContentLength) -> tuple[Response, int]:
        return error_response(
            400, INVALID_REQUEST, [f"Content-Length: must be a number of bytes, not {str(e)!r}"]
        )

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
        return error_response(503, SERVICE_UNAVAILABLE, [ORDER_CONTENDED_DETAIL])

    @app.errorhandler(OperationalError)
    def _database_down(e: OperationalError) -> tuple[Response, int]:
        g.database_unavailable = True  # the journal does not try to write it down
        log.error("Database unavailable: %s", e.orig)
        return error_response(503, SERVICE_UNAVAILABLE, [DATABASE_DOWN_DETAIL])

    @app.errorhandler(sqlalchemy.exc.TimeoutError)
    def _no_connection_free(e: sqlalchemy.exc.TimeoutError) -> tuple[Response, int]:
        # Every connection of this process stayed busy for DATABASE_TIMEOUT: to the client, a
        # database that does not answer in time, so the same answer.
        g.database_unavailable = True
        log.error("No database connection free: %s", e)
        return error_response(503, SERVICE_UNAVAILABLE, [DATABASE_DOWN_DETAIL])

    @app.errorhandler(Exception)
    def _unexpected(e: Exception) -> tuple[Response, int]:
        log.exception("Unexpected error on %s %s", request.method, request.path)
        return error_response(500, INTERNAL_ERROR, [INTERNAL_ERROR_DETAIL])


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


OURS = "Ours, not Rx-Universe's: "


NO_RECORD = Answer(
    404,
    "No order has this number; the details echo what was provided.",
    ErrorSchema,
    {"No record found": error_body("No record found", ["Provided: 999999"])},
)
DATABASE_DOWN = Answer(
    503,
    OURS + "the database cannot be reached or does not answer within `DATABASE_TIMEOUT`, or "
    "every connection of the process stayed busy that long; try again (nothing was changed).",
    ErrorSchema,
    {"The database is down": error_body(SERVICE_UNAVAILABLE, [DATABASE_DOWN_DETAIL])},
)
INVALID_BODY = Answer(
    400,
    "The body is not JSON, not an object, has an unknown key or a wrong value, or does not fit "
    "the data (a taken order number, an unknown station or addon): one `field: problem` line "
    "per problem.",
    ErrorSchema,
    {
        "Malformed JSON": error_body(
            INVALID_REQUEST, ["Malformed JSON: Expecting value: line 1 column 1 (char 0)"]
        ),
        "A wrong value": error_body(INVALID_REQUEST, ["onHold: Not a valid boolean."]),
        "An unknown key": error_body(INVALID_REQUEST, ["color: Unknown field."]),
        "A taken order number": error_body(
            INVALID_REQUEST, ["orderNumber: Order 33719 already exists."]
        ),
    },
)
INVALID_QUERY = Answer(
    400,
    "A query parameter is unknown or has a wrong value: one `parameter: problem` line per problem.",
    ErrorSchema,
    {
        "A wrong value": error_body(INVALID_REQUEST, ["status: Not a valid integer."]),
        "An unknown parameter": error_body(INVALID_REQUEST, ["order: Unknown field."]),
    },
)
API_KEY_REFUSED = Answer(
    401,
    OURS + "with `API_KEYS` set, a call that carries none of the keys (as `Authorization: "
    "Bearer <key>` or `X-API-Key: <key>`). The same body whatever was tried, with "
    '`WWW-Authenticate: Bearer realm="rx-jobtracker"`.',
    ErrorSchema,
    {"No valid API key": error_body(UNAUTHORIZED, [API_KEY_REQUIRED])},
)
ADMIN_KEY_REFUSED = Answer(
    401,
    OURS + "with `SIM_ADMIN_KEY` set, a call that does not carry the simulator's admin key "
    "(as `Authorization: Bearer <key>` or `X-API-Key: <key>`). The same body whatever was "
    'tried, with `WWW-Authenticate: Bearer realm="rx-jobtracker"`.',
    ErrorSchema,
    {"No valid admin key": error_body(UNAUTHORIZED, [ADMIN_KEY_REQUIRED])},
)
# Without SIM_ADMIN_KEY, what any web page could send to the simulator behind a visitor's back
# (api.http.access.register_write_guard); every simulator write lists both.
SIM_WRITE_NOT_JSON = Answer(
    415,
    OURS + "with no `SIM_ADMIN_KEY` set, a write whose `Content-Type` is not JSON "
    "(`application/json`, or a `+json` type): a form or a `text/plain` body, which a page on "
    "any site can send here without the browser asking first. Nothing is changed; the answer "
    "carries `Accept: application/json`.",
    ErrorSchema,
    {
        "A text/plain body": error_body(UNSUPPORTED_MEDIA_TYPE, [not_json_detail("text/plain")]),
        "A form": error_body(
            UNSUPPORTED_MEDIA_TYPE, [not_json_detail("application/x-www-form-urlencoded")]
        ),
    },
)
SIM_WRITE_CROSS_ORIGIN = Answer(
    403,
    OURS + "with no `SIM_ADMIN_KEY` set, a write without a `Content-Type` sent by a page on "
    "another origin (an `Origin` header that is neither this server nor one of `CORS_ORIGINS`): "
    "what a cross-site `fetch` in no-cors mode sends. Nothing is changed. Clients that are not "
    "browsers send no `Origin` and are not affected.",
    ErrorSchema,
    {
        "From another site": error_body(
            FORBIDDEN, [cross_origin_detail("https://elsewhere.example")]
        )
    },
)
SIM_WRITE_REFUSED = (SIM_WRITE_NOT_JSON, SIM_WRITE_CROSS_ORIGIN)
BODY_TOO_LARGE = Answer(
    413,
    "The body is over 1 MiB.",
    ErrorSchema,
    {"Too large": error_body("Request too large", ["The body may be at most 1048576 bytes"])},
)
UNEXPECTED = Answer(
    500,
    OURS + "an unexpected error, logged by the API; never a traceback.",
    ErrorSchema,
    {"Unexpected": error_body(INTERNAL_ERROR, [INTERNAL_ERROR_DETAIL])},
)


def no_record(what: str, example: str) -> Answer:
    """404 No record found for an unknown `what`, echoing what was provided."""
    return Answer(
        404,
        f"No {what} has this code or identifier; the details echo what was provided.",
        ErrorSchema,
        {"No record found": error_body(NO_RECORD_FOUND, [f"Provided: {example}"])},
    )
