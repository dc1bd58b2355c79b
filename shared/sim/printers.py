"""The simulated printers of workstation 00: what each LPT port printed, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from shared.db.models import WorkTicket
from shared.domain.lab_setup import Lab

# Tickets shown per port: the printer's tray of recent output, not an archive.
RECENT = 20


@dataclass(frozen=True)
class PrintedTicket:
    order_number: int
    printed_at: datetime


@dataclass(frozen=True)
class PrinterOutput:
    """One LPT port: its printer (None where the lab defines none), how many tickets it printed,
    and the latest of them."""

    port: str
    printer: str | None
    printed: int
    tickets: list[PrintedTicket]


def printer_outputs(connection: Connection, lab: Lab) -> list[PrinterOutput]:
    """Every port with a printer or with tickets, in port order."""
    counts = {
        port: count
        for port, count in connection.execute(
            select(WorkTicket.port, func.count()).group_by(WorkTicket.port)
        )
    }
    ports = sorted(set(lab.work_tickets.printers) | set(counts))
    return [
        PrinterOutput(
            port=port,
            printer=lab.work_tickets.printers.get(port),
            printed=counts.get(port, 0),
            tickets=[
                PrintedTicket(number, at)
                for number, at in connection.execute(
                    select(WorkTicket.order_number, WorkTicket.printed_at)
                    .where(WorkTicket.port == port)
                    .order_by(WorkTicket.id.desc())
                    .limit(RECENT)
                )
            ],
        )
        for port in ports
    ]
