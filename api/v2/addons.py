"""The lab's addons: list them, read one."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from marshmallow import Schema, fields

from api.http.endpoints import Answer, endpoint
from api.http.errors import API_KEY_REFUSED, INVALID_QUERY, no_record
from api.http.fields import ListQuery
from api.http.runtime import runtime
from api.v2 import TAG
from shared.domain.catalog import Page, find_addon, list_addons
from shared.domain.lab_setup import Addon

blueprint = Blueprint("v2_addons", __name__, url_prefix="/api/v2")


class AddonsQuery(ListQuery):
    rx_site = fields.Boolean(
        data_key="rxSite",
        load_default=False,
        truthy={"true"},
        falsy={"false"},
        metadata={"description": "`true`: only the addons Rx-Site shows."},
    )


def _flag(name: str) -> fields.Function:
    return fields.Function(lambda addon: addon.flags()[name], metadata={"type": "boolean"})


class AddonSchema(Schema):
    """An addon with Rx-Universe's job-flow flags, in their documented order."""

    code = fields.String(metadata={"example": "AR"})
    desc = fields.String(attribute="description", metadata={"example": "ANTI-REFLECTIVE"})
    excludeFromRxSite = fields.Boolean(attribute="exclude_from_rx_site")
    externalCode = fields.String(attribute="external_code", allow_none=True)
    isAR = _flag("isAR")
    isBackside = _flag("isBackside")
    isMirror = _flag("isMirror")
    isTint = _flag("isTint")
    isUV = _flag("isUV")
    requiresDropBall = _flag("requiresDropBall")
    requiresEtching = _flag("requiresEtching")
    requiresHarden = _flag("requiresHarden")
    requiresPolish = _flag("requiresPolish")


class AddonListSchema(Schema):
    """A page of addons, and how many there are in all."""

    total = fields.Integer()
    addons = fields.List(fields.Nested(AddonSchema), attribute="items")


class AddonCodePath(Schema):
    """`{code}` of an addon (case-sensitive)."""

    code = fields.String(
        metadata={"description": "The addon's code, case-sensitive.", "example": "AR"}
    )


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
    blueprint,
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
    blueprint,
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
