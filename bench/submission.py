"""The front door: POST /api/v2/orders under wrk beside a bare queue insert, the Remote Order
Processor's import beside one set-based INSERT ... SELECT, and submit-to-visible over HTTP."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, insert, select, text

import live
from bench.databases import Target, engine_for, fresh_database
from bench.endpoint import WARM_UP_SECONDS, Load, pooled, run_wrk
from bench.latency import POLLING_INTERVAL, STATUS_EVERY, WAKE_UP_INTERVAL, Latencies
from bench.processes import drain, gunicorn, tracker_daemon
from bench.sizes import Size
from shared.db.models import Order, Submission

APP = "api.app:create_app()"
BASELINE_APP = "bench.baseline_app:create_app()"
BATCH_SIZE = 2000
FIRST_ORDER_NUMBER = 100_001  # the default lab file's first number
SEED = 2468

# A typical retail submission: a customer of the default lab, both eyes' lenses and
# prescriptions, a coating; each call its own PO and job id (`number` is wrk's counter).
FIELDS = {
    "customerNumber": "1001",
    "jobType": "F",
    "rtLensStyle": "SV",
    "rtLensMaterial": "PC",
    "ltLensStyle": "SV",
    "ltLensMaterial": "PC",
    "rtSphere": -2.25,
    "ltSphere": -2.0,
    "addons": ["AR"],
}
_BODY_TAIL = json.dumps(FIELDS, separators=(",", ":"))[1:]
SUBMIT_REQUEST = (
    'return wrk.format("POST", "/api/v2/orders", {["Content-Type"] = "application/json"},'
    ' \'{"poNumber":"B\' .. number .. \'","customerJobId":"J\' .. number .. \'",'
    + _BODY_TAIL
    + "')"
)


@dataclass(frozen=True)
class SubmitResult:
    """The submit endpoint and its baseline under the same load, pooled over rounds."""

    api: Load
    baseline: Load
    rounds: tuple[tuple[Load, Load], ...]

    @property
    def share(self) -> float:
        """The API's throughput over the baseline's."""
        return self.api.requests_per_second / self.baseline.requests_per_second


@dataclass(frozen=True)
class ImportResult:
    """Submissions per second: one tracker's import, and the set-based limit."""

    submissions: int
    tracker_rate: float
    set_based_rate: float

    @property
    def share(self) -> float:
        """The tracker's rate over the one statement's."""
        return self.tracker_rate / self.set_based_rate


@dataclass(frozen=True)
class SubmissionResult:
    """Everything the front door's section reports for one database."""

    submit: SubmitResult
    importer: ImportResult
    visible: Latencies  # submit (202) to the first 200 of its status read, by PO number


def measure(target: Target, size: Size, log_dir: Path) -> SubmissionResult:
    """The three measurements, each on fresh databases."""
    return SubmissionResult(
        submit=measure_submit(target, size, log_dir),
        importer=measure_import(target, size.import_submissions),
        visible=measure_visible(target, size.latency_samples, log_dir),
    )


def measure_submit(target: Target, size: Size, log_dir: Path) -> SubmitResult:
    """wrk's submissions against the API and the bare baseline, in alternating rounds."""
    rounds: list[tuple[Load, Load]] = []
    for number in range(1, size.endpoint_rounds + 1):
        order = [(APP, "api"), (BASELINE_APP, "baseline")]
        if not number % 2:
            order.reverse()
        loads = {
            name: _submit_load(target, size, log_dir, app, name, number) for app, name in order
        }
        rounds.append((loads["api"], loads["baseline"]))
    return SubmitResult(
        api=pooled([api for api, _ in rounds]),
        baseline=pooled([baseline for _, baseline in rounds]),
        rounds=tuple(rounds),
    )


def _submit_load(
    target: Target, size: Size, log_dir: Path, app: str, name: str, round_number: int
) -> Load:
    server = f"gunicorn-{target.kind}-submit-{name}-{round_number}"
    numbers = range(1, 10**9)  # every call its own PO: none is ever repeated
    with (
        fresh_database(target, "submit") as url,
        gunicorn(app, url, log_dir, server) as base_url,
    ):
        run_wrk(base_url, SUBMIT_REQUEST, numbers, WARM_UP_SECONDS, log_dir, f"{server}-warm")
        engine = engine_for(url)
        try:
            before = _queued(engine)
            load = run_wrk(
                base_url, SUBMIT_REQUEST, numbers, size.endpoint_seconds, log_dir, server
            )
            queued = _queued(engine) - before
        finally:
            engine.dispose()
    if load.non_2xx or queued < load.requests - load.socket_errors:
        raise RuntimeError(
            f"{server}: {load.non_2xx} answers not 2xx, {queued} queued of {load.requests}"
        )
    return load


def _queued(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(Submission)).scalar_one())


def queue(engine: Engine, count: int) -> None:
    """`count` submissions waiting, each as the API queues it (its checked fields as JSON)."""
    now = datetime.now(UTC)
    rows = [
        {
            "received_at": now,
            "payload": json.dumps(
                {
                    "poNumber": f"B{n}",
                    "customerJobId": f"J{n}",
                    **FIELDS,
                    "onHold": False,
                },
                separators=(",", ":"),
            ),
        }
        for n in range(count)
    ]
    with engine.begin() as connection:
        connection.execute(insert(Submission), rows)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE submissions"))


def measure_import(target: Target, count: int) -> ImportResult:
    """One `run_tracker.py --once` importing `count` submissions (timed by its own clock, as
    the tracker's drain is), and one INSERT ... SELECT making the same orders from the queue."""
    with fresh_database(target, "import") as url:
        engine = engine_for(url)
        try:
            queue(engine, count)
            run = drain(url, 1, batch_size=BATCH_SIZE)
            _check_imported(engine, count)
        finally:
            engine.dispose()
    return ImportResult(count, count / run.drain_seconds, _set_based_rate(target, count))


def _check_imported(engine: Engine, count: int) -> None:
    with engine.connect() as connection:
        orders = connection.execute(select(func.count()).select_from(Order)).scalar_one()
        waiting = connection.execute(
            select(func.count()).where(Submission.imported_at.is_(None))
        ).scalar_one()
    if (orders, waiting) != (count, 0):
        raise RuntimeError(f"the import made {orders} orders of {count}, left {waiting} waiting")


def _set_based_rate(target: Target, count: int) -> float:
    """The limit: the queue's orders inserted by one statement, numbered by the submission's id,
    their fields read out of the JSON by the database; no lab, no check-in, no tray."""
    with fresh_database(target, "importset") as url:
        engine = engine_for(url)
        try:
            queue(engine, count)
            statement = text(_INSERT_SELECT[engine.dialect.name])
            started = time.perf_counter()
            with engine.begin() as connection:
                made = connection.execute(statement, {"first": FIRST_ORDER_NUMBER}).rowcount
            seconds = time.perf_counter() - started
        finally:
            engine.dispose()
    if made != count:
        raise RuntimeError(f"the set-based INSERT made {made} of {count} orders")
    return count / seconds


_COLUMNS = (
    "order_number, po_number, customer_job_id, customer_number, job_type, status, on_hold,"
    " deleted, rt_calculated, lt_calculated, date_ordered, date_received, date_wanted, valid_at,"
    " submitted"
)
_INSERT_SELECT = {
    "sqlite": f"INSERT INTO orders ({_COLUMNS})"
    " SELECT :first + id, json_extract(payload, '$.poNumber'),"
    " json_extract(payload, '$.customerJobId'), json_extract(payload, '$.customerNumber'),"
    " json_extract(payload, '$.jobType'), 'V', 0, 0, 1, 1, date('now'), date('now'),"
    " date('now', '+7 days'), received_at, payload FROM submissions WHERE imported_at IS NULL",
    "postgresql": f"INSERT INTO orders ({_COLUMNS})"
    " SELECT :first + id, payload::json ->> 'poNumber', payload::json ->> 'customerJobId',"
    " payload::json ->> 'customerNumber', payload::json ->> 'jobType', 'V', false, false,"
    " true, true, current_date, current_date, current_date + 7, received_at, payload"
    " FROM submissions WHERE imported_at IS NULL",
}


def measure_visible(target: Target, samples: int, log_dir: Path) -> Latencies:
    """Submit over HTTP, then read the order's status by its PO every 2 ms until it answers
    200: the tracker woken by the submission (NOTIFY, or SQLite's doorbell), default settings."""
    wake_up, interval = True, WAKE_UP_INTERVAL
    rng = random.Random(SEED)
    waits: list[float] = []
    round_trips: list[float] = []
    with fresh_database(target, "visible") as url:
        mode_dir = log_dir / f"visible-{target.kind}"
        mode_dir.mkdir(exist_ok=True)
        with (
            live.run_api(url, mode_dir) as api,
            tracker_daemon(url, mode_dir, interval=interval, wake_up=wake_up),
        ):
            live.wait_until(lambda: _running(api), 30, "the tracker's first heartbeat")
            time.sleep(0.5)  # its LISTEN is in place once its first poll has run
            for n in range(samples):
                time.sleep(rng.uniform(0, POLLING_INTERVAL))
                round_trip, wait = _submit_and_wait(api, f"V{n}", timeout=interval + 15)
                round_trips.append(round_trip)
                waits.append(wait)
    return Latencies("wake-up" if wake_up else "polling", interval, waits, round_trips)


def _running(api: live.Api) -> bool:
    status, body = api.call("GET", "/api/sim/tracker")
    return status == 200 and bool(body["running"])


def _submit_and_wait(api: live.Api, po: str, timeout: float) -> tuple[float, float]:
    sent = time.perf_counter()
    status, body = api.call(
        "POST", "/api/v2/orders", {"poNumber": po, "customerJobId": po, **FIELDS}
    )
    accepted = time.perf_counter()
    if status != 202:
        raise RuntimeError(f"submitting {po} answered {status}: {body}")
    while True:
        status, body = api.call("GET", f"/api/v2/orders/{po}/status")
        if status == 200:
            return (accepted - sent) * 1000, (time.perf_counter() - accepted) * 1000
        if status != 404:
            raise RuntimeError(f"reading {po} answered {status}: {body}")
        if time.perf_counter() - accepted > timeout:
            raise TimeoutError(f"{po} was not imported within {timeout:g}s")
        time.sleep(STATUS_EVERY)
