"""Hostile and careless clients, over raw sockets, against both servers the manual documents:
run_api.py (waitress) and gunicorn with gunicorn.conf.py."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, make_url, select

import live
from shared.db import schema
from shared.db.engine import make_engine
from shared.db.models import Order

# The servers and the request middleware, whatever the engine behind them
# (tests/test_stored_input.py holds what PostgreSQL refuses): the SQLite pass runs them once.
pytestmark = [pytest.mark.e2e, pytest.mark.database_free]

MiB = 1024 * 1024
HALF_OPEN = 8
# An answer from an idle server takes milliseconds; a second is the bound, not a timing.
PROMPT = 1.0


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


@pytest.fixture(scope="module")
def module_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database for the module's servers, with its schema (gunicorn's workers must not race
    to create it)."""
    server = os.environ.get("TEST_DATABASE_URL")
    admin = None
    name = f"t_{uuid.uuid4().hex[:16]}"
    if server:
        admin = make_engine(server, timeout=5)
        with admin.begin() as connection:
            connection.exec_driver_sql(f"CREATE SCHEMA {name}")
        url = make_url(server).update_query_dict({"options": f"-csearch_path={name}"})
        database_url = url.render_as_string(hide_password=False)
    else:
        database_url = live.sqlite_url(tmp_path_factory.mktemp("edge") / "edge.sqlite3")
    engine = make_engine(database_url)
    schema.upgrade(engine)
    engine.dispose()
    yield database_url
    if admin is not None:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
        admin.dispose()


@pytest.fixture(scope="module", params=["run_api", "gunicorn"])
def api(
    request: pytest.FixtureRequest, module_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[live.Api]:
    log_dir = tmp_path_factory.mktemp(request.param)
    with ExitStack() as stack:
        if request.param == "run_api":
            served = stack.enter_context(live.run_api(module_database, log_dir))
        else:
            served = stack.enter_context(live.run_gunicorn(module_database, log_dir, workers=2))
        yield served
        assert served.stop() == 0, served.log_tail()
        assert "Traceback" not in served.log_path.read_text(), served.log_tail(60)


def address(api: live.Api) -> tuple[str, int]:
    host, port = api.base_url.removeprefix("http://").split(":")
    return host, int(port)


def exchange(api: live.Api, raw: bytes, timeout: float = 10.0) -> Reply:
    """Send `raw` as it is, read until the server closes or one whole response has come."""
    with socket.create_connection(address(api), timeout=timeout) as sock:
        # The server may answer and close before reading everything: its answer is still there.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)
        return read_reply(sock)


def read_reply(sock: socket.socket) -> Reply:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        assert piece, f"connection closed before a response: {data!r}"
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
    }
    length = int(headers.get("content-length", "-1"))
    while length < 0 or len(body) < length:
        try:
            piece = sock.recv(65536)
        except ConnectionResetError:
            break
        if not piece:
            break
        body += piece
    text = body.decode("utf-8", "replace")
    parsed: Any = text
    if headers.get("content-type", "").startswith("application/json"):
        parsed = json.loads(text)
    return Reply(int(lines[0].split()[1]), headers, parsed)


def request(method: str, target: str, body: bytes = b"", **headers: str) -> bytes:
    """An HTTP/1.1 request as bytes; header names are given with `_` for `-`."""
    fields = {"Host": "127.0.0.1", "Connection": "close"}
    fields.update({name.replace("_", "-"): value for name, value in headers.items()})
    lines = [f"{method} {target} HTTP/1.1", *(f"{name}: {value}" for name, value in fields.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(body: bytes, size: int = 64 * 1024) -> bytes:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def invalid(*details: str) -> dict[str, Any]:
    return {"error": "Invalid request", "details": list(details)}


TOO_LARGE = {"error": "Request too large", "details": [f"The body may be at most {MiB} bytes"]}


def test_a_chunked_body_over_the_limit_is_413_and_creates_nothing(
    api: live.Api, module_database: str
) -> None:
    po = f"PO-{uuid.uuid4().hex[:8]}"
    padded = json.dumps({"poNumber": po}).encode() + b" " * (2 * MiB)
    raw = request(
        "POST", "/api/sim/orders", Content_Type="application/json", Transfer_Encoding="chunked"
    )
    reply = exchange(api, raw + chunked(padded))
    assert (reply.status, reply.body) == (413, TOO_LARGE)
    long_po = json.dumps({"poNumber": "x" * (2 * MiB)}).encode()
    reply = exchange(api, raw + chunked(long_po))
    assert (reply.status, reply.body) == (413, TOO_LARGE)
    assert orders_with_po(module_database, po) == 0


def test_a_chunked_body_within_the_limit_is_read_whole(api: live.Api) -> None:
    po = f"PO-{uuid.uuid4().hex[:8]}"
    body = json.dumps({"poNumber": po}).encode() + b" " * (MiB - 100)
    raw = request(
        "POST", "/api/sim/orders", Content_Type="application/json", Transfer_Encoding="chunked"
    )
    reply = exchange(api, raw + chunked(body))
    assert reply.status == 201, reply.body
    assert reply.body["poNumber"] == po


@pytest.mark.parametrize("send_body", [True, False], ids=["2 MiB sent", "16 MiB announced"])
def test_a_body_over_the_limit_with_a_length_is_413_and_the_connection_closed(
    api: live.Api, send_body: bool
) -> None:
    size = 2 * MiB if send_body else 16 * MiB
    head = request("POST", "/api/sim/orders", Content_Length=str(size), Connection="keep-alive")
    with socket.create_connection(address(api), timeout=5) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(head + (b" " * size if send_body else b""))
        assert_reply(read_reply(sock), 413, TOO_LARGE)
        if api.name != "gunicorn" and not send_body:
            # waitress refuses a body announced over its own buffer limit before reading it,
            # and closes the connection rather than hold it for a body it will not read.
            # (A body it has read keeps the connection, as any answered request does; gunicorn
            # keeps it too and discards the body as it comes: see docs/deploying.md.)
            assert sock.recv(1) == b""


@pytest.mark.parametrize("length", ["abc", "-5", "1.5"])
def test_an_invalid_content_length_is_400_and_writes_nothing(api: live.Api, length: str) -> None:
    body = b'{"orderNumber": 777, "deleted": true}'
    reply = exchange(api, request("POST", "/api/sim/orders", Content_Length=length) + body)
    assert reply.status == 400
    if api.name != "gunicorn":
        assert reply.body == invalid("Malformed HTTP request: Content-Length is invalid")
    else:
        assert "Invalid HTTP Header: &#x27;CONTENT-LENGTH&#x27;" in reply.body
    assert api.call("GET", "/api/v2/orders/777/status")[0] == 404


def exchange_half_closed(api: live.Api, raw: bytes) -> Reply:
    """Send `raw`, then close our side (shutdown SHUT_WR) and read the answer."""
    with socket.create_connection(address(api), timeout=10) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        return read_reply(sock)


def test_a_body_cut_short_by_a_half_close_is_400_and_writes_nothing(
    api: live.Api, module_database: str
) -> None:
    """What did arrive is a whole JSON document: it must not be taken for the body."""
    po = f"PO-{uuid.uuid4().hex[:8]}"
    sent = json.dumps({"poNumber": po}).encode()
    announced = len(sent) + 100
    raw = request(
        "POST", "/api/sim/orders", Content_Type="application/json", Content_Length=str(announced)
    )
    reply = exchange_half_closed(api, raw + sent)
    detail = (
        f"The body ended after {len(sent)} of the {announced} bytes its Content-Length announced"
    )
    assert_reply(reply, 400, invalid(detail))
    assert orders_with_po(module_database, po) == 0


@pytest.mark.parametrize(
    ("framing", "half_close"),
    [
        (b"zz\r\n{}\r\n0\r\n\r\n", False),  # a chunk size that is not hexadecimal
        (b"2\r\n{}XX0\r\n\r\n", False),  # a chunk without its CRLF
        (b"40\r\n{}", True),  # a chunk cut short, then our side closed
    ],
    ids=["bad size", "no terminator", "cut short"],
)
def test_a_malformed_chunked_body_is_400_in_our_shape_and_writes_nothing(
    api: live.Api, framing: bytes, half_close: bool
) -> None:
    raw = request(
        "POST",
        "/api/sim/orders",
        Content_Type="application/json",
        Transfer_Encoding="chunked",
    )
    reply = exchange_half_closed(api, raw + framing) if half_close else exchange(api, raw + framing)
    assert reply.status == 400, reply.body
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.body["error"] == "Invalid request"
    assert len(reply.body["details"]) == 1
    # The module's fixture fails the module if the log shows a traceback.


def test_a_chunked_body_over_the_limit_on_the_completion_call_is_413_and_flags_nothing(
    api: live.Api,
) -> None:
    """The completion call never reads its body: it is refused before the call runs."""
    status, created = api.call("POST", "/api/sim/orders", {"status": "V"})
    assert status == 201, created
    number = created["orderNumber"]
    raw = request(
        "POST",
        f"/api/v2/orders/{number}/complete",
        Content_Type="application/json",
        Transfer_Encoding="chunked",
    )
    reply = exchange(api, raw + chunked(b" " * (2 * MiB)))
    assert_reply(reply, 413, TOO_LARGE)
    status, order = api.call("GET", f"/api/v2/orders/{number}/status")
    assert (status, order["pendingCompletion"]) == (200, False)


@pytest.mark.parametrize("header", ["SCRIPT_NAME: /elsewhere", "PATH_INFO: /api/sim/reset"])
def test_a_header_naming_a_wsgi_variable_is_ignored(api: live.Api, header: str) -> None:
    """The API is served at the root whatever a client says (gunicorn trusted such headers
    from any client on the machine and answered a text/html 500 of its own)."""
    head = request("GET", "/api/v2/orders/98765/status").removesuffix(b"\r\n\r\n")
    raw = head + f"\r\n{header}\r\n\r\n".encode()
    assert_reply(
        exchange(api, raw),
        404,
        {"error": "No record found", "details": ["Provided: 98765"]},
    )


DELAYED = 100


def test_a_hundred_delayed_requests_leave_the_controls_answering_within_a_second(
    api: live.Api,
) -> None:
    """A delay fault holds a server thread per request it delays; the controls keep theirs.
    Each delayed call is a client that reads its answer as it comes and closes (gunicorn 27
    lingers up to 2 s on its main loop for a client that does not close after `Connection:
    close`: docs/deploying.md)."""
    status, fault = api.call(
        "POST", "/api/sim/faults", {"path": "/api/v2/orders/*/status", "delayMs": 3000}
    )
    assert status == 201, fault
    raw = request("GET", "/api/v2/orders/1/status")
    with ThreadPoolExecutor(DELAYED) as clients:
        try:
            answers = [clients.submit(exchange, api, raw) for _ in range(DELAYED)]
            time.sleep(0.5)  # the delayed requests reach the servers' threads
            for method, path in (("GET", "/healthz"), ("DELETE", "/api/sim/faults")):
                started = time.perf_counter()
                status, body = api.call(method, path, timeout=PROMPT * 5)
                took = time.perf_counter() - started
                assert status == 200, body
                assert took < PROMPT, f"{method} {path} took {took:.2f} s"
        finally:
            api.call("DELETE", "/api/sim/faults")
        replies = [answer.result() for answer in answers]
    full = [reply for reply in replies if reply.status == 503]
    # Beyond the delay slots, a delayed request is answered at once, in our shape, saying why.
    assert full, "no delayed request was over the process's delay slots"
    assert full[0].body["error"] == "Simulated fault"
    assert "answered at once" in full[0].body["details"][0]
    assert full[0].headers["retry-after"] == "1"
    assert {reply.status for reply in replies} <= {404, 503}


def orders_with_po(database_url: str, po_number: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            query = select(func.count()).where(Order.po_number == po_number)
            return int(connection.execute(query).scalar_one())
    finally:
        engine.dispose()


def assert_reply(reply: Reply, status: int, body: Any) -> None:
    assert (reply.status, reply.body) == (status, body)
    assert reply.headers["content-type"].startswith("application/json")


def test_merged_slashes_are_an_unknown_path_never_a_redirect(api: live.Api) -> None:
    reply = exchange(api, request("POST", "/api//sim/orders", Host="evil.example"))
    assert_reply(
        reply, 404, {"error": "Not found", "details": ["No endpoint for POST /api//sim/orders"]}
    )
    assert "location" not in reply.headers


@pytest.mark.parametrize(
    "identifier", ["9" * 10_000, "%C3%A9" * 10_000], ids=["digits", "percent-encoded"]
)
def test_a_10000_character_identifier_answers_404_code_01(api: live.Api, identifier: str) -> None:
    reply = exchange(api, request("POST", f"/api/v2/orders/{identifier}/complete"))
    assert_reply(
        reply,
        404,
        {
            "error": "Could not complete order",
            "details": ["Error Code: 01", "Error Message: Order not found"],
        },
    )


def test_a_100_kb_header_and_200_headers_are_served(api: live.Api) -> None:
    ok = {"running": False, "lastHeartbeat": None, "pending": 0}
    assert_reply(exchange(api, request("GET", "/api/sim/tracker", X_Big="a" * 100_000)), 200, ok)
    many = {f"X_Header_{i}": "v" for i in range(200)}
    assert_reply(exchange(api, request("GET", "/api/sim/tracker", **many)), 200, ok)


def test_headers_over_the_servers_limit_are_431(api: live.Api) -> None:
    reply = exchange(api, request("GET", "/api/sim/tracker", X_Big="a" * 300_000))
    if api.name != "gunicorn":
        assert_reply(
            reply,
            431,
            {
                "error": "Request header fields too large",
                "details": ["The request line and headers may be at most 262144 bytes"],
            },
        )
    else:
        assert (reply.status, reply.headers["content-type"]) == (431, "text/html")


@pytest.mark.parametrize(
    ("raw", "gunicorn_says"),
    [
        (b"\x01\x02 garbage !!\r\n\r\n", "Invalid Method"),
        (b"GARBAGE\r\n\r\n", "Invalid Request Line"),
    ],
)
def test_a_garbage_request_line_is_400(api: live.Api, raw: bytes, gunicorn_says: str) -> None:
    reply = exchange(api, raw)
    if api.name != "gunicorn":
        assert_reply(reply, 400, invalid("Malformed HTTP request: Start line is invalid"))
    else:
        # gunicorn answers before any app is called, in HTML: what docs/deploying.md documents.
        assert (reply.status, reply.headers["content-type"]) == (400, "text/html")
        assert gunicorn_says in reply.body


def half_open(api: live.Api) -> socket.socket:
    """A connection that has sent half a request and then nothing."""
    sock = socket.create_connection(address(api), timeout=10)
    sock.sendall(b"POST /api/sim/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
    return sock


def test_eight_half_open_connections_do_not_delay_a_normal_request(api: live.Api) -> None:
    with ExitStack() as stack:
        for _ in range(HALF_OPEN):
            stack.enter_context(half_open(api))
        time.sleep(0.2)  # let the server take them all in before the normal request
        started = time.monotonic()
        status, body = api.call("GET", "/api/sim/tracker", timeout=PROMPT)
        assert (status, body["pending"]) == (200, 0)
        assert time.monotonic() - started < PROMPT


# ---- run_api.py's command line and its address -------------------------------------------------


def run_api_command(database_url: str, *args: str, **settings: object) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "run_api.py", *args],
        cwd=live.ROOT,
        env=live.make_env(database_url, **settings),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def test_run_api_help_names_each_option_s_setting_and_serves_nothing(module_database: str) -> None:
    code, out, _ = run_api_command(module_database, "--help")
    out = " ".join(out.split())  # argparse wraps to the terminal's width
    assert code == 0
    assert "--host HOST" in out and "the HOST setting" in out
    assert "--port PORT" in out and "the PORT setting" in out


def test_a_port_in_use_stops_run_api_with_one_line_naming_port(module_database: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run_api_command(module_database, HOST="127.0.0.1", PORT=port)
    assert code == 2
    assert err.splitlines()[-1] == (
        f"run_api: PORT: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
    assert "Traceback" not in err


def test_an_address_this_machine_lacks_stops_run_api_with_one_line_naming_host(
    module_database: str,
) -> None:
    # 192.0.2.1 is reserved for documentation (RFC 5737): no machine has it, and binding to it
    # fails locally without a packet sent.
    code, _, err = run_api_command(module_database, "--host", "192.0.2.1", "--port", "4567")
    assert code == 2
    assert err.splitlines()[-1] == (
        "run_api: HOST: cannot listen on 192.0.2.1:4567: Cannot assign requested address"
    )
