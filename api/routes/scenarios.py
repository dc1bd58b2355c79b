"""Scenarios and snapshots under /api/sim: list and load scenario files, export and replace the
whole state. Ours, not Rx-Universe's."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy.orm import Session

from api.endpoints import Answer, endpoint
from api.errors import (
    BODY_TOO_LARGE,
    DATABASE_DOWN,
    INVALID_BODY,
    OURS,
    SCENARIO_INVALID,
    no_record,
)
from api.runtime import runtime, transactional
from api.scenario_schemas import (
    ScenarioListSchema,
    ScenarioLoadedSchema,
    ScenarioNamePath,
    ScenarioSchema,
    SnapshotSchema,
)
from api.scenarios import list_scenarios, read_scenario
from shared import scenarios as shared_scenarios
from shared.domain.clock import local_date, utcnow

scenarios = Blueprint("scenarios", __name__, url_prefix="/api/sim")
TAG = "Simulator controls (ours)"
SIM = OURS + "a simulator control, not part of Rx-Universe. "
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
    scenarios,
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
)
def list_scenario_files() -> dict[str, Any]:
    """The scenario files, by name."""
    return {"scenarios": list_scenarios(runtime().settings.scenario_folder)}


@endpoint(
    scenarios,
    "POST",
    "/scenarios/<segment:name>",
    tag=TAG,
    summary="Load a scenario in place of every order",
    description=SIM + REPLACES + "A file that cannot be loaded answers 400 naming each bad "
    "entry, and nothing changes. No body.",
    path=ScenarioNamePath,
    ok=_LOADED,
    errors=(SCENARIO_INVALID, no_record("scenario", "nosuch"), DATABASE_DOWN),
)
@transactional(write=True)
def load_scenario(session: Session, name: str) -> dict[str, Any]:
    """Replace every order with the scenario's."""
    lab = runtime().lab
    scenario = read_scenario(runtime().settings.scenario_folder, name, lab)
    return {"orders": _replace(session, scenario)}


@endpoint(
    scenarios,
    "GET",
    "/snapshot",
    tag=TAG,
    summary="Export the whole state as a scenario",
    description=SIM + "Every order, by number, with its addons, check-ins (station, operator, "
    "time), completion flag (`flaggedAt`), recorded rejection (`completionError`) and dates, in "
    "the scenario format; `PUT /api/sim/snapshot` restores it. Times are UTC with microseconds. "
    "Not included: the request journal, the faults and the trackers' heartbeats.",
    ok=Answer(200, "The state.", SnapshotSchema),
    errors=(DATABASE_DOWN,),
)
@transactional(write=False)
def export_snapshot(session: Session) -> shared_scenarios.Scenario:
    """The whole state, in the scenario format."""
    return shared_scenarios.export_state(session)


@endpoint(
    scenarios,
    "PUT",
    "/snapshot",
    tag=TAG,
    summary="Replace the whole state with a snapshot",
    description=SIM + REPLACES + "The body is a snapshot (`GET /api/sim/snapshot`) or any "
    "scenario in JSON. A malformed body answers 400 `Invalid request`; one the lab cannot hold "
    "(an unknown code, an order listed twice) 400 `Invalid scenario`; either way nothing changes.",
    body=ScenarioSchema,
    ok=_LOADED,
    errors=(INVALID_BODY, SCENARIO_INVALID, BODY_TOO_LARGE, DATABASE_DOWN),
)
@transactional(write=True)
def replace_snapshot(session: Session, body: shared_scenarios.Scenario) -> dict[str, Any]:
    """Replace every order with the snapshot's."""
    return {"orders": _replace(session, body)}


def _replace(session: Session, scenario: shared_scenarios.Scenario) -> int:
    today = local_date(utcnow(), runtime().settings.lab_timezone)
    return shared_scenarios.replace_state(session, runtime().lab, scenario, today=today)
