"""Scenario files: the folder's list, one file read and checked, the `SCENARIO` loaded at start."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marshmallow import ValidationError

from api.errors import flatten_messages
from api.scenario_schemas import load_scenario
from config.settings import Settings
from shared import scenarios
from shared.db import schema
from shared.db.engine import make_engine, make_session_factory, transaction
from shared.domain.clock import local_date, utcnow
from shared.domain.errors import RecordNotFound, ScenarioInvalid
from shared.domain.lab import Lab

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
        scenario = load_scenario(document)
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
