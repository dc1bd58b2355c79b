"""Faults on demand: the hook that makes a matching `/api/v2` request fail, when it may skip the
table, and `/api/sim/faults` to set, list and clear them."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
import time
from typing import Any, ClassVar

from flask import Blueprint, Flask, Response, current_app, g, request
from marshmallow import (
    Schema,
    ValidationError,
    fields,
    post_dump,
    post_load,
    validate,
    validates_schema,
)
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from api.http.endpoints import Answer, endpoint
from api.http.errors import (
    ADMIN_KEY_REFUSED,
    BODY_TOO_LARGE,
    DATABASE_DOWN,
    INVALID_REQUEST,
    OURS,
    SIM_WRITE_REFUSED,
    ErrorSchema,
    error_body,
    error_response,
)
from api.http.fields import (
    INT32_MAX,
    MAX_ID,
    NO_NUL,
    SUCCESSFUL,
    Flag,
    Input,
    Text,
    UpperText,
    UTCMillis,
    WholeMatch,
)
from api.http.runtime import runtime, transactional
from api.http.server import RESERVED_THREADS, SOCKET_KEY, THREADS
from shared.db.engine import run_autocommit, transaction
from shared.db.models import Fault
from shared.domain.clock import utcnow
from shared.domain.errors import RecordNotFound
from shared.sim import faults
from shared.sim.faults import HttpFault, fire, http_faults

blueprint = Blueprint("faults", __name__, url_prefix="/api/sim/faults")

# A tenth of a second: each process reads the table at most ten times a second while no fault is
# set, and setting a fault takes that much longer.
RECHECK_SECONDS = 0.1


# Requests a delay fault may hold asleep at once in one process: a sleeping request holds a
# server thread (run_api.py's and each gunicorn worker's 32), and RESERVED_THREADS stay for
# everything else, so the controls (/healthz, DELETE /api/sim/faults) answer however many
# delayed requests come. A delayed request beyond it is answered at once, with DELAYS_FULL.
MAX_DELAYED = THREADS - RESERVED_THREADS
DELAYS_FULL = 503


class FaultWatch:
    """One per app (each process has its own): `skip()` before reading the faults, with
    `found_none(started)` after a read begun at `started()` found none that could fire; and
    the process's delay slots (MAX_DELAYED)."""

    def __init__(self, recheck_seconds: float = RECHECK_SECONDS) -> None:
        self.recheck_seconds = recheck_seconds
        self._empty_since: float | None = None
        self.delay_slots = threading.BoundedSemaphore(MAX_DELAYED)

    def skip(self) -> bool:
        """Whether the table was found without a fault by a read begun in the last recheck."""
        since = self._empty_since
        return since is not None and time.monotonic() - since < self.recheck_seconds

    @staticmethod
    def started() -> float:
        return time.monotonic()

    def found_none(self, started: float) -> None:
        self._empty_since = started

    def fault_committed(self) -> None:
        """After a fault is committed: this process reads the table at its next request; every
        other one has done so once this returns."""
        self._empty_since = None
        time.sleep(self.recheck_seconds)


HTTP_METHODS = ("*", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_HTTP_KEYS = ("method", "path", "status", "body", "delay_ms", "drop", "times_left", "probability")
_ANSWERS = {"status": "status", "delay_ms": "delayMs", "drop": "drop"}
_TWO_DIGITS = re.compile(r"[0-9]{2}")


def _two_digits(code: str) -> None:
    # fullmatch: a `$` would let "05\n" through, three characters for a two-character column.
    if not _TWO_DIGITS.fullmatch(code):
        raise ValidationError("Must be two digits.")


def _present(*keys: str) -> dict[str, Any]:
    return {"anyOf": [{"required": [key]} for key in keys]}


# NewFaultSchema's rules across keys (`_one_kind`), said in JSON Schema for the document.
_HTTP_PUBLIC_KEYS = ("method", "path", "status", "body", "delayMs", "drop", "times", "probability")
_NEW_FAULT_RULES: dict[str, Any] = {
    "minProperties": 1,  # so the body is required (api.http.openapi): `{}` is no fault
    "oneOf": [
        {
            "description": "An HTTP fault: a path, and exactly one of status, delayMs, drop.",
            "required": ["path"],
            "oneOf": [{"required": ["status"]}, {"required": ["delayMs"]}, {"required": ["drop"]}],
            "not": _present("tracker", "code", "message"),
            "allOf": [
                {"anyOf": [{"not": {"required": ["body"]}}, {"required": ["status"]}]},
                {"not": {"required": ["times", "probability"]}},
            ],
        },
        {
            "description": "A tracker pause: nothing but `tracker`.",
            "required": ["tracker"],
            "properties": {"tracker": {"enum": ["pause"]}},
            "not": _present(*_HTTP_PUBLIC_KEYS, "code", "message"),
        },
        {
            "description": "A tracker rejection: `tracker`, `code`, and optionally `message`.",
            "required": ["tracker", "code"],
            "properties": {"tracker": {"enum": ["reject"]}},
            "not": _present(*_HTTP_PUBLIC_KEYS),
        },
    ],
}


FAULTED_PREFIX = "/api/v2/"
# A glob that can match a path under FAULTED_PREFIX: it starts with it, or a start of it is
# followed by a wildcard.
FAULTED_PATH_PATTERN = (
    r"^(?:/api/v2/[^\x00]*|(?:/|/a|/ap|/api|/api/|/api/v|/api/v2)[*?\[][^\x00]*)$"
)
_FAULTED_PATH = re.compile(FAULTED_PATH_PATTERN)


def _faulted_path(pattern: str) -> None:
    """Refuse a glob that can match no path a fault applies to (FAULTED_PATH_PATTERN, the rule
    the document shows). A pattern not starting `/` is refused by the pattern check alone."""
    if pattern.startswith("/") and not _FAULTED_PATH.fullmatch(pattern):
        raise ValidationError(
            f"Faults apply to paths under {FAULTED_PREFIX} only: this pattern matches none."
        )


class NewFaultSchema(Input):
    """`POST /api/sim/faults`: an HTTP fault (`path` and one of `status`, `delayMs`, `drop`), or
    a tracker fault (`tracker`)."""

    # What `_one_kind` says, for the OpenAPI document (api.http.openapi merges it in), and one whole
    # example (the keys' own examples would make a body with every key, which no rule allows).
    openapi_extra: ClassVar[dict[str, Any]] = {
        **_NEW_FAULT_RULES,
        "example": {
            "method": "POST",
            "path": "/api/v2/orders/*/complete",
            "status": 503,
            "times": 2,
        },
    }

    method = UpperText(
        validate=validate.OneOf(HTTP_METHODS),
        metadata={"description": "The method to match, in any case; `*` (the default) any."},
    )
    path = Text(
        # No NUL in the pattern: it is what Text refuses, said for the document.
        validate=[validate.Length(1, 2048), WholeMatch(r"^/[^\x00]*$"), _faulted_path],
        metadata={
            # What _faulted_path checks, as a pattern a client (and schemathesis) can follow.
            "pattern": FAULTED_PATH_PATTERN,
            "description": "A glob of the paths to match: `*` matches any characters, `/` "
            "included. Only paths under `/api/v2/` are faulted: a glob that can match none is "
            "refused.",
        },
    )
    status = fields.Integer(
        strict=True,
        validate=validate.Range(100, 599),
        metadata={"description": "Answer this status."},
    )
    body = fields.Raw(
        allow_none=True,
        metadata={
            "description": "The body to answer with the status (any JSON); by default "
            "our error shape, `Simulated fault`."
        },
    )
    delay_ms = fields.Integer(
        data_key="delayMs",
        strict=True,
        validate=validate.Range(1, 60_000),
        metadata={"description": "Wait this long, then answer as usual."},
    )
    drop = Flag(
        validate=validate.Equal(True),
        metadata={"enum": [True], "description": "Close the connection without an answer."},
    )
    times_left = fields.Integer(
        data_key="times",
        strict=True,
        validate=validate.Range(1, INT32_MAX),
        metadata={"description": "For the next so many matching calls (default: every call)."},
    )
    probability = fields.Float(
        validate=validate.Range(0, 1, min_inclusive=False),
        allow_nan=False,
        # apispec writes the range's minimum, not that it is exclusive.
        metadata={
            "exclusiveMinimum": True,
            "description": "For each matching call with this probability (0 < p <= 1).",
        },
    )
    tracker = fields.String(
        validate=validate.OneOf(["pause", "reject"]),
        metadata={"description": "A tracker fault: pause every tracker, or reject every order."},
    )
    code = fields.String(
        validate=_two_digits,
        metadata={"pattern": "^[0-9]{2}$", "description": "The code a reject fault rejects with."},
    )
    message = Text(
        validate=validate.Length(1, 255),
        metadata={
            "description": "The rejection's message; by default Rx-Universe's for codes 01 to 05.",
            "pattern": NO_NUL,
        },
    )

    @validates_schema
    def _one_kind(self, data: dict[str, Any], **_: object) -> None:
        if "tracker" in data:
            extra = [key for key in _HTTP_KEYS if key in data]
            if extra:
                raise ValidationError("A tracker fault takes only tracker, code and message.")
            if (data["tracker"] == "reject") != ("code" in data):
                raise ValidationError("A reject fault needs a code; a pause takes none.")
            if "message" in data and "code" not in data:
                raise ValidationError("message goes with a reject fault's code.")
            return
        if "path" not in data:
            raise ValidationError("Give a path (an HTTP fault) or tracker (a tracker fault).")
        answers = [name for key, name in _ANSWERS.items() if key in data]
        if len(answers) != 1:
            raise ValidationError("Give exactly one of status, delayMs, drop.")
        if "body" in data and "status" not in data:
            raise ValidationError("body goes with status.")
        if "times_left" in data and "probability" in data:
            raise ValidationError("Give times or probability, not both.")
        if "code" in data or "message" in data:
            raise ValidationError("code and message go with a tracker reject fault.")

    @post_load
    def _defaults(self, data: dict[str, Any], **_: object) -> dict[str, Any]:
        if "path" in data:
            data.setdefault("method", "*")
            if "body" in data:
                data["body"] = json.dumps(data["body"])
        return data


class FaultSchema(Schema):
    """A fault as set; keys that do not apply to its kind are left out."""

    # Which keys a dump always writes (the rest are left out when they do not apply), for the
    # OpenAPI document (api.http.openapi merges it in, over its every-key `required`).
    openapi_extra: ClassVar[dict[str, Any]] = {
        "required": ["id", "createdAt"],
        "oneOf": [
            {"description": "An HTTP fault.", "required": ["method", "path"]},
            {"description": "A tracker fault.", "required": ["tracker"]},
        ],
    }

    id = fields.Integer(metadata={"minimum": 1, "example": 1})
    method = fields.String(metadata={"enum": list(HTTP_METHODS)})
    path = fields.String(metadata={"example": "/api/v2/orders/*/complete"})
    status = fields.Integer(metadata={"minimum": 100, "maximum": 599})
    body = fields.Function(
        lambda fault: None if fault.body is None else json.loads(fault.body),
        metadata={"description": "The body answered with the status: any JSON."},
    )
    delay_ms = fields.Integer(data_key="delayMs", metadata={"minimum": 1, "maximum": 60_000})
    drop = fields.Boolean(metadata={"enum": [True]})
    times_left = fields.Integer(
        data_key="timesLeft",
        metadata={"minimum": 0, "description": "Calls left to fault; 0 when spent."},
    )
    probability = fields.Float(metadata={"minimum": 0, "maximum": 1})
    tracker = fields.String(metadata={"enum": ["pause", "reject"]})
    code = fields.String(metadata={"pattern": "^[0-9]{2}$"})
    message = fields.String()
    created_at = UTCMillis(data_key="createdAt")

    @post_dump
    def _only_set(self, data: dict[str, Any], **_: object) -> dict[str, Any]:
        return {
            key: value
            for key, value in data.items()
            if value is not None and not (key == "drop" and value is False)
        }


class FaultListSchema(Schema):
    """`GET /api/sim/faults`: every fault, oldest first."""

    faults = fields.List(fields.Nested(FaultSchema))


class FaultsClearedSchema(Schema):
    """`DELETE /api/sim/faults` (and one by id): how many faults went."""

    message = fields.Constant("Successful", metadata=SUCCESSFUL)
    faults_deleted = fields.Integer(data_key="faultsDeleted", metadata={"minimum": 0})


class FaultIdPath(Schema):
    """`{id}` in `DELETE /api/sim/faults/{id}`."""

    fault_id = fields.Integer(
        data_key="id",
        metadata={
            "minimum": 1,
            "maximum": MAX_ID,
            "description": "The fault's id, as `POST /api/sim/faults` answered it.",
            "example": 1,
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


# nginx's "no response": what the journal records for a dropped connection.
DROPPED = 444


FAULT_ERROR = "Simulated fault"
_WATCH = "rx_jobtracker.fault_watch"


log = logging.getLogger(__name__)


def register_faults(app: Flask) -> None:
    """Check each /api/v2 request against the faults set."""
    watch = app.extensions[_WATCH] = FaultWatch()

    @app.before_request
    def _apply_fault() -> Response | tuple[Response, int] | None:
        if not request.path.startswith(FAULTED_PREFIX):
            return None
        if watch.skip():
            return None
        started = watch.started()
        fault = run_autocommit(
            runtime().autocommit_engine, lambda connection: _firing(connection, watch, started)
        )
        if fault is None:
            return None
        g.fault = fault.describe()
        log.info("Applying %s to %s %s", g.fault, request.method, request.path)
        if fault.delay_ms is not None:
            if not watch.delay_slots.acquire(blocking=False):
                return _delays_full(fault)
            try:
                time.sleep(fault.delay_ms / 1000)
            finally:
                watch.delay_slots.release()
            return None
        if fault.drop:
            return _drop()
        return _answer(fault)


def fault_watch() -> FaultWatch:
    """The running app's FaultWatch, which setting a fault must tell."""
    watch: FaultWatch = current_app.extensions[_WATCH]
    return watch


def _firing(connection: Connection, watch: FaultWatch, started: float) -> HttpFault | None:
    stored = http_faults(connection)
    if not stored:
        watch.found_none(started)
        return None
    return fire(connection, stored, request.method, request.path)


def _answer(fault: HttpFault) -> Response | tuple[Response, int]:
    status = fault.status or 500
    if fault.body is None:
        return error_response(status, FAULT_ERROR, [f"{fault.describe()} ({request.path})"])
    return Response(fault.body, status=status, mimetype="application/json")


def _delays_full(fault: HttpFault) -> tuple[Response, int]:
    """A delayed request over MAX_DELAYED: answered at once, saying why, rather than starve the
    server's threads."""
    response, status = error_response(
        DELAYS_FULL,
        FAULT_ERROR,
        [
            f"{fault.describe()} ({request.path}): {MAX_DELAYED} delayed requests are already "
            "waiting in this process; this one is answered at once"
        ],
    )
    response.headers["Retry-After"] = "1"
    return response, status


def _drop() -> Response:
    """Close the client's connection without an answer, where the server lets us reach it."""
    environ = request.environ
    sock = (
        environ.get("gunicorn.socket") or environ.get(SOCKET_KEY) or environ.get("werkzeug.socket")
    )
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):  # already gone
            sock.shutdown(socket.SHUT_RDWR)
    return Response(status=DROPPED)


TAG = "Faults on demand (ours)"
FAULTS = (
    OURS + "faults on demand, not part of Rx-Universe. Faults are kept in the database, so every "
    "API worker and every tracker obeys them; only `/api/v2` is faulted. "
)
HTTP_FAULT = {
    "id": 1,
    "method": "POST",
    "path": "/api/v2/orders/*/complete",
    "status": 503,
    "timesLeft": 2,
    "createdAt": "2026-11-27T17:26:21.123Z",
}
REJECT_FAULT = {
    "id": 2,
    "tracker": "reject",
    "code": "05",
    "message": "Order on hold",
    "createdAt": "2026-11-27T17:26:22.456Z",
}
CLEARED = {"message": "Successful", "faultsDeleted": 1}


@endpoint(
    blueprint,
    "POST",
    "",
    tag=TAG,
    summary="Set an HTTP or a tracker fault",
    description=FAULTS + "An HTTP fault names a `path` glob and a `method` (default `*`) and "
    "answers a `status` (with `body`, by default our error shape), waits `delayMs`, or `drop`s "
    "the connection: for the next `times` matching calls, each with a `probability`, or (neither "
    "given) every call until cleared. A tracker fault pauses every tracker "
    '(`{"tracker": "pause"}`) or makes them reject every order with a `code` (and `message`); '
    "a pause wins over a rejection.",
    body=NewFaultSchema,
    ok=Answer(
        201,
        "The fault, with its id; keys that do not apply to its kind are left out.",
        FaultSchema,
        {"An HTTP fault": HTTP_FAULT, "A tracker fault": REJECT_FAULT},
    ),
    errors=(INVALID_FAULT, ADMIN_KEY_REFUSED, *SIM_WRITE_REFUSED, BODY_TOO_LARGE, DATABASE_DOWN),
)
def set_fault(body: dict[str, Any]) -> Fault:
    """Set an HTTP or a tracker fault; every worker and tracker obeys it from the answer on
    (api.sim.faults says why the answer waits a tenth of a second)."""
    with transaction(runtime().session_factory) as session:
        fault = faults.add_fault(session, utcnow(), **body)
    fault_watch().fault_committed()
    return fault


@endpoint(
    blueprint,
    "GET",
    "",
    tag=TAG,
    summary="Every fault, oldest first",
    description=FAULTS + "Spent faults (`timesLeft` 0) are listed until cleared.",
    ok=Answer(
        200,
        "Every fault set.",
        FaultListSchema,
        {"Two faults": {"faults": [HTTP_FAULT, REJECT_FAULT]}},
    ),
    errors=(ADMIN_KEY_REFUSED, DATABASE_DOWN),
)
@transactional(write=False)
def list_faults(session: Session) -> dict[str, list[Fault]]:
    """Every fault set, oldest first."""
    return {"faults": faults.list_faults(session)}


@endpoint(
    blueprint,
    "DELETE",
    "",
    tag=TAG,
    summary="Clear every fault",
    description=FAULTS + "Removes every fault, spent or not.",
    ok=Answer(200, "How many faults were removed.", FaultsClearedSchema, {"One": CLEARED}),
    errors=(ADMIN_KEY_REFUSED, *SIM_WRITE_REFUSED, DATABASE_DOWN),
)
@transactional(write=True)
def clear_faults(session: Session) -> dict[str, int]:
    """Remove every fault."""
    return {"faults_deleted": faults.clear_faults(session)}


@endpoint(
    blueprint,
    "DELETE",
    "/<int:fault_id>",
    tag=TAG,
    summary="Clear one fault",
    description=FAULTS + "Removes the fault with this id.",
    path=FaultIdPath,
    ok=Answer(200, "The fault was removed.", FaultsClearedSchema, {"One": CLEARED}),
    errors=(NO_FAULT, ADMIN_KEY_REFUSED, *SIM_WRITE_REFUSED, DATABASE_DOWN),
)
@transactional(write=True)
def clear_fault(session: Session, fault_id: int) -> dict[str, int]:
    """Remove one fault; 404 if there is none with that id."""
    # An id past what the database stores names no fault (and could not be a query parameter).
    if fault_id > MAX_ID or not faults.clear_faults(session, fault_id):
        raise RecordNotFound(str(fault_id))
    return {"faults_deleted": 1}
