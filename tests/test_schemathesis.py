"""Schemathesis against a live run_api.py: every operation, positive and negative cases.

Bounded (a fixed number of examples per operation, a fixed seed) so the run takes seconds.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from scripts import live

CONFIG = Path(__file__).resolve().parent / "schemathesis.toml"
EXAMPLES_PER_OPERATION = 50
SEED = 20261129


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
        command = [
            Path(sys.executable).parent / "schemathesis",
            "--config-file",
            CONFIG,
            "run",
            f"{api.base_url}/api/v2/openapi.json",
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
            tmp_path,
        ]
        run = subprocess.run(
            [str(part) for part in command],
            cwd=tmp_path,  # whatever it leaves on disk stays out of the project
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert run.returncode == 0, run.stdout + run.stderr
