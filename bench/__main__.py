"""`python -m bench`: run the suite at a size, on the chosen databases, and write the report."""

from __future__ import annotations

import argparse
import functools
import os
import pickle
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy.exc import OperationalError

from bench import (
    ROOT,
    board,
    endpoint,
    job_tracking,
    lab_run,
    latency,
    memory,
    poll,
    profiles,
    report,
    submission,
    tracker,
)
from bench.databases import DEFAULT_POSTGRES_URL, KINDS, Target, server_version
from bench.machine import describe, load_average
from bench.results import DatabaseRun, Measured, rows
from bench.sizes import SIZES, Size

T = TypeVar("T")
DEFAULT_OUTPUT = ROOT / "docs" / "benchmarks.md"


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run every measurement, write the report; 1 with the reason if not."""
    args = _parser().parse_args(argv)
    if args.from_results:
        # Only our own file from --save-results of an earlier run: pickle trusts its input.
        _write(Path(args.output).resolve(), pickle.loads(Path(args.from_results).read_bytes()))
        return 0
    kinds = [kind.strip() for kind in args.databases.split(",") if kind.strip()]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or not kinds:
        print(f"bench: unknown database {', '.join(unknown)}; choose from {KINDS}", file=sys.stderr)
        return 2
    size = SIZES[args.size]
    if args.only == "tracker":
        if "postgresql" in kinds and _postgres_version(args.postgres_url) is None:
            return 1
        _tracker_rounds(kinds, size, args.postgres_url, args.rounds)
        return 0
    try:
        endpoint.wrk_path()
    except endpoint.WrkMissing as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    output = Path(args.output).resolve()
    started = time.perf_counter()
    machine = describe()
    if "postgresql" in kinds:
        # Before anything runs: an unreachable server must not cost a SQLite run first.
        version = _postgres_version(args.postgres_url)
        if version is None:
            return 1
        machine["PostgreSQL"] = version
    if args.only == "lab":
        return _lab_only(kinds, size, args.postgres_url)
    machine["Load average at start (1/5/15 min)"] = load_average()
    work = Path(tempfile.mkdtemp(prefix="rx-bench-"))
    runs = []
    try:
        for kind in kinds:
            target = Target(kind, work, args.postgres_url)
            runs.append(_run(target, size, work, profile=args.profile))
    except BaseException:
        print(f"bench: stopped; logs and databases kept in {work}", file=sys.stderr)
        raise
    machine["Load average at end (1/5/15 min)"] = load_average()
    # Rebuilt rather than echoed: a --postgres-url may carry a password.
    command = f"scripts/bench --size {size.name} --databases {','.join(kinds)}"
    if output != DEFAULT_OUTPUT:
        command += f" --output {report.project_relative(output)}"
    measured = Measured(runs, size.name, machine, command, time.perf_counter() - started)
    if args.save_results:
        Path(args.save_results).write_bytes(pickle.dumps(measured))
    _write(output, measured)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _postgres_version(url: str) -> str | None:
    """The server's version; None, with the reason said, if it cannot be reached."""
    try:
        return server_version(url)
    except OperationalError as error:
        print(
            f"bench: PostgreSQL at {url} is unreachable ({error.orig});"
            " start it, pass --postgres-url, or run --databases sqlite",
            file=sys.stderr,
        )
        return None


def _tracker_rounds(kinds: list[str], size: Size, postgres_url: str, rounds: int) -> None:
    """`--only tracker`: the tracker's drain and the set-based UPDATE, in alternating rounds
    on each database, printed as they come, then each database's ratios; no report written.
    For checking a change to the tracker on a shared machine, where one run proves little."""
    work = Path(tempfile.mkdtemp(prefix="rx-bench-"))
    ratios: dict[str, list[float]] = {kind: [] for kind in kinds}
    try:
        for index in range(1, rounds + 1):
            for kind in kinds:
                target = Target(kind, work, postgres_url)
                drained, _ = tracker.drained_rate(target, size.tracker_orders, 1)
                limit = tracker.set_based_rate(target, size.tracker_orders)
                ratios[kind].append(drained / limit)
                print(
                    f"{target.label} round {index}: tracker {drained:,.0f} orders/s,"
                    f" set-based {limit:,.0f} orders/s, ratio {drained / limit:.3f}"
                    f" (load average {load_average()})",
                    flush=True,
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for kind, found in ratios.items():
        label = Target(kind, work).label
        print(
            f"{label}: ratio median {statistics.median(found):.3f},"
            f" min {min(found):.3f}, max {max(found):.3f}, {len(found)} round(s)"
            f" of {size.tracker_orders:,} orders (batch {tracker.BATCH_SIZE:,})"
        )


def _lab_only(kinds: list[str], size: Size, postgres_url: str) -> int:
    """The lab's measurement alone, printed: a report of one section would replace the whole."""
    work = Path(tempfile.mkdtemp(prefix="rx-bench-"))
    labs = []
    try:
        for kind in kinds:
            target = Target(kind, work, postgres_url)
            logs = work / f"logs-{kind}"
            logs.mkdir()
            name = f"{target.label}: lab simulator"
            measure = functools.partial(lab_run.measure, target, size, logs)
            labs.append((target.label, _step(name, measure)))
    except BaseException:
        print(f"bench: stopped; logs and databases kept in {work}", file=sys.stderr)
        raise
    print(f"Load average at end (1/5/15 min): {load_average()}\n")
    print(report.lab_only(labs, size.name))
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _write(output: Path, measured: Measured) -> None:
    report.write(
        output,
        measured.runs,
        size=measured.size,
        machine=measured.machine,
        command=measured.command,
        seconds=measured.seconds,
    )
    print(f"bench: wrote {report.project_relative(output)}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument(
        "--size",
        choices=sorted(SIZES),
        default="full",
        help="full: the issue's numbers (default); tiny: a smoke run of well under a minute",
    )
    parser.add_argument(
        "--databases", default=",".join(KINDS), help="comma-separated: sqlite,postgresql"
    )
    parser.add_argument(
        "--output",
        default=str(DEFAULT_OUTPUT),
        help="the markdown report; its PNGs go to a bench/ folder beside it",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_DATABASE_URL") or DEFAULT_POSTGRES_URL,
        help="a PostgreSQL database the suite may create and drop schemas in",
    )
    parser.add_argument(
        "--save-results", metavar="FILE", help="also keep the measurements (a pickle) in FILE"
    )
    parser.add_argument(
        "--from-results",
        metavar="FILE",
        help="write the report from a --save-results file, measuring nothing",
    )
    parser.add_argument(
        "--only",
        choices=("tracker", "lab"),
        help="tracker: only the tracker's drain against the set-based UPDATE, in --rounds"
        " alternating rounds, printed; lab: only the lab simulator (section 7), its rows and"
        " section printed; either way no report is written",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds for --only tracker (default 3)"
    )
    parser.add_argument(
        "--profile",
        choices=("auto", "never"),
        default="auto",
        help="auto: profile what explains each missed target",
    )
    return parser


def _step(name: str, work: Callable[[], T]) -> T:
    """Run one measurement, saying what and how long, so a long run shows its progress."""
    print(f"bench: {name} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    result = work()
    print(f"bench: {name}: {time.perf_counter() - started:.1f}s", file=sys.stderr, flush=True)
    return result


def _run(target: Target, size: Size, work: Path, *, profile: str) -> DatabaseRun:
    """Every measurement on one database, then the profiles that explain its misses."""
    db = target.label
    logs = work / f"logs-{target.kind}"
    logs.mkdir()
    run = DatabaseRun(
        target=target,
        endpoint=_step(f"{db}: completion endpoint", lambda: endpoint.measure(target, size, logs)),
        tracker=_step(f"{db}: tracker throughput", lambda: tracker.measure(target, size)),
        poll=_step(f"{db}: idle poll", lambda: poll.measure(target, size)),
        latency=_step(f"{db}: flag-to-complete", lambda: latency.measure(target, size, logs)),
        idle_cpu=_step(
            f"{db}: idle tracker CPU", lambda: latency.measure_idle_cpu(target, size, logs)
        ),
        memory=_step(f"{db}: tracker memory", lambda: memory.measure(target, size)),
        jobs=_step(f"{db}: job tracking", lambda: job_tracking.measure(target, size, logs)),
        lab=_step(f"{db}: lab simulator", lambda: lab_run.measure(target, size, logs)),
        board=_step(f"{db}: board", lambda: board.measure(target, size)),
        submission=_step(
            f"{db}: submission and import", lambda: submission.measure(target, size, logs)
        ),
    )
    if profile == "never":
        return run
    missed = {row.profile for row in rows(run) if row.met is False and row.profile}
    if "endpoint" in missed:
        if size.endpoint_diagnostics:
            run.diagnostics = _step(
                f"{db}: endpoint diagnostics", lambda: endpoint.diagnose(target, size, logs)
            )
        run.profiles.append(
            _step(
                f"{db}: profile endpoint",
                lambda: profiles.endpoint(target, size.profile_requests),
            )
        )
    if "tracker" in missed:
        run.profiles.append(
            _step(
                f"{db}: profile tracker drain",
                lambda: profiles.tracker_drain(target, size.profile_orders, work),
            )
        )
    if "poll" in missed:
        run.profiles.append(
            _step(
                f"{db}: profile idle poll",
                lambda: profiles.idle_poll(target, size.poll_big, size.poll_runs),
            )
        )
    if "latency" in missed:
        run.profiles.append(
            _step(f"{db}: profile tracker cycle", lambda: profiles.completion_cycle(target, 50))
        )
    if "memory" in missed:
        run.profiles.append(
            _step(
                f"{db}: profile tracker memory",
                lambda: profiles.memory(target, size.profile_orders),
            )
        )
    return run


if __name__ == "__main__":
    sys.exit(main())
