"""An order as the rules see it: its facts, its number, the status a client is shown."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.domain.codes import JobType, OrderStatus
from shared.domain.errors import NotCompletedAtCompletion

# ASCII digits only: `\d` and str.isdigit() would let other scripts' digits through to int().
# Leading zeros are ignored, however many there are; the number itself has at most 18 digits.
_ORDER_NUMBER = re.compile(r"0*([0-9]{1,18})")


# The highest number an identifier can name (18 digits): no order may be numbered above it.
MAX_ORDER_NUMBER = 10**18 - 1


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """What the completion checks look at, loaded the same way by the API and the tracker."""

    order_number: int
    status: OrderStatus
    on_hold: bool
    deleted: bool
    job_type: JobType
    addons: frozenset[str]
    stations: frozenset[str]


def parse_order_number(identifier: str) -> int | None:
    """The order number an identifier names, or None when it cannot name one."""
    digits = _ORDER_NUMBER.fullmatch(identifier)
    return int(digits[1]) if digits else None


def effective_status(status: OrderStatus, on_hold: bool) -> str:
    """The status code Rx-Universe shows: `W` while on hold, else the stored one."""
    return "W" if on_hold else status.value


def check_completion_station(
    completion_station: str, station: str, status: OrderStatus, field: str
) -> None:
    """Only a completed order can be at the completion station: the Job Tracker puts an order
    there as it completes it, so one there and not completed could never move on. `field` names
    what put it there, in the refusal."""
    if station == completion_station and status is not OrderStatus.COMPLETE:
        raise NotCompletedAtCompletion(field, station)
