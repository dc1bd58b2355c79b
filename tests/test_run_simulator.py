"""`run_simulator.py`: one command brings up the API and the tracker (and the lab), prints the
addresses, stops them all on SIGTERM or Ctrl-C, and names a child that dies."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import live

# Nothing here depends on the pass's database engine: the SQLite pass runs it once.
pytestmark = pytest.mark.database_free

ROOT = Path(__file__).resolve().parent.parent


def processes_on(database_url: str) -> list[int]:
    """The processes whose environment names this database: the command's children."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"DATABASE_URL={database_url}".encode() in environ:
            found.append(int(entry.name))
    return found


@contextmanager
def simulator(tmp_path: Path, *args: str, **settings: object) -> Iterator[subprocess.Popen[str]]:
    database_url = live.sqlite_url(tmp_path / "rx.sqlite3")
    address: dict[str, object] = {"HOST": "127.0.0.1", "PORT": live.free_port()}
    env = live.make_env(database_url, **{**address, **settings})
    process = subprocess.Popen(
        [sys.executable, "run_simulator.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        for pid in processes_on(database_url):
            os.kill(pid, signal.SIGKILL)


def read_until(process: subprocess.Popen[str], ending: str) -> list[str]:
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith(ending):
            return lines
    raise AssertionError(f"no line starting {ending!r} in:\n" + "\n".join(lines))


@pytest.mark.e2e
@pytest.mark.parametrize(("stop", "lab"), [(signal.SIGINT, True), (signal.SIGTERM, False)])
def test_one_command_starts_api_tracker_and_lab_prints_the_urls_and_stops_them_all(
    tmp_path: Path, stop: signal.Signals, lab: bool
) -> None:
    with simulator(tmp_path, *(["--lab"] if lab else [])) as process:
        lines = read_until(process, "Ctrl-C stops " + ("all three." if lab else "both."))
        database_url = live.sqlite_url(tmp_path / "rx.sqlite3")
        started = set(processes_on(database_url)) - {process.pid}
        assert len(started) == (3 if lab else 2)  # api, tracker (, lab)
        base = next(line.split()[-1] for line in lines if line.strip().startswith("API  "))
        base = base.removesuffix("/api/v2")
        printed = {line.split()[-1] for line in lines if line.startswith("  ")}
        assert printed == {
            f"{base}/api/v2",
            f"{base}/api/v2/docs",
            f"{base}/api/v2/openapi.json",
            f"{base}/board",
            f"{base}/healthz",
            f"{base}/metrics",
        }
        for url in printed - {f"{base}/api/v2"}:
            assert live.call("GET", url)[0] == 200, url
        assert live.call("GET", f"{base}/api/sim/tracker")[1]["running"] is True

        if lab:
            read_until(process, "[lab] ")  # the lab at work: its first progress line (5 s)
        process.send_signal(stop)
        rest = process.communicate(timeout=30)[0]
        assert process.returncode == 0, rest
        assert rest.rstrip().endswith("rx-jobtracker: stopped")
        assert "[tracker]" in rest and "Job Tracker stopped" in rest
        assert ("[lab] Summary:" in rest) is lab
        assert processes_on(database_url) == []
        with pytest.raises(OSError):
            live.call("GET", f"{base}/healthz", timeout=2)


@pytest.mark.e2e
def test_a_child_that_dies_is_named_in_one_line_and_the_others_are_stopped(
    tmp_path: Path,
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with simulator(tmp_path, TRACKER_METRICS_PORT=port) as process:
            out = process.communicate(timeout=60)[0]
    assert process.returncode == 1, out
    assert (
        out.splitlines().count(
            "rx-jobtracker: the tracker exited with code 2: run_tracker: TRACKER_METRICS_PORT: "
            f"cannot serve metrics on 127.0.0.1:{port}: Address already in use; stopping the others"
        )
        == 1
    )
    assert "API stopped" in out
    assert processes_on(live.sqlite_url(tmp_path / "rx.sqlite3")) == []


def test_a_bad_setting_stops_it_before_anything_starts(tmp_path: Path) -> None:
    with simulator(tmp_path, PORT="abc") as process:
        out = process.communicate(timeout=30)[0]
    assert process.returncode == 2
    assert out == (
        "run_simulator: Invalid settings: PORT='abc': Not a valid integer. "
        "Expected a port number, 1 to 65535.\n"
    )
