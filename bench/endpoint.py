"""Completion endpoint throughput and latency under gunicorn, loaded by wrk from its own process."""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import func, select

from bench.databases import Target, engine_for, fresh_database
from bench.processes import gunicorn
from bench.seed import seed_orders
from bench.sizes import Size
from shared.db.models import Order

THREADS = 2
CONNECTIONS = 16
WARM_UP_SECONDS = 1
APP = "api.app:create_app()"
# The API without its request journal (on by default): what the journal costs, in the same rounds.
JOURNAL_OFF = {"JOURNAL": "off"}
BASELINE_APP = "bench.baseline_app:create_app()"

# Each wrk thread walks its own stride of the order numbers, so most calls reach a new order;
# `{request}` builds one request for `number`; done() prints the figures wrk's own report rounds
# or leaves out (p95) as one JSON line.
COMPLETE_REQUEST = 'return wrk.format("POST", "/api/v2/orders/" .. number .. "/complete")'
_LUA = """
local first, count, threads = {first}, {count}, {threads}
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end
function init(args)
  counter = id
end
function request()
  local number = first + (counter % count)
  counter = counter + threads
  {request}
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {{"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d,' ..
    ' "p50_us": %d, "p95_us": %d, "p99_us": %d}}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


class WrkMissing(RuntimeError):
    """wrk is the load generator; without it the endpoint cannot be measured."""


@dataclass(frozen=True)
class Load:
    """What wrk measured against one server."""

    requests_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    newly_flagged: int  # orders wrk's calls flagged: the rest were repeats, answered 201 alike


@dataclass(frozen=True)
class EndpointResult:
    """The API and its baseline under the same load on the same database engine, pooled over
    rounds, and each round's pair."""

    api: Load  # as shipped: the request journal on (its default)
    baseline: Load
    rounds: tuple[tuple[Load, Load], ...] = ()
    api_journal_off: Load | None = None  # the same API with JOURNAL=off, in the same rounds

    @property
    def round_shares(self) -> list[float]:
        """The API's throughput over the baseline's, round by round."""
        return [a.requests_per_second / b.requests_per_second for a, b in self.rounds]


def wrk_path() -> str:
    """wrk's path, or a clear error saying how to install it."""
    path = shutil.which("wrk")
    if path is None:
        raise WrkMissing("wrk is not installed: apt-get install -y wrk (scripts/bench does it)")
    return path


def measure(target: Target, size: Size, log_dir: Path) -> EndpointResult:
    """Run the same wrk load against the API and against the bare baseline, each on a fresh DB,
    in alternating rounds: on a shared machine throughput drifts by a fifth within a minute, and
    rounds that take turns going first spread that drift over both servers alike."""
    wrk_path()
    rounds: list[tuple[Load, Load]] = []
    journal_off: list[Load] = []
    servers = {  # name: (app, environment)
        "api": (APP, {}),
        "api-journal-off": (APP, JOURNAL_OFF),
        "baseline": (BASELINE_APP, {}),
    }
    for number in range(1, size.endpoint_rounds + 1):
        order = list(servers) if number % 2 else list(reversed(servers))
        found = {
            name: _load(
                target,
                size,
                log_dir,
                servers[name][0],
                f"{name}-{number}",
                extra_env=servers[name][1],
            )
            for name in order
        }
        rounds.append((found["api"], found["baseline"]))
        journal_off.append(found["api-journal-off"])
    return EndpointResult(
        api=pooled([api for api, _ in rounds]),
        baseline=pooled([baseline for _, baseline in rounds]),
        rounds=tuple(rounds),
        api_journal_off=pooled(journal_off),
    )


def pooled(loads: Sequence[Load]) -> Load:
    """Several runs of one server as one: requests over the total time, the median of each
    percentile, and the counts summed."""
    seconds = sum(load.requests / load.requests_per_second for load in loads)
    return Load(
        requests_per_second=sum(load.requests for load in loads) / seconds,
        p50_ms=statistics.median(load.p50_ms for load in loads),
        p95_ms=statistics.median(load.p95_ms for load in loads),
        p99_ms=statistics.median(load.p99_ms for load in loads),
        requests=sum(load.requests for load in loads),
        non_2xx=sum(load.non_2xx for load in loads),
        socket_errors=sum(load.socket_errors for load in loads),
        newly_flagged=sum(load.newly_flagged for load in loads),
    )


def diagnose(target: Target, size: Size, log_dir: Path) -> dict[str, Load]:
    """Loads that separate the causes of a miss: per-request cost (one connection, so nothing
    waits on a lock) against contention."""
    return {
        "API, 1 connection": _load(target, size, log_dir, APP, "api-c1", connections=1),
        "baseline, 1 connection": _load(
            target, size, log_dir, BASELINE_APP, "baseline-c1", connections=1
        ),
    }


def _load(
    target: Target,
    size: Size,
    log_dir: Path,
    app: str,
    name: str,
    *,
    connections: int = CONNECTIONS,
    extra_env: dict[str, str] | None = None,
) -> Load:
    with fresh_database(target, "endpoint") as url:
        engine = engine_for(url)
        try:
            warm = seed_orders(engine, size.endpoint_orders // 10)
            numbers = seed_orders(engine, size.endpoint_orders, first=warm.stop)
            server = f"gunicorn-{target.kind}-{name}"
            with gunicorn(app, url, log_dir, server, **(extra_env or {})) as base_url:
                run_wrk(
                    base_url,
                    COMPLETE_REQUEST,
                    warm,
                    WARM_UP_SECONDS,
                    log_dir,
                    f"{server}-warm",
                    connections,
                )
                figures = run_wrk(
                    base_url,
                    COMPLETE_REQUEST,
                    numbers,
                    size.endpoint_seconds,
                    log_dir,
                    server,
                    connections,
                )
            with engine.connect() as connection:
                flagged = connection.execute(
                    select(func.count()).where(
                        Order.completion_requested_at.is_not(None),
                        Order.order_number >= numbers.start,
                    )
                ).scalar_one()
        finally:
            engine.dispose()
    return replace(figures, newly_flagged=flagged)


def run_wrk(
    base_url: str,
    request: str,
    numbers: range,
    seconds: int,
    log_dir: Path,
    name: str,
    connections: int = CONNECTIONS,
    prefix: Sequence[str] = (),
) -> Load:
    """wrk against `base_url`, each call made by the Lua `request` line for one of `numbers`,
    after `prefix` (a `taskset`) if given."""
    threads = min(THREADS, connections)
    script = log_dir / f"wrk-{name}.lua"
    script.write_text(
        _LUA.format(first=numbers.start, count=len(numbers), threads=threads, request=request)
    )
    command = [
        *prefix,
        wrk_path(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(script),
        base_url,
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    (log_dir / f"wrk-{name}.out").write_text(run.stdout + run.stderr)
    if run.returncode != 0:
        raise RuntimeError(f"wrk failed ({run.returncode}): {run.stderr or run.stdout}")
    return parse_wrk(run.stdout)


def parse_wrk(output: str) -> Load:
    """Requests/s from wrk's report, percentiles and error counts from our done() line."""
    line = re.search(r"^BENCH (\{.*\})$", output, re.MULTILINE)
    rate = re.search(r"^Requests/sec:\s+([0-9.]+)", output, re.MULTILINE)
    if line is None or rate is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    figures = json.loads(line.group(1))
    return Load(
        requests_per_second=float(rate.group(1)),
        p50_ms=figures["p50_us"] / 1000,
        p95_ms=figures["p95_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        requests=figures["requests"],
        non_2xx=figures["non_2xx"],
        socket_errors=figures["socket_errors"],
        newly_flagged=0,  # counted in the database afterwards
    )
