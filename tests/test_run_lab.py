"""run_lab.py: the plan of a lab day, and the lab run for real against run_api.py and trackers,
its summary held to the database."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import Engine, func, or_, select

import live
from lab.parallel import shares
from lab.plan import plan_order
from lab.runner import Options
from lab.tally import Tally
from lab.view import board, fitted_board, progress_line, summary_lines
from shared.db.models import JournalEntry, Order, WorkTicket
from shared.domain.codes import OrderStatus
from shared.domain.completion import processes_needed, processes_performed
from shared.domain.lab_setup import Lab

# The lab's own behaviour, whatever the engine behind the API (the benchmark's tiny run drives the
# lab on PostgreSQL): the SQLite pass runs it.
pytestmark = pytest.mark.database_free

ROOT = Path(__file__).resolve().parent.parent
CODE = re.compile(r"Error Code: (\d+)")
TRACKERS = 2
RUN_TIMEOUT = 120.0


# -- the plan ---------------------------------------------------------------------------------


def test_one_seed_plans_the_same_lab_day_and_another_seed_another(lab: Lab) -> None:
    day = [plan_order(lab, 7, index, 1.0, run="a") for index in range(200)]

    assert day == [plan_order(lab, 7, index, 1.0, run="a") for index in range(200)]
    assert day != [plan_order(lab, 8, index, 1.0, run="a") for index in range(200)]
    # Another run of the same day: the same orders, under PO numbers of its own.
    again = [plan_order(lab, 7, index, 1.0, run="b") for index in range(200)]
    assert [replace(plan, po_number="") for plan in again] == [
        replace(plan, po_number="") for plan in day
    ]
    assert {plan.po_number for plan in again}.isdisjoint(plan.po_number for plan in day)


def test_a_plan_passes_its_stations_in_flow_order_with_operators_where_required(
    lab: Lab,
) -> None:
    flow = list(lab.stations)
    for index in range(500):
        plan = plan_order(lab, 11, index, 1.0, run="a")
        codes = [step.station for step in plan.steps]
        assert codes == sorted(codes, key=flow.index)
        assert lab.completion_station not in codes
        for step in plan.steps:
            station = lab.stations[step.station]
            assert station.takes_checkins
            assert (step.operator is not None) is station.requires_operator
            assert step.operator is None or lab.stations[step.operator].is_operator
        needed = processes_needed(lab, plan.job_type, plan.addons)
        kept = [code for i, code in enumerate(codes) if i != plan.skip]
        # All it needs once the skipped station is put back; without it, exactly one missing.
        assert needed <= processes_performed(lab, codes)
        if plan.skip is not None:
            assert needed - processes_performed(lab, kept) == {
                lab.stations[codes[plan.skip]].process
            }
        if plan.cancel_after is not None:
            assert not any(lab.stations[code].non_cancel for code in codes[: plan.cancel_after])


def test_a_day_mixes_job_types_addons_holds_cancels_and_skips(lab: Lab) -> None:
    day = [plan_order(lab, 3, index, 1.0, run="a") for index in range(500)]

    assert {plan.job_type.value for plan in day} == {"F", "U", "E", "A"}
    assert {code for plan in day for code in plan.addons} == set(lab.addons)
    assert all(
        sum(1 for plan in day if getattr(plan, what) is not None) > 5
        for what in ("hold_after", "cancel_after", "skip")
    )


def test_help_lists_every_option() -> None:
    run = subprocess.run(
        [sys.executable, "run_lab.py", "--help"], cwd=ROOT, capture_output=True, text=True
    )

    assert run.returncode == 0
    for option in (
        "--orders N",
        "--duration S",
        "--rate",
        "--station-time S",
        "--concurrency",
        "--processes N",
        "--seed",
        "--url",
        "--summary-json FILE",
    ):
        assert option in run.stdout, option


# -- the lab at work --------------------------------------------------------------------------


@contextmanager
def running_lab(
    database_url: str, tmp_path: Path, trackers: int, **settings: object
) -> Iterator[live.Api]:
    """run_api.py recording every request (the refusals are counted from its journal) and
    `trackers` Job Trackers polling often; both with `settings` too."""
    with ExitStack() as stack:
        api = stack.enter_context(
            live.run_api(database_url, tmp_path, JOURNAL="on", JOURNAL_SIZE=1_000_000, **settings)
        )
        for number in range(trackers):
            (tmp_path / f"tracker-{number}").mkdir()
            stack.enter_context(
                live.run_tracker(
                    database_url,
                    tmp_path / f"tracker-{number}",
                    TRACKER_INTERVAL=0.2,
                    TRACKER_ID=f"lab-test-{number}",
                    **settings,
                )
            )
        yield api


def start_lab(
    api: live.Api, database_url: str, *options: str, **settings: object
) -> subprocess.Popen[str]:
    """run_lab.py as a lab starts it, its output a pipe (not a terminal)."""
    return subprocess.Popen(
        [sys.executable, "run_lab.py", "--url", api.base_url, *options],
        cwd=ROOT,
        env=live.make_env(database_url, **settings),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(lab_run: subprocess.Popen[str]) -> tuple[dict[str, Any], str]:
    stdout, stderr = lab_run.communicate(timeout=RUN_TIMEOUT)
    assert lab_run.returncode == 0, stdout + stderr
    assert "\x1b" not in stdout  # not a terminal: no colour or cursor codes
    return json.loads(stdout.splitlines()[-1]), stdout


def database_totals(engine: Engine) -> dict[str, Any]:
    """What the database says the lab did: orders, their ends, and refused completion calls."""
    with engine.connect() as connection:
        created, completed, cancelled = connection.execute(
            select(
                func.count(),
                func.count().filter(Order.status == OrderStatus.COMPLETE),
                func.count().filter(Order.deleted.is_(True)),
            )
        ).one()
        refusals = connection.execute(
            select(JournalEntry.response_body).where(
                JournalEntry.method == "POST",
                JournalEntry.path.like("/api/v2/orders/%/complete"),
                JournalEntry.status != 201,
            )
        ).scalars()
        refused = Counter(match.group(1) for body in refusals if (match := CODE.search(body)))
        tickets = connection.execute(select(func.count()).select_from(WorkTicket)).scalar_one()
        # Each pick is one order's lenses, or its frame's items.
        lens_picks, frame_picks = connection.execute(
            select(
                func.count().filter(or_(Order.rt_lens_picked, Order.lt_lens_picked)),
                func.count().filter(Order.frame_picked),
            )
        ).one()
    return {
        "created": created,
        "completed": completed,
        "cancelled": cancelled,
        "refused": dict(sorted(refused.items())),
        "ticketsPrinted": tickets,
        "picks": lens_picks + frame_picks,
    }


@pytest.mark.e2e
def test_ctrl_c_stops_the_lab_with_a_summary_the_database_agrees_with(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    with running_lab(database_url, tmp_path, TRACKERS) as api:
        lab_run = start_lab(
            api,
            database_url,
            *("--rate", "0", "--station-time", "0", "--concurrency", "40", "--seed", "5"),
        )
        try:

            def busy() -> bool:
                totals = database_totals(engine)
                return totals["completed"] >= 30 and "20" in totals["refused"]

            live.wait_until(busy, 60, "the lab to complete orders and meet a refusal", every=0.2)
            lab_run.send_signal(signal.SIGINT)
            summary, stdout = finish(lab_run)
        finally:
            if lab_run.poll() is None:
                lab_run.kill()
                lab_run.wait()

    totals = database_totals(engine)
    assert {key: summary[key] for key in totals} == totals
    assert summary["flagged"] == 0 and summary["rejected"] == {} and summary["errors"] == 0
    assert summary["cancelled"] > 0 and summary["held"] > 0
    ended = summary["completed"] + summary["cancelled"] + summary["givenUp"]
    assert summary["created"] == ended + summary["inProcess"]
    assert "Summary:" in stdout and "Seed: 5 (--seed 5 replays this lab day)" in stdout


@pytest.mark.e2e
def test_a_number_of_orders_each_reaches_an_end_and_the_run_stops_by_itself(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    summary_file = tmp_path / "summary.json"
    with running_lab(database_url, tmp_path, 1) as api:
        summary, _ = finish(
            start_lab(
                api,
                database_url,
                *("--orders", "60", "--rate", "0", "--station-time", "0", "--seed", "3"),
                *("--summary-json", str(summary_file)),
            )
        )

    assert json.loads(summary_file.read_text()) == summary
    assert summary["created"] == 60 and summary["inProcess"] == 0
    assert summary["completed"] + summary["cancelled"] + summary["givenUp"] == 60
    assert summary["givenUp"] == 0 and summary["errors"] == 0
    assert summary["picks"] > 30 and summary["ticketsPrinted"] == 60
    totals = database_totals(engine)
    assert {key: summary[key] for key in totals} == totals
    with engine.connect() as connection:
        left = connection.execute(
            select(func.count()).where(
                Order.status != OrderStatus.COMPLETE, Order.deleted.is_(False)
            )
        ).scalar_one()
    assert left == 0


@pytest.mark.e2e
def test_a_run_split_over_two_processes_ends_every_order_and_reports_one_summary(
    database_url: str, engine: Engine, tmp_path: Path, lab: Lab
) -> None:
    with running_lab(database_url, tmp_path, 1) as api:
        summary, stdout = finish(
            start_lab(
                api,
                database_url,
                *("--orders", "40", "--rate", "0", "--station-time", "0", "--seed", "4"),
                *("--concurrency", "8", "--processes", "2"),
            )
        )

    assert stdout.count("Summary:") == 1
    assert summary["created"] == 40 and summary["inProcess"] == 0 and summary["errors"] == 0
    assert summary["completed"] + summary["cancelled"] + summary["givenUp"] == 40
    assert summary["ticketsPrinted"] == 40 and summary["seconds"] > 0
    totals = database_totals(engine)
    assert {key: summary[key] for key in totals} == totals
    with engine.connect() as connection:
        numbers = connection.execute(select(Order.po_number)).scalars().all()
    # The two processes shared the day and its PO prefix: its orders 0 to 39, each once.
    assert sorted(numbers) == sorted(f"{summary['poPrefix']}{index}" for index in range(40))


@pytest.mark.e2e
def test_a_day_replayed_on_the_same_database_finds_its_own_orders(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    arguments = ("--orders", "12", "--rate", "0", "--station-time", "0", "--seed", "5")
    with running_lab(database_url, tmp_path, 1) as api:
        first, _ = finish(start_lab(api, database_url, *arguments))
        second, stdout = finish(start_lab(api, database_url, *arguments))

    # Before, the replay's orders shared their PO numbers with the first run's, which then named
    # no order: the replay waited for imports it could never find.
    for summary in (first, second):
        assert summary["created"] == 12 and summary["inProcess"] == 0
        assert summary["errors"] == 0 and summary["seed"] == 5
    assert first["poPrefix"] != second["poPrefix"]
    assert f"PO numbers: {second['poPrefix']}<n>" in stdout
    with engine.connect() as connection:
        numbers = connection.execute(select(Order.po_number)).scalars().all()
    assert len(numbers) == len(set(numbers)) == 24


def test_a_split_gives_each_process_every_nth_order_and_a_share_of_the_concurrency() -> None:
    options = Options(
        orders=10, duration=None, rate=4.0, station_time=0, concurrency=5, seed=1, run="a"
    )

    parts = shares(options, 3)

    assert [(part.first, part.step, part.concurrency) for part in parts] == [
        (0, 3, 2),
        (1, 3, 2),
        (2, 3, 1),
    ]
    assert {part.rate for part in parts} == {4.0}  # each starts its orders on the day's schedule
    assert [len(shares(options, n)) for n in (1, 5, 8)] == [1, 5, 5]  # at most one per slot


def test_the_tallies_of_a_split_run_add_up_to_one() -> None:
    first, second = Tally(seed=1, started=10.0), Tally(seed=1, started=9.0)
    first.requests, second.requests = 30, 12
    first.refused["20"], second.refused["20"], second.refused["05"] = 2, 1, 1
    first.at_station["EDG"], second.at_station["EDG"] = 3, 1
    first.count_error("GET /x: 500")
    first.ended, second.ended = 20.0, 21.0
    total = Tally(seed=1)

    total.take_sum([first, second])

    assert total.requests == 42 and total.errors == 1
    assert total.refused == {"20": 3, "05": 1} and total.at_station["EDG"] == 4
    assert list(total.last_errors) == ["GET /x: 500"]
    assert total.elapsed() == 12.0  # from the first start to the last end


def test_a_lab_whose_import_gives_no_tray_puts_each_order_in_one_and_prints_its_ticket(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    lab_file = tmp_path / "lab.toml"
    default = (ROOT / "config" / "lab.toml").read_text()
    lab_file.write_text(default.replace("auto_assign_trays = true", "auto_assign_trays = false"))
    with running_lab(database_url, tmp_path, 1, LAB_FILE=lab_file) as api:
        summary, _ = finish(
            start_lab(
                api,
                database_url,
                *("--orders", "30", "--rate", "0", "--station-time", "0", "--seed", "4"),
                LAB_FILE=lab_file,
            )
        )

    assert summary["created"] == 30 and summary["errors"] == 0
    assert summary["traysAssigned"] == 30 and summary["ticketsPrinted"] == 30
    with engine.connect() as connection:
        trays = connection.execute(select(Order.tray_number)).scalars().all()
    assert len(trays) == 30 and None not in trays
    assert database_totals(engine)["ticketsPrinted"] == 30


# -- the live view -----------------------------------------------------------------------------


def test_the_live_view_shows_work_in_process_per_station_in_flow_order_and_the_totals(
    lab: Lab,
) -> None:
    tally = Tally(seed=1, created=9, completed=3, cancelled=1, flagged=2)
    tally.at_station.update({"BSC": 4, "FQA": 1})
    tally.refused.update({"20": 2})
    console = Console(record=True, width=120, force_terminal=False)
    console.print(board(lab, tally))
    text = console.export_text()

    cells = [
        [cell.strip() for cell in line.strip("│").split("│")]
        for line in text.splitlines()
        if line.startswith("│")
    ]
    stations = [row for row in cells if len(row) == 3]
    places = [s for s in lab.stations.values() if s.takes_checkins and s.code != "CMP"]
    assert stations == [
        [s.code, s.description, {"BSC": "4", "FQA": "1"}.get(s.code, "0")] for s in places
    ]
    totals = dict(row for row in cells if len(row) == 2)
    assert {key: totals[key] for key in list(totals)[1:10]} == {
        "Submitted, awaiting import": "0",
        "Orders created": "9",
        "In process": "5",
        "Flagged, awaiting the tracker": "2",
        "Completed": "3",
        "Cancelled": "1",
        "Refused by the completion call": "20: 2",
        "Rejected by the tracker": "none",
        "Given up": "0",
    }


@pytest.mark.parametrize(("width", "height"), [(80, 24), (100, 30), (120, 50), (200, 80)])
def test_the_live_view_fits_the_terminal_it_runs_in(lab: Lab, width: int, height: int) -> None:
    """Every total stays on screen; stations give way, the idle ones first."""
    tally = Tally(seed=1, created=40, completed=7, flagged=2)
    tally.at_station.update({"BSC": 4, "FQA": 1, "GEN": 9})
    tally.last_errors.append("POST /api/v2/orders/1/complete: 500")
    console = Console(record=True, width=width, height=height, force_terminal=False)
    console.print(fitted_board(lab, tally, width, height))
    lines = console.export_text().splitlines()
    assert len(lines) <= height
    text = "\n".join(lines)
    for name in ("Orders created", "Completed", "Requests per second", "Errors", "Last errors"):
        assert name in text, name
    assert max(len(line) for line in lines) <= width
    shown = {line.split("│")[1].strip() for line in lines if line.startswith("│")}
    assert {"BSC", "FQA", "GEN"} <= shown  # the busy stations always
    places = {s.code for s in lab.stations.values() if s.takes_checkins and s.code != "CMP"}
    assert places <= shown or "..." in shown  # all of them, or the others summed up in a row


def test_one_request_rate_is_shown_everywhere_and_it_is_the_runs_average() -> None:
    tally = Tally(seed=1, requests=300)
    tally.started -= 10.0  # ten seconds in
    rate = tally.requests_per_second()
    assert 29.0 < rate <= 30.0
    assert tally.summary()["requestsPerSecond"] == round(rate, 1)
    assert f"{rate:.1f} requests/s" in progress_line(tally)
    assert f"  Requests per second: {rate:.1f}" in summary_lines(tally)


@pytest.mark.e2e
def test_with_no_tracker_running_the_lab_says_so_within_five_seconds(
    database_url: str, tmp_path: Path
) -> None:
    with live.run_api(database_url, tmp_path) as api:
        lab_run = start_lab(api, database_url, "--duration", "5", "--rate", "1")
        _, stderr = lab_run.communicate(timeout=RUN_TIMEOUT)
    assert stderr.startswith("run_lab: no Job Tracker is running: ")
    assert "Start one: python run_tracker.py" in stderr


@pytest.mark.e2e
def test_orders_left_flagged_when_the_lab_stops_are_counted_as_the_database_has_them(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    """A tracker pause keeps the lab's last flags waiting: the summary's counts are still the
    database's, flagged ones included, and they add up."""
    with running_lab(database_url, tmp_path, 1) as api:
        lab_run = start_lab(
            api, database_url, *("--rate", "0", "--station-time", "0", "--seed", "8")
        )
        try:
            live.wait_until(
                lambda: database_totals(engine)["completed"] >= 10, 60, "completions", every=0.2
            )
            api.call("POST", "/api/sim/faults", {"tracker": "pause"})

            def flagged() -> int:
                with engine.connect() as connection:
                    return connection.execute(
                        select(func.count()).where(Order.completion_requested_at.is_not(None))
                    ).scalar_one()

            live.wait_until(lambda: flagged() >= 3, 60, "orders waiting flagged", every=0.2)
            lab_run.send_signal(signal.SIGINT)
            summary, _ = finish(lab_run)
        finally:
            if lab_run.poll() is None:
                lab_run.kill()
                lab_run.wait()
    totals = database_totals(engine)
    assert {key: summary[key] for key in totals} == totals
    assert summary["flagged"] == flagged() > 0
    with engine.connect() as connection:
        active = connection.execute(
            select(func.count()).where(
                Order.status != OrderStatus.COMPLETE, Order.deleted.is_(False)
            )
        ).scalar_one()
    assert summary["inProcess"] == active
    ended = summary["completed"] + summary["cancelled"] + summary["givenUp"] + summary["failed"]
    assert summary["created"] == ended + summary["inProcess"]
