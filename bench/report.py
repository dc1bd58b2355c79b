"""docs/benchmarks.md: how to run, the machine, the table of ratios, the plots, the profiles."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server or in CI

# pyplot after the backend is chosen, or it may pick an interactive one.
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bench import ROOT, board, lab_run, submission
from bench.endpoint import CONNECTIONS, THREADS
from bench.lab_run import LabResult
from bench.processes import WORKERS
from bench.results import DatabaseRun, Row, lab_rows, rows
from bench.tracker import BATCH_SIZE

ANALYSIS = Path(__file__).with_name("analysis.md")
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
COLOURS = {"SQLite": "#4c72b0", "PostgreSQL": "#dd8452"}


def write(
    output: Path,
    runs: Sequence[DatabaseRun],
    *,
    size: str,
    machine: dict[str, str],
    command: str,
    seconds: float,
) -> None:
    """Write the report and its PNGs (into `bench/` beside it), each ratio beside the one the
    report it replaces gave for the same figure."""
    previous = Previous.read(output, machine.get("Code", ""))
    images = output.parent / "bench"
    images.mkdir(parents=True, exist_ok=True)
    plots = {
        "endpoint": _plot_endpoint(runs, images / "endpoint.png"),
        "tracker": _plot_tracker(runs, images / "tracker.png"),
        "poll": _plot_poll(runs, images / "poll.png"),
        "latency": _plot_latency(runs, images / "latency.png"),
        "memory": _plot_memory(runs, images / "memory.png"),
    }
    links = {key: os.path.relpath(path, output.parent) for key, path in plots.items()}
    table = [row for run in runs for row in rows(run)]
    text = "\n".join(
        [
            *_intro(size, command, seconds),
            *_machine(machine),
            *_results(table, size, previous),
            *_endpoint(runs, links["endpoint"]),
            *_tracker(runs, links["tracker"]),
            *_poll(runs, links["poll"]),
            *_latency(runs, links["latency"]),
            *_memory(runs, links["memory"]),
            *_job_tracking(runs),
            *_lab(runs),
            *_board(runs),
            *_submission(runs),
            *_misses(runs, table),
        ]
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text.rstrip() + "\n")


def number(value: float, unit: str) -> str:
    """A figure as the table shows it: thousands grouped, two or three significant digits."""
    if math.isnan(value):
        return "n/a"
    if unit in ("req/s", "orders/s"):
        return f"{value:,.0f} {unit}"
    if unit == "MB":
        return f"{value:,.1f} MB"
    digits = 2 if value < 10 else 1 if value < 100 else 0
    return f"{value:,.{digits}f} {unit}"


def ratio(value: float) -> str:
    """A ratio with the precision its size deserves."""
    if math.isnan(value):
        return "n/a"
    return f"{value:.2f}x" if value < 10 else f"{value:,.0f}x"


def _intro(size: str, command: str, seconds: float) -> list[str]:
    return [
        "# Benchmarks",
        "",
        "How fast the simulator completes orders, on SQLite and on PostgreSQL, written by the",
        "benchmark suite (`bench/`). Absolute times on a shared machine are noise, so every",
        "figure stands next to a **baseline measured in the same run on the same machine**, and",
        "the ratio between them is the number to compare across machines.",
        "",
        "## How to run",
        "",
        "```sh",
        "scripts/bench     # the issue's sizes, SQLite and PostgreSQL, into docs/benchmarks.md",
        "scripts/bench --size tiny --databases sqlite --output /tmp/bench.md   # a smoke run",
        "```",
        "",
        "`scripts/bench` sets up `.venv`, installs the `bench` extra (matplotlib) and `wrk` if",
        "they are missing, then runs `python -m bench`. Options: `--size tiny|small|full`",
        "(default `full`: 100,000 orders for tracker throughput, 1,000,000 for the idle poll and",
        "memory), `--databases sqlite,postgresql`, `--postgres-url` (default `TEST_DATABASE_URL`",
        "or the local `test` database; each measurement gets a schema of its own, dropped after),",
        "`--output`. CI runs `--size tiny` through `tests/test_bench.py` only to keep the suite",
        "working: nothing in CI judges a speed.",
        "",
        f"This report: `{command}`, size **{size}**, {seconds / 60:.1f} minutes.",
        "",
    ]


def _machine(machine: dict[str, str]) -> list[str]:
    lines = ["## The machine", "", "| | |", "| --- | --- |"]
    lines += [f"| {key} | {value} |" for key, value in machine.items()]
    return [*lines, ""]


@dataclass(frozen=True)
class Previous:
    """The report a run replaces: its code and each figure's ratio, read from its Results table,
    so that the new ratios stand beside the old."""

    code: str
    ratios: dict[tuple[str, str], str]

    # Figures renamed since: the old name each continues.
    RENAMED: ClassVar[dict[str, str]] = {
        # Before issue 24 the journal was off by default: the endpoint was measured without it.
        "Completion endpoint throughput, journal off": "Completion endpoint throughput",
    }

    @classmethod
    def read(cls, report: Path, code: str) -> Previous | None:
        """The report at `report`, if there is one with a Results table. Should it be of
        `code` itself (the same run written again, `--from-results`), the one it replaced:
        its own Previous ratio column."""
        try:
            text = report.read_text()
        except OSError:
            return None
        if "\n## Results\n" not in text:
            return None
        found = re.search(r"^\| Code \| (.+?) \|$", text, re.MULTILINE)
        section = text.split("\n## Results\n", 1)[1].split("\n## ", 1)[0]
        column, name = 4, found.group(1) if found else "the previous report"
        if name == code:
            earlier = re.search(r"in the report this one replaced \((.+?)\);", section)
            if earlier is None:
                return None
            column, name = 7, earlier.group(1)
        ratios = {}
        for line in section.splitlines()[1:]:
            cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
            if len(cells) > column and cells[0] not in ("Database", "---"):
                ratios[(cells[0], _shape(cells[1]))] = cells[column]
        return cls(name, ratios)

    def ratio(self, row: Row) -> str:
        """The previous ratio of `row`'s figure (its counts aside), or a dash."""
        for figure in (row.figure, self.RENAMED.get(row.figure, row.figure)):
            found = self.ratios.get((row.database, _shape(figure)))
            if found is not None:
                return found
        return "-"


def _shape(figure: str) -> str:
    """A figure's name without its counts (a number of a thousand or more): `Tracker throughput,
    1 process, 20,000 orders` and its 100,000-order run are the same figure; `latency p50` and
    `latency p95` are not."""
    return re.sub(r"\b[0-9]{1,3}(,[0-9]{3})+\b|\b[0-9]{4,}\b", "#", figure)


def _results(table: list[Row], size: str, previous: Previous | None = None) -> list[str]:
    lines = ["## Results", ""]
    if size != "full":
        lines += [
            f"Size **{size}**: the targets are the issue's, set for `--size full`; at this size",
            "start-up and warm-up dominate, so a miss here says nothing about the code.",
            "",
        ]
    lines += [
        "Ratio is measured over baseline. A load average above the CPU count (see above) means",
        "other work shared the machine during the run: absolute figures moved with it, ratios",
        "much less.",
    ]
    if previous is not None:
        lines += [
            f"Previous ratio: the same figure's in the report this one replaced ({previous.code});",
            "a dash where that report had no such figure.",
        ]
    lines += [
        "",
        "| Database | Figure | Measured | Baseline | Ratio | Target | Met? |"
        + (" Previous ratio |" if previous else ""),
        "| --- | --- | --- | --- | --- | --- | --- |" + (" --- |" if previous else ""),
    ]
    for row in table:
        met = "" if row.met is None else "yes" if row.met else "**MISSED**"
        baseline = f"{number(row.baseline, row.unit)}: {row.baseline_label}"
        lines.append(
            f"| {row.database} | {row.figure} | {number(row.value, row.unit)} | {baseline} |"
            f" {ratio(row.ratio)} | {row.target} | {met} |"
            + (f" {previous.ratio(row)} |" if previous else "")
        )
    return [*lines, ""]


def _endpoint(runs: Sequence[DatabaseRun], image: str) -> list[str]:
    lines = [
        "## 1. Completion endpoint",
        "",
        "`POST /api/v2/orders/N/complete` served as production serves it (`python -m gunicorn",
        f"-c gunicorn.conf.py -w {WORKERS} ... 'api.app:create_app()'`, the worker count of",
        "docs/deploying.md",
        "and threads), loaded by `wrk",
        f"-t{THREADS} -c{CONNECTIONS} --latency` from its own process, each call naming the",
        "next order ready to complete, so nearly every call flags a new order. Baseline:",
        "`bench/baseline_app.py`, a bare Flask app whose one route runs the same single-row",
        "`UPDATE orders SET completion_requested_at = ? WHERE order_number = ? AND",
        "completion_requested_at IS NULL` with the raw driver (sqlite3 in WAL mode with a busy",
        "timeout, or psycopg), under the same gunicorn command, on a database seeded alike.",
        "The API runs twice in each round: as shipped, with its request journal on (the",
        "default), and with `JOURNAL=off`, so the journal's cost is the gap between the two.",
        "Each server gets a one-second warm-up first. The three take turns in alternating",
        "rounds, each on a fresh database and a fresh server: on a shared machine throughput",
        "drifts by a fifth within a minute, and turns spread the drift over all alike. A",
        "server's figures pool its rounds: all its requests over all its time, and the median",
        "of each latency percentile.",
        "",
        f"![Completion endpoint]({image})",
        "",
    ]
    for run in runs:
        shares = ", ".join(f"{share:.2f}" for share in run.endpoint.round_shares)
        lines.append(f"- {run.target.label}, API over baseline in each round: {shares}")
    lines += [
        "",
        "| Database | Server | Answered | Non-2xx | Socket errors | Orders newly flagged |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        off = run.endpoint.api_journal_off
        loads = {
            "API": run.endpoint.api,
            **({"API, journal off": off} if off is not None else {}),
            "baseline": run.endpoint.baseline,
            **run.diagnostics,
        }
        for name, load in loads.items():
            lines.append(
                f"| {run.target.label} | {name} | {load.requests:,} | {load.non_2xx:,} |"
                f" {load.socket_errors:,} | {load.newly_flagged:,} |"
            )
    diagnosed = [run for run in runs if run.diagnostics]
    if diagnosed:
        lines += [
            "",
            "Diagnostic loads, run because the throughput target was missed. With one",
            "connection nothing waits on a lock: if the API's share of the baseline is no better",
            "there than under 16 connections, the gap is what one request costs, not contention.",
            "",
            "| Database | Server | Requests/s | p50 | p99 |",
            "| --- | --- | --- | --- | --- |",
        ]
        for run in diagnosed:
            for name, load in run.diagnostics.items():
                lines.append(
                    f"| {run.target.label} | {name} | {load.requests_per_second:,.0f} |"
                    f" {number(load.p50_ms, 'ms')} | {number(load.p99_ms, 'ms')} |"
                )
    return [*lines, ""]


def _tracker(runs: Sequence[DatabaseRun], image: str) -> list[str]:
    lines = [
        "## 2. Tracker throughput",
        "",
        f"`run_tracker.py --once` (`TRACKER_BATCH_SIZE={BATCH_SIZE}`) drains flagged orders",
        "that each carry the addon BSC and a check-in at station BSC, so verification does",
        "real work and passes; the run is checked afterwards (every order completed, one `CMP`",
        "check-in each, none flagged). The drain is timed by the tracker's own clock, from the",
        "heartbeat it writes as it starts work to the stop it records when done",
        "(`TRACKER_INTERVAL=86400`, so it beats once); start-up and exit (imports, settings,",
        "schema check) are paid once per process, not per order, and shown apart. Baselines:",
        "the limit, one set-based `UPDATE` marking the",
        "same orders complete (no verification, no check-ins); and a general-purpose job",
        "queue's way, one transaction per order (take the next, load, verify, write the",
        "completion and check-in, commit), measured with the tracker's own code and a batch of",
        "one. On PostgreSQL, 1, 2 and 4 trackers drain the same number of orders side by side.",
        "",
        f"![Tracker throughput]({image})",
        "",
    ]
    for run in runs:
        t = run.tracker
        lines.append(
            f"- {run.target.label}: start-up and exit of one `--once` process"
            f" {t.startup_seconds:.2f} s (not counted); per-order loop on"
            f" {t.per_order_sample:,} orders."
        )
    return [*lines, ""]


def _poll(runs: Sequence[DatabaseRun], image: str) -> list[str]:
    lines = [
        "## 3. Idle poll cost",
        "",
        "One tracker poll that finds nothing (`tracker.jobs.process_batch`: its transaction and",
        "the queue query), timed in process, median of many after a warm-up, first with the",
        "small table (the baseline), then after growing the same table to the large size with",
        "completed orders. The whole poll with its heartbeat write (`run_cycle`) is shown too.",
        "",
        f"![Idle poll]({image})",
        "",
        "| Database | Orders | Polls | Median | p95 | With heartbeat, median |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        for times in (run.poll.small, run.poll.big):
            p95 = sorted(times.batch_ms)[int(len(times.batch_ms) * 0.95) - 1]
            lines.append(
                f"| {run.target.label} | {times.orders:,} | {len(times.batch_ms):,} |"
                f" {number(times.batch_median, 'ms')} | {number(p95, 'ms')} |"
                f" {number(times.cycle_median, 'ms')} |"
            )
    return [*lines, ""]


def _latency(runs: Sequence[DatabaseRun], image: str) -> list[str]:
    lines = [
        "## 4. Flag-to-complete latency",
        "",
        "`run_api.py` and a running `run_tracker.py`; orders flagged one at a time over HTTP,",
        "each after a random pause (so flags fall anywhere in the poll interval), then the",
        "status endpoint asked every 2 ms until it shows `C`. The figure runs from the 201 to",
        "that answer. Polling alone: `TRACKER_INTERVAL=0.25`, with the tracker's listener",
        "switched off (`bench/polling_tracker.py`: `run_tracker.py` without it). The wake-up",
        "(LISTEN/NOTIFY on PostgreSQL, the doorbell sockets on SQLite): `run_tracker.py` with the",
        "default settings (`TRACKER_INTERVAL=5`), as a new user runs it.",
        "Baseline: the flag request's own round trip, the shortest thing the measurement sees.",
        "",
        f"![Flag-to-complete latency]({image})",
        "",
        "| Database | Mode | Orders | p50 | p95 | p99 | Max |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        for mode in run.latency:
            lines.append(
                f"| {run.target.label} | {mode.mode} ({mode.interval:g} s) |"
                f" {len(mode.flag_to_complete_ms)} | {number(mode.p50, 'ms')} |"
                f" {number(mode.p95, 'ms')} | {number(mode.p99, 'ms')} |"
                f" {number(max(mode.flag_to_complete_ms), 'ms')} |"
            )
    idle = [(run.target.label, run.idle_cpu) for run in runs if getattr(run, "idle_cpu", None)]
    if idle:
        lines += [
            "",
            "What listening costs an idle tracker: `run_tracker.py` alone on an empty database at",
            "the default interval, its CPU time (`/proc/<pid>/stat`) over the same span, with the",
            "listener and without it.",
            "",
            "| Database | Span | Listening | Polling alone | Rise |",
            "| --- | --- | --- | --- | --- |",
        ]
        for label, cpu in idle:
            assert cpu is not None
            lines.append(
                f"| {label} | {cpu.seconds:g} s | {cpu.listening_percent:.3f}% |"
                f" {cpu.polling_percent:.3f}% | {cpu.rise:+.3f} points |"
            )
    return [*lines, ""]


def _memory(runs: Sequence[DatabaseRun], image: str) -> list[str]:
    lines = [
        "## 5. Memory",
        "",
        "`run_tracker.py --once` draining the flagged orders while its `/proc/<pid>/status` is",
        "read every 50 ms: VmRSS over time, and VmHWM (the peak) as the figure. Baseline: the",
        'same command\'s peak with nothing to do. "Flat after warm-up": RSS at 90% of the run',
        "within 10% of RSS at 30%.",
        "",
        f"![Tracker memory]({image})",
        "",
    ]
    for run in runs:
        m = run.memory
        lines.append(
            f"- {run.target.label}: {m.orders:,} orders drained in {m.drain_seconds:.1f} s"
            f" ({m.seconds:.1f} s with start-up and exit), peak"
            f" {m.peak_mb:.1f} MB, idle peak {m.idle_peak_mb:.1f} MB, {len(m.samples)} samples."
        )
    return [*lines, ""]


def _job_tracking(runs: Sequence[DatabaseRun]) -> list[str]:
    lines = [
        "## 6. Job tracking",
        "",
        "Check-ins (`POST /api/v2/job_track/stations/GEN`, each to a new order in turn), status",
        "reads, whole-order reads, pick reads (`GET .../pick`) and pick verifications (`POST",
        ".../pick` of both lenses, each order once) under the same gunicorn and wrk load as the",
        "completion endpoint, each beside a baseline that does the same reads and writes with the",
        "raw driver in a bare Flask app (`bench/baseline_app.py`), in alternating rounds. Then",
        "the order list's first page (`?limit=10`, with its total) and status reads by tray and",
        "by PO number, in process, median of many, with the small table and again with the large",
        "one (completed orders, each with a PO, their trays reused): the tray's partial index, the",
        "PO's index and the kept order count must keep these flat.",
        "",
        "| Database | Operation | API req/s | Baseline req/s | Ratio | API p50 | Baseline p50 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        if run.jobs is None:
            continue
        for op in run.jobs.operations:
            lines.append(
                f"| {run.target.label} | {op.name} | {number(op.api.requests_per_second, 'req/s')}"
                f" | {number(op.baseline.requests_per_second, 'req/s')} | {ratio(op.share)} |"
                f" {number(op.api.p50_ms, 'ms')} | {number(op.baseline.p50_ms, 'ms')} |"
            )
    lines += [
        "",
        "| Database | Orders | First page | By tray | By PO |",
        "| --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        if run.jobs is None:
            continue
        for times in (run.jobs.small, run.jobs.big):
            lines.append(
                f"| {run.target.label} | {times.orders:,} | {number(times.first_page_ms, 'ms')} |"
                f" {number(times.tray_ms, 'ms')} | {number(times.po_ms, 'ms')} |"
            )
    return [*lines, ""]


def _lab(runs: Sequence[DatabaseRun]) -> list[str]:
    return lab_section([(run.target.label, run.lab) for run in runs if run.lab is not None])


def lab_section(labs: Sequence[tuple[str, LabResult]]) -> list[str]:
    """Section 7: the lab's runs, each under its database's label."""
    lines = [
        "## 7. Lab simulator",
        "",
        "`run_lab.py` as a load generator: `--rate 0 --station-time 0`, each order created,",
        "checked in station by station, held, cancelled or completed as its plan says, watched",
        f"until the tracker's verdict, {lab_run.CONCURRENCY} orders in flight, against gunicorn",
        f"({WORKERS} workers) and one tracker (`TRACKER_INTERVAL={lab_run.TRACKER_INTERVAL:g}`)",
        "on a fresh database. Beside it, in the same run, the API's own check-in capacity:",
        "wrk's check-ins at `GEN` under the same gunicorn, as in section 6. Both in check-ins per",
        "second: wrk's are check-in requests; the lab's are all its requests, each counted as one",
        "check-in (each reads or writes one order, as a check-in does; the share of real check-ins",
        "is shown). Reaching the API's capacity means the API, not the lab, sets the pace; the",
        "target is 80% of it.",
        "",
        "With two CPUs or more, the server side (gunicorn, the tracker, a local PostgreSQL's",
        "processes) runs on the first half of them and the client (wrk, then the lab) on the",
        "rest (`taskset`), so wrk and the lab get the same CPUs, and the lab's own cost no longer",
        "takes the server's: the ratio says whether the lab can drive the API. The lab runs in",
        "one process per client CPU (`run_lab.py --processes`). CPU time is user and system time",
        "from `/proc`: the lab's processes whole (start-up included), gunicorn's master and",
        "workers and the tracker over the lab's run, and gunicorn's over wrk's measured run for a",
        "check-in. Lab busy is the lab's CPU time over its seconds and CPUs: near 100%, the lab",
        "sets the pace. Server CPUs busy is the share of the server's CPUs (all of them when",
        "unpinned) busy over each run, whatever ran there (`/proc/stat`; on a shared machine,",
        "others' work too): near 100%, the server side had nothing to spare.",
        "",
    ]
    lines += [f"- {label}: {lab.pinning}" for label, lab in labs]
    lines += [
        "",
        "| Database | Orders | Seconds | Orders/s | Lab requests/s | Of which check-ins"
        " | wrk check-ins/s | Ratio | Errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, lab in labs:
        lines.append(
            f"| {label} | {lab.orders:,} | {lab.seconds:.1f} |"
            f" {lab.orders_per_second:,.1f} | {number(lab.requests_per_second, 'req/s')} |"
            f" {lab.checkins / lab.requests:.0%} | {number(lab.wrk.requests_per_second, 'req/s')}"
            f" | {ratio(lab.share)} | {lab.errors} |"
        )
    lines += [
        "",
        "Where the CPU went, per request:",
        "",
        "| Database | Lab processes | Lab CPU per request | API CPU per lab request"
        " | Tracker CPU per lab request | API CPU per wrk check-in | Lab busy"
        " | Server CPUs busy, lab run | Server CPUs busy, wrk run |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, lab in labs:
        lines.append(
            f"| {label} | {lab.processes} | {number(lab.lab_us_per_request, 'µs')} |"
            f" {number(lab.api_us_per_request, 'µs')} | {number(lab.tracker_us_per_request, 'µs')}"
            f" | {number(lab.api_us_per_checkin, 'µs')} | {_percent(lab.client_busy)} |"
            f" {_percent(lab.server_busy)} | {_percent(lab.wrk_server_busy)} |"
        )
    return [*lines, ""]


def lab_only(labs: Sequence[tuple[str, LabResult]], size: str) -> str:
    """The lab's results rows and its section alone, for `--only lab`."""
    table = [row for label, lab in labs for row in lab_rows(label, lab)]
    return "\n".join([*_results(table, size), *lab_section(labs)])


def _percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.0%}"


def _board(runs: Sequence[DatabaseRun]) -> list[str]:
    lines = [
        "## 8. The board",
        "",
        "`GET /api/sim/board`, everything `GET /board` shows, read in process, median of many:",
        f"the same lab at work ({board.ACTIVE} orders in process over {len(board.STATIONS)}",
        f"stations, every seventh on hold, {board.FLAGGED} more flagged, their check-ins recent)",
        "with the small table of completed orders behind it and with the large one (completed",
        "two days ago, each with its completion check-in, every tenth rejected once): two",
        "databases, timed in alternating rounds, so a busy moment of the machine hits both alike.",
        "It stays flat because no read touches a completed order: work in process reads the",
        "partial index of active orders (`ix_orders_active`) and each one's latest check-in by",
        "the per-order index; the queue its partial index; completions and the latest events a",
        "15-minute range of the check-ins' time index; rejections a range of the partial index",
        "of rejected orders (`last_rejected_at`, written by the tracker's batch in its",
        "rejection statement).",
        "",
        "| Database | Orders | Board read |",
        "| --- | --- | --- |",
    ]
    for run in runs:
        if run.board is None:
            continue
        for times in (run.board.small, run.board.big):
            lines.append(
                f"| {run.target.label} | {times.orders:,} | {number(times.board_ms, 'ms')} |"
            )
    return [*lines, ""]


def _submission(runs: Sequence[DatabaseRun]) -> list[str]:
    lines = [
        "## 9. Submission and import",
        "",
        "The front door (issue 20). **Submit endpoint**: wrk's `POST /api/v2/orders` (a retail",
        "order: customer, both eyes' lenses and spheres, a coating; each call its own PO) against",
        "the API and against a bare Flask route that parses the body and inserts the same queued",
        "row with the raw driver, both under the same gunicorn, on fresh databases, in",
        "alternating rounds as in section 1. **Import**: one `run_tracker.py --once` importing",
        f"a queue of submissions in batches of {submission.BATCH_SIZE:,} (timed by its own clock,",
        "as in section 2), against one `INSERT ... SELECT` that makes the same orders from the",
        "same queue, reading their fields out of the JSON in the database: no lab, no tray, no",
        "check-in, no submission marked imported, all of which the import does.",
        "**Submit-to-visible**: `run_api.py` and a running `run_tracker.py`; orders submitted",
        "one at a time, each after a random pause, then their status read by PO number every",
        "2 ms until it answers 200; the figure runs from the 202 to that answer. The tracker",
        "runs with the default settings (polling every 5 s) and is woken by the submission",
        "(NOTIFY on PostgreSQL, the doorbell on SQLite).",
        "",
        "| Database | Submit req/s | Baseline req/s | Ratio | Submissions | Import orders/s"
        " | INSERT ... SELECT orders/s | Ratio | Visible p50 | Visible p95 | Max |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        found = getattr(run, "submission", None)
        if found is None:
            continue
        submit, importer, visible = found.submit, found.importer, found.visible
        lines.append(
            f"| {run.target.label} | {number(submit.api.requests_per_second, 'req/s')} |"
            f" {number(submit.baseline.requests_per_second, 'req/s')} | {ratio(submit.share)} |"
            f" {importer.submissions:,} | {number(importer.tracker_rate, 'orders/s')} |"
            f" {number(importer.set_based_rate, 'orders/s')} | {ratio(importer.share)} |"
            f" {number(visible.p50, 'ms')} | {number(visible.p95, 'ms')} |"
            f" {number(max(visible.flag_to_complete_ms), 'ms')} |"
        )
    return [*lines, ""]


def _misses(runs: Sequence[DatabaseRun], table: list[Row]) -> list[str]:
    missed = [row for row in table if row.met is False]
    lines = ["## Missed targets and their profiles", ""]
    if not missed:
        lines += ["Every target was met.", ""]
    else:
        lines += [f"- {row.database}: {row.figure} ({row.target})" for row in missed]
        lines.append("")
    for run in runs:
        for profile in run.profiles:
            lines += [
                f"### Profile: {profile.title}",
                "",
                f"`{profile.command}`",
                "",
                "```text",
                profile.text,
                "```",
                "",
            ]
    if ANALYSIS.is_file():
        lines += [ANALYSIS.read_text().rstrip(), ""]
    return lines


def _save(figure: Figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _bars(
    axes: Axes, labels: list[str], groups: dict[str, list[float]], unit: str, fmt: str = "{:,.0f}"
) -> None:
    """Grouped bars, each with its value: one group per label, one bar per series."""
    width = 0.8 / max(len(groups), 1)
    for index, (series, values) in enumerate(groups.items()):
        positions = [x + (index - (len(groups) - 1) / 2) * width for x in range(len(labels))]
        bars = axes.bar(positions, values, width, label=series)
        axes.bar_label(bars, fmt=fmt, fontsize="x-small")
    axes.set_xticks(range(len(labels)), labels)
    axes.set_ylabel(unit)
    axes.legend(fontsize="small")


def _plot_endpoint(runs: Sequence[DatabaseRun], path: Path) -> Path:
    figure, (rate, latency) = plt.subplots(1, 2, figsize=(11, 4))
    labels = [run.target.label for run in runs]
    _bars(
        rate,
        labels,
        {
            "API": [run.endpoint.api.requests_per_second for run in runs],
            "baseline": [run.endpoint.baseline.requests_per_second for run in runs],
        },
        "requests/s",
    )
    rate.set_title(f"Throughput, gunicorn -w {WORKERS}, wrk -c{CONNECTIONS}")
    groups: dict[str, list[float]] = {}
    names: list[str] = []
    for run in runs:
        for server, load in (("API", run.endpoint.api), ("baseline", run.endpoint.baseline)):
            names.append(f"{run.target.label}\n{server}")
            for p in (50, 95, 99):
                groups.setdefault(f"p{p}", []).append(getattr(load, f"p{p}_ms"))
    _bars(latency, names, groups, "ms", fmt="{:,.1f}")
    latency.set_title("Latency percentiles")
    return _save(figure, path)


def _plot_tracker(runs: Sequence[DatabaseRun], path: Path) -> Path:
    scaled = [run for run in runs if run.tracker.scaling]
    figure, axes = plt.subplots(1, 2 if scaled else 1, figsize=(11 if scaled else 6, 4))
    rates = axes[0] if scaled else axes
    _bars(
        rates,
        [run.target.label for run in runs],
        {
            "one job per order": [run.tracker.per_order_rate for run in runs],
            "tracker": [run.tracker.tracker_rate for run in runs],
            "set-based UPDATE": [run.tracker.set_based_rate for run in runs],
        },
        "orders/s (log scale)",
    )
    rates.set_yscale("log")
    highest = max(run.tracker.set_based_rate for run in runs)
    rates.set_ylim(top=highest * 30)  # room above the bars for the legend
    rates.legend(fontsize="small", loc="upper left", ncols=3)
    rates.set_title("Orders completed per second, one process")
    if scaled:
        for run in scaled:
            counts = list(run.tracker.scaling)
            axes[1].plot(
                counts,
                list(run.tracker.scaling.values()),
                marker="o",
                label=run.target.label,
                color=COLOURS.get(run.target.label),
            )
            axes[1].set_xticks(counts)
        axes[1].set_xlabel("tracker processes")
        axes[1].set_ylabel("orders/s")
        axes[1].set_ylim(bottom=0)
        axes[1].set_title("Scaling: trackers draining one queue")
        axes[1].legend(fontsize="small")
    return _save(figure, path)


def _plot_poll(runs: Sequence[DatabaseRun], path: Path) -> Path:
    figure, axes = plt.subplots(figsize=(7, 4))
    data, labels = [], []
    for run in runs:
        for times in (run.poll.small, run.poll.big):
            data.append(times.batch_ms)
            labels.append(f"{run.target.label}\n{times.orders:,} orders")
    axes.boxplot(data, showfliers=False)
    axes.set_xticks(range(1, len(labels) + 1), labels)
    axes.set_ylabel("ms per idle poll")
    axes.set_ylim(bottom=0)
    axes.set_title("Idle poll against table size (whiskers: 1.5 IQR)")
    return _save(figure, path)


def _plot_latency(runs: Sequence[DatabaseRun], path: Path) -> Path:
    figure, axes = plt.subplots(figsize=(7, 4))
    for run in runs:
        for mode in run.latency:
            values = sorted(mode.flag_to_complete_ms)
            shares = [(index + 1) / len(values) for index in range(len(values))]
            style = "-" if mode.mode == "wake-up" else "--"
            axes.step(
                values,
                shares,
                style,
                where="post",
                color=COLOURS.get(run.target.label),
                label=f"{run.target.label}, {mode.mode} ({mode.interval:g} s)",
            )
    axes.set_xlabel("ms from the 201 to status C")
    axes.set_ylabel("share of orders")
    axes.set_xlim(left=0)
    axes.set_title("Flag-to-complete latency (cumulative)")
    axes.legend(fontsize="small")
    return _save(figure, path)


def _plot_memory(runs: Sequence[DatabaseRun], path: Path) -> Path:
    figure, axes = plt.subplots(figsize=(7, 4))
    for run in runs:
        m, colour = run.memory, COLOURS.get(run.target.label)
        axes.plot(
            [t for t, _ in m.samples],
            [kib / 1024 for _, kib in m.samples],
            color=colour,
            label=f"{run.target.label}, {m.orders:,} orders",
        )
        axes.axhline(m.idle_peak_mb, color=colour, linestyle=":", linewidth=1)
    axes.set_xlabel("seconds since the tracker started")
    axes.set_ylabel("RSS, MB (dotted: idle tracker's peak)")
    axes.set_ylim(bottom=0)
    axes.set_title("Tracker resident memory while draining")
    axes.legend(fontsize="small")
    return _save(figure, path)


def project_relative(path: Path) -> str:
    """A path as the reader would type it from the project root."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)
