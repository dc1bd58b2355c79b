"""The simulator's own controls, for integrators' tests and the demo; not part of Rx-Universe."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from sqlalchemy.orm import Session

from api.runtime import runtime, transactional
from api.schemas import (
    CheckInSchema,
    NewOrderSchema,
    OrderChangesSchema,
    OrderStatusSchema,
    ResetSchema,
    TrackerStatusSchema,
)
from shared import simulation
from shared.domain.clock import local_date, utcnow
from shared.heartbeats import tracker_status
from shared.models import Order
from shared.orders import order_state

sim = Blueprint("sim", __name__, url_prefix="/api/sim")


def _body() -> Any:
    """The JSON body; an empty body counts as `{}`."""
    return request.get_json(force=True) if request.get_data(cache=True) else {}


def _state(session: Session, order: Order) -> dict[str, Any]:
    session.flush()
    state: dict[str, Any] = OrderStatusSchema().dump(order_state(session, order, runtime().lab))
    return state


@sim.post("/orders")
@transactional(write=True)
def create_order(session: Session) -> tuple[dict[str, Any], int]:
    """Create an order in any state, with its addons and the stations it has passed."""
    data = NewOrderSchema().load(_body())
    now = utcnow()
    order = simulation.create_order(
        session,
        runtime().lab,
        now=now,
        today=local_date(now, runtime().settings.lab_timezone),
        **data,
    )
    return _state(session, order), 201


@sim.patch("/orders/<identifier:order_identifier>")
@transactional(write=True)
def update_order(session: Session, order_identifier: str) -> dict[str, Any]:
    """Change an order's status, hold, deletion or unvalid message."""
    changes = OrderChangesSchema().load(_body())
    today = local_date(utcnow(), runtime().settings.lab_timezone)
    order = simulation.update_order(session, order_identifier, today=today, **changes)
    return _state(session, order)


@sim.post("/orders/<identifier:order_identifier>/checkins")
@transactional(write=True)
def record_checkin(session: Session, order_identifier: str) -> tuple[dict[str, Any], int]:
    """Scan an order into a station, without verification."""
    checkin = CheckInSchema().load(_body())
    order = simulation.record_checkin(
        session,
        runtime().lab,
        order_identifier,
        station=checkin["station"],
        operator=checkin.get("operator"),
        now=utcnow(),
    )
    return _state(session, order), 201


@sim.post("/reset")
@transactional(write=True)
def reset(session: Session) -> dict[str, Any]:
    """Delete every order."""
    body: dict[str, Any] = ResetSchema().dump({"orders_deleted": simulation.reset(session)})
    return body


@sim.get("/tracker")
@transactional(write=False)
def tracker(session: Session) -> dict[str, Any]:
    """Whether a Job Tracker is running, its last heartbeat, and how many orders wait."""
    body: dict[str, Any] = TrackerStatusSchema().dump(tracker_status(session, utcnow()))
    return body
