"""Request bodies load as marshmallow's own pass loads them: the quick pass for flat bodies
(api.http.fields.Input) gives the same values in the same order, and every refusal is
marshmallow's, message for message."""

from __future__ import annotations

import random
from typing import Any

import pytest
from marshmallow import ValidationError

from api.http.fields import Input
from api.sim.orders import NewOrderSchema
from api.v2.submission import OrderSubmissionSchema
from api.v2.trays import TrayAssignmentSchema

# A submission with every field the schema declares, each valid.
FULL_SUBMISSION: dict[str, Any] = {
    "customerJobId": "JOB-1",
    "customerNumber": "1001",
    "jobType": "F",
    "poNumber": "PO-7",
    "balanceLens": "R",
    "corridorLength": 14.5,
    "crib": 60,
    "dateWanted": "2026-12-09",
    "ellh": 55.5,
    "frameA": 52.1,
    "frameB": 40,
    "frameBridge": 18,
    "frameCircumference": 150.2,
    "frameColor": "BLACK",
    "frameED": 55,
    "frameEye": 52,
    "frameManufacturer": "ACME",
    "frameName": "AVIATOR",
    "frameSKU": "SKU-1",
    "frameStatusCode": "S",
    "frameTemple": 140,
    "frameType": "METAL",
    "frameUPC": "012345678905",
    "onHold": True,
    "addons": ["AR", "BSC"],
    **{f"{eye}TraceFmt": "1" for eye in ("rt", "lt")},
    **{f"{eye}TraceZFmt": "2" for eye in ("rt", "lt")},
    **{f"{eye}TracePoints": "100 200" for eye in ("rt", "lt")},
    **{f"{eye}TraceZPoints": "0 0" for eye in ("rt", "lt")},
    **{
        f"{eye}{name}": value
        for eye in ("rt", "lt")
        for name, value in (
            ("LensStyle", "SV"),
            ("LensMaterial", "PC"),
            ("Sphere", -2.25),
            ("Cylinder", -0.5),
            ("Axis", 90),
            ("Add", 2.0),
            ("Prism", 1.5),
            ("PrismAngle", 180),
            ("PD", 31.5),
            ("SegHeight", 18),
            ("OCHeight", 20.5),
        )
    },
}
REQUIRED = ("customerJobId", "customerNumber", "jobType", "poNumber")


def marshmallows_own(schema: Input, body: dict[str, Any]) -> Any:
    """What the schema's load gives by marshmallow's own pass, the quick one turned off."""
    own = type(schema)()
    own._quick = None
    return own.load(body)


def outcome(load: Any) -> tuple[str, Any]:
    try:
        loaded = load()
    except ValidationError as error:
        return "refused", error.messages
    return "loaded", (loaded, list(loaded))  # the values and their order


def test_the_submission_fixture_names_every_declared_field() -> None:
    assert set(FULL_SUBMISSION) == {
        f.data_key or n for n, f in OrderSubmissionSchema().fields.items()
    }


@pytest.mark.parametrize("seed", range(40))
def test_any_submission_loads_as_marshmallow_loads_it(seed: int) -> None:
    """A random selection of fields, some of them spoilt or unknown, both ways."""
    rng = random.Random(seed)
    schema = OrderSubmissionSchema()
    optional = [key for key in FULL_SUBMISSION if key not in REQUIRED]
    body = {key: FULL_SUBMISSION[key] for key in REQUIRED}
    body.update({key: FULL_SUBMISSION[key] for key in rng.sample(optional, rng.randint(0, 50))})
    if seed % 4 == 1:  # a value of the wrong type or out of range
        body[rng.choice(list(body))] = rng.choice([-1000, "x" * 5000, [], {"a": 1}, True])
    if seed % 4 == 2:
        body["notAField"] = 1
    keys = list(body)
    rng.shuffle(keys)
    body = {key: body[key] for key in keys}

    assert outcome(lambda: schema.load(dict(body))) == outcome(
        lambda: marshmallows_own(schema, dict(body))
    )


@pytest.mark.parametrize(
    ("schema", "body"),
    [
        (TrayAssignmentSchema(), {"trayNumber": 12}),  # a default (reassign) left out
        (TrayAssignmentSchema(), {"trayNumber": "12", "reassign": True}),
        (NewOrderSchema(), {"status": "V", "rtOPC": "0209448281", "addons": ["AR"]}),
        (NewOrderSchema(), {"status": "Q"}),
    ],
)
def test_the_other_bodies_load_as_before(schema: Input, body: dict[str, Any]) -> None:
    """Schemas with defaults and hooks: the quick pass stands aside or gives the same."""
    expected = outcome(lambda: marshmallows_own(schema, dict(body)))
    assert outcome(lambda: schema.load(dict(body))) == expected
