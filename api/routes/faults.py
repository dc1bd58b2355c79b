"""Faults on demand under /api/sim/faults: set, list, clear all or one."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from sqlalchemy.orm import Session

from api.ops_schemas import FaultListSchema, FaultSchema, FaultsClearedSchema, NewFaultSchema
from api.runtime import transactional
from shared import faults as shared_faults
from shared.domain.clock import utcnow
from shared.domain.errors import RecordNotFound

faults = Blueprint("faults", __name__, url_prefix="/api/sim/faults")


def _body() -> Any:
    return request.get_json(force=True) if request.get_data(cache=True) else {}


@faults.post("")
@transactional(write=True)
def set_fault(session: Session) -> tuple[dict[str, Any], int]:
    """Set an HTTP or a tracker fault; every worker and tracker obeys it from now on."""
    fault = shared_faults.add_fault(session, utcnow(), **NewFaultSchema().load(_body()))
    return FaultSchema().dump(fault), 201


@faults.get("")
@transactional(write=False)
def list_faults(session: Session) -> dict[str, Any]:
    """Every fault set, oldest first."""
    return FaultListSchema().dump({"faults": shared_faults.list_faults(session)})


@faults.delete("")
@transactional(write=True)
def clear_faults(session: Session) -> dict[str, Any]:
    """Remove every fault."""
    return FaultsClearedSchema().dump({"faults_deleted": shared_faults.clear_faults(session)})


@faults.delete("/<int:fault_id>")
@transactional(write=True)
def clear_fault(session: Session, fault_id: int) -> dict[str, Any]:
    """Remove one fault; 404 if there is none with that id."""
    if not shared_faults.clear_faults(session, fault_id):
        raise RecordNotFound(str(fault_id))
    return FaultsClearedSchema().dump({"faults_deleted": 1})
