"""Schemathesis against a live run_api.py: every operation, positive and negative cases.

Bounded (a fixed number of examples per operation, a fixed seed) so the run takes seconds.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import live

CONFIG = Path(__file__).resolve().parent / "schemathesis.toml"
EXAMPLES_PER_OPERATION = 50
SEED = 20261129
FAULTS_TAG = "Faults on demand (ours)"


def seed_orders(api: live.Api) -> None:
    """Orders the document's examples name (33719...), so cases reach more than a 404."""
    for body in (
        {"orderNumber": "33719", "addons": ["BSC"]},
        {"orderNumber": "999999", "addons": ["BSC"], "stations": ["BSC"]},
        {"orderNumber": "10", "onHold": True},
    ):
        assert api.call("POST", "/api/sim/orders", body)[0] == 201


@pytest.mark.e2e
def test_schemathesis_finds_nothing(database_url: str, tmp_path: Path) -> None:
    with live.run_api(database_url, tmp_path) as api:
        seed_orders(api)
        # A fault set by a case changes what every later /api/v2 call answers (a 503, a delay of
        # up to a minute, a dropped connection), so the fault operations run on their own, after
        # every other operation has been run.
        for number, selection in enumerate(
            (["--exclude-tag", FAULTS_TAG], ["--include-tag", FAULTS_TAG]), start=1
        ):
            run = run_schemathesis(api, tmp_path / f"run{number}", selection)
            assert run.returncode == 0, run.stdout + run.stderr


def run_schemathesis(
    api: live.Api, folder: Path, selection: list[str]
) -> subprocess.CompletedProcess[str]:
    """Schemathesis on the operations `selection` picks, its report and leftovers in `folder`."""
    folder.mkdir()
    command = [
        Path(sys.executable).parent / "schemathesis",
        "--config-file",
        CONFIG,
        "run",
        f"{api.base_url}/api/v2/openapi.json",
        *selection,
        "--checks",
        "all",
        "--mode",
        "all",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--seed",
        str(SEED),
        "--generation-database",
        "none",
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "1",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        folder,
    ]
    return subprocess.run(
        [str(part) for part in command],
        cwd=folder,  # whatever it leaves on disk stays out of the project
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
