"""Where an order may be checked in, and by whom: pure rules for the v2 check-in and the lab
simulator."""

from __future__ import annotations

from shared.domain.codes import OrderStatus
from shared.domain.completion import processes_needed
from shared.domain.errors import (
    CompletionStationReserved,
    OperatorNotFound,
    OperatorRequired,
    OrderNotCheckable,
    ProcessNotNeeded,
    StationNotFound,
)
from shared.domain.lab_setup import Lab, Station
from shared.domain.orders import OrderFacts


def checkin_station(lab: Lab, code: str) -> Station:
    """The station a client may check an order into under `code` (case-sensitive)."""
    station = lab.stations.get(code)
    if station is None or not station.takes_checkins:
        raise StationNotFound()
    if code == lab.completion_station:
        raise CompletionStationReserved()
    return station


def check_operator(lab: Lab, station: Station, operator: str | None) -> None:
    """An operator's code, where given, names an operator; a station that needs one gets one.
    A valid operator where none is needed is accepted (and recorded)."""
    if operator is not None:
        found = lab.stations.get(operator)
        if found is None or not found.is_operator:
            raise OperatorNotFound()
    elif station.requires_operator:
        raise OperatorRequired()


def check_checkin(lab: Lab, station: Station, facts: OrderFacts) -> None:
    """Raise why `facts`' order cannot be checked in at `station`, if it cannot.

    Only an order in the lab's flow moves: one that is cancelled, unvalid, completed or on hold
    is refused with Rx-Universe's words for that state. With station verify on, a station whose
    process only addons call for refuses an order none of whose addons does, with the lab's
    message for it (`AR not needed`); a process every order may pass (Final QA) is never refused.
    """
    if facts.deleted:
        raise OrderNotCheckable("Order marked for cancelation")
    if facts.status is OrderStatus.UNVALID:
        raise OrderNotCheckable("Order unvalid")
    if facts.status is OrderStatus.COMPLETE:
        raise OrderNotCheckable("Order already completed")
    if facts.on_hold:
        raise OrderNotCheckable("Order on hold")
    process = station.process
    if (
        lab.station_verify
        and process is not None
        and process in lab.addon_processes()
        and process not in processes_needed(lab, facts.job_type, facts.addons)
    ):
        raise ProcessNotNeeded(lab.process(process).not_needed_message)
