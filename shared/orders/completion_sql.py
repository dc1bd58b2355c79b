"""The completion rules as one SQL condition on an order row.

The SQL twin of `shared.domain.completion.check_completable`, built from the same lab data, so
the API can flag a completable order in one statement. `tests/test_checks_sql.py` holds the two
to the same answer over labs that exercise every branch; change one, change the other.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, false, literal, or_

from shared.db.models import CheckIn, Order, OrderAddon
from shared.domain.codes import JobType, OrderStatus
from shared.domain.lab_setup import Lab

_orders = Order.__table__
_addons = OrderAddon.__table__
_checkins = CheckIn.__table__


def completable(lab: Lab) -> ColumnElement[bool]:
    """`check_completable` as one SQL condition on an order row, built from the same lab data:
    true exactly when the check would pass (tests/test_checks_sql.py holds the two to the same
    answer on every kind of order). It lets the API flag a completable order in one statement; the
    Python check stays the judge of every order it turns away, and of every order the tracker
    completes.
    """
    conditions = [
        ~_orders.c.deleted,
        _one_of(_orders.c.status, [OrderStatus.VALID, OrderStatus.PROCESS]),
        ~_orders.c.on_hold,
    ]
    if lab.station_verify:
        # No addon of the order needs a process the order has not passed a station for: one
        # look at the order's few addons, and for each only its own processes' check-ins...
        missing = [
            (_addons.c.addon_code == code, or_(*(~_passed(lab, p) for p in sorted(processes))))
            for code, processes in sorted((c, a.processes) for c, a in lab.addons.items())
            if processes
        ]
        if missing:
            conditions.append(
                ~exists().where(
                    _addons.c.order_number == _orders.c.order_number,
                    case(*missing, else_=false()),
                )
            )
        # ...and an addon job has passed final QA, where the lab forces it.
        if lab.force_qa_on_addon_jobs:
            conditions.append(
                or_(_orders.c.job_type != JobType.ADDON, _passed(lab, lab.final_qa_process))
            )
    return and_(*conditions)


def _passed(lab: Lab, process: str) -> ColumnElement[bool]:
    """Whether the order has been checked in at a station that performs `process`."""
    performing = sorted(c for c, station in lab.stations.items() if station.process == process)
    if not performing:
        return false()
    return (
        exists()
        .where(
            _checkins.c.order_number == _orders.c.order_number,
            _one_of(_checkins.c.station, performing),
        )
        .correlate(_orders)
    )


def _one_of(column: ColumnElement[Any], values: list[Any]) -> ColumnElement[bool]:
    # Each value its own parameter, not one list that would have to be expanded on each call.
    return column.in_([literal(value, column.type) for value in values])
