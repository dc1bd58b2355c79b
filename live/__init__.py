"""Run run_api.py and run_tracker.py as real processes: the demo and e2e tests test what ships."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from config.settings import setting_names

ROOT = Path(__file__).resolve().parent.parent
# Every variable config/settings.py reads: an empty value means "the default", which keeps a
# developer's `.env` or shell exports from leaking into a run that must be reproducible.
SETTINGS_KEYS = setting_names()
STOP_TIMEOUT = 10.0
T = TypeVar("T")
Response = tuple[int, Any]


def free_port() -> int:
    """Let the OS choose, so parallel runs and a running dev server never collide."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_env(database_url: str, **settings: object) -> dict[str, str]:
    """Pin every setting, so the child sees exactly what the caller asked for."""
    env = {**os.environ, **dict.fromkeys(SETTINGS_KEYS, ""), "PYTHONUNBUFFERED": "1"}
    env["DATABASE_URL"] = database_url
    env.update({key.upper(): str(value) for key, value in settings.items()})
    return env


def sqlite_url(path: Path) -> str:
    """SQLAlchemy needs four slashes before an absolute path; easy to get wrong by hand."""
    return f"sqlite:///{path.resolve()}"


@dataclass
class Service:
    """A child process and its log, so a failure can show why it happened."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM is how the lab stops the services daily; kill only if they ignore it. Then
        whatever the process left in its group (a gunicorn worker its master did not wait for)
        is killed too: no child may outlive its caller."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    return self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
            return self.process.wait(timeout)
        finally:
            kill_group(self.process)

    def log_tail(self, lines: int = 30) -> str:
        """The end of the log is where a crash explains itself."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Api(Service):
    """The API process with its address, which only exists once a free port was picked."""

    base_url: str

    def call(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> Response:
        """Paths relative to this API, so callers write what the documentation shows."""
        return call(method, self.base_url + path, body, timeout)


def call(method: str, url: str, body: Any = None, timeout: float = 10.0) -> Response:
    """urllib raises on 4xx/5xx; tests and the demo want the status and body either way."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, _parse(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, _parse(error.read())


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")


def wait_until(probe: Callable[[], T | None], timeout: float, what: str, every: float = 0.05) -> T:
    """A bounded poll, so a stuck process fails the run instead of hanging it."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill what is left of the process group a child started (with `start_new_session`)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _spawn(name: str, args: list[str], env: Mapping[str, str], log_dir: Path) -> Service:
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log:
        # cwd is the project root because both scripts import the project's packages from it.
        process = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group, so that stop() can take any process it leaves behind.
            start_new_session=True,
        )
    return Service(name, process, log_path)


@contextmanager
def _stopped_on_exit(service: Service) -> Iterator[None]:
    try:
        yield
    finally:
        # Also on KeyboardInterrupt or a failed assertion: no child may outlive its caller.
        service.stop()


def _spawn_api(name: str, command: list[str], env: Mapping[str, str], log_dir: Path) -> Api:
    child = _spawn(name, command, env, log_dir)
    return Api(child.name, child.process, child.log_path, f"http://127.0.0.1:{env['PORT']}")


@contextmanager
def _serving(api: Api, startup_timeout: float) -> Iterator[Api]:
    """Yield `api` once it answers, so no caller races its startup; always stopped after."""
    with _stopped_on_exit(api):

        def answers() -> bool:
            if api.process.poll() is not None:
                command = " ".join(map(str, api.process.args[1:]))  # type: ignore[index]
                raise RuntimeError(
                    f"{command} exited with {api.process.returncode}:\n{api.log_tail()}"
                )
            try:
                return call("GET", api.base_url + "/api/sim/tracker", timeout=1.0)[0] == 200
            except OSError:  # not listening yet
                return False

        wait_until(answers, startup_timeout, f"{api.name} to answer")
        yield api


@contextmanager
def run_api(
    database_url: str, log_dir: Path, *, startup_timeout: float = 20.0, **settings: object
) -> Iterator[Api]:
    """run_api.py, yielded only once it answers; always stopped after."""
    env = make_env(database_url, HOST="127.0.0.1", PORT=free_port(), **settings)
    with _serving(_spawn_api("api", ["run_api.py"], env, log_dir), startup_timeout) as api:
        yield api


@contextmanager
def run_gunicorn(
    database_url: str,
    log_dir: Path,
    workers: int = 4,
    *,
    options: Sequence[str] = (),
    startup_timeout: float = 20.0,
    **settings: object,
) -> Iterator[Api]:
    """The API as production serves it, with the project's gunicorn.conf.py and `workers`
    workers each calling create_app(), and gunicorn's own `options` (`--access-logfile -`);
    yielded only once it answers, always stopped after (SIGTERM: gunicorn's graceful stop)."""
    port = free_port()
    env = make_env(database_url, HOST="127.0.0.1", PORT=port, **settings)
    command = ["-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "-w", str(workers)]
    command += [*options, "-b", f"127.0.0.1:{port}", "api.app:create_app()"]
    with _serving(_spawn_api("gunicorn", command, env, log_dir), startup_timeout) as api:
        yield api


@contextmanager
def run_tracker(database_url: str, log_dir: Path, **settings: object) -> Iterator[Service]:
    """The daemon as the lab runs it; stopped with SIGTERM however the block ends."""
    service = _spawn("tracker", ["run_tracker.py"], make_env(database_url, **settings), log_dir)
    with _stopped_on_exit(service):
        yield service


def run_tracker_once(
    database_url: str, timeout: float = 30.0, **settings: object
) -> subprocess.CompletedProcess[str]:
    """The tracker's drain-and-exit mode, as a cron job or an operator would run it."""
    return subprocess.run(
        [sys.executable, "run_tracker.py", "--once"],
        cwd=ROOT,
        env=make_env(database_url, **settings),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
