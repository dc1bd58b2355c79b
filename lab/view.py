"""The lab's progress as people read it: a live table in a terminal, plain lines elsewhere."""

from __future__ import annotations

import io
from collections.abc import Callable

from rich.console import Console, Group
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from lab.tally import Tally
from shared.domain.lab_setup import Lab


def _codes(counts: dict[str, int]) -> str:
    return ", ".join(f"{code}: {n}" for code, n in sorted(counts.items())) or "none"


def board(
    lab: Lab,
    tally: Tally,
    stations: int | None = None,
    *,
    side_by_side: bool = False,
    descriptions: bool = True,
) -> Group:
    """The live view: work in process per station in flow order, then the totals (beside it,
    `side_by_side`). With `stations`, only that many stations are listed, the busiest (still in
    flow order), and a last row says what the others hold."""
    places = [
        (code, station.description, tally.at_station.get(code, 0))
        for code, station in lab.stations.items()
        if station.takes_checkins and station.code != lab.completion_station
    ]
    shown = places
    if stations is not None and stations < len(places):
        busiest = sorted(places, key=lambda place: -place[2])[: max(stations - 1, 0)]
        shown = [place for place in places if place in busiest]
    table = Table(title="Work in process", title_justify="left", expand=False)
    table.add_column("Station")
    if descriptions:
        table.add_column("Description")
    table.add_column("Orders", justify="right")
    for code, description, count in shown:
        cells = (code, description, str(count)) if descriptions else (code, str(count))
        table.add_row(*cells, style=None if count else "dim")
    others = [place for place in places if place not in shown]
    if others:
        held = str(sum(count for _, _, count in others))
        more = ("...", f"{len(others)} more stations", held) if descriptions else ("...", held)
        table.add_row(*more, style="dim")
    totals = Table(title="Lab", title_justify="left", show_header=False)
    totals.add_column("What")
    totals.add_column("Count", justify="right")
    for name, value in _totals(tally):
        totals.add_row(name, value)
    parts: list[Table | Text] = [table, totals]
    if side_by_side:
        both = Table.grid(padding=(0, 2))
        both.add_row(table, totals)
        parts = [both]
    if tally.last_errors:
        parts.append(Text("Last errors:\n" + "\n".join(tally.last_errors), style="red"))
    return Group(*parts)


# How the view is laid out, most room first: stacked, side by side, without descriptions.
_LAYOUTS: tuple[dict[str, bool], ...] = (
    {"side_by_side": False, "descriptions": True},
    {"side_by_side": True, "descriptions": True},
    {"side_by_side": True, "descriptions": False},
)
# The fit found for a lab, a terminal size and a number of error lines: (stations, layout).
_FITS: dict[tuple[Lab, int, int, int], tuple[int | None, dict[str, bool]]] = {}


def fitted_board(lab: Lab, tally: Tally, width: int, height: int) -> Group:
    """The live view cut to a terminal of `width` x `height`: every total, and as many
    stations as fit (the busiest), so that nothing is cut off at the bottom.

    It is drawn four times a second: the fit found for this size is tried first (one measure),
    and a new one is searched for only when it no longer fits (a resize, more error lines).
    """
    measure = Console(width=width, file=io.StringIO(), color_system=None)
    options = measure.options.update(width=width)

    def fits(view: Group) -> bool:
        lines = measure.render_lines(view, options, pad=False)
        return len(lines) <= height and max(map(_width, lines), default=0) <= width

    key = (lab, width, height, len(tally.last_errors))
    if key in _FITS:
        stations, layout = _FITS[key]
        view = board(lab, tally, stations, **layout)
        if fits(view):
            return view
    view, choice = _search(lab, tally, fits)
    if len(_FITS) > 64:  # terminal sizes come and go: keep the cache small
        _FITS.clear()
    _FITS[key] = choice
    return view


def _search(
    lab: Lab, tally: Tally, fits: Callable[[Group], bool]
) -> tuple[Group, tuple[int | None, dict[str, bool]]]:
    """Every station in the roomiest layout that fits; else, in the most compact one, the most
    stations that fit (a binary search: fewer stations never take more room)."""
    for layout in _LAYOUTS:
        view = board(lab, tally, None, **layout)
        if fits(view):
            return view, (None, layout)
    compact = _LAYOUTS[-1]
    low, high = 1, _station_count(lab) - 1  # 1 always shown; is `high` too many?
    while low < high:
        middle = (low + high + 1) // 2
        if fits(board(lab, tally, middle, **compact)):
            low = middle
        else:
            high = middle - 1
    return board(lab, tally, low, **compact), (low, compact)


def _station_count(lab: Lab) -> int:
    return sum(
        1
        for station in lab.stations.values()
        if station.takes_checkins and station.code != lab.completion_station
    )


def _width(line: list[Segment]) -> int:
    return sum(segment.cell_length for segment in line)


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
        f"{tally.requests_per_second():.1f} requests/s, errors {tally.errors}"
    )


def summary_lines(tally: Tally) -> list[str]:
    """The summary printed at the end, before its machine-readable line."""
    return (
        ["Summary:"]
        + [f"  {name}: {value}" for name, value in _totals(tally)]
        + [
            f"  Check-ins: {tally.checkins}",
            f"  Seed: {tally.seed} (--seed {tally.seed} replays this lab day)",
            f"  PO numbers: {tally.po_prefix}<n> (this run's own)",
        ]
    )
