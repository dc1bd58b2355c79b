"""The one place that turns errors into the documented JSON error shape."""

from __future__ import annotations

import io
import logging
import math
import re
from typing import IO, Any, NoReturn

from flask import Flask, Request, Response, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from marshmallow import ValidationError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import get_input_stream

from api.endpoints import Answer
from api.runtime import EXTENSION
from api.schemas import ErrorSchema
from shared.domain.errors import (
    CancelOrderCompleted,
    CancelRefused,
    CheckinOrderNotFound,
    CheckinRefused,
    CompletionRejected,
    CompletionStationReserved,
    DeleteReasonsEmpty,
    DeleteReasonUnknown,
    InvalidInput,
    JobFlowIncomplete,
    NonCancelStationPassed,
    OperatorNotFound,
    OperatorRequired,
    OrderAlreadyCompleted,
    OrderContended,
    OrderDeleted,
    OrderMarkedForCancelation,
    OrderNotCheckable,
    OrderNotFound,
    OrderOnHold,
    OrderUnvalid,
    ProcessNotNeeded,
    RecordNotFound,
    ScenarioInvalid,
    StationNotFound,
    TrackerNotRunning,
)

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


class MalformedJSON(Exception):
    """The request body is not JSON."""


class InvalidContentLength(Exception):
    """The Content-Length header is not a number of bytes: where the body ends is unknown."""


_DIGITS = re.compile(r"[0-9]+")


class JSONRequest(Request):
    """A request whose body is read whole or refused, and whose unreadable JSON body is reported
    in our shape, with the parser's reason."""

    @cached_property
    def stream(self) -> IO[bytes]:
        """The body, never cut short: over `max_content_length` it is a 413 however it is framed.

        werkzeug reads a body sent without a length (chunked, under gunicorn) only up to the
        limit and hands on what it got, so a JSON document cut at 1 MiB could be parsed; and it
        reads an invalid Content-Length as 0, an empty body. Both are refused here instead. Only
        a view that reads its body comes here: the completion call never does.
        """
        declared = self.environ.get("CONTENT_LENGTH")
        if declared and not _DIGITS.fullmatch(declared.strip()):
            raise InvalidContentLength(declared)
        limit = self.max_content_length
        if self.content_length is not None or limit is None:
            return get_input_stream(self.environ, max_content_length=limit)
        if not self.environ.get("wsgi.input_terminated"):
            return io.BytesIO()  # no length and no end the server vouches for: no body
        # The server ends the stream (it decoded the chunks): read one byte past the limit.
        source: IO[bytes] = self.environ["wsgi.input"]
        body = bytearray()
        while len(body) <= limit:
            piece = source.read(limit + 1 - len(body))
            if not piece:
                return io.BytesIO(bytes(body))
            body += piece
        raise RequestEntityTooLarge()

    def on_json_loading_failed(self, e: ValueError | None) -> NoReturn:
        raise MalformedJSON(str(e) if e else "the body could not be decoded")


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, with a document too deeply nested to parse reported as malformed JSON.

    Python's parser recurses once per level and gives up with RecursionError, which is not a
    ValueError: Flask would let it through as a 500.
    """

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("the body is nested too deeply") from None


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

    @app.errorhandler(CancelRefused)
    def _cancel_refused(e: CancelRefused) -> tuple[Response, int]:
        return error_response(400, e.error, e.details)

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


# ---- the documented error answers, for the endpoint declarations (and so the OpenAPI document) --

OURS = "Ours, not Rx-Universe's: "


def _refusal(e: CompletionRejected | TrackerNotRunning) -> dict[str, Any]:
    return error_body(COMPLETION_FAILED, refusal_details(e))


ORDER_NOT_FOUND = Answer(
    404,
    "Error code 01: no order has this number.",
    ErrorSchema,
    {"Order not found (01)": _refusal(OrderNotFound())},
)
COMPLETION_REFUSED = Answer(
    400,
    "The order cannot be completed; the checks run in the order of the examples and the first "
    "that fails answers. Code 20 names the first process the order still needs (`Needs AR!`, "
    "`Needs Hard Coat!` ... as the lab file words them).",
    ErrorSchema,
    {
        f"{e.message} ({e.code})": _refusal(e)
        for e in (
            OrderDeleted(),
            OrderUnvalid(),
            OrderAlreadyCompleted(),
            OrderOnHold(),
            JobFlowIncomplete("Needs Backside Coat!"),
        )
    },
)
NO_RECORD = Answer(
    404,
    "No order has this number; the details echo what was provided.",
    ErrorSchema,
    {"No record found": error_body("No record found", ["Provided: 999999"])},
)
ORDER_CONTENDED = Answer(
    503,
    OURS + "the order kept changing under five attempts in a row; try again.",
    ErrorSchema,
    {"The order keeps changing": error_body(SERVICE_UNAVAILABLE, [ORDER_CONTENDED_DETAIL])},
)
DATABASE_DOWN = Answer(
    503,
    OURS + "the database cannot be reached; try again (nothing was changed).",
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
SCENARIO_INVALID = Answer(
    400,
    OURS + "the scenario cannot be loaded as it is: one `entry: problem` line per problem, the "
    "entry named by its path in the file (`orders.3.addons.0`); nothing was changed.",
    ErrorSchema,
    {
        "An unknown addon": error_body(
            INVALID_SCENARIO, ["orders.3.addons.0: Unknown addon 'XX'."]
        ),
        "An order listed twice": error_body(
            INVALID_SCENARIO, ["orders.1.orderNumber: Order 33719 is listed twice."]
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
INVALID_FAULT = Answer(
    400,
    "The body is not JSON, not an object, has an unknown key or a wrong value, or is a fault "
    "that makes no sense (no answer, two answers, `times` with `probability`, a `body` without "
    "`status`, a reject without a code ...): one `field: problem` line per problem.",
    ErrorSchema,
    {
        "Malformed JSON": error_body(
            INVALID_REQUEST, ["Malformed JSON: Expecting value: line 1 column 1 (char 0)"]
        ),
        "No answer": error_body(INVALID_REQUEST, ["Give exactly one of status, delayMs, drop."]),
        "A wrong value": error_body(INVALID_REQUEST, ["code: Must be two digits."]),
        "An unknown key": error_body(INVALID_REQUEST, ["colour: Unknown field."]),
    },
)
NO_FAULT = Answer(
    404,
    OURS + "no fault has this id; the details echo what was provided.",
    ErrorSchema,
    {"No record found": error_body("No record found", ["Provided: 7"])},
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
TRACKER_NOT_RUNNING = Answer(
    503,
    OURS + "with `COMPLETE_REQUIRES_TRACKER=on`, while no Job Tracker's heartbeat is fresh: "
    "the order is not flagged (nothing is changed); `Retry-After` says when to try again. "
    "Rx-Universe's error shape, with our internal-error code 99.",
    ErrorSchema,
    {"No Job Tracker running (99)": _refusal(TrackerNotRunning())},
)
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


def _checkin(e: CheckinRefused) -> dict[str, Any]:
    return error_body(CHECKIN_FAILED, [e.reason])


def _cancel(e: CancelRefused) -> dict[str, Any]:
    return error_body(e.error, e.details)


def no_record(what: str, example: str) -> Answer:
    """404 No record found for an unknown `what`, echoing what was provided."""
    return Answer(
        404,
        f"No {what} has this code or identifier; the details echo what was provided.",
        ErrorSchema,
        {"No record found": error_body(NO_RECORD_FOUND, [f"Provided: {example}"])},
    )


CHECKIN_REFUSED = Answer(
    400,
    "The check-in was not performed: the station is unknown (codes are case-sensitive; operators "
    "and conveyor decision points are not stations a client checks into), no order has this "
    "identifier, the station needs an operator, the order is not in the lab's flow, or (with the "
    "lab's station verify on) no addon of the order calls for the station's process: then the "
    "detail is the lab's message for that process.",
    ErrorSchema,
    {
        e.reason: _checkin(e)
        for e in (
            StationNotFound(),
            CheckinOrderNotFound(),
            OperatorRequired(),
            CompletionStationReserved(),
            OrderNotCheckable("Order marked for cancelation"),
            OrderNotCheckable("Order unvalid"),
            OrderNotCheckable("Order already completed"),
            OrderNotCheckable("Order on hold"),
            ProcessNotNeeded("AR not needed"),
        )
    },
)
OPERATOR_NOT_FOUND = Answer(
    404,
    "The operator code names no operator.",
    ErrorSchema,
    {"Operator not found": _checkin(OperatorNotFound())},
)
CANCEL_REFUSED = Answer(
    400,
    "The order cannot be cancelled: it is completed, it has passed a non-cancel station, or the "
    "lab requires a delete reason and none of its reasons was given.",
    ErrorSchema,
    {
        e.error: _cancel(e)
        for e in (
            CancelOrderCompleted(),
            NonCancelStationPassed(),
            DeleteReasonUnknown("9999"),
            DeleteReasonsEmpty(),
        )
    },
)
CANCELLED_STATUS = Answer(
    200,
    "The order is marked for cancelation: Rx-Universe answers its status with this error body "
    "and a 200.",
    ErrorSchema,
    {"Order marked for cancelation": error_body(OrderMarkedForCancelation.error, [])},
)
