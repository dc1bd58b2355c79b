"""`/api/sim/processor`: the Remote Order Processor's queue, and pausing and resuming it, so an
integration can be tried against "the processor is down" (submissions still answer 202, queue,
and stay invisible until it is resumed)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from marshmallow import Schema, fields
from sqlalchemy.orm import Session

from api.http.endpoints import Answer, endpoint
from api.http.errors import ADMIN_KEY_REFUSED, DATABASE_DOWN, SIM_WRITE_REFUSED
from api.http.fields import UTCMillis
from api.http.runtime import transactional
from api.sim import SIM, TAG
from shared.domain.clock import utcnow
from shared.orders.submissions import import_queue, processor_paused, set_processor_paused

blueprint = Blueprint("sim_processor", __name__, url_prefix="/api/sim/processor")


class ProcessorSchema(Schema):
    """The Remote Order Processor's state and its queue."""

    paused = fields.Boolean(
        metadata={"description": "Paused through this API: no tracker imports meanwhile."}
    )
    waiting = fields.Integer(
        metadata={"description": "Submissions accepted (202) and not yet imported."}
    )
    oldestWaiting = UTCMillis(
        attribute="oldest_waiting",
        allow_none=True,
        metadata={"description": "When the oldest waiting submission was accepted; null if none."},
    )


STATE_EXAMPLE = {"paused": True, "waiting": 2, "oldestWaiting": "2026-12-07T13:02:11.512Z"}
_ABOUT = (
    SIM + "The Remote Order Processor is a duty of every Job Tracker (unless its "
    "`REMOTE_ORDER_PROCESSOR` is off); a pause holds all of them until it is resumed."
)


def _state(session: Session) -> dict[str, Any]:
    connection = session.connection()
    queue = import_queue(connection)
    return {
        "paused": processor_paused(connection),
        "waiting": queue.waiting,
        "oldest_waiting": queue.oldest,
    }


@endpoint(
    blueprint,
    "GET",
    "",
    tag=TAG,
    summary="The Remote Order Processor's state and queue",
    description=_ABOUT,
    ok=Answer(200, "Paused or not, and the queue.", ProcessorSchema, {"Paused": STATE_EXAMPLE}),
    errors=(ADMIN_KEY_REFUSED, DATABASE_DOWN),
)
@transactional(write=False)
def processor_state(session: Session) -> dict[str, Any]:
    """The Remote Order Processor's state."""
    return _state(session)


@endpoint(
    blueprint,
    "POST",
    "/pause",
    tag=TAG,
    summary="Pause the Remote Order Processor",
    description=_ABOUT + " No body; pausing a paused processor changes nothing.",
    ok=Answer(200, "Paused.", ProcessorSchema, {"Paused": STATE_EXAMPLE}),
    errors=(ADMIN_KEY_REFUSED, *SIM_WRITE_REFUSED, DATABASE_DOWN),
)
@transactional(write=True)
def pause_processor(session: Session) -> dict[str, Any]:
    """Pause the Remote Order Processor."""
    set_processor_paused(session, True, utcnow())
    return _state(session)


@endpoint(
    blueprint,
    "POST",
    "/resume",
    tag=TAG,
    summary="Resume the Remote Order Processor",
    description=SIM + "No body; the trackers import what waits at their next poll.",
    ok=Answer(
        200,
        "Running again.",
        ProcessorSchema,
        {"Resumed": {"paused": False, "waiting": 2, "oldestWaiting": "2026-12-07T13:02:11.512Z"}},
    ),
    errors=(ADMIN_KEY_REFUSED, *SIM_WRITE_REFUSED, DATABASE_DOWN),
)
@transactional(write=True)
def resume_processor(session: Session) -> dict[str, Any]:
    """Resume the Remote Order Processor."""
    set_processor_paused(session, False, utcnow())
    return _state(session)
