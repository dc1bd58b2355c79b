"""`python -m bench.versus` still runs end to end at a tiny size; nothing here judges a speed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENDPOINTS = ("completion", "check-in", "status read", "order read")
RATIO = r"[0-9]+\.[0-9]{3}"


@pytest.mark.e2e
# The comparison tool kept working by one run, in the SQLite pass: test_bench runs each engine.
@pytest.mark.database_free
def test_a_tiny_run_against_head_prints_a_ratio_for_each_endpoint_and_removes_its_worktree() -> (
    None
):
    if shutil.which("wrk") is None or shutil.which("git") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("wrk and git are needed: CI never skips the comparison")
        pytest.skip("wrk or git is not installed")
    # The pass's own engine: SQLite, or the PostgreSQL server of TEST_DATABASE_URL.
    label, database = "SQLite", ["--databases", "sqlite"]
    server = os.environ.get("TEST_DATABASE_URL")
    if server:
        label, database = "PostgreSQL", ["--databases", "postgresql", "--postgres-url", server]
    command = [sys.executable, "-m", "bench.versus", "--base", "HEAD", *database]
    command += ["--rounds", "1", "--seconds", "0.5"]

    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)

    assert run.returncode == 0, run.stdout + run.stderr
    for name in ENDPOINTS:
        row = rf"^{re.escape(name)}\s+{label}\s+{RATIO}\s+{RATIO}\s+{RATIO}\s+1\s"
        assert re.search(row, run.stdout, re.MULTILINE), (name, run.stdout)
    checked_out = re.search(r"^versus: \w+ checked out at (.+)$", run.stderr, re.MULTILINE)
    assert checked_out, run.stderr
    worktree = checked_out.group(1)
    assert not Path(worktree).exists()
    listed = subprocess.run(
        ["git", "worktree", "list", "--porcelain"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"worktree {worktree}\n" not in listed.stdout
