"""One command for the whole simulator: the API, the Job Tracker and, if asked, the self-running
lab as supervised child processes (`run_simulator.py`).

Each child's output is passed through, each line prefixed with its name. The API starts first
(it creates the schema of a new database), the tracker once the API answers, the lab once the
tracker has a heartbeat. Ctrl-C or SIGTERM stops them all, the lab first; a child that dies
meanwhile is named in one line with its exit code and last words, the others are stopped and the
command exits 1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import IO

from live import ROOT, STOP_TIMEOUT, call, kill_group

STARTUP_TIMEOUT = 30.0
POLL_SECONDS = 0.1


@dataclass
class Child:
    """A supervised program: its name, its process and the last line it wrote."""

    name: str
    process: subprocess.Popen[bytes]
    last_line: str = ""
    relay: threading.Thread | None = field(default=None, repr=False)

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, as the lab stops its services; SIGKILL only if it is ignored."""
        if self.running():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        code = self.process.wait()
        kill_group(self.process)
        if self.relay is not None:
            self.relay.join(timeout=1.0)
        return code


class ChildDied(Exception):
    """A child exited while it should have been running."""

    def __init__(self, child: Child) -> None:
        self.child = child
        said = f": {child.last_line}" if child.last_line else ""
        super().__init__(f"the {child.name} exited with code {child.process.returncode}{said}")


class Stopping(Exception):
    """Ctrl-C or SIGTERM: stop every child and exit 0."""


@dataclass
class Supervisor:
    """The children started so far, and how to write a line for each."""

    out: IO[str] = sys.stdout
    children: list[Child] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def say(self, line: str) -> None:
        with self.lock:
            print(line, file=self.out, flush=True)

    def start(self, name: str, args: Sequence[str], env: dict[str, str]) -> Child:
        process = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Its own process group: a terminal's Ctrl-C reaches the supervisor alone, which
            # stops the children in order (the lab before the API it talks to).
            start_new_session=True,
        )
        child = Child(name, process)
        child.relay = threading.Thread(target=self._relay, args=(child,), daemon=True)
        child.relay.start()
        self.children.append(child)
        return child

    def _relay(self, child: Child) -> None:
        assert child.process.stdout is not None
        for raw in child.process.stdout:
            line = raw.decode(errors="replace").rstrip()
            if line:
                child.last_line = line
                self.say(f"[{child.name}] {line}")

    def check(self) -> None:
        """Raise ChildDied for the first child no longer running."""
        for child in self.children:
            if not child.running():
                if child.relay is not None:
                    child.relay.join(timeout=1.0)  # its last words, before they are quoted
                raise ChildDied(child)

    def wait_for(self, probe: Callable[[], bool], what: str) -> None:
        """Until `probe` holds, every child still running; bounded."""
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not probe():
            self.check()
            if time.monotonic() >= deadline:
                raise TimeoutError(f"timed out after {STARTUP_TIMEOUT:g}s waiting for {what}")
            time.sleep(POLL_SECONDS)

    def stop_all(self) -> None:
        for child in reversed(self.children):
            child.stop()


def _answers(url: str) -> bool:
    try:
        return call("GET", url, timeout=1.0)[0] == 200
    except OSError:
        return False


def _tracker_beats(base_url: str) -> bool:
    try:
        status, body = call("GET", base_url + "/api/sim/tracker", timeout=1.0)
    except OSError:
        return False
    return status == 200 and isinstance(body, dict) and bool(body.get("running"))


def urls(base_url: str) -> list[tuple[str, str]]:
    """The addresses that matter, as the command prints them."""
    return [
        ("API", base_url + "/api/v2"),
        ("API reference", base_url + "/api/v2/docs"),
        ("OpenAPI document", base_url + "/api/v2/openapi.json"),
        ("Lab board", base_url + "/board"),
        ("Health", base_url + "/healthz"),
        ("Metrics", base_url + "/metrics"),
    ]


def run(
    *,
    host: str,
    port: int,
    lab: bool,
    out: IO[str] = sys.stdout,
) -> int:
    """Start the simulator and supervise it until a signal (exit 0) or a child's death (1)."""
    supervisor = Supervisor(out)
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        raise Stopping(signal.Signals(signum).name)

    for sig in previous:
        signal.signal(sig, on_signal)
    # The children read the same settings, with the address made explicit.
    env = {**os.environ, "HOST": host, "PORT": str(port), "PYTHONUNBUFFERED": "1"}
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base_url = f"http://{shown_host}:{port}"
    try:
        try:
            supervisor.start("api", ["run_api.py"], env)
            supervisor.wait_for(lambda: _answers(base_url + "/healthz"), "the API to answer")
            supervisor.start("tracker", ["run_tracker.py"], env)
            supervisor.wait_for(lambda: _tracker_beats(base_url), "the tracker's first heartbeat")
            if lab:
                supervisor.start("lab", ["run_lab.py", "--url", base_url], env)
            width = max(len(name) for name, _ in urls(base_url))
            supervisor.say("rx-jobtracker is running:")
            for name, url in urls(base_url):
                supervisor.say(f"  {name:<{width}}  {url}")
            supervisor.say("Ctrl-C stops " + ("all three." if lab else "both."))
            while True:
                supervisor.check()
                time.sleep(POLL_SECONDS)
        except Stopping as stopping:
            for sig in previous:
                signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
            supervisor.say(f"rx-jobtracker: {stopping}: stopping")
            supervisor.stop_all()
            supervisor.say("rx-jobtracker: stopped")
            return 0
        except (ChildDied, TimeoutError, OSError) as error:
            supervisor.say(f"rx-jobtracker: {error}; stopping the others")
            supervisor.stop_all()
            return 1
    finally:
        supervisor.stop_all()  # whatever happened: no child outlives the command
        for sig, handler in previous.items():
            signal.signal(sig, handler)
