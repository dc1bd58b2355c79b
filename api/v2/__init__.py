"""The Rx-Universe v2 contract, as documented: one module per resource, with its routes, its
schemas and its answers. It never imports the simulator's controls (an import contract holds
it). Here: its tag in the document, and the order identifier its order pages share."""

from marshmallow import Schema, fields

TAG = "Rx-Universe v2"


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
