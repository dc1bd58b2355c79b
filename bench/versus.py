"""`python -m bench.versus --base REV`: the working tree's API (or `--current REV`'s) against an
earlier revision's, each endpoint served by both under the same load in paired, alternating rounds.

The base revision is checked out in a temporary `git worktree` (as is `--current`, if given),
removed at the end whatever happens. For each database and endpoint each side gets its own fresh
database (`bench.databases.fresh_database`, migrated by its own tree's migrate.py), seeded alike
(`bench.seed`). In each round each side's gunicorn is started as the bench suite starts it
(`bench.processes.gunicorn`: gunicorn.conf.py, its workers and threads, this interpreter) from its
own tree (its folder the working directory and the PYTHONPATH, its own gunicorn.conf.py, so that
it imports that tree's code), warmed up, loaded with the bench suite's wrk load
(`bench.endpoint.run_wrk`) and stopped; one side, then the other, who goes first alternating. A
round's ratio is current req/s over base req/s. On a shared machine throughput drifts by a fifth
within a minute: pairing the rounds and taking the median of their ratios cancels most of it.
"""

from __future__ import annotations

import argparse
import inspect
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any
from unittest import mock

from sqlalchemy.exc import OperationalError

from bench import ROOT, databases, endpoint, job_tracking, processes
from bench.databases import DEFAULT_POSTGRES_URL, KINDS, Target, engine_for, fresh_database
from bench.endpoint import WARM_UP_SECONDS, Load, run_wrk, wrk_path
from bench.machine import _revision, load_average
from bench.seed import seed_orders

# The four endpoints, by the names the bench suite gives them, and wrk's Lua line for each.
ENDPOINTS: dict[str, str] = {"completion": endpoint.COMPLETE_REQUEST, **job_tracking.REQUESTS}
PATHS = {
    "completion": "POST /api/v2/orders/{n}/complete",
    "check-in": f"POST /api/v2/job_track/stations/{job_tracking.CHECKIN_STATION}",
    "status read": "GET /api/v2/orders/{n}/status",
    "order read": "GET /api/v2/orders/{n}",
}
# Fresh orders for each second of each round, more than either server serves: every completion
# and check-in then reaches an order no earlier round touched, as in the first round.
ORDERS_PER_SECOND = 6_000
WORKTREE_PREFIX = "rx-versus-"
DEFAULT_ROUNDS = 8
DEFAULT_SECONDS = 3.0
RETRY_PAUSE_SECONDS = 10
HEADERS = [
    "Endpoint",
    "Database",
    "Median current/base",
    "Min",
    "Max",
    "Rounds",
    "Per-round ratios",
    "Current req/s (median)",
    "Base req/s (median)",
]


@dataclass(frozen=True)
class Server:
    """One side of the comparison: where its code is, and gunicorn's app path into it."""

    side: str  # "current" or "base"
    root: Path
    app: str


@dataclass(frozen=True)
class Comparison:
    """One endpoint on one database: each round's pair of loads, (current, base)."""

    endpoint: str
    database: str
    rounds: tuple[tuple[Load, Load], ...]
    repeated: int = 0  # rounds run again because a server answered with an error

    @property
    def ratios(self) -> list[float]:
        """Current req/s over base req/s, round by round."""
        return [
            current.requests_per_second / base.requests_per_second for current, base in self.rounds
        ]

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    def median_rate(self, side: int) -> float:
        """The median req/s of one side over the rounds: 0 is current, 1 is base."""
        return statistics.median(pair[side].requests_per_second for pair in self.rounds)


class RoundFailed(Exception):
    """A server answered a round's load with an error: that round does not count."""


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the comparison, print (and write) the table; 1 with the reason."""
    args = _parser().parse_args(argv)
    kinds = _listed(args.databases, KINDS, "database")
    names = _listed(args.endpoints, tuple(ENDPOINTS), "endpoint")
    if kinds is None or names is None:
        return 2
    if args.rounds < 1 or args.seconds <= 0:
        print("versus: --rounds must be at least 1 and --seconds above 0", file=sys.stderr)
        return 2
    try:
        wrk_path()
        base = _commit(args.base)
        base_app = args.base_app or revision_app(base)
        current = _commit(args.current) if args.current else None
        current_app = args.current_app or (revision_app(current) if current else endpoint.APP)
        if "postgresql" in kinds:
            _check_postgresql(args.postgres_url)
    except (endpoint.WrkMissing, RuntimeError) as error:
        print(f"versus: {error}", file=sys.stderr)
        return 1
    # wrk counts whole seconds only.
    seconds = max(1, math.ceil(args.seconds))
    if seconds != args.seconds:
        print(f"versus: wrk runs whole seconds: {seconds} s a round", file=sys.stderr)
    # SIGTERM as Ctrl-C: the servers stopped, the databases dropped, the worktrees removed.
    signal.signal(signal.SIGTERM, _interrupted)
    started = datetime.now(UTC)
    load_at_start = load_average()
    work = Path(tempfile.mkdtemp(prefix=WORKTREE_PREFIX))
    comparisons: list[Comparison] = []
    try:
        logs = Path(args.log_dir).resolve() if args.log_dir else work / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with ExitStack() as trees:
            current_root = ROOT
            if current is not None:
                current_root = trees.enter_context(worktree(current, work / "current"))
            base_root = trees.enter_context(worktree(base, work / "base"))
            servers = (
                Server("current", current_root, current_app),
                Server("base", base_root, base_app),
            )
            for kind in kinds:
                for name in names:
                    comparison = compare(
                        kind, args.postgres_url, name, servers, args.rounds, seconds, work, logs
                    )
                    comparisons.append(comparison)
    except KeyboardInterrupt:
        print("versus: interrupted", file=sys.stderr)
        return 130
    except (RuntimeError, TimeoutError) as error:
        kept = "" if args.log_dir else " (pass --log-dir to keep the logs)"
        print(f"versus: stopped: {error}{kept}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(text_table(comparisons))
    if args.output:
        section = markdown_section(
            comparisons,
            base=(args.base, base, base_app),
            current=(args.current, current, current_app),
            rounds=args.rounds,
            seconds=seconds,
            started=started,
            load=(load_at_start, load_average()),
            command=_command(args, kinds, names),
        )
        Path(args.output).write_text(section)
        print(f"versus: wrote {args.output}", file=sys.stderr)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.versus", description=__doc__)
    parser.add_argument("--base", required=True, help="the revision to compare against")
    parser.add_argument(
        "--current", help="the revision compared (default: the working tree, as it is)"
    )
    parser.add_argument(
        "--base-app", help="gunicorn's app path in the base (default: its bench/endpoint.py's APP)"
    )
    parser.add_argument(
        "--current-app",
        help="gunicorn's app path in the current code (default: its bench/endpoint.py's APP)",
    )
    parser.add_argument(
        "--databases", default=",".join(KINDS), help="comma-separated: sqlite,postgresql"
    )
    parser.add_argument(
        "--endpoints",
        default=",".join(ENDPOINTS),
        help=f"comma-separated, of: {', '.join(ENDPOINTS)}",
    )
    parser.add_argument(
        "--rounds", type=int, default=DEFAULT_ROUNDS, help="paired rounds per endpoint"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=DEFAULT_SECONDS,
        help="wrk's run per server and round (whole seconds: a fraction is rounded up)",
    )
    parser.add_argument("--output", metavar="FILE", help="also write the table as Markdown")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_DATABASE_URL") or DEFAULT_POSTGRES_URL,
        help="a PostgreSQL database the run may create and drop schemas in",
    )
    parser.add_argument(
        "--log-dir", help="keep the servers' logs and wrk's output here (default: removed)"
    )
    return parser


def _listed(value: str, known: Sequence[str], what: str) -> list[str] | None:
    """The comma-separated names in `value`, or None (said why) if any is unknown or none given."""
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = sorted(set(names) - set(known))
    if unknown or not names:
        print(
            f"versus: unknown {what} {', '.join(unknown)}; choose from {', '.join(known)}",
            file=sys.stderr,
        )
        return None
    return names


def _interrupted(_signal: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _git(*args: str) -> str:
    run = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    if run.returncode:
        raise RuntimeError(f"git {' '.join(args)} failed: {(run.stderr or run.stdout).strip()}")
    return run.stdout.strip()


def _commit(revision: str) -> str:
    return _git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")


def revision_app(commit: str) -> str:
    """gunicorn's app path at `commit`, as its own bench suite started it."""
    source = _git("show", f"{commit}:bench/endpoint.py")
    found = re.search(r'^APP = "([^"]+)"$', source, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no APP in {commit[:7]}:bench/endpoint.py; pass the app path")
    return found.group(1)


def _check_postgresql(url: str) -> None:
    """Before anything runs: an unreachable server must not cost a SQLite run first."""
    engine = engine_for(url)
    try:
        with engine.connect():
            pass
    except OperationalError as error:
        raise RuntimeError(
            f"PostgreSQL at {url} is unreachable ({error.orig}); start it, pass --postgres-url,"
            " or run --databases sqlite"
        ) from None
    finally:
        engine.dispose()


@contextmanager
def worktree(commit: str, path: Path) -> Iterator[Path]:
    """`git worktree add --detach` of `commit` at `path`; removed after, whatever happens."""
    _git("worktree", "add", "--detach", str(path), commit)
    print(f"versus: {commit[:7]} checked out at {path}", file=sys.stderr, flush=True)
    try:
        yield path
    finally:
        remove = subprocess.run(
            ["git", "worktree", "remove", "--force", str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if remove.returncode:
            shutil.rmtree(path, ignore_errors=True)
            subprocess.run(["git", "worktree", "prune"], cwd=ROOT, capture_output=True, check=False)


def compare(
    kind: str,
    postgres_url: str,
    name: str,
    servers: Sequence[Server],
    rounds: int,
    seconds: int,
    work: Path,
    log_dir: Path,
) -> Comparison:
    """`name` on both servers, each on its own fresh database seeded alike, in `rounds` rounds
    that alternate which goes first.

    In each round each server is started on its database, warmed up, loaded and stopped, one
    after the other: two servers up at once hold most of PostgreSQL's 100 connections (each
    worker keeps the idle connections its busiest moment needed). A round in which either server
    answered with an error (another user's connections can still leave none for ours), or once
    a round is done, did not start or could not be loaded, is run again on fresh orders, up to
    `spare_rounds(rounds)` times: both must have done the same work.
    """
    label = Target(kind, work).label
    print(f"versus: {label}, {name} ...", file=sys.stderr, flush=True)
    with ExitStack() as stack:
        urls: dict[str, str] = {}
        slots: list[tuple[range, range]] = []
        for server in servers:
            # A folder for each side: SQLite's template database is migrated by its own tree.
            target = Target(kind, work / server.side, postgres_url)
            target.workdir.mkdir(exist_ok=True)
            urls[server.side] = stack.enter_context(_fresh_database(server, target))
            slots = _seed(urls[server.side], seconds, rounds + spare_rounds(rounds))
        pairs: list[tuple[Load, Load]] = []
        unused = iter(slots)
        repeated = 0
        while len(pairs) < rounds:
            number = len(pairs) + 1
            slot = next(unused, None)
            if slot is None:
                raise RuntimeError(f"{label}, {name}: {repeated} rounds failed")
            turn = servers if number % 2 else list(reversed(servers))
            try:
                loads = {
                    server.side: _turn(
                        server, urls[server.side], kind, name, slot, seconds, log_dir, number
                    )
                    for server in turn
                }
            except (RoundFailed, RuntimeError, TimeoutError) as error:
                if not pairs and not isinstance(error, RoundFailed):
                    raise  # no round done yet: a server that cannot start at all stops the run
                repeated += 1
                print(
                    f"versus: {label}, {name}, round {number}: {error}; run again in"
                    f" {RETRY_PAUSE_SECONDS} s",
                    file=sys.stderr,
                    flush=True,
                )
                time.sleep(RETRY_PAUSE_SECONDS)  # whatever held the database may have passed
                continue
            current, base = loads["current"], loads["base"]
            pairs.append((current, base))
            ratio = current.requests_per_second / base.requests_per_second
            print(
                f"versus: {label}, {name}, round {number}: current"
                f" {current.requests_per_second:,.0f} req/s, base {base.requests_per_second:,.0f}"
                f" req/s, {ratio:.3f} ({turn[0].side} first; load average {load_average()})",
                file=sys.stderr,
                flush=True,
            )
    return Comparison(name, label, tuple(pairs), repeated)


def spare_rounds(rounds: int) -> int:
    """How many failed rounds may be run again: a quarter as many, at least four."""
    return max(4, rounds // 4)


def _seed(url: str, seconds: int, slots: int) -> list[tuple[range, range]]:
    """For each of `slots` rounds, fresh orders for its warm-up and for its load: the same
    numbers on every database seeded with the same counts."""
    warm, load = ORDERS_PER_SECOND * WARM_UP_SECONDS, ORDERS_PER_SECOND * seconds
    engine = engine_for(url)
    try:
        numbers = seed_orders(engine, (warm + load) * slots)
    finally:
        engine.dispose()
    starts = range(numbers.start, numbers.stop, warm + load)
    return [(range(n, n + warm), range(n + warm, n + warm + load)) for n in starts]


def _turn(
    server: Server,
    database_url: str,
    kind: str,
    name: str,
    slot: tuple[range, range],
    seconds: int,
    log_dir: Path,
    number: int,
) -> Load:
    """`server` started on its database, warmed up on the slot's first orders, loaded for
    `seconds` on its others, and stopped."""
    warm, numbers = slot
    request = ENDPOINTS[name]
    label = f"{kind}-{name.replace(' ', '-')}-{number}-{numbers.start}-{server.side}"
    with _serving(server, database_url, log_dir, f"gunicorn-{label}") as base_url:
        run_wrk(base_url, request, warm, WARM_UP_SECONDS, log_dir, f"{label}-warm")
        return _run(base_url, request, numbers, seconds, log_dir, label, server.side)


@contextmanager
def _from_tree(module: ModuleType, function: Callable[..., Any], root: Path) -> Iterator[None]:
    """`module`'s ROOT set to `root` while `function` of it starts its process, from there.

    The bench helpers take the project's folder from their module's ROOT when they start a
    process; checked first, so that a change there cannot quietly run the current code for the
    base (the ratios would all be about 1, or the schema the current one).
    """
    if "ROOT" not in inspect.unwrap(function).__code__.co_names:
        raise RuntimeError(f"{module.__name__}.{function.__name__} no longer reads ROOT")
    with mock.patch.object(module, "ROOT", root):
        yield


@contextmanager
def _fresh_database(server: Server, target: Target) -> Iterator[str]:
    """`bench.databases.fresh_database`, migrated by `server`'s own migrate.py."""
    with ExitStack() as stack:
        with _from_tree(databases, databases.migrate, server.root):
            url = stack.enter_context(fresh_database(target, f"versus_{server.side}"))
        yield url


@contextmanager
def _serving(server: Server, database_url: str, log_dir: Path, name: str) -> Iterator[str]:
    """`bench.processes.gunicorn` run from `server.root`: its gunicorn.conf.py, its folder the
    working directory and the whole PYTHONPATH, so that it imports that tree's code."""
    env = {
        "PYTHONPATH": str(server.root),
        # Each server its own metrics directory (gunicorn.conf.py makes one), never a shared one.
        "PROMETHEUS_MULTIPROC_DIR": "",
    }
    with ExitStack() as stack:
        with _from_tree(processes, processes.gunicorn_server, server.root):
            base_url = stack.enter_context(
                processes.gunicorn(server.app, database_url, log_dir, name, **env)
            )
        yield base_url


def _run(
    base_url: str, request: str, numbers: range, seconds: int, log_dir: Path, label: str, side: str
) -> Load:
    """One wrk run against one server; RoundFailed if any answer was not 2xx, or a socket
    failed."""
    load = run_wrk(base_url, request, numbers, seconds, log_dir, label)
    if load.non_2xx or load.socket_errors:
        raise RoundFailed(
            f"the {side} server gave {load.non_2xx} non-2xx answers and"
            f" {load.socket_errors} socket errors (gunicorn-{label}.log, wrk-{label}.out)"
        )
    if load.requests > len(numbers):
        print(
            f"versus: {label}: {load.requests} requests for {len(numbers)} orders, some orders"
            " were called twice",
            file=sys.stderr,
        )
    return load


def _cells(comparison: Comparison) -> list[str]:
    ratios = comparison.ratios
    repeated = f" (+{comparison.repeated} repeated)" if comparison.repeated else ""
    return [
        comparison.endpoint,
        comparison.database,
        f"{comparison.median:.3f}",
        f"{min(ratios):.3f}",
        f"{max(ratios):.3f}",
        f"{len(ratios)}{repeated}",
        " ".join(f"{ratio:.2f}" for ratio in ratios),
        f"{comparison.median_rate(0):,.0f}",
        f"{comparison.median_rate(1):,.0f}",
    ]


def text_table(comparisons: Sequence[Comparison]) -> str:
    """The table as aligned columns, for a terminal."""
    rows = [HEADERS, *(_cells(comparison) for comparison in comparisons)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(HEADERS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def markdown_section(
    comparisons: Sequence[Comparison],
    *,
    base: tuple[str, str, str],
    current: tuple[str | None, str | None, str],
    rounds: int,
    seconds: int,
    started: datetime,
    load: tuple[str, str],
    command: str,
) -> str:
    """The table under a heading that says what was measured, how, and on what.

    `base` and `current` are each (the revision as given, its commit, gunicorn's app path); the
    current one's revision and commit are None for the working tree.
    """
    base_name, base_commit, base_app = base
    current_name, current_commit, current_app = current
    short = base_commit[:7]
    if current_commit is None:
        compared = f"the working tree ({_revision()}, `{current_app}`)"
        title = f"the working tree against {_named(base_name, base_commit)}"
    else:
        compared = f"{current_commit[:7]} (`{current_app}`, in a git worktree)"
        title = f"{_named(current_name, current_commit)} against {_named(base_name, base_commit)}"
    how = (
        f"`{command}`, measured {started:%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPUs (load"
        f" average {load[0]} at the start, {load[1]} at the end): {compared} against"
        f" {short} (`{base_app}`, in a git worktree), both run by the same interpreter. For each"
        " endpoint and database, each side had its own fresh database, seeded alike; in each"
        f" of {rounds} round{'s' if rounds != 1 else ''} each side's gunicorn"
        f" ({processes.WORKERS} workers, its own gunicorn.conf.py) was started on it, warmed up"
        f" for {WARM_UP_SECONDS} s, loaded by wrk ({endpoint.THREADS} threads,"
        f" {endpoint.CONNECTIONS} connections) for {seconds} s and stopped, one side after the"
        " other, who went first alternating; every round on orders no earlier round touched (a"
        " round in which either server answered with an error was run again, on fresh orders)."
        " A round's ratio is the current req/s over the base req/s."
    )
    lines = [
        f"## Paired rounds: {title}",
        "",
        how,
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "|".join(["---", "---", *["---:"] * 4, "---", "---:", "---:"]) + "|",
    ]
    for comparison in comparisons:
        cells = _cells(comparison)
        cells[0] = f"{cells[0]} (`{PATHS[comparison.endpoint]}`)"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _named(revision: str | None, commit: str) -> str:
    """A revision as given, with its commit if it was not given as that."""
    short = commit[:7]
    return short if revision in (None, short) else f"{revision} ({short})"


def _command(args: argparse.Namespace, kinds: Sequence[str], names: Sequence[str]) -> str:
    """The command, rebuilt rather than echoed: a --postgres-url may carry a password."""
    command = f"python -m bench.versus --base {args.base}"
    if args.current:
        command += f" --current {args.current}"
    for option, app in (("--base-app", args.base_app), ("--current-app", args.current_app)):
        if app:
            command += f" {option} '{app}'"
    command += f" --databases {','.join(kinds)}"
    if list(names) != list(ENDPOINTS):
        command += f" --endpoints '{','.join(names)}'"
    return command + f" --rounds {args.rounds} --seconds {args.seconds:g}"


if __name__ == "__main__":
    sys.exit(main())
