"""Rx-Universe's v2 job tracking: stations and check-ins, and the addons that drive job flows."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import Connection

from api.endpoints import Answer, endpoint
from api.errors import (
    API_KEY_REFUSED,
    BODY_TOO_LARGE,
    CHECKIN_REFUSED,
    DATABASE_DOWN,
    INVALID_BODY,
    INVALID_QUERY,
    OPERATOR_NOT_FOUND,
    no_record,
)
from api.runtime import autocommitting, runtime
from api.schemas import (
    AddonCodePath,
    AddonListSchema,
    AddonSchema,
    AddonsQuery,
    CheckinBodySchema,
    CheckinDoneSchema,
    StationCodePath,
    StationListSchema,
    StationSchema,
    StationsQuery,
)
from shared.catalog import Page, find_addon, find_station, list_addons, list_stations
from shared.checkins import CheckinDone, check_in
from shared.domain.clock import utcnow
from shared.domain.lab import Addon, Station

job_track = Blueprint("job_track", __name__, url_prefix="/api/v2")
TAG = "Rx-Universe v2"
STATION_EXAMPLE = {
    "code": "BSC",
    "desc": "BACKSIDE COATER",
    "customerDesc": "IN COATING",
    "operator": False,
}
ADDON_EXAMPLE = {
    "code": "AR",
    "desc": "ANTI-REFLECTIVE",
    "excludeFromRxSite": False,
    "externalCode": "AR-STD",
    "isAR": True,
    "isBackside": False,
    "isMirror": False,
    "isTint": False,
    "isUV": False,
    "requiresDropBall": False,
    "requiresEtching": False,
    "requiresHarden": False,
    "requiresPolish": False,
}


@endpoint(
    job_track,
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
    job_track,
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
    job_track,
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


@endpoint(
    job_track,
    "GET",
    "/addons",
    tag=TAG,
    summary="The lab's addons with their job-flow flags",
    description="`rxSite=true` leaves out the addons excluded from Rx-Site. `total` counts every "
    "addon listed, ignoring `limit` and `offset`; no `limit` lists them all.",
    query=AddonsQuery,
    ok=Answer(
        200, "The addons.", AddonListSchema, {"Addons": {"total": 1, "addons": [ADDON_EXAMPLE]}}
    ),
    errors=(INVALID_QUERY, API_KEY_REFUSED),
)
def addons(query: dict[str, Any]) -> Page[Addon]:
    """The lab's addons."""
    return list_addons(runtime().lab, **query)


@endpoint(
    job_track,
    "GET",
    "/addons/<segment:code>",
    tag=TAG,
    summary="One addon with its job-flow flags",
    path=AddonCodePath,
    ok=Answer(200, "The addon.", AddonSchema, {"Anti-reflective": ADDON_EXAMPLE}),
    errors=(no_record("addon", "ar"), API_KEY_REFUSED),
)
def addon(code: str) -> Addon:
    """One addon, by its case-sensitive code."""
    return find_addon(runtime().lab, code)
