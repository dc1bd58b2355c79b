"""Path parameters: the URL converters, and the schemas that document the identifiers the surfaces
share."""

from __future__ import annotations

from marshmallow import Schema, fields
from werkzeug.routing import BaseConverter


class OrderIdentifierPath(Schema):
    """The completion call's `{orderIdentifier}`: the order number, as Rx-Universe's page says."""

    order_identifier = fields.String(
        data_key="orderIdentifier",
        metadata={
            "description": "The order number (leading zeros are ignored). Anything else "
            "answers 404 with error code 01.",
            "example": "33719",
        },
    )


class OrderAnyIdentifierPath(Schema):
    """`{orderIdentifier}` on the v2 order pages: order, tray or PO number."""

    order_identifier = fields.String(
        data_key="orderIdentifier",
        metadata={
            "description": "The order number (leading zeros are ignored); else the tray number of "
            "an active order (not completed, not cancelled); else a PO number that names exactly "
            "one order. Anything else, an ambiguous tray or PO included, answers 404 No record "
            "found.",
            "example": "33719",
        },
    )


class IdentifierConverter(BaseConverter):
    """Any path segment text at all, slashes and newlines included, even none.

    An identifier in the URL must always reach the view, so that whatever a client sends in it
    (an encoded slash, a newline, nothing) gets Rx-Universe's own answer, not a routing 404.
    """

    regex = r"(?s:.*?)"
    part_isolating = False
    weight = 200


class SegmentConverter(BaseConverter):
    """One path segment's text, even none, but no slash.

    For a rule that a longer rule extends (`/orders/<n>` and `/orders/<n>/checkins`): with
    `identifier` the shorter rule would also take `33719/checkins` as its identifier, and answer a
    wrong method on the longer one with its own 400 or 404 instead of 405.
    """

    regex = r"[^/]*"
