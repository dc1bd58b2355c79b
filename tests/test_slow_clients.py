"""Slow and stalled clients by the hundred, over real sockets: nginx with deploy/nginx.conf in
front of gunicorn, and run_api.py (waitress) alone, keep answering ordinary clients promptly."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

import live
from api.http.server import make_server
from live.nginx import nginx_binary, run_nginx
from shared.db import schema
from shared.db.engine import make_engine

pytestmark = [pytest.mark.e2e, pytest.mark.database_free]

# The bound: an ordinary request is answered within a second, at the 99th percentile.
PROMPT = 1.0
ORDINARY = 200
CLIENTS = 8


class Hostile:
    """Many connections on one thread and a selector: each sends the first bytes of a request
    and then nothing more (stalled) or one more byte every `every` seconds (trickling), reading
    and discarding whatever the server says. Counts the connections the server closed."""

    def __init__(
        self, address: tuple[str, int], *, stalled: int, trickling: int, every: float = 0.5
    ) -> None:
        self.address = address
        self.counts = {"stalled": stalled, "trickling": trickling}
        self.every = every
        self.closed = 0
        self.selector = selectors.DefaultSelector()
        self.trickling: dict[socket.socket, bytes] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Hostile:
        pad = b"X-Pad: " + b"a" * 100_000  # far more than the test lasts, a byte at a time
        head = b"POST /api/sim/orders HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for kind, count in self.counts.items():
            for _ in range(count):
                sock = socket.create_connection(self.address, timeout=10)
                sock.sendall(head + b"Content-Le")
                sock.setblocking(False)
                self.selector.register(sock, selectors.EVENT_READ)
                if kind == "trickling":
                    self.trickling[sock] = pad
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join(10)
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]  # sockets, as registered
        self.selector.close()

    @property
    def held(self) -> int:
        """Connections the server still holds."""
        return sum(self.counts.values()) - self.closed

    def _run(self) -> None:
        next_byte = time.monotonic() + self.every
        while not self.stopping.is_set():
            for key, _ in self.selector.select(timeout=max(0.0, next_byte - time.monotonic())):
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                with contextlib.suppress(BlockingIOError):
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        self._drop(sock)
            if time.monotonic() >= next_byte:
                next_byte += self.every
                for sock, rest in list(self.trickling.items()):
                    try:
                        sock.send(rest[:1])
                    except BlockingIOError:
                        continue
                    except OSError:
                        self._drop(sock)
                        continue
                    self.trickling[sock] = rest[1:]

    def _drop(self, sock: socket.socket) -> None:
        self.selector.unregister(sock)
        self.trickling.pop(sock, None)
        sock.close()
        self.closed += 1


def ordinary_requests(api: live.Api, count: int = ORDINARY) -> list[float]:
    """`count` ordinary requests from CLIENTS threads, a fresh connection each: an order created,
    its status read, its completion call; the seconds each took. A failure (no answer, a 5xx)
    fails the test."""

    def one(index: int) -> float:
        started = time.perf_counter()
        if index % 3 == 0:
            status, body = api.call("POST", "/api/sim/orders", {"status": "V"}, timeout=10)
            expected = 201
        elif index % 3 == 1:
            status, body = api.call("GET", "/api/sim/tracker", timeout=10)
            expected = 200
        else:
            status, body = api.call("POST", "/api/v2/orders/1/complete", timeout=10)
            expected = 404  # no such order: Rx-Universe's answer, from the app
        took = time.perf_counter() - started
        assert status == expected, (index, status, body)
        return took

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(one, range(count)))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summary(times: list[float]) -> str:
    return (
        f"p50 {percentile(times, 0.5) * 1000:.0f} ms, p99 {percentile(times, 0.99) * 1000:.0f} ms"
    )


def address(api: live.Api) -> tuple[str, int]:
    host, port = api.base_url.removeprefix("http://").split(":")
    return host, int(port)


@pytest.fixture(scope="module", autouse=True)
def _open_files() -> None:
    """A thousand hostile sockets and the servers' own: more than a 1024 soft limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 8192 if hard == resource.RLIM_INFINITY else min(8192, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file with its schema (gunicorn's workers must not race to create it)."""
    url = live.sqlite_url(tmp_path_factory.mktemp("slow") / "slow.sqlite3")
    engine = make_engine(url)
    schema.upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def front(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[live.Api, live.Api]]:
    """gunicorn (2 workers, gunicorn.conf.py) and nginx (deploy/nginx.conf) in front of it."""
    if nginx_binary() is None:
        message = "needs nginx (apt-get install nginx; scripts/test installs Debian's)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    log_dir = tmp_path_factory.mktemp("front")
    with ExitStack() as stack:
        gunicorn = stack.enter_context(live.run_gunicorn(database_url, log_dir, workers=2))
        nginx = stack.enter_context(run_nginx(gunicorn, log_dir))
        yield gunicorn, nginx
        assert nginx.stop() == 0, nginx.log_tail()
        assert gunicorn.stop() == 0, gunicorn.log_tail()
        assert "Traceback" not in gunicorn.log_path.read_text(), gunicorn.log_tail(60)


def test_through_nginx_600_slow_clients_leave_gunicorn_answering_within_a_second(
    front: tuple[live.Api, live.Api], capsys: pytest.CaptureFixture[str]
) -> None:
    _, nginx = front
    calm = ordinary_requests(nginx, 60)
    # 300 stalled in their headers (nearly five times the threads of gunicorn's two workers),
    # 300 sending a byte every half second.
    with Hostile(address(nginx), stalled=300, trickling=300) as hostile:
        time.sleep(0.5)
        loaded = ordinary_requests(nginx)
        held = hostile.held
    with capsys.disabled():
        print(f"\nnginx + gunicorn: calm {summary(calm)}; 600 slow: {summary(loaded)}")
    assert held >= 550, f"nginx closed {600 - held} of the slow connections early"
    assert percentile(loaded, 0.99) < PROMPT, summary(loaded)


def exchange(api: live.Api, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `raw` and read one answer: the status, the headers and the body (nginx lingers
    before closing after a refusal: the answer's length says when it is whole)."""
    with socket.create_connection(address(api), timeout=10) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)
        data = b""
        while b"\r\n\r\n" not in data and (piece := sock.recv(65536)):
            data += piece
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
        }
        while len(body) < int(headers["content-length"]) and (piece := sock.recv(65536)):
            body += piece
    return int(lines[0].split()[1]), headers, body


def test_nginx_refuses_in_our_shape_and_passes_the_request_id(
    front: tuple[live.Api, live.Api],
) -> None:
    _, nginx = front
    too_large = (
        b"POST /api/sim/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (2 * 1024 * 1024)
    )
    status, headers, body = exchange(nginx, too_large)
    assert (status, json.loads(body)) == (
        413,
        {"error": "Request too large", "details": ["The body may be at most 1048576 bytes"]},
    )
    assert headers["content-type"] == "application/json"
    status, _, body = exchange(nginx, b"GARBAGE\r\n\r\n")
    assert status == 400
    assert json.loads(body)["error"] == "Invalid request"
    status, headers, _ = exchange(
        nginx,
        b"GET /api/sim/tracker HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"X-Request-ID: slow-clients-1\r\n\r\n",
    )
    assert (status, headers["x-request-id"]) == (200, "slow-clients-1")


def test_run_api_with_1000_slow_clients_answers_within_a_second(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with live.run_api(database_url, tmp_path) as api:
        calm = ordinary_requests(api, 60)
        with Hostile(address(api), stalled=500, trickling=500, every=1.0) as hostile:
            time.sleep(0.5)
            loaded = ordinary_requests(api)
            held = hostile.held
        with capsys.disabled():
            print(f"\nrun_api.py: calm {summary(calm)}; 1,000 slow: {summary(loaded)}")
        # The server held them all while it answered: waitress refuses none within its limit.
        assert held == 1000, f"run_api.py closed {1000 - held} of the slow connections"
        assert max(loaded) < PROMPT, summary(loaded)
        assert api.stop() == 0, api.log_tail()
        assert "Traceback" not in api.log_path.read_text(), api.log_tail(60)


def hello(_environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


@pytest.fixture
def quick_deadline_server() -> Iterator[tuple[str, int]]:
    """api.http.server's waitress with a deadline of one second for a whole request."""
    server = make_server(hello, "127.0.0.1", 0, 1024, request_deadline=1.0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", server.port
    finally:
        server.stop()
        thread.join(15)


def test_a_request_trickled_past_its_deadline_is_408_in_our_shape(
    quick_deadline_server: tuple[str, int],
) -> None:
    """waitress closes only silent connections; a byte every 0.2 s is never silent."""
    started = time.monotonic()
    with socket.create_connection(quick_deadline_server, timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sock.setblocking(False)
        data = b""
        while time.monotonic() - started < 5:
            with contextlib.suppress(BlockingIOError, BrokenPipeError, ConnectionResetError):
                sock.send(b"X")
            with contextlib.suppress(BlockingIOError):
                piece = sock.recv(65536)
                data += piece
                if not piece:
                    break
            time.sleep(0.2)
    took = time.monotonic() - started
    assert data, f"no answer after {took:.1f} s"
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"408", data  # HTTP/1.0: the request line never came whole
    assert json.loads(body) == {
        "error": "Request timeout",
        "details": ["The request was not received whole within 1 seconds"],
    }
    assert 1.0 <= took < 2.5, took


def test_a_request_within_its_deadline_is_served(quick_deadline_server: tuple[str, int]) -> None:
    with socket.create_connection(quick_deadline_server, timeout=5) as sock:
        raw = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        for piece in (raw[:10], raw[10:30], raw[30:]):
            sock.sendall(piece)
            time.sleep(0.2)
        data = b""
        while piece := sock.recv(65536):
            data += piece
    assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"hello"), data


def test_a_low_open_files_limit_is_said_in_one_line_at_start(
    database_url: str, tmp_path: Path
) -> None:
    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    env = live.make_env(database_url, HOST="127.0.0.1", PORT=live.free_port())
    log_path = tmp_path / "api.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "run_api.py"],
            cwd=live.ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=low_limit,  # only setrlimit, before exec
        )
    try:
        live.wait_until(lambda: "listening" in log_path.read_text(), 20, "run_api.py to listen")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
    warnings = [line for line in log_path.read_text().splitlines() if "open-files" in line]
    assert len(warnings) == 1, log_path.read_text()
    assert "the open-files limit is 256" in warnings[0]
    assert "below the 2100 this server needs" in warnings[0]
