"""Lens and frame pick verification: what an order needs picked, and whether the codes a
workstation scanned pick it. Pure rules.

Rx-Universe documents the fields, the Partial Picking rule and one message, `Order already
picked`; the other messages are ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.domain.errors import PickRefused

# Each code a pick may send, and the item it picks (a frame by its UPC or its SKU).
ITEM_OF_CODE = {
    "rtOPC": "rtLens",
    "ltOPC": "ltLens",
    "frameUPC": "frame",
    "frameSKU": "frame",
    "framePartSKU": "framePart",
    "frameSideShieldSKU": "frameSideShield",
    "misc1SKU": "misc1",
    "misc2SKU": "misc2",
}
ITEMS = ("rtLens", "ltLens", "frame", "framePart", "frameSideShield", "misc1", "misc2")
# Partial Picking off: the lenses in one call, and the frame's items in one call.
LENS_ITEMS = ("rtLens", "ltLens")
FRAME_ITEMS = ("frame", "framePart", "frameSideShield")

ALREADY_PICKED = "Order already picked"
NOTHING_TO_PICK = "Order has no items to pick"
CANCELLED = "Order marked for cancelation"
COMPLETED = "Order already completed"


@dataclass(frozen=True)
class PickState:
    """An order's expected codes (by code name, None where it has no such item) and the items
    already picked."""

    codes: Mapping[str, str | None]
    picked: frozenset[str]
    deleted: bool = False
    completed: bool = False

    def needed(self) -> tuple[str, ...]:
        """The items the order needs picked, in the documented order."""
        return tuple(
            item
            for item in ITEMS
            if any(self.codes.get(code) for code, of in ITEM_OF_CODE.items() if of == item)
        )


def reject_reason(state: PickState) -> str | None:
    """Why no pick is allowed now (the GET's `pickRejectReason`), or None."""
    if state.deleted:
        return CANCELLED
    if state.completed:
        return COMPLETED
    needed = state.needed()
    if not needed:
        return NOTHING_TO_PICK
    if all(item in state.picked for item in needed):
        return ALREADY_PICKED
    return None


def check_pick(state: PickState, sent: Mapping[str, str], *, partial_picking: bool) -> set[str]:
    """The items the codes `sent` pick; PickRefused with the reason if they do not."""
    reason = reject_reason(state)
    if reason is not None:
        raise PickRefused(reason)
    if "frameUPC" in sent and "frameSKU" in sent:
        raise PickRefused("frameUPC cannot be provided alongside frameSKU")
    if not sent:
        raise PickRefused("No pick codes provided")
    items: set[str] = set()
    for code, value in sent.items():
        expected = state.codes.get(code)
        if not expected:
            raise PickRefused(f"{code} {value} is not needed for this order")
        if value != expected:
            raise PickRefused(f"{code} {value} does not match the order")
        items.add(ITEM_OF_CODE[code])
    if not partial_picking:
        needed = set(state.needed())
        for group, names in ((LENS_ITEMS, "lens"), (FRAME_ITEMS, "frame")):
            wanted = needed.intersection(group)
            if items.intersection(group) and not wanted <= items:
                raise PickRefused(f"Partial Picking is off: send every {names} code in one call")
    return items
