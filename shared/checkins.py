"""Checking an order into a station, verified as Rx-Universe's v2 check-in verifies it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from shared.domain.codes import OrderStatus
from shared.domain.errors import CheckinOrderNotFound, RecordNotFound
from shared.domain.job_tracking import check_checkin, check_operator, checkin_station
from shared.domain.lab import Lab, Station
from shared.models import CheckIn, Order
from shared.orders import lookup_order, order_facts


@dataclass(frozen=True)
class CheckinDone:
    order: Order
    station: Station
    operator: str | None
    checked_in_at: datetime


def check_in(
    session: Session,
    lab: Lab,
    *,
    station_code: str,
    identifier: str,
    operator: str | None,
    now: datetime,
) -> CheckinDone:
    """Check the order `identifier` names in at `station_code`; a Valid order goes in Process.

    Checked in Rx-Universe's order: the station, the order, the operator, then the order's state
    and job flow. The order's row is locked first, so a cancel, a hold or the Job Tracker cannot
    change it between the check and the write.
    """
    station = checkin_station(lab, station_code)
    try:
        order = lookup_order(session, identifier, lock=True)
    except RecordNotFound:
        raise CheckinOrderNotFound() from None
    check_operator(lab, station, operator)
    check_checkin(lab, station, order_facts(order))
    session.add(CheckIn(order=order, station=station.code, operator=operator, checked_in_at=now))
    if order.status is OrderStatus.VALID:
        order.status = OrderStatus.PROCESS
    return CheckinDone(order, station, operator, now)
