"""The front door: every script and entry point answers --help with its usage and does nothing
else, and the runtime install (the demo's) pulls in no test, docs or benchmark tool."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

# Nothing here depends on the pass's database engine: the SQLite pass runs it once.
pytestmark = pytest.mark.database_free

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ("scripts/setup", "scripts/start", "scripts/demo", "scripts/test", "scripts/bench")
ENTRY_POINTS = (
    "run_simulator.py",
    "run_api.py",
    "run_tracker.py",
    "run_lab.py",
    "migrate.py",
    "-m scripts.demo",
)
# What `pip install .` puts on the PATH (setup.cfg's console_scripts).
COMMANDS = (
    "rx-jobtracker",
    "rx-jobtracker-api",
    "rx-jobtracker-tracker",
    "rx-jobtracker-lab",
    "rx-jobtracker-migrate",
)
# What only the tests, the manual or the benchmarks use (setup.cfg's extras).
NOT_RUNTIME = {
    "pytest",
    "freezegun",
    "ruff",
    "mypy",
    "import-linter",
    "openapi-spec-validator",
    "schemathesis",
    "selenium",
    "mkdocs",
    "mkdocs-material",
    "matplotlib",
    "gunicorn",
    "psycopg",
}


@pytest.mark.parametrize("flag", ["--help", "-h"])
@pytest.mark.parametrize("script", SCRIPTS)
def test_each_script_answers_help_with_its_usage_and_nothing_else(script: str, flag: str) -> None:
    # A Python that does not exist: a script that went on to set up .venv would fail on it.
    env = {**os.environ, "PYTHON": "/nonexistent/python3"}
    run = subprocess.run(
        [ROOT / script, flag], cwd=ROOT, env=env, capture_output=True, text=True, timeout=10
    )
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout.startswith(f"Usage: {script}"), run.stdout


@pytest.mark.parametrize("flag", ["--help", "-h"])
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_each_entry_point_answers_help_with_its_usage(entry: str, flag: str) -> None:
    run = subprocess.run(
        [sys.executable, *entry.split(), flag], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout.startswith("usage: "), run.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_the_installed_commands_answer_help(command: str) -> None:
    installed = Path(sys.executable).parent / command
    run = subprocess.run(
        [installed, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout.startswith("usage: "), run.stdout


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_closure() -> set[str]:
    """Every distribution `pip install .` brings in: rx-jobtracker's requirements without extras,
    and theirs, read from what is installed here."""
    seen: set[str] = set()
    waiting = ["rx-jobtracker"]
    while waiting:
        name = waiting.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.requires(name) or ():
            requirement = Requirement(line)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue  # an extra's, or another platform's
            waiting.append(_normal(requirement.name))
    return seen - {"rx-jobtracker"}


def test_the_runtime_install_pulls_no_test_docs_or_benchmark_tool() -> None:
    closure = runtime_closure()
    assert {"flask", "sqlalchemy", "alembic", "apscheduler", "waitress"} <= closure
    assert closure & NOT_RUNTIME == set()


@pytest.mark.parametrize("script", ["demo", "start"])
def test_the_demo_and_the_start_install_the_runtime_only(script: str) -> None:
    text = (ROOT / "scripts" / script).read_text(encoding="utf-8")
    assert "\nscripts/setup runtime\n" in text
