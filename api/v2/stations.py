"""Job tracking's stations: list them, read one, check an order in at one."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import Connection

from api.http.endpoints import Answer, endpoint
from api.http.errors import (
    API_KEY_REFUSED,
    BODY_TOO_LARGE,
    CHECKIN_FAILED,
    DATABASE_DOWN,
    INVALID_BODY,
    INVALID_QUERY,
    ErrorSchema,
    error_body,
    no_record,
)
from api.http.fields import Identifier, Input, ListQuery, UTCMillis, dumped_text, utc_millis
from api.http.runtime import autocommitting, runtime
from api.v2 import TAG
from shared.domain.catalog import Page, find_station, list_stations
from shared.domain.clock import utcnow
from shared.domain.errors import (
    CheckinOrderNotFound,
    CheckinRefused,
    CompletionStationReserved,
    OperatorNotFound,
    OperatorRequired,
    OrderNotCheckable,
    ProcessNotNeeded,
    StationNotFound,
)
from shared.domain.lab_setup import Station
from shared.orders.checkins import CheckinDone, check_in

blueprint = Blueprint("v2_stations", __name__, url_prefix="/api/v2")


class StationsQuery(ListQuery):
    pass


class CheckinBodySchema(Input):
    """`POST /api/v2/job_track/stations/{code}`."""

    order_identifier = Identifier(data_key="orderIdentifier", required=True)
    operator = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=20))


class StationSchema(Schema):
    """A station, or an operator (a person, whose code comes with a check-in)."""

    code = fields.String(metadata={"example": "BSC"})
    desc = fields.String(attribute="description", metadata={"example": "BACKSIDE COATER"})
    customerDesc = fields.String(
        attribute="customer_description", metadata={"example": "IN COATING"}
    )
    operator = fields.Boolean(attribute="is_operator")


class StationListSchema(Schema):
    """A page of stations, and how many there are in all."""

    total = fields.Integer()
    stations = fields.List(fields.Nested(StationSchema), attribute="items")


class CheckinDoneSchema(Schema):
    """A check-in performed: the order, the station, and when."""

    orderNumber = fields.String(attribute="order.order_number", metadata={"example": "33719"})
    trayNumber = fields.String(attribute="order.tray_number", allow_none=True)
    poNumber = fields.String(attribute="order.po_number", allow_none=True)
    code = fields.String(attribute="station.code", metadata={"example": "BSC"})
    desc = fields.String(attribute="station.description")
    customerDesc = fields.String(attribute="station.customer_description")
    statusDateTime = UTCMillis(attribute="checked_in_at")

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        """The fields above, written out by hand, as OrderStatusSchema's are."""
        if many or self.many or self.only or self.exclude:
            return super().dump(obj, many=many)
        order, station = obj.order, obj.station
        return {
            "orderNumber": dumped_text(order.order_number),
            "trayNumber": dumped_text(order.tray_number),
            "poNumber": dumped_text(order.po_number),
            "code": dumped_text(station.code),
            "desc": dumped_text(station.description),
            "customerDesc": dumped_text(station.customer_description),
            "statusDateTime": utc_millis(obj.checked_in_at),
        }


class StationCodePath(Schema):
    """`{code}` of a station (case-sensitive)."""

    code = fields.String(
        metadata={"description": "The station's code, case-sensitive.", "example": "BSC"}
    )


def _checkin(e: CheckinRefused) -> dict[str, Any]:
    return error_body(CHECKIN_FAILED, [e.reason])


CHECKIN_REFUSED = Answer(
    400,
    "The check-in was not performed: the station is unknown (codes are case-sensitive; operators "
    "and conveyor decision points are not stations a client checks into), no order has this "
    "identifier, the station needs an operator, the order is not in the lab's flow, or (with the "
    "lab's station verify on) no addon of the order calls for the station's process: then the "
    "detail is the lab's message for that process.",
    ErrorSchema,
    {
        e.reason: _checkin(e)
        for e in (
            StationNotFound(),
            CheckinOrderNotFound(),
            OperatorRequired(),
            CompletionStationReserved(),
            OrderNotCheckable("Order marked for cancelation"),
            OrderNotCheckable("Order unvalid"),
            OrderNotCheckable("Order already completed"),
            OrderNotCheckable("Order on hold"),
            ProcessNotNeeded("AR not needed"),
        )
    },
)
OPERATOR_NOT_FOUND = Answer(
    404,
    "The operator code names no operator.",
    ErrorSchema,
    {"Operator not found": _checkin(OperatorNotFound())},
)


STATION_EXAMPLE = {
    "code": "BSC",
    "desc": "BACKSIDE COATER",
    "customerDesc": "IN COATING",
    "operator": False,
}


@endpoint(
    blueprint,
    "GET",
    "/job_track/stations",
    tag=TAG,
    summary="The lab's stations and operators",
    description="In the lab's flow order. Conveyor decision points (codes starting with `#`) "
    "are not listed. `operator` is true for operators (people, whose code comes with a "
    "check-in). `total` counts every station, ignoring `limit` and `offset`; no `limit` "
    "lists them all.",
    query=StationsQuery,
    ok=Answer(
        200,
        "The stations.",
        StationListSchema,
        {"Stations": {"total": 1, "stations": [STATION_EXAMPLE]}},
    ),
    errors=(INVALID_QUERY, API_KEY_REFUSED),
)
def stations(query: dict[str, Any]) -> Page[Station]:
    """The lab's stations and operators."""
    return list_stations(runtime().lab, **query)


@endpoint(
    blueprint,
    "GET",
    "/job_track/stations/<segment:code>",
    tag=TAG,
    summary="One station or operator",
    path=StationCodePath,
    ok=Answer(200, "The station.", StationSchema, {"Backside coater": STATION_EXAMPLE}),
    errors=(no_record("station", "bsc"), API_KEY_REFUSED),
)
def station(code: str) -> Station:
    """One station or operator, by its case-sensitive code."""
    return find_station(runtime().lab, code)


@endpoint(
    blueprint,
    "POST",
    "/job_track/stations/<segment:code>",
    tag=TAG,
    summary="Check an order in at a station",
    description="`orderIdentifier` is the order, tray or PO number (as on the order pages); "
    "`operator` an operator's code, required by some stations (Final QA, say) and accepted by "
    "all. A Valid order goes in Process; the station becomes the order's current station. "
    "Refused: a station that is not one (unknown, an operator, a decision point, or the Job "
    "Tracker's completion station); an order that is cancelled, unvalid, completed or on hold; "
    "and, with the lab's station verify on, a station whose process no addon of the order calls "
    "for (`AR not needed`).",
    path=StationCodePath,
    body=CheckinBodySchema,
    ok=Answer(
        201,
        "The order is checked in.",
        CheckinDoneSchema,
        {
            "Checked in": {
                "orderNumber": "33719",
                "trayNumber": "123",
                "poNumber": "PO-7",
                "code": "BSC",
                "desc": "BACKSIDE COATER",
                "customerDesc": "IN COATING",
                "statusDateTime": "2026-11-27T17:26:21.123Z",
            }
        },
    ),
    errors=(
        CHECKIN_REFUSED,
        OPERATOR_NOT_FOUND,
        INVALID_BODY,
        BODY_TOO_LARGE,
        DATABASE_DOWN,
        API_KEY_REFUSED,
    ),
)
@autocommitting
def checkin(connection: Connection, code: str, body: dict[str, Any]) -> CheckinDone:
    """Check an order in at a station, verified."""
    return check_in(
        connection,
        runtime().lab,
        station_code=code,
        identifier=body["order_identifier"],
        operator=body["operator"],
        now=utcnow(),
    )
