"""What a submitted order must be before it is queued: Rx-Universe's refusals, in the order its
documentation lists them, as pure functions (the API checks the shape of each field first)."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.domain.codes import JobType
from shared.domain.errors import (
    CalculationFailed,
    CribNotUncut,
    CustomerNotFound,
    EllhNotUncut,
    FrameInventoryOffline,
    LensPairsMissing,
    NoAddonsEntered,
)
from shared.domain.lab_setup import Lab

# The frame status code of an order whose frame the lab supplies from its inventory.
SUPPLY_FRAME = "S"
# Calculation validation's ranges, per eye. Only the sphere's message is Rx-Universe's own
# (ERROR 112); the cylinder's and the axis's numbers and texts are ours, in its style.
SPHERE_RANGE = (-39.0, 49.0)
CYLINDER_RANGE = (-19.75, 19.75)
AXIS_RANGE = (0, 180)
SPHERE_ERROR = "ERROR 112: SPHERE MUST BE BETWEEN -39.0 AND +49.0"
CYLINDER_ERROR = "ERROR 113: CYLINDER MUST BE BETWEEN -19.75 AND +19.75"
AXIS_ERROR = "ERROR 114: AXIS MUST BE BETWEEN 0 AND 180"


@dataclass(frozen=True, slots=True)
class Eye:
    """One eye's lens and prescription, as submitted (None where not given)."""

    lens_style: str | None = None
    lens_material: str | None = None
    sphere: float | None = None
    cylinder: float | None = None
    axis: int | None = None


@dataclass(frozen=True, slots=True)
class SubmittedOrder:
    """What the refusals look at in a submission whose fields each have the right shape."""

    customer_number: str
    job_type: JobType
    right: Eye = field(default_factory=Eye)
    left: Eye = field(default_factory=Eye)
    crib: float | None = None
    ellh: float | None = None
    frame_status_code: str | None = None
    addons: tuple[str, ...] = ()


def check_submission(order: SubmittedOrder, lab: Lab) -> None:
    """Raise the first refusal Rx-Universe would answer `order` with, or return."""
    missing = [
        f"rtLens{what}, ltLens{what} are missing, at least one parameter must be provided"
        for what, right, left in (
            ("Style", order.right.lens_style, order.left.lens_style),
            ("Material", order.right.lens_material, order.left.lens_material),
        )
        if not right and not left
    ]
    if missing:
        raise LensPairsMissing(tuple(missing))
    uncut_details = (f"Job Type: {order.job_type.value}", _frame_sw(order.frame_status_code))
    if order.crib is not None and order.job_type is not JobType.UNCUT:
        raise CribNotUncut(uncut_details)
    if order.ellh is not None and order.job_type is not JobType.UNCUT:
        raise EllhNotUncut(uncut_details)
    if order.customer_number not in lab.customers:
        raise CustomerNotFound(order.customer_number)
    entry = lab.order_entry
    if (
        order.frame_status_code == SUPPLY_FRAME
        and entry.frame_inventory_in_use
        and not entry.frame_inventory_online
    ):
        raise FrameInventoryOffline()
    if order.job_type is JobType.ADDON and not order.addons:
        raise NoAddonsEntered()
    failures = calculation_failures(order)
    if failures:
        raise CalculationFailed(tuple(failures))


def calculation_failures(order: SubmittedOrder) -> list[str]:
    """Calculation validation's messages for the order's prescription, by their number; each
    message once, whichever eyes fail it."""
    checks = (
        ("sphere", SPHERE_RANGE, SPHERE_ERROR),
        ("cylinder", CYLINDER_RANGE, CYLINDER_ERROR),
        ("axis", AXIS_RANGE, AXIS_ERROR),
    )
    return [
        message
        for name, (low, high), message in checks
        if any(
            value is not None and not low <= value <= high
            for value in (getattr(order.right, name), getattr(order.left, name))
        )
    ]


def _frame_sw(code: str | None) -> str:
    """The refusal's frame line: `Frame SW:` with the frame status code after it, if any."""
    return f"Frame SW: {code}" if code else "Frame SW:"
