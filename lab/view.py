"""The lab's progress as people read it: a live table in a terminal, plain lines elsewhere."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from lab.tally import Tally
from shared.domain.lab_setup import Lab


def _codes(counts: dict[str, int]) -> str:
    return ", ".join(f"{code}: {n}" for code, n in sorted(counts.items())) or "none"


def board(lab: Lab, tally: Tally) -> Group:
    """The live view: work in process per station in flow order, then the totals."""
    stations = Table(title="Work in process", title_justify="left", expand=False)
    stations.add_column("Station")
    stations.add_column("Description")
    stations.add_column("Orders", justify="right")
    for code, station in lab.stations.items():
        if station.takes_checkins and station.code != lab.completion_station:
            count = tally.at_station.get(code, 0)
            stations.add_row(code, station.description, str(count), style=None if count else "dim")
    totals = Table(title="Lab", title_justify="left", show_header=False)
    totals.add_column("What")
    totals.add_column("Count", justify="right")
    for name, value in _totals(tally):
        totals.add_row(name, value)
    parts: list[Table | Text] = [stations, totals]
    if tally.last_errors:
        parts.append(Text("Last errors:\n" + "\n".join(tally.last_errors), style="red"))
    return Group(*parts)


def _totals(tally: Tally) -> list[tuple[str, str]]:
    return [
        ("Seconds", f"{tally.elapsed():.1f}"),
        ("Submitted, awaiting import", str(tally.submitted)),
        ("Orders created", str(tally.created)),
        ("In process", str(tally.in_process())),
        ("Flagged, awaiting the tracker", str(tally.flagged)),
        ("Completed", str(tally.completed)),
        ("Cancelled", str(tally.cancelled)),
        ("Refused by the completion call", _codes(tally.refused)),
        ("Rejected by the tracker", _codes(tally.rejected)),
        ("Given up", str(tally.given_up)),
        ("Requests per second", f"{tally.requests_per_second():.1f}"),
        ("Errors", str(tally.errors)),
    ]


def progress_line(tally: Tally) -> str:
    """One plain line of progress, for output that is not a terminal."""
    return (
        f"run_lab: {tally.elapsed():.1f}s awaiting import {tally.submitted}, created "
        f"{tally.created}, in process "
        f"{tally.in_process()}, flagged {tally.flagged}, completed {tally.completed}, "
        f"cancelled {tally.cancelled}, refused {_codes(tally.refused)}, "
        f"{tally.requests_per_second():.0f} requests/s, errors {tally.errors}"
    )


def summary_lines(tally: Tally) -> list[str]:
    """The summary printed at the end, before its machine-readable line."""
    return (
        ["Summary:"]
        + [f"  {name}: {value}" for name, value in _totals(tally)]
        + [
            f"  Check-ins: {tally.checkins}",
            f"  Seed: {tally.seed} (--seed {tally.seed} replays this lab day)",
        ]
    )
