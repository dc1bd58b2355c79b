"""Run a lab that works by itself: orders created, checked in station by station, held, cancelled,
completed, over HTTP against a running API; Ctrl-C stops it with a summary."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import sys
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live

from config.startup import start
from lab.client import Client, TransportError
from lab.parallel import Split
from lab.plan import po_prefix, run_tag
from lab.runner import LabRun, Options
from lab.tally import Tally
from lab.view import fitted_board, progress_line, summary_lines
from shared.domain.lab_setup import Lab

# A plain progress line this often when the output is not a terminal (a log, a pipe).
PLAIN_EVERY_SECONDS = 5.0
# How often the lab asks whether a Job Tracker runs and imports (it warns within this).
TRACKER_CHECK_SECONDS = 2.0
NO_TRACKER = (
    "run_lab: no Job Tracker is running: the lab's submitted orders wait for its import, and its "
    "flagged orders for its completion. Start one: python run_tracker.py (or run_simulator.py, "
    "which starts the API and a tracker together)."
)
PAUSED = (
    "run_lab: the Remote Order Processor is paused: the lab's submitted orders wait. Resume it: "
    "POST /api/sim/processor/resume."
)
# What is said once a problem above is over.
_OVER = {NO_TRACKER: "a Job Tracker is running again.", PAUSED: "the importer runs again."}
LIVE_REFRESH_SECONDS = 0.25


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog="The lab file is the one LAB_FILE names; the default URL is the API that HOST "
        "and PORT name. The last line printed is the summary as JSON.",
    )
    end = parser.add_mutually_exclusive_group()
    end.add_argument(
        "--orders",
        type=_positive_int,
        metavar="N",
        help="start N orders, and stop once each has reached an end (completed, cancelled, or "
        "given up after its retries); default: run until Ctrl-C",
    )
    end.add_argument("--duration", type=_positive_float, metavar="S", help="stop after S seconds")
    parser.add_argument(
        "--rate",
        type=_not_negative,
        default=2.0,
        help="orders started per second (default 2); 0: as fast as --concurrency allows",
    )
    parser.add_argument(
        "--station-time",
        type=_not_negative,
        default=1.0,
        metavar="S",
        help="mean seconds an order spends at a station (default 1); 0: flat out",
    )
    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        default=100,
        help="orders in progress at once, and the most connections to the API (default 100)",
    )
    parser.add_argument(
        "--processes",
        type=_positive_int,
        default=1,
        metavar="N",
        help="client processes the orders and the concurrency are split over, for a machine "
        "with CPUs to spare; one summary for them all (default 1)",
    )
    parser.add_argument(
        "--seed", type=int, help="the lab day: one seed plans the same orders (default: random)"
    )
    parser.add_argument("--url", help="the API's base URL (default: http://HOST:PORT)")
    parser.add_argument(
        "--summary-json", metavar="FILE", help="also write the summary as JSON to FILE"
    )
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _not_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def main(argv: list[str] | None = None) -> int:
    """Run the lab; 0 when no request failed, 1 otherwise (or when the API cannot be reached)."""
    args = _parser().parse_args(argv)
    settings, lab = start("run_lab")
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "") else settings.host
    url = args.url or f"http://{host}:{settings.port}"
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**9)
    options = Options(
        orders=args.orders,
        duration=args.duration,
        rate=args.rate,
        station_time=args.station_time,
        concurrency=args.concurrency,
        seed=seed,
        run=run_tag(),
    )
    tally = Tally(seed=seed, po_prefix=po_prefix(options.run))
    try:
        code = asyncio.run(_run(lab, url, options, tally, args.processes))
    except ValueError as error:
        print(f"run_lab: --url: {error}", file=sys.stderr)
        return 2
    if code:
        return code
    summary = tally.summary()
    print("\n".join(summary_lines(tally)), flush=True)
    line = json.dumps(summary)
    if args.summary_json:
        Path(args.summary_json).write_text(line + "\n")
    print(line, flush=True)
    return 1 if tally.errors else 0


async def _run(lab: Lab, url: str, options: Options, tally: Tally, processes: int) -> int:
    # With one process the lab drives the API from here; with more, this one starts them, shows
    # their sum and watches for the tracker, over a connection of its own.
    client = Client(url, options.concurrency if processes == 1 else 1)
    try:
        await client.request("GET", "/api/sim/tracker")
    except TransportError as error:
        print(f"run_lab: cannot reach the API at {url}: {error}", file=sys.stderr)
        return 1
    run: LabRun | Split
    if processes == 1:
        run = LabRun(lab, client, options, tally)
    else:
        run = Split(lab, url, options, tally, processes)
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, run.stop)
    watchers = [asyncio.create_task(_show(lab, tally)), asyncio.create_task(_check(client))]
    try:
        await run.run()
    finally:
        tally.end()
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        await client.close()
    if isinstance(run, Split) and run.crashed:
        print(f"run_lab: {run.crashed} of the lab's processes failed", file=sys.stderr)
        return 1
    return 0


async def _check(client: Client) -> None:
    """Say on stderr, once each time it happens, that no tracker runs or that the importer is
    paused, and what to start; and when it is over."""
    said: set[str] = set()
    while True:
        problems = set()
        with contextlib.suppress(TransportError):
            reply = await client.request("GET", "/api/sim/tracker")
            if reply.status == 200 and not reply.body.get("running"):
                problems.add(NO_TRACKER)
            reply = await client.request("GET", "/api/sim/processor")
            if reply.status == 200 and reply.body.get("paused"):
                problems.add(PAUSED)
        for problem in sorted(problems - said):
            print(problem, file=sys.stderr, flush=True)
        for problem in sorted(said - problems):
            print(f"run_lab: {_OVER[problem]}", file=sys.stderr, flush=True)
        said = problems
        await asyncio.sleep(TRACKER_CHECK_SECONDS)


async def _show(lab: Lab, tally: Tally) -> None:
    """The live table on a terminal; a plain line now and then anywhere else."""
    console = Console()
    if not console.is_terminal:
        while True:
            await asyncio.sleep(PLAIN_EVERY_SECONDS)
            print(progress_line(tally), flush=True)

    def view() -> Group:
        # The terminal's size now: a resized window gets a view that fits it.
        width, height = console.size
        return fitted_board(lab, tally, width, height - 1)

    with Live(view(), console=console, auto_refresh=False, vertical_overflow="crop") as live:
        while True:
            live.update(view(), refresh=True)
            await asyncio.sleep(LIVE_REFRESH_SECONDS)


if __name__ == "__main__":
    sys.exit(main())
