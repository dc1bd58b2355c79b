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
    TraceInvalid,
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
class Trace:
    """One eye's frame trace as sent, without the VCA labels: TRCFMT's and ZFMT's values and
    the R and Z records' (None where not sent)."""

    fmt: str | None = None
    points: str | None = None
    z_fmt: str | None = None
    z_points: str | None = None


@dataclass(frozen=True, slots=True)
class Eye:
    """One eye's lens and prescription, as submitted (None where not given)."""

    lens_style: str | None = None
    lens_material: str | None = None
    sphere: float | None = None
    cylinder: float | None = None
    axis: int | None = None
    trace: Trace | None = None


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
    failures = [
        *trace_failures("rt", "R", order.right.trace),
        *trace_failures("lt", "L", order.left.trace),
    ]
    if failures:
        raise TraceInvalid(tuple(failures))


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


# Trace validation (ours: Rx-Universe documents that a trace is validated, not how). A trace is
# VCA's TRCFMT and R records without their labels: `1;400;E;R;F` (ASCII format 1, 400 radii,
# equiangular, the eye's side, a frame, pattern or demo-lens trace), then 400 radii separated by
# `;`, each in hundredths of a millimetre; ZFMT and Z records likewise, with heights.
TRACE_POINTS_RANGE = (1, 1000)
RADIUS_RANGE = (0, 9999)
HEIGHT_RANGE = (-9999, 9999)
TRACE_TYPES = ("F", "P", "D")


def trace_failures(eye: str, side: str, trace: Trace | None) -> list[str]:
    """What is wrong with one eye's trace, a line per problem, each naming its field."""
    if trace is None:
        return []
    return [
        *_record_failures(eye, side, "Trace", trace.fmt, trace.points, "radii", RADIUS_RANGE),
        *_record_failures(
            eye, side, "TraceZ", trace.z_fmt, trace.z_points, "heights", HEIGHT_RANGE
        ),
    ]


def _record_failures(
    eye: str,
    side: str,
    name: str,
    fmt: str | None,
    points: str | None,
    what: str,
    bounds: tuple[int, int],
) -> list[str]:
    fmt_field, points_field = f"{eye}{name}Fmt", f"{eye}{name}Points"
    if not fmt and not points:
        return []
    if not fmt:
        return [f"{points_field}: Must come with {fmt_field}."]
    if not points:
        return [f"{fmt_field}: Must come with {points_field}."]
    parts = [part.strip() for part in fmt.split(";")]
    low_count, high_count = TRACE_POINTS_RANGE
    if (
        len(parts) != 5
        or parts[0] != "1"
        or not parts[1].isdecimal()
        or not low_count <= int(parts[1]) <= high_count
        or parts[2] != "E"
        or parts[4] not in TRACE_TYPES
    ):
        return [
            f"{fmt_field}: Must be 1;count;E;side;type, e.g. 1;400;E;{side};F (format 1, "
            f"{low_count} to {high_count} equiangular {what}, type F, P or D)."
        ]
    failures = []
    if parts[3] != side:
        failures.append(f"{fmt_field}: The side must be {side}, not {parts[3] or 'empty'}.")
    values = [value.strip() for value in points.split(";")]
    announced = int(parts[1])
    if len(values) != announced:
        failures.append(f"{points_field}: {len(values)} {what}; {fmt_field} announces {announced}.")
    low, high = bounds
    for place, value in enumerate(values, start=1):
        if not _whole_within(value, low, high):
            failures.append(
                f"{points_field}: Value {place} ({value[:12]!r}) must be a whole number from "
                f"{low} to {high} (hundredths of a millimetre)."
            )
            break  # one line for the first bad value: a trace has hundreds
    return failures


def _whole_within(value: str, low: int, high: int) -> bool:
    digits = value[1:] if value[:1] in "+-" else value
    return (
        0 < len(digits) <= 5
        and digits.isascii()
        and digits.isdecimal()
        and low <= int(value) <= high
    )
