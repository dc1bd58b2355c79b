"""The simulator's own controls, for integrators' tests and the demo; not part of Rx-Universe."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy.orm import Session

from api.endpoints import Answer, endpoint
from api.errors import (
    ADMIN_KEY_REFUSED,
    BODY_TOO_LARGE,
    DATABASE_DOWN,
    INVALID_BODY,
    NO_RECORD,
    OURS,
)
from api.runtime import runtime, transactional
from api.schemas import (
    BoardSchema,
    CheckInSchema,
    NewOrderSchema,
    OrderChangesSchema,
    OrderNumberPath,
    OrderStatusSchema,
    ResetSchema,
    TrackerStatusSchema,
)
from shared import simulation
from shared.board import Board, read_board
from shared.domain.clock import local_date, utcnow
from shared.heartbeats import TrackerStatus, tracker_status
from shared.models import Order
from shared.orders import OrderState, state_of

sim = Blueprint("sim", __name__, url_prefix="/api/sim")
TAG = "Simulator controls (ours)"
SIM = OURS + "a simulator control, not part of Rx-Universe. "
ORDER_STATE = "The order's status representation, as the status endpoint shows it."


def _state(session: Session, order: Order) -> OrderState:
    session.flush()
    return state_of(session, order.order_number, runtime().lab)


@endpoint(
    sim,
    "POST",
    "/orders",
    tag=TAG,
    summary="Create an order in any state",
    description=SIM + "Every key is optional; `addons` and `stations` take the lab file's codes. "
    "Bodies are read as JSON whatever their Content-Type; an empty body counts as `{}`.",
    body=NewOrderSchema,
    ok=Answer(201, ORDER_STATE, OrderStatusSchema),
    errors=(INVALID_BODY, ADMIN_KEY_REFUSED, BODY_TOO_LARGE, DATABASE_DOWN),
)
@transactional(write=True)
def create_order(session: Session, body: dict[str, Any]) -> OrderState:
    """Create an order in any state, with its addons and the stations it has passed."""
    now = utcnow()
    order = simulation.create_order(
        session,
        runtime().lab,
        now=now,
        today=local_date(now, runtime().settings.lab_timezone),
        **body,
    )
    return _state(session, order)


@endpoint(
    sim,
    "PATCH",
    "/orders/<segment:order_identifier>",
    tag=TAG,
    summary="Change an order's status, hold, deletion or unvalid message",
    description=SIM + "Give at least one key. Setting status `C` sets the completion date; "
    "leaving `C` clears it.",
    path=OrderNumberPath,
    body=OrderChangesSchema,
    ok=Answer(200, ORDER_STATE, OrderStatusSchema),
    errors=(INVALID_BODY, ADMIN_KEY_REFUSED, NO_RECORD, BODY_TOO_LARGE, DATABASE_DOWN),
)
@transactional(write=True)
def update_order(session: Session, order_identifier: str, body: dict[str, Any]) -> OrderState:
    """Change an order's status, hold, deletion or unvalid message."""
    today = local_date(utcnow(), runtime().settings.lab_timezone)
    order = simulation.update_order(session, order_identifier, today=today, **body)
    return _state(session, order)


@endpoint(
    sim,
    "POST",
    "/orders/<identifier:order_identifier>/checkins",
    tag=TAG,
    summary="Scan an order into a station, without job-flow verification",
    description=SIM + "A Valid order goes in Process.",
    path=OrderNumberPath,
    body=CheckInSchema,
    ok=Answer(201, ORDER_STATE, OrderStatusSchema),
    errors=(INVALID_BODY, ADMIN_KEY_REFUSED, NO_RECORD, BODY_TOO_LARGE, DATABASE_DOWN),
)
@transactional(write=True)
def record_checkin(session: Session, order_identifier: str, body: dict[str, Any]) -> OrderState:
    """Scan an order into a station, without verification."""
    order = simulation.record_checkin(
        session,
        runtime().lab,
        order_identifier,
        station=body["station"],
        operator=body.get("operator"),
        now=utcnow(),
    )
    return _state(session, order)


@endpoint(
    sim,
    "POST",
    "/reset",
    tag=TAG,
    summary="Delete every order",
    description=SIM + "Deletes every order with its addons and check-ins. No body.",
    ok=Answer(
        200,
        "How many orders were deleted.",
        ResetSchema,
        {"Two orders deleted": {"message": "Successful", "ordersDeleted": 2}},
    ),
    errors=(ADMIN_KEY_REFUSED, DATABASE_DOWN),
)
@transactional(write=True)
def reset(session: Session) -> dict[str, int]:
    """Delete every order."""
    return {"orders_deleted": simulation.reset(session)}


@endpoint(
    sim,
    "GET",
    "/tracker",
    tag=TAG,
    summary="Whether a Job Tracker is running",
    description=SIM + "Running means a heartbeat within three of its poll intervals and no clean "
    "stop since; `pending` counts the flagged orders waiting for it. Open even with "
    "`SIM_ADMIN_KEY` set: it holds no client data.",
    ok=Answer(
        200,
        "The Job Tracker's state.",
        TrackerStatusSchema,
        {
            "Running": {
                "running": True,
                "lastHeartbeat": "2026-11-27T17:26:21.123Z",
                "pending": 0,
            }
        },
    ),
    errors=(DATABASE_DOWN,),
)
@transactional(write=False)
def tracker(session: Session) -> TrackerStatus:
    """Whether a Job Tracker is running, its last heartbeat, and how many orders wait."""
    return tracker_status(session, utcnow())


BOARD_EXAMPLE = {
    "generatedAt": "2026-11-27T17:26:21.123Z",
    "windowMinutes": 15,
    "stations": [
        {"code": "GEN", "desc": "GEN-LOH GENERATOR", "wip": 3, "onHold": 1},
        {"code": "BSC", "desc": "BACKSIDE COATER", "wip": 2, "onHold": 0},
    ],
    "notStarted": 1,
    "active": 6,
    "onHold": 1,
    "flagged": 2,
    "oldestFlag": "2026-11-27T17:26:20.000Z",
    "trackerRunning": True,
    "lastHeartbeat": "2026-11-27T17:26:19.500Z",
    "completed": 14,
    "rejected": 1,
    "rejectedByCode": [{"code": "20", "count": 1}],
    "events": [
        {
            "time": "2026-11-27T17:26:21.001Z",
            "kind": "completed",
            "orderNumber": "33719",
            "station": "CMP",
            "code": None,
        },
        {
            "time": "2026-11-27T17:26:20.500Z",
            "kind": "rejected",
            "orderNumber": "33720",
            "station": None,
            "code": "20",
        },
    ],
}


@endpoint(
    sim,
    "GET",
    "/board",
    tag=TAG,
    summary="The lab board's figures",
    description=SIM + "What `GET /board` shows, in one answer: work in process per station in "
    "flow order, orders not yet started, on hold and flagged, whether a Job Tracker runs, "
    "completions and rejections by code in the last `windowMinutes`, the latest events. Its cost "
    "follows the orders in the lab, not the completed ones.",
    ok=Answer(200, "The board.", BoardSchema, {"A lab at work": BOARD_EXAMPLE}),
    errors=(DATABASE_DOWN,),
)
@transactional(write=False)
def board_data(session: Session) -> Board:
    """Everything the lab board shows."""
    return read_board(session, runtime().lab, utcnow())
