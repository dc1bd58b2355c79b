"""Faults on demand under /api/sim/faults: set, list, clear all or one."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy.orm import Session

from api.endpoints import Answer, endpoint
from api.errors import (
    ADMIN_KEY_REFUSED,
    BODY_TOO_LARGE,
    DATABASE_DOWN,
    INVALID_FAULT,
    NO_FAULT,
    OURS,
)
from api.faults import fault_watch
from api.ops_schemas import (
    MAX_ID,
    FaultIdPath,
    FaultListSchema,
    FaultSchema,
    FaultsClearedSchema,
    NewFaultSchema,
)
from api.runtime import runtime, transactional
from shared import faults as shared_faults
from shared.db.engine import transaction
from shared.domain.clock import utcnow
from shared.domain.errors import RecordNotFound
from shared.models import Fault

faults = Blueprint("faults", __name__, url_prefix="/api/sim/faults")
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
    faults,
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
    errors=(INVALID_FAULT, ADMIN_KEY_REFUSED, BODY_TOO_LARGE, DATABASE_DOWN),
)
def set_fault(body: dict[str, Any]) -> Fault:
    """Set an HTTP or a tracker fault; every worker and tracker obeys it from the answer on
    (api.fault_watch says why the answer waits a tenth of a second)."""
    with transaction(runtime().session_factory) as session:
        fault = shared_faults.add_fault(session, utcnow(), **body)
    fault_watch().fault_committed()
    return fault


@endpoint(
    faults,
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
    return {"faults": shared_faults.list_faults(session)}


@endpoint(
    faults,
    "DELETE",
    "",
    tag=TAG,
    summary="Clear every fault",
    description=FAULTS + "Removes every fault, spent or not.",
    ok=Answer(200, "How many faults were removed.", FaultsClearedSchema, {"One": CLEARED}),
    errors=(ADMIN_KEY_REFUSED, DATABASE_DOWN),
)
@transactional(write=True)
def clear_faults(session: Session) -> dict[str, int]:
    """Remove every fault."""
    return {"faults_deleted": shared_faults.clear_faults(session)}


@endpoint(
    faults,
    "DELETE",
    "/<int:fault_id>",
    tag=TAG,
    summary="Clear one fault",
    description=FAULTS + "Removes the fault with this id.",
    path=FaultIdPath,
    ok=Answer(200, "The fault was removed.", FaultsClearedSchema, {"One": CLEARED}),
    errors=(NO_FAULT, ADMIN_KEY_REFUSED, DATABASE_DOWN),
)
@transactional(write=True)
def clear_fault(session: Session, fault_id: int) -> dict[str, int]:
    """Remove one fault; 404 if there is none with that id."""
    # An id past what the database stores names no fault (and could not be a query parameter).
    if fault_id > MAX_ID or not shared_faults.clear_faults(session, fault_id):
        raise RecordNotFound(str(fault_id))
    return {"faults_deleted": 1}
