"""`POST /api/v2/orders/{orderIdentifier}/print_ticket`: print an order's work ticket on one of
workstation 00's printers, with Rx-Universe's refusals in the order it lists them."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy.orm import Session

from api.http.endpoints import Answer, endpoint
from api.http.errors import (
    API_KEY_REFUSED,
    BODY_TOO_LARGE,
    DATABASE_DOWN,
    INVALID_REQUEST,
    NO_RECORD,
    OURS,
    ErrorSchema,
    error_body,
)
from api.http.fields import Input
from api.http.runtime import runtime, transactional
from api.v2 import TAG, OrderAnyIdentifierPath
from api.v2.orders import CANCELLED_STATUS
from shared.db.models import Order
from shared.domain.clock import utcnow
from shared.domain.errors import (
    NoPrinterDefined,
    NoXmlTemplate,
    OrderWaitingForTray,
    PrintRefused,
    StockOrderNoTicket,
    TicketFormatNotXml,
    XmlTemplateMissing,
)
from shared.domain.lab_setup import LPT_PORTS
from shared.orders.tickets import print_ticket

blueprint = Blueprint("v2_tickets", __name__, url_prefix="/api/v2")
PRINTING = "Printing in process"
PRINTING_EXAMPLE = {
    "orderNumber": "33719",
    "trayNumber": "123",
    "poNumber": "PO-7",
    "message": PRINTING,
}


class PrintTicketSchema(Input):
    """The LPT port to print to (the body may be left out: LPT1)."""

    lpt = fields.String(
        load_default="LPT1",
        validate=validate.OneOf(LPT_PORTS),
        metadata={
            "description": "An LPT port of workstation 00 (its printers are the lab file's "
            "`work_tickets.printers`). " + OURS + "the key's name: Rx-Universe documents the "
            "port, not what carries it.",
            "example": "LPT1",
        },
    )


class TicketPrintingSchema(Schema):
    """The ticket is on its way to the printer."""

    orderNumber = fields.String(attribute="order_number", metadata={"example": "33719"})
    trayNumber = fields.String(
        attribute="tray_number", allow_none=True, metadata={"example": "123"}
    )
    poNumber = fields.String(attribute="po_number", allow_none=True, metadata={"example": "PO-7"})
    message = fields.Constant(PRINTING, metadata={"type": "string", "enum": [PRINTING]})


def _refused(e: PrintRefused) -> dict[str, Any]:
    return error_body(e.error, list(e.details))


PRINT_REFUSED = Answer(
    400,
    "Not printed, for the order: trays are required and it has none (the lab file's "
    "`work_tickets.trays_required`), or it is a stock order. Or the body names no LPT port.",
    ErrorSchema,
    {
        "Waiting for a tray": _refused(OrderWaitingForTray()),
        "A stock order": _refused(StockOrderNoTicket()),
        "An unknown port": error_body(INVALID_REQUEST, ["lpt: Must be one of: LPT1, LPT2, ..."]),
    },
)
PRINTING_NOT_SET_UP = Answer(
    500,
    "Not printed, for the lab's settings (the lab file's `work_tickets`): tickets are not XML, "
    "no XML template is selected, the selected one no longer exists, or workstation 00 has no "
    "printer on the port.",
    ErrorSchema,
    {
        "Not XML tickets": _refused(TicketFormatNotXml()),
        "No template": _refused(NoXmlTemplate()),
        "A template that is gone": _refused(XmlTemplateMissing("bad_xml_ticket_name.xml")),
        "No printer on the port": _refused(NoPrinterDefined()),
    },
)


@endpoint(
    blueprint,
    "POST",
    "/orders/<segment:order_identifier>/print_ticket",
    tag=TAG,
    summary="Print an order's work ticket",
    description="Printed with workstation 00's settings on the LPT port asked for (LPT1 if "
    "none). A cancelled order is answered right after not found, with a 200 and Rx-Universe's "
    "error body. " + OURS + "the printer is simulated: `GET /api/sim/printers` lists what each "
    "port printed.",
    path=OrderAnyIdentifierPath,
    body=PrintTicketSchema,
    ok=Answer(
        201,
        "The ticket is printing.",
        TicketPrintingSchema,
        {
            "Printing": {
                "orderNumber": "33719",
                "trayNumber": "123",
                "poNumber": "PO-7",
                "message": PRINTING,
            }
        },
    ),
    errors=(
        CANCELLED_STATUS,
        PRINT_REFUSED,
        NO_RECORD,
        PRINTING_NOT_SET_UP,
        BODY_TOO_LARGE,
        API_KEY_REFUSED,
        DATABASE_DOWN,
    ),
)
@transactional(write=True)
def print_work_ticket(session: Session, order_identifier: str, body: dict[str, Any]) -> Order:
    """Print an order's work ticket."""
    return print_ticket(session, runtime().lab, order_identifier, body["lpt"], utcnow())
