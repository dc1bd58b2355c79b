"""`POST /api/v2/orders`: submit a new order. Its fields are checked for shape, then Rx-Universe's
refusals run in the order it documents them; an order that passes is queued for the Remote
Order Processor (a duty of the Job Tracker) and answered with 202, invisible until imported."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from flask import Blueprint
from marshmallow import fields, pre_load, validate
from sqlalchemy import Connection

from api.http.endpoints import Answer, endpoint
from api.http.errors import (
    API_KEY_REFUSED,
    BODY_TOO_LARGE,
    DATABASE_DOWN,
    INVALID_REQUEST,
    OURS,
    ErrorSchema,
    error_body,
)
from api.http.fields import LAB_ADDONS, Flag, Input, Number, Text
from api.http.runtime import autocommitting, runtime
from api.v2 import TAG
from api.v2.orders import (
    STATUS_DESCRIPTIONS,
    OrderSchema,
    order_body,
)
from shared.domain.clock import utcnow
from shared.domain.codes import JobType
from shared.domain.errors import (
    CalculationFailed,
    CribNotUncut,
    CustomerNotFound,
    EllhNotUncut,
    FrameInventoryOffline,
    LensPairsMissing,
    NoAddonsEntered,
    SubmissionRefused,
    TraceInvalid,
    UnknownAddon,
)
from shared.domain.lab_setup import Lab
from shared.domain.submissions import Eye, SubmittedOrder, Trace, check_submission
from shared.orders.lookup import AddonOfOrder, OrderDetails, OrderState
from shared.orders.submissions import queue_submission

blueprint = Blueprint("v2_submission", __name__, url_prefix="/api/v2")

# The frame status codes Rx-Universe documents ("" for none).
FRAME_STATUS_CODES = ("", "S", "E", "F", "U", "N", "L", "O")
TRACE_FIELDS = tuple(
    f"{eye}{name}"
    for name in ("TraceFmt", "TraceZFmt", "TracePoints", "TraceZPoints")
    for eye in ("rt", "lt")
)


def _text(high: int, **kwargs: Any) -> Text:
    return Text(validate=validate.Length(max=high), **kwargs)


def _number(low: float, high: float, **kwargs: Any) -> Number:
    return Number(validate=validate.Range(low, high), **kwargs)


def _integer(low: int, high: int, **kwargs: Any) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(low, high), **kwargs)


_OURS_RX = {"description": OURS + "the name; Rx-Universe's own is not documented."}


class OrderSubmissionSchema(Input):
    """`POST /api/v2/orders`: Rx-Universe's fields with its limits, then the per-eye lens and
    prescription (the names of the prescription fields are ours). An optional field sent as
    null is taken as not sent (ours: many clients write every key)."""

    @pre_load
    def _null_is_absent(self, data: Any, **_: object) -> Any:
        required = {"customerJobId", "customerNumber", "jobType", "poNumber"}
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None or k in required}
        return data

    customerJobId = Text(required=True, validate=validate.Length(1, 21))
    customerNumber = Text(required=True, validate=validate.Length(1, 8))
    jobType = fields.String(required=True, validate=validate.OneOf([t.value for t in JobType]))
    poNumber = Text(required=True, validate=validate.Length(1, 20))
    balanceLens = fields.String(validate=validate.OneOf(["R", "L", ""]))
    corridorLength = _number(0, 99.9)
    crib = _number(0, 99.9)
    dateWanted = fields.Date(format="%Y-%m-%d")
    ellh = _number(0, 99.9)
    frameA = _number(30, 80)
    frameB = _number(15, 80)
    frameBridge = _integer(0, 99)
    frameCircumference = _number(0, 999.9)
    frameColor = _text(30)
    frameED = _number(30, 80)
    frameEye = _integer(0, 99)
    frameManufacturer = _text(4)
    frameName = _text(30)
    frameSKU = _text(20)
    frameStatusCode = fields.String(validate=validate.OneOf(FRAME_STATUS_CODES))
    frameTemple = _integer(0, 999999)
    frameType = _text(20, metadata={"description": OURS + "the 20-character limit."})
    frameUPC = _text(20, metadata={"description": OURS + "the 20-character limit."})
    onHold = Flag()
    rtLensStyle = _text(6, metadata={"description": OURS + "the 6-character limit."})
    ltLensStyle = _text(6, metadata={"description": OURS + "the 6-character limit."})
    rtLensMaterial = _text(2, metadata={"description": OURS + "the 2-character limit."})
    ltLensMaterial = _text(2, metadata={"description": OURS + "the 2-character limit."})
    rtTraceFmt = _text(4000)
    ltTraceFmt = _text(4000)
    rtTraceZFmt = _text(4000)
    ltTraceZFmt = _text(4000)
    rtTracePoints = _text(4000)
    ltTracePoints = _text(4000)
    rtTraceZPoints = _text(4000)
    ltTraceZPoints = _text(4000)
    addons = fields.List(
        Text(validate=validate.Length(1, 20), metadata=LAB_ADDONS),
        validate=validate.Length(max=50),
        metadata={"description": "The lab's addon codes (`GET /api/v2/addons`)."},
    )
    rtSphere = Number(metadata=_OURS_RX)
    ltSphere = Number(metadata=_OURS_RX)
    rtCylinder = Number(metadata=_OURS_RX)
    ltCylinder = Number(metadata=_OURS_RX)
    rtAxis = fields.Integer(strict=True, metadata=_OURS_RX)
    ltAxis = fields.Integer(strict=True, metadata=_OURS_RX)
    rtAdd = _number(0, 99.99, metadata=_OURS_RX)
    ltAdd = _number(0, 99.99, metadata=_OURS_RX)
    rtPrism = _number(0, 99.99, metadata=_OURS_RX)
    ltPrism = _number(0, 99.99, metadata=_OURS_RX)
    rtPrismAngle = _integer(0, 360, metadata=_OURS_RX)
    ltPrismAngle = _integer(0, 360, metadata=_OURS_RX)
    rtPD = _number(0, 99.9, metadata=_OURS_RX)
    ltPD = _number(0, 99.9, metadata=_OURS_RX)
    rtSegHeight = _number(0, 99.9, metadata=_OURS_RX)
    ltSegHeight = _number(0, 99.9, metadata=_OURS_RX)
    rtOCHeight = _number(0, 99.9, metadata=_OURS_RX)
    ltOCHeight = _number(0, 99.9, metadata=_OURS_RX)


class SubmittedOrderSchema(OrderSchema):
    """The 202 body: the order model, with what is assigned at import empty, and
    `creationRemarks`."""

    # What the import assigns is still empty: "" (or null) is one more value these may have.
    dateOrdered = fields.Date(allow_none=True)
    status = fields.String(metadata={"enum": ["", "U", "V", "P", "C", "W"]})
    statusDesc = fields.Function(
        metadata={"type": "string", "enum": ["", *STATUS_DESCRIPTIONS.values(), "Other"]}
    )
    creationRemarks = fields.List(
        fields.String(),
        metadata={"description": "Information messages about the submission (none so far)."},
    )

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        """The body `accepted_body` built, key for key the fields above (a test holds it)."""
        return obj


def submitted_order(body: Mapping[str, Any]) -> SubmittedOrder:
    """What the refusals look at, from a body loaded by OrderSubmissionSchema."""

    def eye(side: str) -> Eye:
        return Eye(
            lens_style=body.get(f"{side}LensStyle"),
            lens_material=body.get(f"{side}LensMaterial"),
            sphere=body.get(f"{side}Sphere"),
            cylinder=body.get(f"{side}Cylinder"),
            axis=body.get(f"{side}Axis"),
            trace=trace(side),
        )

    def trace(side: str) -> Trace | None:
        if not traced:
            return None
        return Trace(
            fmt=body.get(f"{side}TraceFmt"),
            points=body.get(f"{side}TracePoints"),
            z_fmt=body.get(f"{side}TraceZFmt"),
            z_points=body.get(f"{side}TraceZPoints"),
        )

    traced = any(body.get(name) for name in TRACE_FIELDS)

    return SubmittedOrder(
        customer_number=body["customerNumber"],
        job_type=JobType(body["jobType"]),
        right=eye("rt"),
        left=eye("lt"),
        crib=body.get("crib"),
        ellh=body.get("ellh"),
        frame_status_code=body.get("frameStatusCode"),
        addons=tuple(body.get("addons") or ()),
    )


def accepted_body(body: Mapping[str, Any], lab: Lab) -> dict[str, Any]:
    """The 202 body of a checked submission (its addons known to `lab`)."""
    addons = [AddonOfOrder(code, lab.addons[code].description) for code in body["addons"]]
    ar = next((a for a in addons if "ar" in lab.addons[a.code].processes), None)
    return _accepted(body, addons, ar)


def _accepted(
    body: Mapping[str, Any], addons: list[AddonOfOrder], ar: AddonOfOrder | None
) -> dict[str, Any]:
    """The 202 body: the order model of what was submitted, `""` (or null where the model
    allows it) for what the import assigns (the order number, the tray, the status, its
    calculation, the current station, the dates), and `creationRemarks`."""
    state = OrderState(
        order_number=0,  # none yet: answered as the model's empty string below
        tray_number=None,
        po_number=body["poNumber"],
        status="",
        on_hold=body["onHold"],
        unvalid_message=None,
        rt_calculated=False,
        lt_calculated=False,
        current_station=None,
        pending_completion=False,
        completion_error=None,
    )
    wanted = body.get("dateWanted")
    details = OrderDetails(
        state=state,
        job_type=JobType(body["jobType"]),
        deleted=False,
        date_ordered=None,
        date_completed=None,
        addons=addons,
        ar_code=ar.code if ar else None,
        ar_description=ar.description if ar else None,
        customer_number=body["customerNumber"],
        customer_job_id=body["customerJobId"],
        date_wanted=date.fromisoformat(wanted) if isinstance(wanted, str) else wanted,
        submitted=body,
    )
    empty = {"orderNumber": "", "statusDesc": "", "calculationDesc": ""}
    return {**order_body(details), **empty, "creationRemarks": []}


_AR = AddonOfOrder("AR", "ANTI-REFLECTIVE")
ACCEPTED_EXAMPLE = _accepted(
    {
        "customerJobId": "JOB-1",
        "customerNumber": "1001",
        "jobType": "F",
        "poNumber": "PO-7",
        "onHold": False,
        "rtLensStyle": "SV",
        "rtLensMaterial": "PC",
        "ltLensStyle": "SV",
        "ltLensMaterial": "PC",
        "rtSphere": -2.25,
        "ltSphere": -2.0,
    },
    [_AR],
    _AR,
)


def _refused(error: SubmissionRefused) -> dict[str, Any]:
    return error_body(error.error, error.details)


SUBMISSION_REFUSED = Answer(
    400,
    "Refused, in Rx-Universe's order: no lens style or no material on either eye (one line per "
    "pair), `crib` or `ellh` on a job that is not uncut (the details give the job type and the "
    "frame status code), an unknown customer, an addon job without addons, a prescription "
    "calculation validation refuses (the sphere's `ERROR 112` is Rx-Universe's; " + OURS + "the "
    "cylinder's `ERROR 113` and the axis's `ERROR 114`), then the trace fails validation ("
    + OURS
    + "the body and its lines: Rx-Universe documents that a trace is validated, not how). "
    "Nothing is queued.",
    ErrorSchema,
    {
        "No lens style or material": _refused(
            LensPairsMissing(
                (
                    "rtLensStyle, ltLensStyle are missing, at least one parameter must be provided",
                    "rtLensMaterial, ltLensMaterial are missing, at least one parameter must be "
                    "provided",
                )
            )
        ),
        "crib on a full job": _refused(CribNotUncut(("Job Type: F", "Frame SW:"))),
        "ellh on a full job": _refused(EllhNotUncut(("Job Type: F", "Frame SW:"))),
        "Unknown customer": _refused(CustomerNotFound("9999")),
        "Addon job without addons": _refused(NoAddonsEntered()),
        "Calculation validation": _refused(
            CalculationFailed(("ERROR 112: SPHERE MUST BE BETWEEN -39.0 AND +49.0",))
        ),
        "Trace validation": _refused(
            TraceInvalid(("rtTracePoints: 399 radii; rtTraceFmt announces 400.",))
        ),
        "An invalid value": error_body(
            INVALID_REQUEST,
            ["frameA: Must be greater than or equal to 30 and less than or equal to 80."],
        ),
        "An unknown addon": error_body(INVALID_REQUEST, ["addons.0: Unknown addon 'XX'."]),
    },
)
FRAME_INVENTORY_OFFLINE = Answer(
    500,
    "The order supplies its frame (`frameStatusCode` S) while the lab's Frame Inventory module "
    "is in use and offline (the lab file's `order_entry`). Nothing is queued.",
    ErrorSchema,
    {"Frame Inventory offline": _refused(FrameInventoryOffline())},
)


@endpoint(
    blueprint,
    "POST",
    "/orders",
    tag=TAG,
    summary="Submit a new order",
    description="The fields are checked (every invalid one named, in our error body), then "
    "Rx-Universe's refusals run in the order it lists them. An accepted order is queued for the "
    "Remote Order Processor, which the Job Tracker runs: until it is imported no read finds it "
    "(404 `No record found`). " + OURS + "an identical submission is another order; the import "
    "assigns the order number, a tray (when the lab auto-assigns them), the dates and the first "
    "station.",
    body=OrderSubmissionSchema,
    ok=Answer(
        202,
        "Queued for import: the order model, what the import assigns still empty, and "
        "`creationRemarks`.",
        SubmittedOrderSchema,
        {"Queued": ACCEPTED_EXAMPLE},
    ),
    errors=(
        SUBMISSION_REFUSED,
        FRAME_INVENTORY_OFFLINE,
        BODY_TOO_LARGE,
        DATABASE_DOWN,
        API_KEY_REFUSED,
    ),
)
@autocommitting
def submit_order(connection: Connection, body: dict[str, Any]) -> dict[str, Any]:
    """Submit a new order."""
    app = runtime()
    body.setdefault("addons", [])
    body.setdefault("onHold", False)
    for index, code in enumerate(body["addons"]):
        if code not in app.lab.addons:
            raise UnknownAddon(f"addons.{index}", code)
    body["addons"] = list(dict.fromkeys(body["addons"]))
    check_submission(submitted_order(body), app.lab)
    stored = {k: (v.isoformat() if k == "dateWanted" else v) for k, v in body.items()}
    queue_submission(connection, stored, utcnow())
    app.announce_flag(connection)
    return accepted_body(body, app.lab)
