"""Scenarios and snapshots: the shipped files listed and loaded, the state exported and replaced,
the format (marshmallow) they are read and written in."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Blueprint
from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate
from sqlalchemy.orm import Session

from api.http.endpoints import Answer, endpoint
from api.http.errors import (
    ADMIN_KEY_REFUSED,
    BODY_TOO_LARGE,
    DATABASE_DOWN,
    INVALID_BODY,
    INVALID_SCENARIO,
    OURS,
    SIM_WRITE_REFUSED,
    ErrorSchema,
    error_body,
    flatten_messages,
    no_record,
)
from api.http.fields import (
    LAB_ADDONS,
    LAB_OPERATORS,
    LAB_STATIONS,
    Day,
    Digits,
    Flag,
    Instant,
    OrderNumber,
    Text,
    WholeMatch,
)
from api.http.runtime import runtime, transactional
from api.sim import SIM, TAG
from api.v2.orders import CompletionErrorSchema
from api.v2.submission import OrderSubmissionSchema
from config.settings import Settings
from shared.db import schema
from shared.db.engine import make_engine, make_session_factory, transaction
from shared.domain.clock import local_date, utcnow
from shared.domain.codes import JobType, OrderStatus
from shared.domain.errors import RecordNotFound, ScenarioInvalid
from shared.domain.lab_setup import Lab
from shared.domain.pick import ITEMS
from shared.orders.lookup import CompletionError
from shared.sim import scenarios
from shared.sim.scenarios import Scenario, ScenarioCheckIn, ScenarioOrder, ScenarioPick

blueprint = Blueprint("scenarios", __name__, url_prefix="/api/sim")


class _WrittenOrderNumber(OrderNumber):
    """An order number, loaded as OrderNumber loads it, written as the API writes it (a string)."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else str(value)


class _Entry(Schema):
    class Meta:
        unknown = RAISE

    # Unannotated, and only read by marshmallow: see api.http.fields.Digits.default_error_messages.
    error_messages = {"type": "Must be an object (a TOML table)."}  # noqa: RUF012


class ScenarioCheckInSchema(_Entry):
    """A check-in: the station, when, and the operator (optional)."""

    station = Text(required=True, validate=validate.Length(1, 20), metadata=LAB_STATIONS)
    at = Instant(required=True)
    operator = Text(
        load_default=None, allow_none=True, validate=validate.Length(1, 20), metadata=LAB_OPERATORS
    )

    @post_load
    def _make(self, data: dict[str, Any], **_: object) -> ScenarioCheckIn:
        return ScenarioCheckIn(**data)


class ScenarioCompletionErrorSchema(_Entry):
    """The rejection the Job Tracker recorded: Rx-Universe's code (or our 99) and message."""

    code = Text(required=True, validate=WholeMatch("^[0-9]{2}$", error="Must be 2 digits."))
    message = Text(required=True, validate=validate.Length(1, 255))

    @post_load
    def _make(self, data: dict[str, Any], **_: object) -> CompletionError:
        return CompletionError(**data)


def _as_submitted(value: dict[str, Any]) -> None:
    """Submitted fields hold what POST /api/v2/orders accepts, each as it checks it: the order
    model shows them as they are."""
    problems = OrderSubmissionSchema().validate(value, partial=True)
    if problems:
        raise ValidationError(problems)


def _pick_code(key: str) -> Text:
    return Text(data_key=key, load_default=None, allow_none=True, validate=validate.Length(1, 20))


class ScenarioPickSchema(_Entry):
    """Pick verification's codes (null: the order has no such item) and the items picked."""

    rt_opc = _pick_code("rtOPC")
    lt_opc = _pick_code("ltOPC")
    frame_upc = _pick_code("frameUPC")
    frame_sku = _pick_code("frameSKU")
    frame_part_sku = _pick_code("framePartSKU")
    frame_side_shield_sku = _pick_code("frameSideShieldSKU")
    misc1_sku = _pick_code("misc1SKU")
    misc2_sku = _pick_code("misc2SKU")
    picked = fields.List(
        fields.String(validate=validate.OneOf(ITEMS)),
        load_default=(),
        validate=validate.Length(max=len(ITEMS)),
        metadata={"description": "The items picked: " + ", ".join(ITEMS) + "."},
    )

    @post_load
    def _make(self, data: dict[str, Any], **_: object) -> ScenarioPick:
        data["picked"] = tuple(dict.fromkeys(data["picked"]))
        return ScenarioPick(**data)


class ScenarioOrderSchema(_Entry):
    """An order in a given state; every key but `orderNumber` has a default."""

    order_number = _WrittenOrderNumber(data_key="orderNumber", required=True)
    tray_number = Digits(max_digits=5, data_key="trayNumber", load_default=None, allow_none=True)
    po_number = Text(
        data_key="poNumber", load_default=None, allow_none=True, validate=validate.Length(max=21)
    )
    job_type = fields.Enum(JobType, by_value=True, data_key="jobType", load_default=JobType.FULL)
    status = fields.Enum(
        OrderStatus, by_value=True, data_key="status", load_default=OrderStatus.PROCESS
    )
    on_hold = Flag(data_key="onHold", load_default=False)
    deleted = Flag(data_key="deleted", load_default=False)
    unvalid_message = Text(
        data_key="unvalidMessage",
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=255),
    )
    rt_calculated = Flag(data_key="rtCalculated", load_default=True)
    lt_calculated = Flag(data_key="ltCalculated", load_default=True)
    date_ordered = Day(data_key="dateOrdered", load_default=None, allow_none=True)
    date_completed = Day(data_key="dateCompleted", load_default=None, allow_none=True)
    addons = fields.List(
        Text(validate=validate.Length(1, 20), metadata=LAB_ADDONS),
        load_default=(),
        validate=validate.Length(max=50),
    )
    checkins = fields.List(
        fields.Nested(ScenarioCheckInSchema),
        load_default=(),
        validate=validate.Length(max=500),
    )
    flagged_at = Instant(data_key="flaggedAt", load_default=None, allow_none=True)
    completion_error = fields.Nested(
        ScenarioCompletionErrorSchema,
        data_key="completionError",
        load_default=None,
        allow_none=True,
    )

    stock = Flag(load_default=False)
    customer_number = Text(
        data_key="customerNumber",
        load_default=None,
        allow_none=True,
        validate=validate.Length(1, 8),
        metadata={"description": "A submitted order's customer."},
    )
    customer_job_id = Text(
        data_key="customerJobId",
        load_default=None,
        allow_none=True,
        validate=validate.Length(1, 21),
    )
    date_received = Day(data_key="dateReceived", load_default=None, allow_none=True)
    date_wanted = Day(data_key="dateWanted", load_default=None, allow_none=True)
    valid_at = Instant(
        data_key="dateTimeValid",
        load_default=None,
        allow_none=True,
        metadata={"description": "When the order became Valid (an imported order: its import)."},
    )
    submitted = fields.Dict(
        keys=fields.String(validate=validate.Length(1, 40)),
        load_default=None,
        allow_none=True,
        validate=_as_submitted,
        metadata={
            "description": "A submitted order's other fields, by their POST /api/v2/orders "
            "names (the frame, each eye's lens and prescription, ...), as the order model shows "
            "them."
        },
    )
    pick = fields.Nested(
        ScenarioPickSchema,
        load_default=None,
        allow_none=True,
        metadata={
            "description": "Absent or null: two lenses and a frame, as a simulator-created "
            "order carries (the lab file's `pick`)."
        },
    )

    @post_load
    def _make(self, data: dict[str, Any], **_: object) -> ScenarioOrder:
        data["addons"] = tuple(data["addons"])
        data["checkins"] = tuple(data["checkins"])
        return ScenarioOrder(**data)


class ScenarioSchema(_Entry):
    """A scenario file, or the body of `PUT /api/sim/snapshot`: a description and the orders."""

    description = Text(load_default="", validate=validate.Length(max=1000))
    orders = fields.List(fields.Nested(ScenarioOrderSchema), required=True)

    @post_load
    def _make(self, data: dict[str, Any], **_: object) -> Scenario:
        return Scenario(description=data["description"], orders=tuple(data["orders"]))


class SnapshotCheckInSchema(ScenarioCheckInSchema):
    """A check-in, as a snapshot writes it."""


class SnapshotOrderSchema(ScenarioOrderSchema):
    """An order, as a snapshot writes it: every key, null for what is absent."""

    checkins = fields.List(fields.Nested(SnapshotCheckInSchema))
    completion_error = fields.Nested(
        CompletionErrorSchema, data_key="completionError", allow_none=True
    )


class SnapshotSchema(Schema):
    """`GET /api/sim/snapshot`: the whole state, in the scenario format."""

    description = fields.String()
    orders = fields.List(fields.Nested(SnapshotOrderSchema))


class ScenarioSummarySchema(Schema):
    """A scenario file as the list shows it."""

    name = fields.String(metadata={"example": "seed_outcomes"})
    description = fields.String()
    orders = fields.Integer(metadata={"minimum": 0})


class ScenarioListSchema(Schema):
    """`GET /api/sim/scenarios`: the scenario files, by name."""

    scenarios = fields.List(fields.Nested(ScenarioSummarySchema))


class ScenarioLoadedSchema(Schema):
    """A scenario or snapshot loaded: how many orders the lab now holds."""

    message = fields.Constant("Successful", metadata={"type": "string", "enum": ["Successful"]})
    orders = fields.Integer(metadata={"minimum": 0})


class ScenarioNamePath(Schema):
    """`{name}`: a scenario file's name."""

    name = fields.String(
        metadata={
            "description": "The scenario's file name in the scenario folder, without `.toml`.",
            "example": "seed_outcomes",
        }
    )


def scenario_from_document(document: Any) -> Scenario:
    """A scenario from a parsed TOML file or JSON body; ValidationError names each bad entry."""
    scenario: Scenario = ScenarioSchema().load(document)
    return scenario


SCENARIO_INVALID = Answer(
    400,
    OURS + "the scenario cannot be loaded as it is: one `entry: problem` line per problem, the "
    "entry named by its path in the file (`orders.3.addons.0`); nothing was changed.",
    ErrorSchema,
    {
        "An unknown addon": error_body(
            INVALID_SCENARIO, ["orders.3.addons.0: Unknown addon 'XX'."]
        ),
        "An order listed twice": error_body(
            INVALID_SCENARIO, ["orders.1.orderNumber: Order 33719 is listed twice."]
        ),
    },
)


# A scenario's name is its file's name without `.toml`; nothing else can name a file, so no path
# given in a URL can leave the folder.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
SUFFIX = ".toml"


@dataclass(frozen=True)
class ScenarioSummary:
    """A scenario as the list shows it."""

    name: str
    description: str
    orders: int


def list_scenarios(folder: Path) -> list[ScenarioSummary]:
    """Every scenario file in `folder`, by name, with its description and order count.

    Only read, not checked: a file that is not TOML is listed with the parser's complaint as its
    description; loading it answers why in full.
    """
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        name = path.name.removesuffix(SUFFIX)
        if not NAME.fullmatch(name):
            continue
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            found.append(ScenarioSummary(name, f"Not a scenario: {error}", 0))
            continue
        description = document.get("description")
        orders = document.get("orders")
        found.append(
            ScenarioSummary(
                name,
                description if isinstance(description, str) else "",
                len(orders) if isinstance(orders, list) else 0,
            )
        )
    return found


def read_scenario(folder: Path, name: str, lab: Lab) -> scenarios.Scenario:
    """The scenario `name`, checked against the lab: RecordNotFound if there is no such file,
    ScenarioInvalid naming each bad entry if it cannot be loaded as it is."""
    path = folder / f"{name}{SUFFIX}"
    if not NAME.fullmatch(name) or not path.is_file():
        raise RecordNotFound(name)
    try:
        document: Any = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise ScenarioInvalid([f"{path.name}: Not UTF-8 text: {error.reason}."]) from None
    except tomllib.TOMLDecodeError as error:
        raise ScenarioInvalid([f"{path.name}: Not valid TOML: {error}."]) from None
    try:
        scenario = scenario_from_document(document)
    except ValidationError as error:
        raise ScenarioInvalid(flatten_messages(error.messages)) from None
    problems = scenarios.scenario_problems(lab, scenario)
    if problems:
        raise ScenarioInvalid(problems)
    return scenario


class ScenarioNotLoaded(Exception):
    """The `SCENARIO` setting names a scenario that cannot be loaded; the message says why."""


def load_configured_scenario(settings: Settings, lab: Lab) -> int | None:
    """Load the `SCENARIO` setting's scenario in place of the database's orders, once, before the
    API serves; answer how many orders it holds (None when no scenario is set).

    Run by the process that starts the server (run_api.py, gunicorn's master), never by each
    gunicorn worker: a worker restarted later would wipe the lab it had been serving.
    """
    if settings.scenario is None:
        return None
    try:
        scenario = read_scenario(settings.scenario_folder, settings.scenario, lab)
    except RecordNotFound:
        raise ScenarioNotLoaded(
            f"SCENARIO: no scenario {settings.scenario!r} in {settings.scenario_folder}"
        ) from None
    except ScenarioInvalid as error:
        raise ScenarioNotLoaded(f"SCENARIO: {settings.scenario}: {error}") from None
    engine = make_engine(settings.database_url, timeout=settings.database_timeout)
    try:
        schema.prepare(engine)
        with transaction(make_session_factory(engine)) as session:
            today = local_date(utcnow(), settings.lab_timezone)
            return scenarios.replace_state(session, lab, scenario, today=today)
    finally:
        engine.dispose()


REPLACES = (
    "Every order (with its addons and check-ins) is deleted and the scenario's orders put in "
    "their place, in one transaction: a known start for a CI run. The request journal, the "
    "faults and the trackers' heartbeats are left as they are. "
)


_LOADED = Answer(
    200,
    "The state was replaced; `orders` counts the orders it now holds.",
    ScenarioLoadedSchema,
    {"Seven orders": {"message": "Successful", "orders": 7}},
)


@endpoint(
    blueprint,
    "GET",
    "/scenarios",
    tag=TAG,
    summary="List the scenario files",
    description=SIM + "Each file of the scenario folder (`SCENARIO_FOLDER`), by name, with its "
    "description and how many orders it names. Files are listed as they are, not checked.",
    ok=Answer(
        200,
        "The scenarios.",
        ScenarioListSchema,
        {
            "Two scenarios": {
                "scenarios": [
                    {
                        "name": "seed_outcomes",
                        "description": "An order per completion answer.",
                        "orders": 7,
                    },
                    {"name": "empty", "description": "No orders.", "orders": 0},
                ]
            }
        },
    ),
    errors=(ADMIN_KEY_REFUSED,),
)
def list_scenario_files() -> dict[str, Any]:
    """The scenario files, by name."""
    return {"scenarios": list_scenarios(runtime().settings.scenario_folder)}


@endpoint(
    blueprint,
    "POST",
    "/scenarios/<segment:name>",
    tag=TAG,
    summary="Load a scenario in place of every order",
    description=SIM + REPLACES + "A file that cannot be loaded answers 400 naming each bad "
    "entry, and nothing changes. No body.",
    path=ScenarioNamePath,
    ok=_LOADED,
    errors=(
        SCENARIO_INVALID,
        no_record("scenario", "nosuch"),
        ADMIN_KEY_REFUSED,
        *SIM_WRITE_REFUSED,
        DATABASE_DOWN,
    ),
)
@transactional(write=True)
def load_scenario(session: Session, name: str) -> dict[str, Any]:
    """Replace every order with the scenario's."""
    lab = runtime().lab
    scenario = read_scenario(runtime().settings.scenario_folder, name, lab)
    return {"orders": _replace(session, scenario)}


@endpoint(
    blueprint,
    "GET",
    "/snapshot",
    tag=TAG,
    summary="Export the whole state as a scenario",
    description=SIM + "Every order, by number, with its addons, check-ins (station, operator, "
    "time), completion flag (`flaggedAt`), recorded rejection (`completionError`) and dates, in "
    "the scenario format; `PUT /api/sim/snapshot` restores it. Times are UTC with microseconds. "
    "Not included: the request journal, the faults and the trackers' heartbeats.",
    ok=Answer(200, "The state.", SnapshotSchema),
    errors=(ADMIN_KEY_REFUSED, DATABASE_DOWN),
)
@transactional(write=False)
def export_snapshot(session: Session) -> scenarios.Scenario:
    """The whole state, in the scenario format."""
    return scenarios.export_state(session)


@endpoint(
    blueprint,
    "PUT",
    "/snapshot",
    tag=TAG,
    summary="Replace the whole state with a snapshot",
    description=SIM + REPLACES + "The body is a snapshot (`GET /api/sim/snapshot`) or any "
    "scenario in JSON. A malformed body answers 400 `Invalid request`; one the lab cannot hold "
    "(an unknown code, an order listed twice) 400 `Invalid scenario`; either way nothing changes.",
    body=ScenarioSchema,
    ok=_LOADED,
    errors=(
        INVALID_BODY,
        SCENARIO_INVALID,
        BODY_TOO_LARGE,
        ADMIN_KEY_REFUSED,
        *SIM_WRITE_REFUSED,
        DATABASE_DOWN,
    ),
)
@transactional(write=True)
def replace_snapshot(session: Session, body: scenarios.Scenario) -> dict[str, Any]:
    """Replace every order with the snapshot's."""
    return {"orders": _replace(session, body)}


def _replace(session: Session, scenario: scenarios.Scenario) -> int:
    today = local_date(utcnow(), runtime().settings.lab_timezone)
    return scenarios.replace_state(session, runtime().lab, scenario, today=today)
