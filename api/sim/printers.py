"""`GET /api/sim/printers`: what workstation 00's simulated printers printed (the work tickets
of POST /api/v2/orders/{orderIdentifier}/print_ticket)."""

from __future__ import annotations

from flask import Blueprint
from marshmallow import Schema, fields
from sqlalchemy.orm import Session

from api.http.endpoints import Answer, endpoint
from api.http.errors import ADMIN_KEY_REFUSED, DATABASE_DOWN
from api.http.fields import UTCMillis
from api.http.runtime import runtime, transactional
from api.sim import SIM, TAG
from shared.sim.printers import RECENT, PrinterOutput, printer_outputs

blueprint = Blueprint("sim_printers", __name__, url_prefix="/api/sim/printers")


class PrintedTicketSchema(Schema):
    orderNumber = fields.String(attribute="order_number", metadata={"example": "33719"})
    printedAt = UTCMillis(attribute="printed_at")


class PrinterSchema(Schema):
    port = fields.String(metadata={"example": "LPT1"})
    printer = fields.String(
        allow_none=True,
        metadata={"description": "The lab file's printer on the port; null if it has none now."},
    )
    printed = fields.Integer(metadata={"description": "Tickets printed since the last reset."})
    tickets = fields.List(
        fields.Nested(PrintedTicketSchema),
        metadata={"description": f"The latest {RECENT} tickets, newest first."},
    )


class PrintersSchema(Schema):
    printers = fields.List(fields.Nested(PrinterSchema))


EXAMPLE = {
    "printers": [
        {
            "port": "LPT1",
            "printer": "Lab office printer",
            "printed": 1,
            "tickets": [{"orderNumber": "33719", "printedAt": "2026-12-07T13:02:11.512Z"}],
        }
    ]
}


@endpoint(
    blueprint,
    "GET",
    "",
    tag=TAG,
    summary="What each printer of workstation 00 printed",
    description=SIM + "Every LPT port with a printer (the lab file's `work_tickets.printers`) "
    "or with tickets, in port order. A reset clears them.",
    ok=Answer(200, "The printers and their tickets.", PrintersSchema, {"Printed": EXAMPLE}),
    errors=(ADMIN_KEY_REFUSED, DATABASE_DOWN),
)
@transactional(write=False)
def printers(session: Session) -> dict[str, list[PrinterOutput]]:
    """What each printer printed."""
    return {"printers": printer_outputs(session.connection(), runtime().lab)}
