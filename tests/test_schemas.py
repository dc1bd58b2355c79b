"""The status and order reads' bodies, written out by hand for speed, are what their schemas'
fields dump: the same keys, in the same order, with the same values."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from marshmallow import Schema

from api.v2.orders import OrderSchema, OrderStatusSchema
from api.v2.pick import PickedSchema, PickInformationSchema, pick_body
from api.v2.stations import CheckinDoneSchema
from shared.domain.codes import JobType
from shared.domain.lab_setup import Station
from shared.domain.pick import ITEMS
from shared.orders.checkins import CheckedInOrder, CheckinDone
from shared.orders.lookup import (
    AddonOfOrder,
    CompletionError,
    CurrentStation,
    OrderDetails,
    OrderState,
)
from shared.orders.pick import CODE_COLUMNS, PickInfo

# Nothing here depends on the pass's database engine: the SQLite pass runs it once.
pytestmark = pytest.mark.database_free

CODE_NAMES = tuple(CODE_COLUMNS)
STATIONS = [
    None,
    CurrentStation(
        "BSC", "BACKSIDE COATER", "IN COATING", datetime(2026, 11, 27, 17, 26, 21, 123456, UTC)
    ),
    CurrentStation(
        "X", None, None, datetime(2026, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=-5)))
    ),
]
ERRORS = [None, CompletionError("05", "Order on hold"), CompletionError("99", "é ünicode")]


def states() -> list[OrderState]:
    found = []
    for (status, on_hold), station, error, (rt, lt), (tray, po) in itertools.product(
        [("U", False), ("V", False), ("P", True), ("C", False), ("W", True), ("Z", False)],
        STATIONS,
        ERRORS,
        [(True, True), (True, False), (False, True), (False, False)],
        [(None, None), ("123", "PO-7")],
    ):
        found.append(
            OrderState(
                order_number=33719,
                tray_number=tray,
                po_number=po,
                status=status,
                on_hold=on_hold,
                unvalid_message="Bad Rx" if status == "U" else None,
                rt_calculated=rt,
                lt_calculated=lt,
                current_station=station,
                pending_completion=error is None and status == "P",
                completion_error=error,
            )
        )
    return found


def generic_dump(schema: Schema, obj: Any) -> Any:
    """marshmallow's own dump, field by field, which the hand-written one stands in for."""
    return Schema.dump(schema, obj)


@pytest.mark.parametrize("state", states())
def test_the_status_body_is_what_the_schema_fields_dump(state: OrderState) -> None:
    schema = OrderStatusSchema()
    body = schema.dump(state)
    expected = generic_dump(schema, state)
    assert body == expected
    assert list(body) == list(expected)


@pytest.mark.parametrize(
    ("state", "job_type", "completed", "addons", "ar"),
    [
        (state, job_type, completed, addons, ar)
        for state, job_type, completed, addons, ar in zip(
            states(),
            itertools.cycle(JobType),
            itertools.cycle([None, date(2026, 11, 28)]),
            itertools.cycle([[], [AddonOfOrder("AR", "ANTI-REFLECTIVE"), AddonOfOrder("Q", None)]]),
            itertools.cycle([(None, None), ("AR", "ANTI-REFLECTIVE")]),
            strict=False,
        )
    ],
)
def test_the_order_body_is_what_the_schema_fields_dump(
    state: OrderState,
    job_type: JobType,
    completed: date | None,
    addons: list[AddonOfOrder],
    ar: tuple[str | None, str | None],
) -> None:
    details = OrderDetails(
        state=state,
        job_type=job_type,
        deleted=state.status == "U",
        date_ordered=date(2026, 11, 27),
        date_completed=completed,
        addons=addons,
        ar_code=ar[0],
        ar_description=ar[1],
    )
    schema = OrderSchema()
    body = schema.dump(details)
    expected = generic_dump(schema, details)
    assert body == expected
    assert list(body) == list(expected)


def test_a_list_of_orders_is_dumped_as_each_order_alone() -> None:
    (state,) = states()[:1]
    details = OrderDetails(state, JobType.FULL, False, date(2026, 11, 27), None, [], None, None)
    schema = OrderSchema()
    assert schema.dump([details, details], many=True) == [schema.dump(details)] * 2


@pytest.mark.parametrize(
    ("tray", "po", "description"),
    [(None, None, "BACKSIDE COATER"), ("123", "PO-7", ""), ("1", "é", "ünicode")],
)
def test_the_checkin_body_is_what_the_schema_fields_dump(
    tray: str | None, po: str | None, description: str
) -> None:
    done = CheckinDone(
        order=CheckedInOrder(33719, tray, po),
        station=Station(code="BSC", description=description, customer_description="IN COATING"),
        operator=None,
        checked_in_at=datetime(2026, 11, 27, 17, 26, 21, 123456, UTC),
    )
    schema = CheckinDoneSchema()
    body = schema.dump(done)
    expected = generic_dump(schema, done)
    assert body == expected
    assert list(body) == list(expected)


@pytest.mark.parametrize("tray", [None, "45"])
def test_the_pick_bodies_are_what_the_schema_fields_dump(tray: str | None) -> None:
    info = PickInfo(
        order_number=228844,
        tray_number=tray,
        po_number="XYZ123",
        warehouse="DEFAULT",
        picked={item: item == "rtLens" for item in ITEMS},
        codes=dict.fromkeys(CODE_NAMES) | {"rtOPC": "0209448281", "ltOPC": "0209448281"},
        reject_reason=None,
    )
    full = pick_body(info)
    for schema in (PickInformationSchema(), PickedSchema()):
        body = schema.dump(full)
        expected = generic_dump(schema, full)
        assert body == expected
        assert list(body) == list(expected)
    assert list(PickedSchema().dump(full)) == list(full)[:11]
