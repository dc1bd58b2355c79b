"""Many trackers, killed trackers, stalled trackers: every flagged order is completed once, whole.

The guarantee under test: each flagged order is completed at most once and, while at least one
tracker runs, eventually; and nothing is ever half done (status C, the CMP check-in and the
cleared flag always change together). The trackers are the real `run_tracker.py` processes.
"""

from __future__ import annotations

import itertools
import random
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, make_url, select
from sqlalchemy.orm import Session

import live
from shared.db.engine import make_session_factory, transaction
from shared.db.models import CheckIn, Order, OrderAddon, TrackerHeartbeat
from shared.domain.codes import JobType, OrderStatus

COMPLETION_STATION = "CMP"
STARTUP_TIMEOUT = 20.0
DRAIN_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0

PHASE_LINE = re.compile(
    r"^(?P<at>\S+ \S+) DEBUG .*?(?:Verifying a batch of (?P<taken>\d+) orders"
    r"|Writing (?P<completions>\d+) completions and (?P<rejections>\d+) rejections)",
    re.MULTILINE,
)
SUMMARY_LINE = re.compile(r"(\d+) completed, (\d+) rejected")


# -- the database: seeding and the invariant ---------------------------------------------------


def is_postgresql(database_url: str) -> bool:
    """Whether the fixture gave us PostgreSQL (TEST_DATABASE_URL) rather than a SQLite file."""
    return make_url(database_url).get_backend_name() == "postgresql"


def seed_flagged_orders(engine: Engine, count: int) -> range:
    """`count` orders that pass verification (addon BSC, checked in at BSC), all flagged.

    Inserted with executemany in one transaction: the HTTP route would take minutes for this many.
    """
    now = datetime.now(UTC)
    with engine.begin() as connection:
        highest = connection.execute(select(func.max(Order.order_number))).scalar_one()
        first = 10001 if highest is None else highest + 1
        numbers = range(first, first + count)
        connection.execute(
            insert(Order.__table__),
            [
                {
                    "order_number": number,
                    "job_type": JobType.FULL,
                    "status": OrderStatus.PROCESS,
                    "on_hold": False,
                    "deleted": False,
                    "rt_calculated": True,
                    "lt_calculated": True,
                    "date_ordered": now.date(),
                    "completion_requested_at": now,
                }
                for number in numbers
            ],
        )
        connection.execute(
            insert(OrderAddon.__table__),
            [{"order_number": number, "addon_code": "BSC"} for number in numbers],
        )
        connection.execute(
            insert(CheckIn.__table__),
            [{"order_number": n, "station": "BSC", "checked_in_at": now} for n in numbers],
        )
    return numbers


@contextmanager
def reading(engine: Engine) -> Iterator[Session]:
    """A read-only transaction: on SQLite it takes no write lock from the trackers."""
    with transaction(make_session_factory(engine), write=False) as session:
        yield session


def count_flagged(engine: Engine) -> int:
    """How many orders wait for a tracker."""
    with reading(engine) as session:
        query = select(func.count()).where(Order.completion_requested_at.is_not(None))
        return session.execute(query).scalar_one()


def wait_for_a_killed_transaction(engine: Engine) -> None:
    """Wait until no transaction holds an order's row lock any more: a tracker killed while its
    COMMIT was on the wire still has it committed (or rolled back) by PostgreSQL a moment later,
    and a count taken before that moment would miss a batch the server was still writing."""
    with engine.begin() as connection:
        connection.execute(select(Order.order_number).with_for_update()).all()


def count_completed(engine: Engine) -> int:
    """How many orders have status C."""
    with reading(engine) as session:
        query = select(func.count()).where(Order.status == OrderStatus.COMPLETE)
        return session.execute(query).scalar_one()


@dataclass(frozen=True)
class Census:
    """How many orders are in each of the states the invariant allows."""

    completed: int
    flagged: int
    rejected: int
    completed_numbers: frozenset[int]


def assert_nothing_half_done(engine: Engine, within: range | None = None) -> Census:
    """Every order (of those numbered `within`) is either completed in full or not at all, and
    none was completed twice.

    Completed: status C, flag cleared, exactly one CMP check-in, dateCompleted set.
    Not completed: status not C, flagged or rejected (an error code), no CMP check-in.
    """
    cmp_checkins = (
        select(CheckIn.order_number, func.count().label("checkins"))
        .where(CheckIn.station == COMPLETION_STATION)
        .group_by(CheckIn.order_number)
        .subquery()
    )
    query = select(
        Order.order_number,
        Order.status,
        Order.completion_requested_at,
        Order.completion_error_code,
        Order.date_completed,
        func.coalesce(cmp_checkins.c.checkins, 0),
    ).outerjoin(cmp_checkins, cmp_checkins.c.order_number == Order.order_number)
    twice = (
        select(CheckIn.order_number)
        .where(CheckIn.station == COMPLETION_STATION)
        .group_by(CheckIn.order_number)
        .having(func.count() > 1)
    )
    if within is not None:
        query = query.where(Order.order_number.between(within.start, within.stop - 1))
    with reading(engine) as session:
        rows = session.execute(query).all()
        completed_twice = session.execute(twice).scalars().all()
    completed: set[int] = set()
    flagged = rejected = 0
    broken = []
    for number, status, flag, error_code, date_completed, checkins in rows:
        if status == OrderStatus.COMPLETE:
            if flag is None and checkins == 1 and date_completed is not None:
                completed.add(number)
                continue
        elif checkins == 0 and (flag is not None or error_code is not None):
            flagged += flag is not None
            rejected += flag is None
            continue
        broken.append((number, status, flag, error_code, date_completed, checkins))
    assert completed_twice == [], f"orders with two CMP check-ins: {completed_twice[:20]}"
    assert broken == [], f"{len(broken)} orders half done, e.g. {broken[:10]}"
    return Census(len(completed), flagged, rejected, frozenset(completed))


# -- the processes -----------------------------------------------------------------------------


@contextmanager
def run_trackers(
    database_url: str, tmp_path: Path, names: Sequence[str], **settings: object
) -> Iterator[list[live.Service]]:
    """Trackers with a log directory each (live names every tracker log `tracker.log`)."""
    with ExitStack() as stack:
        trackers = []
        for name in names:
            log_dir = tmp_path / name
            log_dir.mkdir()
            trackers.append(
                stack.enter_context(
                    live.run_tracker(database_url, log_dir, TRACKER_ID=name, **settings)
                )
            )
        yield trackers


def log_text(service: live.Service) -> str:
    """The service's whole log so far."""
    try:
        return service.log_path.read_text(errors="replace")
    except OSError:
        return ""


def wait_for_log(service: live.Service, pattern: str, timeout: float) -> re.Match[str]:
    """The first match of `pattern` in the service's log; fails at once if the service died."""
    regex = re.compile(pattern)

    def logged() -> re.Match[str] | None:
        found = regex.search(log_text(service))
        if found is None and service.process.poll() is not None:
            raise RuntimeError(
                f"{service.name} exited with {service.process.returncode} before logging "
                f"{pattern!r}:\n{service.log_tail()}"
            )
        return found

    return live.wait_until(logged, timeout, f"{pattern!r} in {service.log_path}", every=0.002)


def terminate(services: Sequence[live.Service], timeout: float = STOP_TIMEOUT) -> list[int | None]:
    """SIGTERM to all at once (a second SIGTERM would be a different test), then their exit codes.

    None stands for a process that did not exit in time: it is then killed.
    """
    for service in services:
        if service.process.poll() is None:
            service.process.send_signal(signal.SIGTERM)
    codes: list[int | None] = []
    deadline = time.monotonic() + timeout
    for service in services:
        try:
            codes.append(service.process.wait(max(0.1, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait()
            codes.append(None)
    return codes


def logs_of(services: Sequence[live.Service]) -> str:
    """The ends of several logs, to explain a failed assertion."""
    return "\n".join(f"--- {s.log_path}\n{s.log_tail(40)}" for s in services)


def logged_completions(service: live.Service) -> int:
    """What the tracker says it completed, from its INFO lines "N completed, M rejected"."""
    return sum(int(match.group(1)) for match in SUMMARY_LINE.finditer(log_text(service)))


# -- 1. many trackers --------------------------------------------------------------------------

HTTP_CLIENTS = 2
ORDERS_PER_CLIENT = 50


def flag_through_the_api(api: live.Api, count: int) -> list[int]:
    """Create ready orders and flag them, as a lab client would, while the trackers run."""
    numbers = []
    for _ in range(count):
        status, body = api.call("POST", "/api/sim/orders", {"addons": ["BSC"], "stations": ["BSC"]})
        assert status == 201, body
        number = body["orderNumber"]
        answer = api.call("POST", f"/api/v2/orders/{number}/complete")
        assert answer == (201, {"orderNumber": number, "message": "Successful"})
        numbers.append(int(number))
    return numbers


@pytest.mark.e2e
def test_many_trackers_share_the_queue_and_complete_every_flagged_order_exactly_once(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    # SQLite lets one writer at a time in, so more trackers would only queue for its lock.
    postgres = is_postgresql(database_url)
    tracker_count, seeded_count = (4, 10_000) if postgres else (2, 5_000)
    names = [f"tracker-{i}" for i in range(tracker_count)]
    api_dir = tmp_path / "api"
    api_dir.mkdir()

    with (
        live.run_api(database_url, api_dir) as api,
        run_trackers(
            database_url, tmp_path, names, TRACKER_INTERVAL=0.05, TRACKER_BATCH_SIZE=200
        ) as trackers,
    ):
        for tracker in trackers:
            wait_for_log(tracker, "polling every", STARTUP_TIMEOUT)
        # All of them poll already, so all of them see the whole queue appear at once.
        seeded = seed_flagged_orders(engine, seeded_count)
        deadline = time.monotonic() + DRAIN_TIMEOUT
        snapshots = 0
        with ThreadPoolExecutor(HTTP_CLIENTS) as pool:
            clients = [
                pool.submit(flag_through_the_api, api, ORDERS_PER_CLIENT)
                for _ in range(HTTP_CLIENTS)
            ]
            # While they work, the invariant holds at every instant we look. (Only for the
            # seeded orders: one the API has created and not flagged yet is in neither state.)
            while not all(client.done() for client in clients) or count_flagged(engine):
                assert time.monotonic() < deadline, "the trackers did not drain the queue in time"
                assert_nothing_half_done(engine, within=seeded)
                snapshots += 1
            over_http = [number for client in clients for number in client.result()]
        codes = terminate(trackers)
        assert codes == [0] * tracker_count, logs_of(trackers)
        assert terminate([api]) == [0], api.log_tail()

    census = assert_nothing_half_done(engine)
    flagged = set(seeded) | set(over_http)
    assert len(flagged) == seeded_count + HTTP_CLIENTS * ORDERS_PER_CLIENT
    assert (census.completed, census.flagged, census.rejected) == (len(flagged), 0, 0)
    assert census.completed_numbers == flagged
    by_tracker = {
        name: logged_completions(tracker) for name, tracker in zip(names, trackers, strict=True)
    }
    # Each completion is reported by exactly one tracker, and the work was shared.
    assert sum(by_tracker.values()) == len(flagged), by_tracker
    assert len([n for n in by_tracker.values() if n > 0]) > 1, by_tracker
    if postgres:
        # SKIP LOCKED shared the seeded bulk itself, not only the trickle flagged over HTTP.
        # (On SQLite one writer at a time holds the database, and the tracker that holds it
        # between its batches keeps it: the bulk goes to one tracker, the trickle to both.)
        bulk = [n for n in by_tracker.values() if n > len(over_http)]
        assert len(bulk) > 1, by_tracker
    for service in [api, *trackers]:
        assert "Traceback" not in log_text(service), service.log_tail()
    print(f"completions by tracker: {by_tracker}; {snapshots} snapshots while they worked")


# -- 2. killed trackers ------------------------------------------------------------------------

KILLS = 20
CRASH_BATCH = 3000
# The log line that opens each phase.
AIMS = {"verifying": "Verifying a batch", "writing": "Writing"}
# How long a phase is taken to last until one has been seen to end: 0.05-0.3 s for a batch of
# 3000, depending on the database and the machine's load.
FIRST_GUESS = 0.1


@dataclass(frozen=True)
class PhaseLine:
    kind: str  # "verifying" or "writing"
    at: datetime
    completions: int = 0


def phase_lines(text: str) -> list[PhaseLine]:
    """The DEBUG lines that open each phase of each batch, in order."""
    lines = []
    for match in PHASE_LINE.finditer(text):
        at = datetime.strptime(match.group("at"), "%Y-%m-%d %H:%M:%S,%f")
        if match.group("taken") is not None:
            lines.append(PhaseLine("verifying", at))
        else:
            lines.append(PhaseLine("writing", at, int(match.group("completions"))))
    return lines


def phase_lengths(lines: Sequence[PhaseLine]) -> dict[str, float]:
    """How long each phase that ended lasted: until the next phase line (for the write, that
    includes the commit and the next poll's query)."""
    return {a.kind: (b.at - a.at).total_seconds() for a, b in itertools.pairwise(lines)}


def phase_at_kill(lines: Sequence[PhaseLine], committed: int) -> str:
    """Where the kill landed, from the log and from what the database kept.

    Every batch but the last was written before the kill; the last one was either in
    verification, in its write (nothing of it kept) or past its commit (all of it kept).
    Anything else would be a batch half written.
    """
    written = sum(line.completions for line in lines)
    if not lines:
        assert committed == 0
        return "before any batch"
    if lines[-1].kind == "verifying":
        assert committed == written, (committed, lines)
        return "verifying"
    if committed == written:
        return "after the commit"
    assert committed == written - lines[-1].completions, (committed, lines)
    return "writing"


@pytest.mark.e2e
def test_a_tracker_killed_again_and_again_mid_batch_never_loses_or_half_completes_an_order(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    batch = CRASH_BATCH
    seed = random.randrange(2**32)  # reported, so a failure's random pauses can be repeated
    rng = random.Random(seed)
    started = time.monotonic()
    seeded = set(seed_flagged_orders(engine, 3 * batch))
    census = assert_nothing_half_done(engine)
    completed = census.completed
    phases: Counter[str] = Counter()
    lengths = dict.fromkeys(AIMS, FIRST_GUESS)
    for kill in range(KILLS):
        if count_flagged(engine) < 2 * batch:
            seeded.update(seed_flagged_orders(engine, 2 * batch))
        # Alternate the phase aimed at and land at a random point of it (as long as it was last
        # seen to last); should one phase not have been hit yet near the end, aim at its start.
        aimed = "verifying" if kill % 2 == 0 else "writing"
        pause = rng.uniform(0, lengths[aimed])
        missing = [phase for phase in AIMS if not phases[phase]]
        if missing and KILLS - kill <= 2 * len(missing):
            aimed, pause = missing[0], 0.0
        name = f"crash-{kill:02d}"
        log_dir = tmp_path / name
        log_dir.mkdir()
        with live.run_tracker(
            database_url,
            log_dir,
            TRACKER_ID=name,
            TRACKER_INTERVAL=0.05,
            TRACKER_BATCH_SIZE=batch,
            LOG_LEVEL="DEBUG",
        ) as tracker:
            # The previous kill's aftermath, checked while this tracker starts up (the
            # invariant holds at every instant, so it may as well be taking its first batch).
            after = assert_nothing_half_done(engine)
            assert after.completed_numbers >= census.completed_numbers
            census = after
            wait_for_log(tracker, AIMS[aimed], STARTUP_TIMEOUT)
            time.sleep(pause)
            tracker.process.kill()
            assert tracker.process.wait(STOP_TIMEOUT) == -signal.SIGKILL
        wait_for_a_killed_transaction(engine)
        now_completed = count_completed(engine)
        lines = phase_lines(log_text(tracker))
        phases[phase_at_kill(lines, now_completed - completed)] += 1
        lengths.update(phase_lengths(lines))  # so the next kills aim within the phase
        completed = now_completed
        assert "Traceback" not in log_text(tracker), tracker.log_tail()
    assert assert_nothing_half_done(engine).completed_numbers >= census.completed_numbers
    print(
        f"kills by phase: {dict(phases)}; seed {seed}; phase lengths {lengths}; "
        f"{time.monotonic() - started:.1f}s"
    )

    drained = live.run_tracker_once(
        database_url, timeout=DRAIN_TIMEOUT, TRACKER_BATCH_SIZE=batch, TRACKER_ID="drain"
    )
    assert drained.returncode == 0, drained.stdout + drained.stderr
    census = assert_nothing_half_done(engine)
    assert (census.completed, census.flagged, census.rejected) == (len(seeded), 0, 0)
    assert census.completed_numbers == seeded
    assert phases["verifying"] >= 1, (phases, seed)
    assert phases["writing"] >= 1, (phases, seed)


# -- 3. a stalled tracker ----------------------------------------------------------------------

STALL_TIMEOUT = 1  # DATABASE_TIMEOUT of the tracker that stalls, in seconds
STALL = 3.0


def rows_locked_by_others(engine: Engine) -> int:
    """How many flagged orders another transaction holds: those SKIP LOCKED passes over."""
    flagged = Order.completion_requested_at.is_not(None)
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).where(flagged)).scalar_one()
        free = connection.execute(
            select(Order.order_number).where(flagged).with_for_update(skip_locked=True)
        ).all()
        connection.rollback()  # let go at once of the locks we just took
    return total - len(free)


def last_heartbeat(engine: Engine, tracker_id: str) -> datetime:
    """When tracker `tracker_id` last wrote its heartbeat."""
    with reading(engine) as session:
        query = select(TrackerHeartbeat.last_heartbeat).where(
            TrackerHeartbeat.tracker_id == tracker_id
        )
        return session.execute(query).scalar_one()


def freeze_mid_batch_and_rescue(
    database_url: str, engine: Engine, log_dir: Path, phase: str, opening_line: str
) -> range:
    """Freeze a tracker in `phase` of a batch, let PostgreSQL end its session, let
    another tracker drain the queue, thaw the first one; answer the orders seeded for it."""
    batch = 5000
    seeded = seed_flagged_orders(engine, 3 * batch)
    with run_trackers(
        database_url,
        log_dir,
        ["stalled"],
        DATABASE_TIMEOUT=STALL_TIMEOUT,
        LOG_LEVEL="DEBUG",
        TRACKER_INTERVAL=0.05,
        TRACKER_BATCH_SIZE=batch,
    ) as (stalled,):
        try:
            for batches in range(1, 3):
                wait_for_log(stalled, f"(?s)({opening_line}.*?){{{batches}}}", STARTUP_TIMEOUT)
                stalled.process.send_signal(signal.SIGSTOP)
                # A loaded machine may let it run on past the phase: then catch the next batch.
                if phase_lines(log_text(stalled))[-1].kind == phase:
                    break
                stalled.process.send_signal(signal.SIGCONT)
            # Frozen inside a batch's transaction, in `phase`, with the batch's rows locked.
            assert phase_lines(log_text(stalled))[-1].kind == phase, stalled.log_tail()
            assert rows_locked_by_others(engine) == batch
            time.sleep(STALL)
            # PostgreSQL ended its session (idle_in_transaction_session_timeout): no lock left.
            assert rows_locked_by_others(engine) == 0
            with run_trackers(database_url, log_dir, ["rescuer"], TRACKER_INTERVAL=0.05) as (
                rescuer,
            ):
                live.wait_until(
                    lambda: count_flagged(engine) == 0, DRAIN_TIMEOUT, "the rescuer to drain"
                )
                resumed = datetime.now(UTC)
                resumed_at = len(log_text(stalled))
                stalled.process.send_signal(signal.SIGCONT)
                # It finds its session gone, gives up that batch (logging why), and with a new
                # connection polls again: its heartbeat moves on.
                live.wait_until(
                    lambda: re.search(r" (ERROR|WARNING) ", log_text(stalled)[resumed_at:]),
                    STARTUP_TIMEOUT,
                    "the stalled tracker to notice that its session is gone",
                )
                live.wait_until(
                    lambda: last_heartbeat(engine, "stalled") > resumed,
                    STARTUP_TIMEOUT,
                    "the stalled tracker to poll again",
                )
                codes = terminate([stalled, rescuer])
                assert codes == [0, 0], logs_of([stalled, rescuer])
        finally:
            stalled.process.send_signal(signal.SIGCONT)
    # The stalled tracker completed nothing: its batch went to the rescuer, once.
    assert logged_completions(stalled) == 0, stalled.log_tail()
    assert logged_completions(rescuer) == len(seeded)
    # What it logged on waking: PostgreSQL's reason, unless psycopg's pipeline (the batch's
    # executemany) was in flight, which reports only that the server closed the connection.
    lost = ("idle-in-transaction timeout", "server closed the connection unexpectedly")
    assert any(reason in log_text(stalled) for reason in lost), stalled.log_tail()
    return seeded


@pytest.mark.e2e
def test_a_tracker_frozen_mid_batch_loses_its_locks_and_another_completes_its_orders_once(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    if not is_postgresql(database_url):
        pytest.skip(
            "SQLite serialises writers: a tracker frozen inside its batch holds the one write "
            "lock, so the other trackers simply wait for it; there are no row locks to lose"
        )
    seeded: set[int] = set()
    for phase, opening_line in [("verifying", "Verifying a batch"), ("writing", "Writing")]:
        log_dir = tmp_path / phase
        log_dir.mkdir()
        seeded.update(
            freeze_mid_batch_and_rescue(database_url, engine, log_dir, phase, opening_line)
        )
        census = assert_nothing_half_done(engine)
        assert (census.completed, census.flagged, census.rejected) == (len(seeded), 0, 0)
        assert census.completed_numbers == seeded


# -- a bug found on the way --------------------------------------------------------------------


@pytest.mark.e2e
def test_a_second_sigterm_while_the_batch_in_hand_finishes_still_stops_the_tracker_cleanly(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    batch = 10_000  # the largest allowed: the longer the batch in hand, the surer the timing
    seed_flagged_orders(engine, batch)
    with run_trackers(
        database_url,
        tmp_path,
        ["impatient"],
        LOG_LEVEL="DEBUG",
        TRACKER_INTERVAL=0.05,
        TRACKER_BATCH_SIZE=batch,
    ) as (tracker,):
        wait_for_log(tracker, "Verifying a batch", STARTUP_TIMEOUT)
        tracker.process.send_signal(signal.SIGTERM)
        wait_for_log(tracker, "Received SIGTERM", STARTUP_TIMEOUT)
        # An operator pressing Ctrl-C twice, or a supervisor repeating its SIGTERM.
        tracker.process.send_signal(signal.SIGTERM)
        code = tracker.process.wait(STOP_TIMEOUT)

    assert code == 0, tracker.log_tail()
    assert "Traceback" not in log_text(tracker), tracker.log_tail()
    assert "Job Tracker stopped" in log_text(tracker), tracker.log_tail()
