"""Lens and frame pick verification on an order: its pick state read, and codes checked and
recorded.

Both run on an autocommit connection, on the driver (`shared.db.driver`), as the completion call
does and for its reasons: a pick is one read, checked in Python, and one UPDATE that re-checks
in its WHERE that the order's pick state is still the one read. Two picks racing for the same
items cannot both record them: the second's UPDATE finds the state changed, and its next read
sees the first's pick.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from sqlalchemy import Boolean, Connection, Dialect, String, Table, and_, bindparam, select, update

from shared.db.driver import DriverStatement
from shared.db.models import Order
from shared.domain.codes import OrderStatus
from shared.domain.errors import OrderContended, RecordNotFound
from shared.domain.lab_setup import Lab
from shared.domain.orders import parse_order_number
from shared.domain.pick import ITEMS, PickState, check_pick, reject_reason
from shared.orders.lookup import find_row

_orders = cast(Table, Order.__table__)
PICK_ATTEMPTS = 5
# The order's column for each code, and for each item's picked flag.
CODE_COLUMNS = {
    "rtOPC": "rt_opc",
    "ltOPC": "lt_opc",
    "frameUPC": "frame_upc",
    "frameSKU": "frame_sku",
    "framePartSKU": "frame_part_sku",
    "frameSideShieldSKU": "frame_side_shield_sku",
    "misc1SKU": "misc1_sku",
    "misc2SKU": "misc2_sku",
}
PICKED_COLUMNS = {
    "rtLens": "rt_lens_picked",
    "ltLens": "lt_lens_picked",
    "frame": "frame_picked",
    "framePart": "frame_part_picked",
    "frameSideShield": "frame_side_shield_picked",
    "misc1": "misc1_picked",
    "misc2": "misc2_picked",
}


@dataclass(frozen=True)
class PickInfo:
    """An order's pick state as the pick endpoints answer it."""

    order_number: int
    tray_number: str | None
    po_number: str | None
    warehouse: str
    picked: Mapping[str, bool]  # item -> picked
    codes: Mapping[str, str | None]  # code name -> expected code
    reject_reason: str | None


def read_pick(connection: Connection, lab: Lab, identifier: str) -> PickInfo:
    """The pick state of the order any v2 identifier names."""
    row = _read(connection, identifier)
    return _info(row, _state(row), lab)


def perform_pick(
    connection: Connection, lab: Lab, identifier: str, sent: Mapping[str, str]
) -> PickInfo:
    """Check the scanned codes `sent` against the order and record the items they pick."""
    statements = _statements(connection.dialect)
    row = _read(connection, identifier)
    for _ in range(PICK_ATTEMPTS):
        state = _state(row)
        items = check_pick(state, sent, partial_picking=lab.pick.partial_picking)
        picked = state.picked | items
        values = {f"new_{PICKED_COLUMNS[i]}": i in picked for i in ITEMS}
        if statements.record.count(connection, **values, **_as_read(row)):
            new_state = PickState(state.codes, frozenset(picked), state.deleted, state.completed)
            return _info(row, new_state, lab)
        (row,) = statements.read.fetch(connection, number=row.order_number) or (None,)
        if row is None:
            raise RecordNotFound(identifier)
    raise OrderContended(row.order_number, PICK_ATTEMPTS)


def _read(connection: Connection, identifier: str) -> Any:
    """The order's pick row: by its number first, else by a tray or a PO (`find_row`)."""
    statements = _statements(connection.dialect)
    number = parse_order_number(identifier)
    rows = statements.read.fetch(connection, number=number) if number is not None else []
    if not rows:
        found = find_row(connection, identifier)
        rows = statements.read.fetch(connection, number=found.order_number)
        if not rows:
            raise RecordNotFound(identifier)
    return rows[0]


def _state(row: Any) -> PickState:
    return PickState(
        codes={code: getattr(row, column) for code, column in CODE_COLUMNS.items()},
        picked=frozenset(item for item, column in PICKED_COLUMNS.items() if getattr(row, column)),
        deleted=bool(row.deleted),
        completed=row.status is OrderStatus.COMPLETE,
    )


def _as_read(row: Any) -> dict[str, Any]:
    """The guard's values: the order's number, state and pick columns as read."""
    values = {"number": row.order_number, "status": row.status, "deleted": row.deleted}
    for column in (*CODE_COLUMNS.values(), *PICKED_COLUMNS.values()):
        values[f"old_{column}"] = getattr(row, column)
    return values


def _info(row: Any, state: PickState, lab: Lab) -> PickInfo:
    return PickInfo(
        order_number=row.order_number,
        tray_number=row.tray_number,
        po_number=row.po_number,
        warehouse=lab.pick.warehouse,
        picked={item: item in state.picked for item in ITEMS},
        codes=state.codes,
        reject_reason=reject_reason(state),
    )


class _Statements(NamedTuple):
    read: DriverStatement
    record: DriverStatement


@functools.cache
def _statements(dialect: Dialect) -> _Statements:
    """The pick's read, and its write guarded by the state it read."""
    c = _orders.c
    columns = [c[name] for name in (*CODE_COLUMNS.values(), *PICKED_COLUMNS.values())]
    read = select(c.order_number, c.tray_number, c.po_number, c.status, c.deleted, *columns).where(
        c.order_number == bindparam("number", type_=c.order_number.type)
    )
    guard = [
        c.order_number == bindparam("number", type_=c.order_number.type),
        c.status == bindparam("status", type_=c.status.type),
        c.deleted == bindparam("deleted", type_=Boolean()),
    ]
    guard += [
        c[name].is_not_distinct_from(bindparam(f"old_{name}", type_=String()))
        for name in CODE_COLUMNS.values()
    ]
    guard += [
        c[name] == bindparam(f"old_{name}", type_=Boolean()) for name in PICKED_COLUMNS.values()
    ]
    record = (
        update(_orders)
        .where(and_(*guard))
        .values(
            {name: bindparam(f"new_{name}", type_=Boolean()) for name in PICKED_COLUMNS.values()}
        )
    )
    return _Statements(
        read=DriverStatement.compile(read, dialect), record=DriverStatement.compile(record, dialect)
    )
