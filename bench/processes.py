"""The shipped entry points as real processes: gunicorn as production runs it, tracker drains."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

import live
from bench import ROOT
from bench.databases import engine_for
from shared.db.models import TrackerHeartbeat

# docs/deploying.md: production serves the API with
# `python -m gunicorn -c gunicorn.conf.py -w 4 ...`; the baseline gets the same.
WORKERS = 4
DRAIN_TIMEOUT = 3600.0
# A --once tracker beats at the start of its drain, and again each interval while it lasts; with
# the longest interval allowed it beats once, so its heartbeat row dates the drain's start, and
# the stop it records on exit its end: the drain timed by the tracker's own clock, start-up apart.
ONE_BEAT_INTERVAL = 86400


@contextmanager
def gunicorn(
    app: str, database_url: str, log_dir: Path, name: str, **extra_env: str
) -> Iterator[str]:
    """`python -m gunicorn -c gunicorn.conf.py -w 4 -b 127.0.0.1:PORT <app>`; its base URL once
    every worker is up."""
    with gunicorn_server(app, database_url, log_dir, name, **extra_env) as server:
        yield server.base_url


@dataclass(frozen=True)
class Server:
    """A running gunicorn: where it answers, and its master's pid (its workers are its children:
    `taskset` execs the command it is given, so the pid is gunicorn's own)."""

    base_url: str
    pid: int


@contextmanager
def gunicorn_server(
    app: str,
    database_url: str,
    log_dir: Path,
    name: str,
    *,
    prefix: Sequence[str] = (),
    **extra_env: str,
) -> Iterator[Server]:
    """`gunicorn`, after `prefix` (a `taskset`) if given; the server once every worker is up."""
    port = live.free_port()
    env = {**live.make_env(database_url, HOST="127.0.0.1", PORT=port), **extra_env}
    log_path = log_dir / f"{name}.log"
    command = [*prefix, sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")]
    command += ["-w", str(WORKERS), "-b", f"127.0.0.1:{port}"]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [*command, app],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its workers in its group: none outlives the run
        )
    service = live.Service(name, process, log_path)
    try:
        live.wait_until(lambda: _booted(service), 60, f"{name}'s {WORKERS} workers")
        base_url = f"http://127.0.0.1:{port}"
        live.wait_until(lambda: _answers(base_url), 30, f"{name} to answer")
        yield Server(base_url, process.pid)
    finally:
        # SIGINT is gunicorn's quick stop: nothing is in flight once wrk has finished.
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)
        service.stop()


@contextmanager
def tracker_daemon(
    database_url: str,
    log_dir: Path,
    *,
    interval: float,
    wake_up: bool,
    prefix: Sequence[str] = (),
) -> Iterator[live.Service]:
    """The tracker as the lab runs it, after `prefix` (a `taskset`) if given; without its
    PostgreSQL wake-up if `wake_up` is false."""
    module = ["run_tracker.py"] if wake_up else ["-m", "bench.polling_tracker"]
    log_path = log_dir / "tracker.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [*prefix, sys.executable, *module],
            cwd=ROOT,
            env=live.make_env(database_url, TRACKER_INTERVAL=interval),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    service = live.Service("tracker", process, log_path)
    try:
        yield service
    finally:
        service.stop()


def _booted(service: live.Service) -> bool:
    if service.process.poll() is not None:
        raise RuntimeError(f"{service.name} exited:\n{service.log_tail()}")
    text = service.log_path.read_text(errors="replace")
    return text.count("Booting worker") >= WORKERS


def _answers(base_url: str) -> bool:
    try:
        live.call("GET", base_url + "/", timeout=2.0)
    except OSError:
        return False
    return True


@dataclass
class Drain:
    """One or more `run_tracker.py --once` processes run side by side until all exited."""

    seconds: float  # from the first process's start to the last one's exit
    drain_seconds: float  # from the first tracker's first beat to the last one's recorded stop
    outputs: list[str]
    rss_samples: list[tuple[float, int]] = field(default_factory=list)  # (s since start, KiB)
    peak_kib: int = 0


def drain(
    database_url: str,
    trackers: int = 1,
    *,
    batch_size: int,
    sample_memory: bool = False,
    extra_args: Sequence[str] = (),
) -> Drain:
    """Time `trackers` `--once` runs started together; sample the first one's RSS if asked."""
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [sys.executable, *extra_args, "run_tracker.py", "--once"],
            cwd=ROOT,
            env=live.make_env(
                database_url,
                TRACKER_BATCH_SIZE=batch_size,
                TRACKER_ID=f"bench-{index}",
                TRACKER_INTERVAL=ONE_BEAT_INTERVAL,
            ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for index in range(trackers)
    ]
    result = Drain(seconds=0.0, drain_seconds=0.0, outputs=[])
    sampler = None
    if sample_memory:
        sampler = threading.Thread(
            target=_sample_rss, args=(processes[0].pid, started, result), daemon=True
        )
        sampler.start()
    try:
        outputs = [process.communicate(timeout=DRAIN_TIMEOUT)[0] for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    result.seconds = time.perf_counter() - started
    result.outputs = outputs
    if sampler is not None:
        sampler.join(timeout=5)
    for process, output in zip(processes, outputs, strict=True):
        if process.returncode:
            code = process.returncode
            raise RuntimeError(f"run_tracker.py --once exited {code}: {output[-2000:]}")
    worked = [f"bench-{i}" for i, output in enumerate(outputs) if _completed(output)]
    ids = worked or [f"bench-{i}" for i in range(trackers)]
    result.drain_seconds = _drain_window(database_url, ids)
    return result


def _completed(output: str) -> int:
    """The count `run_tracker.py --once` prints on exit."""
    found = re.search(r"Job Tracker: (\d+) completed", output)
    return int(found.group(1)) if found else 0


def _drain_window(database_url: str, tracker_ids: list[str]) -> float:
    """Seconds from the first tracker's start of work to the last one's recorded stop.

    Only trackers that completed something count: one that started after the queue was empty
    did no part of the drain, and its late stop would only measure its own start-up.
    """
    engine = engine_for(database_url)
    try:
        with engine.connect() as connection:
            beats = connection.execute(
                select(TrackerHeartbeat.last_heartbeat, TrackerHeartbeat.stopped_at).where(
                    TrackerHeartbeat.tracker_id.in_(tracker_ids)
                )
            ).all()
    finally:
        engine.dispose()
    if len(beats) != len(tracker_ids) or any(stop is None for _, stop in beats):
        raise RuntimeError(f"the trackers left no complete heartbeat record: {beats}")
    start = min(beat for beat, _ in beats)
    end = max(stop for _, stop in beats if stop is not None)
    return (end - start).total_seconds()


def _sample_rss(pid: int, started: float, result: Drain, every: float = 0.05) -> None:
    """Read VmRSS (now) and VmHWM (the peak so far) until the process is gone."""
    status = Path(f"/proc/{pid}/status")
    while True:
        try:
            fields = dict(
                line.split(":", 1) for line in status.read_text().splitlines() if ":" in line
            )
        except (FileNotFoundError, ProcessLookupError):
            return
        try:
            rss = int(fields["VmRSS"].split()[0])
            peak = int(fields["VmHWM"].split()[0])
        except (KeyError, ValueError, IndexError):
            return  # a zombie has no memory lines left
        result.rss_samples.append((time.perf_counter() - started, rss))
        result.peak_kib = max(result.peak_kib, peak)
        time.sleep(every)
