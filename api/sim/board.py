"""What the lab is doing, for the board and the lab simulator: the board's data, the trackers'
status."""

from __future__ import annotations

from flask import Blueprint
from marshmallow import Schema, fields
from sqlalchemy.orm import Session

from api.http.endpoints import Answer, endpoint
from api.http.errors import ADMIN_KEY_REFUSED, DATABASE_DOWN
from api.http.fields import UTCMillis
from api.http.runtime import runtime, transactional
from api.sim import SIM, TAG
from shared.domain.clock import utcnow
from shared.monitoring.heartbeats import TrackerStatus, tracker_status
from shared.sim.board import Board, read_board

blueprint = Blueprint("sim_board", __name__, url_prefix="/api/sim")


class TrackerStatusSchema(Schema):
    """`GET /api/sim/tracker`: whether a Job Tracker is running."""

    running = fields.Boolean()
    lastHeartbeat = UTCMillis(attribute="last_heartbeat", allow_none=True)
    pending = fields.Integer(metadata={"minimum": 0})


class StationLoadSchema(Schema):
    """One station on the board: the active orders whose current station it is."""

    code = fields.String(metadata={"example": "BSC"})
    desc = fields.String(attribute="description", metadata={"example": "BACKSIDE COATER"})
    wip = fields.Integer(metadata={"minimum": 0, "description": "Active orders here."})
    onHold = fields.Integer(
        attribute="on_hold", metadata={"minimum": 0, "description": "Of them, on hold."}
    )


class CodeCountSchema(Schema):
    """Rejections with one code."""

    code = fields.String(metadata={"example": "20"})
    count = fields.Integer(metadata={"minimum": 1})


class BoardEventSchema(Schema):
    """One of the latest events: a check-in, a completion or a rejection."""

    time = UTCMillis()
    kind = fields.String(metadata={"enum": ["checkin", "completed", "rejected"]})
    orderNumber = fields.String(attribute="order_number", metadata={"example": "33719"})
    station = fields.String(allow_none=True, metadata={"example": "BSC"})
    code = fields.String(allow_none=True, metadata={"description": "A rejection's code."})


class LastTicketSchema(Schema):
    orderNumber = fields.String(attribute="order_number", metadata={"example": "33719"})
    port = fields.String(metadata={"example": "LPT1"})
    printedAt = UTCMillis(attribute="printed_at")


class BoardSchema(Schema):
    """`GET /api/sim/board`: everything the lab board shows, in one answer."""

    generatedAt = UTCMillis(attribute="generated_at")
    windowMinutes = fields.Integer(
        attribute="window_minutes",
        metadata={"description": "How far back `completed`, `rejected` and `events` reach."},
    )
    stations = fields.List(
        fields.Nested(StationLoadSchema),
        metadata={"description": "Stations in flow order; operators and decision points left out."},
    )
    notStarted = fields.Integer(
        attribute="not_started",
        metadata={"minimum": 0, "description": "Active orders not yet checked in anywhere."},
    )
    active = fields.Integer(metadata={"minimum": 0, "description": "Not completed, not cancelled."})
    onHold = fields.Integer(attribute="on_hold", metadata={"minimum": 0})
    flagged = fields.Integer(
        metadata={"minimum": 0, "description": "Orders flagged for completion, waiting."}
    )
    oldestFlag = UTCMillis(attribute="oldest_flag", allow_none=True)
    trackerRunning = fields.Boolean(attribute="tracker_running")
    lastHeartbeat = UTCMillis(attribute="last_heartbeat", allow_none=True)
    completed = fields.Integer(
        metadata={"minimum": 0, "description": "Completed by the Job Tracker in the window."}
    )
    rejected = fields.Integer(
        metadata={"minimum": 0, "description": "Rejected by the Job Tracker in the window."}
    )
    rejectedByCode = fields.List(fields.Nested(CodeCountSchema), attribute="rejected_by_code")
    events = fields.List(fields.Nested(BoardEventSchema))
    importWaiting = fields.Integer(
        attribute="import_waiting",
        metadata={
            "minimum": 0,
            "description": "Submitted orders (202) waiting for the Remote Order Processor.",
        },
    )
    oldestSubmission = UTCMillis(attribute="oldest_submission", allow_none=True)
    importPaused = fields.Boolean(attribute="import_paused")
    imported = fields.Integer(
        metadata={"minimum": 0, "description": "Submitted orders imported in the window."}
    )
    tickets = fields.Integer(
        metadata={"minimum": 0, "description": "Work tickets printed in the window."}
    )
    lastTicket = fields.Nested(
        LastTicketSchema,
        attribute="last_ticket",
        allow_none=True,
        metadata={"description": "The latest work ticket printed; null if none since a reset."},
    )


@endpoint(
    blueprint,
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
    "importWaiting": 1,
    "oldestSubmission": "2026-11-27T17:26:20.750Z",
    "importPaused": False,
    "imported": 12,
    "tickets": 14,
    "lastTicket": {"orderNumber": "33719", "port": "LPT1", "printedAt": "2026-11-27T17:26:19.400Z"},
}


@endpoint(
    blueprint,
    "GET",
    "/board",
    tag=TAG,
    summary="The lab board's figures",
    description=SIM + "What `GET /board` shows, in one answer: work in process per station in "
    "flow order, orders not yet started, on hold and flagged, whether a Job Tracker runs, "
    "completions and rejections by code in the last `windowMinutes`, the latest events. Its cost "
    "follows the orders in the lab, not the completed ones.",
    ok=Answer(200, "The board.", BoardSchema, {"A lab at work": BOARD_EXAMPLE}),
    errors=(ADMIN_KEY_REFUSED, DATABASE_DOWN),
)
@transactional(write=False)
def board_data(session: Session) -> Board:
    """Everything the lab board shows."""
    return read_board(session, runtime().lab, utcnow())
