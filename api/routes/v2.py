"""Rx-Universe's v2 endpoints, as documented."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from api.runtime import autocommitting, runtime, transactional
from api.schemas import CompletionAcceptedSchema, OrderStatusSchema
from shared.completion.flag import request_completion
from shared.domain.clock import utcnow
from shared.orders import get_order_state

v2 = Blueprint("v2", __name__, url_prefix="/api/v2")


_accepted = CompletionAcceptedSchema()
_order_status = OrderStatusSchema()


@v2.post("/orders/<identifier:order_identifier>/complete")
@autocommitting
def complete_order(connection: Connection, order_identifier: str) -> tuple[dict[str, Any], int]:
    """Flag an order for completion by the Job Tracker."""
    number = request_completion(connection, order_identifier, runtime().lab, utcnow())
    return _accepted.dump({"order_number": number}), 201


@v2.get("/orders/<identifier:order_identifier>/status")
@transactional(write=False)
def order_status(session: Session, order_identifier: str) -> dict[str, Any]:
    """An order's status, current station and completion progress."""
    return _order_status.dump(get_order_state(session, order_identifier, runtime().lab))
