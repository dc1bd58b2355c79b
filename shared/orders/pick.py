"""Lens and frame pick verification on an order: its pick state read, and codes checked and
recorded, one pick at a time per order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from shared.db.models import Order
from shared.domain.codes import OrderStatus
from shared.domain.lab_setup import Lab
from shared.domain.pick import ITEMS, PickState, check_pick, reject_reason
from shared.orders.lookup import find_order

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

    order: Order
    warehouse: str
    picked: Mapping[str, bool]  # item -> picked
    codes: Mapping[str, str | None]  # code name -> expected code
    reject_reason: str | None


def read_pick(session: Session, lab: Lab, identifier: str) -> PickInfo:
    """The pick state of the order any v2 identifier names."""
    return _info(find_order(session, identifier), lab)


def perform_pick(session: Session, lab: Lab, identifier: str, sent: Mapping[str, str]) -> PickInfo:
    """Check the scanned codes `sent` against the order and record the items they pick.

    The order's row is locked (PostgreSQL; SQLite's write transaction serialises anyway): two
    picks of one order run one after the other, so the second sees the first's items and is
    refused if they used the pick up.
    """
    order = find_order(session, identifier, lock=True)
    items = check_pick(_state(order), sent, partial_picking=lab.pick.partial_picking)
    for item in items:
        setattr(order, PICKED_COLUMNS[item], True)
    return _info(order, lab)


def _state(order: Order) -> PickState:
    return PickState(
        codes={code: getattr(order, column) for code, column in CODE_COLUMNS.items()},
        picked=frozenset(item for item, column in PICKED_COLUMNS.items() if getattr(order, column)),
        deleted=order.deleted,
        completed=order.status is OrderStatus.COMPLETE,
    )


def _info(order: Order, lab: Lab) -> PickInfo:
    state = _state(order)
    return PickInfo(
        order=order,
        warehouse=lab.pick.warehouse,
        picked={item: item in state.picked for item in ITEMS},
        codes=state.codes,
        reject_reason=reject_reason(state),
    )
