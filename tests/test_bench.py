"""The benchmark suite still runs end to end at its tiny size; nothing here judges a speed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = (
    "## How to run",
    "## The machine",
    "## Results",
    "## 1. Completion endpoint",
    "## 2. Tracker throughput",
    "## 3. Idle poll cost",
    "## 4. Flag-to-complete latency",
    "## 5. Memory",
    "## 6. Job tracking",
    "## 7. Lab simulator",
    "## 8. The board",
    "## 9. Submission and import",
    "## Missed targets and their profiles",
)
# Each figure the issue asks for, by the start of its name in the results table.
FIGURES = (
    "Completion endpoint throughput, journal on",
    "Completion endpoint throughput, journal off",
    "Completion endpoint latency p50",
    "Completion endpoint latency p95",
    "Completion endpoint latency p99",
    "Tracker throughput, 1 process",
    "Tracker against one job per order",
    "Idle poll, ",
    "Flag-to-complete p50, polling",
    "Flag-to-complete p95, polling",
    "Flag-to-complete p50, wake-up",
    "Flag-to-complete p95, wake-up",
    "Flag-to-complete p99, wake-up",
    "Idle tracker CPU, listening for the wake-up",
    "Tracker peak RSS",
    "Tracker RSS at 90% of the drain",
    "Check-in throughput",
    "Status read throughput",
    "Order read throughput",
    "Pick read throughput",
    "Pick verify throughput",
    "Orders list, first page",
    "Status by tray number",
    "Status by PO number",
    "Lab simulator through gunicorn",
    "Lab CPU per request",
    "Board data",
    "Submit endpoint throughput",
    "Import, 1 tracker",
    "Submit-to-visible p50, wake-up",
    "Submit-to-visible p95, wake-up",
)
SQLITE_FIGURES: tuple[str, ...] = ()
POSTGRESQL_FIGURES = ("Tracker throughput, 2 processes",)
PLOTS = ("endpoint", "tracker", "poll", "latency", "memory")
NUMBER = re.compile(r"[0-9][0-9,]*(\.[0-9]+)?")


def require(available: bool, what: str) -> None:
    """CI must run the suite, so a missing tool fails there; elsewhere it skips, saying why."""
    if available:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what}: CI never skips the benchmark suite")
    pytest.skip(what)


def results_table(report: str) -> list[list[str]]:
    """The cells of each row of the Results table."""
    section = report.split("## Results", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows[2:]]


@pytest.mark.e2e
def test_a_tiny_run_reports_every_section_and_a_figure_beside_a_baseline_for_each(
    tmp_path: Path,
) -> None:
    require(shutil.which("wrk") is not None, "wrk is not installed (apt-get install -y wrk)")
    require(
        find_spec("matplotlib") is not None,
        "matplotlib is not installed (pip install -e '.[bench]')",
    )
    output = tmp_path / "benchmarks.md"
    command = [sys.executable, "-m", "bench", "--size", "tiny", "--output", str(output)]
    # Each pass of the suite runs the benchmarks on its own engine (the SQLite pass already ran
    # SQLite's): running both in the PostgreSQL pass cost CI two more minutes.
    databases = {"SQLite": "sqlite"}
    server = os.environ.get("TEST_DATABASE_URL")
    if server:
        databases = {"PostgreSQL": "postgresql"}
        command += ["--postgres-url", server]
    command += ["--databases", ",".join(databases.values())]

    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)

    assert run.returncode == 0, run.stdout + run.stderr
    report = output.read_text()
    for section in SECTIONS:
        assert f"\n{section}\n" in report, section
    table = results_table(report)
    for label in databases:
        expected = FIGURES + (POSTGRESQL_FIGURES if label == "PostgreSQL" else SQLITE_FIGURES)
        for figure in expected:
            rows = [row for row in table if row[0] == label and row[1].startswith(figure)]
            assert len(rows) == 1, (label, figure)
            _, _, measured, baseline, ratio, _, _ = rows[0]
            assert NUMBER.match(measured), (label, figure, measured)
            assert NUMBER.match(baseline), (label, figure, baseline)
            if figure.startswith("Idle tracker CPU") and float(baseline.split()[0]) == 0:
                continue  # a tiny run's idle tracker may use less than one clock tick: no ratio
            assert re.fullmatch(r"[0-9][0-9,]*(\.[0-9]+)?x", ratio), (label, figure, ratio)
    for plot in PLOTS:
        image = tmp_path / "bench" / f"{plot}.png"
        assert image.read_bytes().startswith(b"\x89PNG"), plot
        assert f"(bench/{plot}.png)" in report


PREVIOUS_REPORT = """# Benchmarks

| Code | commit abc1234 |

## Results

| Database | Figure | Measured | Baseline | Ratio | Target | Met? |
| --- | --- | --- | --- | --- | --- | --- |
| SQLite | Completion endpoint throughput | 2,621 req/s | 3,513 req/s: bare | 0.75x | ≥ 75% | no |
| SQLite | Tracker throughput, 1 process, 20,000 orders | 41,371 orders/s | x | 0.12x |  |  |
| SQLite | Completion endpoint latency p50 | 5.72 ms | 3.75 ms | 1.53x |  |  |
| SQLite | Completion endpoint latency p99 | 29.2 ms | 152 ms | 0.19x |  |  |

## 1. Completion endpoint
"""


@pytest.mark.database_free
def test_a_new_report_puts_each_ratio_beside_the_one_the_report_it_replaces_gave(
    tmp_path: Path,
) -> None:
    """Issue 24 asks for the ratios side by side with the previous report's: read from the
    report being replaced, matched by figure whatever its counts, renamed figures followed."""
    from bench.report import Previous, _results
    from bench.results import Row

    report = tmp_path / "benchmarks.md"
    report.write_text(PREVIOUS_REPORT)
    previous = Previous.read(report, "commit def5678")
    assert previous is not None and previous.code == "commit abc1234"
    rows = [
        Row("SQLite", "Completion endpoint throughput, journal off", 3, "req/s", 4, "bare"),
        Row(
            "SQLite", "Completion endpoint throughput, journal on (the default)", 2, "req/s", 4, "b"
        ),
        Row("SQLite", "Tracker throughput, 1 process, 100,000 orders", 1, "orders/s", 4, "set"),
        Row("PostgreSQL", "Tracker throughput, 1 process, 100,000 orders", 1, "orders/s", 4, "s"),
        Row("SQLite", "Completion endpoint latency p50", 1, "ms", 1, "bare"),
        Row("SQLite", "Completion endpoint latency p95", 1, "ms", 1, "bare"),
    ]
    table = [line for line in _results(rows, "full", previous) if line.startswith("| ")]
    assert table[0].endswith("| Previous ratio |")
    previous_ratios = [line.rsplit("|", 2)[-2].strip() for line in table[2:]]
    assert previous_ratios == ["0.75x", "-", "0.12x", "-", "1.53x", "-"]
    results = _results(rows, "full", previous)
    assert "commit abc1234" in "\n".join(results)
    assert Previous.read(tmp_path / "none.md", "commit def5678") is None
    # The same run written again (--from-results) keeps the comparison with the earlier report.
    report.write_text("| Code | commit def5678 |\n\n## Results\n" + "\n".join(results) + "\n")
    again = Previous.read(report, "commit def5678")
    assert again is not None and again.code == "commit abc1234"
    assert [again.ratio(row) for row in rows] == [previous.ratio(row) for row in rows]
