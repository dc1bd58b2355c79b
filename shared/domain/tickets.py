"""Work tickets: what stops one from printing, in the order Rx-Universe lists it. Pure rules."""

from __future__ import annotations

from shared.domain.errors import (
    NoPrinterDefined,
    NoXmlTemplate,
    OrderWaitingForTray,
    StockOrderNoTicket,
    TicketFormatNotXml,
    XmlTemplateMissing,
)
from shared.domain.lab_setup import WorkTickets

XML = "xml"


def check_printable(settings: WorkTickets, *, has_tray: bool, stock: bool, port: str) -> str:
    """Raise why the order's ticket cannot be printed on `port`; else the printer's name.

    A cancelled order is answered before any of these (Rx-Universe's 200 `Order marked for
    cancelation`), by the caller that found it.
    """
    if settings.trays_required and not has_tray:
        raise OrderWaitingForTray()
    if settings.ticket_format.lower() != XML:
        raise TicketFormatNotXml()
    if stock:
        raise StockOrderNoTicket()
    if not settings.xml_template:
        raise NoXmlTemplate()
    if not settings.xml_template_exists:
        raise XmlTemplateMissing(settings.xml_template)
    printer = settings.printers.get(port)
    if printer is None:
        raise NoPrinterDefined()
    return printer
