"""Request bodies load as marshmallow's own pass loads them: the quick pass for flat bodies
(api.http.fields.Input) gives the same values in the same order, and every refusal is
marshmallow's, message for message."""

from __future__ import annotations

import random
from typing import Any

import pytest
from marshmallow import ValidationError

from api.http.fields import NOT_PLAIN, Input, plain_loader
from api.sim.orders import NewOrderSchema
from api.v2.submission import OrderSubmissionSchema
from api.v2.trays import TrayAssignmentSchema

# Nothing here depends on the pass's database engine: the SQLite pass runs it once.
pytestmark = pytest.mark.database_free

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


# Values at and past every kind of limit the declared fields have, and of every JSON type.
AWKWARD = [
    None, True, False, 0, -1, 1, 15, 30, 79.99, 80, 80.0001, 99.9, 99.91, 360, 361, 10**400,
    float("nan"), float("inf"), -float("inf"), 1.5, -2.25, "", "R", "S", "Q", "F", "x" * 4000,
    "x" * 4001, "ABCD", "ABCDE", "a\x00b", "\ud800", "2026-12-09", [], ["AR"], ["AR"] * 51,
    ["AR", 1], [""], {"a": 1},
]  # fmt: skip


@pytest.mark.parametrize("name", sorted(OrderSubmissionSchema().load_fields))
def test_each_plain_loader_takes_only_what_its_field_takes_and_loads_it_alike(name: str) -> None:
    """A plain loader may leave any value to its field, never take one the field refuses, and
    loads what it takes to the field's own value and type (1 as 1.0 for a number)."""
    field = OrderSubmissionSchema().load_fields[name]
    plain = plain_loader(field)
    taken = 0
    for value in AWKWARD:
        loaded = plain(value) if plain is not None else NOT_PLAIN
        if loaded is NOT_PLAIN:
            continue
        taken += 1
        expected = field.deserialize(value)  # raises if the field refuses what was taken
        assert (loaded, type(loaded)) == (expected, type(expected)), value
    assert plain is None or taken, "a plain loader that takes nothing saves nothing"
