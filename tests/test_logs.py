"""Logs: text by default and free of colour codes in a file; LOG_FORMAT=json gives one JSON
object per line, with the request id echoed to the client and on that request's lines."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from helpers import create_ready_order, flag

import live
from config.logs import REQUEST_ID, configure_logging

HEX_ID = re.compile(r"[0-9a-f]{32}")


def get(api: live.Api, path: str, headers: dict[str, str]) -> tuple[int, Message]:
    """The status and the headers, looked up whatever their case (waitress writes
    `X-Request-Id`)."""
    request = urllib.request.Request(api.base_url + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line must be one JSON object."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def root_logging() -> Iterator[None]:
    """configure_logging replaces the root's handlers: put pytest's back after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_client_request_id_is_echoed_and_one_is_made_when_absent_or_unfit(
    client: FlaskClient,
) -> None:
    given = client.get("/api/sim/tracker", headers={"X-Request-ID": "order-run-7"})
    assert given.headers["X-Request-ID"] == "order-run-7"
    made = client.get("/api/sim/tracker")
    assert HEX_ID.fullmatch(made.headers["X-Request-ID"])
    forged = client.get("/api/sim/tracker", headers={"X-Request-ID": "a b\t" + "y" * 200})
    assert HEX_ID.fullmatch(forged.headers["X-Request-ID"])
    refused = client.post("/api/v2/orders/1/complete", headers={"X-Request-ID": "abc"})
    assert (refused.status_code, refused.headers["X-Request-ID"]) == (404, "abc")


def test_made_request_ids_differ_between_requests_and_between_forked_workers(
    client: FlaskClient,
) -> None:
    """A made id is a process's random prefix and a count: gunicorn forks its workers from one
    process, so each must draw its own prefix, or two workers would hand out the same ids."""
    made = {client.get("/api/sim/tracker").headers["X-Request-ID"] for _ in range(50)}
    assert len(made) == 50
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a worker forked after the app was made (no database call)
        os.write(writing, client.get("/no-such-page").headers["X-Request-ID"].encode())
        os._exit(0)
    os.close(writing)
    child_id = os.read(reading, 64).decode()
    os.waitpid(pid, 0)
    parent_id = client.get("/no-such-page").headers["X-Request-ID"]
    assert HEX_ID.fullmatch(child_id) and HEX_ID.fullmatch(parent_id)
    assert child_id[:16] != parent_id[:16]


def test_json_lines_carry_the_fields_and_the_request_id_set(root_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("api", log_format="json", stream=stream)
    token = REQUEST_ID.set("rid-1")
    try:
        logging.getLogger("api.http.errors").warning("\x1b[31mDatabase unavailable\x1b[0m: %s", "x")
    finally:
        REQUEST_ID.reset(token)
    logging.getLogger("tracker.jobs").info("no request here")
    first, second = json_lines(stream.getvalue())
    assert {key: first[key] for key in ("level", "logger", "message", "request_id", "program")} == {
        "level": "WARNING",
        "logger": "api.http.errors",
        "message": "Database unavailable: x",  # a StringIO is no terminal: no colour codes
        "request_id": "rid-1",
        "program": "api",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d.*", first["time"])
    assert second["request_id"] is None


def test_text_logs_are_the_default_and_keep_their_layout(root_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("run_tracker", stream=stream)
    logging.getLogger("x").info("\x1b[1m201\x1b[0m done")
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO \[run_tracker\] 201 done\n", stream.getvalue()
    )


@pytest.mark.e2e
def test_run_api_with_json_logs_writes_the_request_id_on_that_request_s_line(
    database_url: str, tmp_path: Path
) -> None:
    with live.run_api(database_url, tmp_path, LOG_FORMAT="json") as api:
        status, headers = get(api, "/api/v2/orders/33719/status", {"X-Request-ID": "it-42"})
        assert (status, headers["X-Request-ID"]) == (404, "it-42")
        api.stop()
    lines = json_lines(api.log_path.read_text())
    mine = [line for line in lines if line["request_id"] == "it-42"]
    assert len(mine) == 1
    assert {key: mine[0][key] for key in ("logger", "method", "path", "status")} == {
        "logger": "api.access",
        "method": "GET",
        "path": "/api/v2/orders/33719/status",
        "status": 404,
    }
    assert mine[0]["duration_ms"] >= 0


@pytest.mark.e2e
@pytest.mark.database_free
def test_gunicorn_with_json_logs_writes_its_own_lines_as_json_with_the_request_id_on_access(
    tmp_path: Path,
) -> None:
    # Its own SQLite file in either pass: the lines are gunicorn's, whatever the database.
    database_url = live.sqlite_url(tmp_path / "rx.sqlite3")
    with live.run_gunicorn(
        database_url, tmp_path, workers=1, options=["--access-logfile", "-"], LOG_FORMAT="json"
    ) as api:
        status, headers = get(api, "/api/v2/orders/33719/status", {"X-Request-ID": "gu-42"})
        assert (status, headers["X-Request-ID"]) == (404, "gu-42")
        assert api.stop() == 0
    lines = json_lines(api.log_path.read_text())  # its stdout (the access log) and its stderr
    assert all(
        {"time", "level", "logger", "message", "request_id", "program"} <= line.keys()
        and line["program"] == "api"
        for line in lines
    )
    said = [line["message"] for line in lines if line["logger"] == "gunicorn.error"]
    assert any(message.startswith("Listening at: http://127.0.0.1:") for message in said)
    assert any(message.startswith("Booting worker with pid: ") for message in said)
    assert "Handling signal: term" in said
    access = [
        line
        for line in lines
        if line["logger"] == "gunicorn.access" and line["request_id"] == "gu-42"
    ]
    assert len(access) == 1
    assert {key: access[0][key] for key in ("level", "method", "path", "status")} == {
        "level": "INFO",
        "method": "GET",
        "path": "/api/v2/orders/33719/status",
        "status": 404,
    }
    assert '"GET /api/v2/orders/33719/status HTTP/1.1" 404 ' in access[0]["message"]
    assert access[0]["duration_ms"] >= 0


@pytest.mark.e2e
@pytest.mark.database_free
def test_gunicorn_with_text_logs_keeps_its_own_layout(tmp_path: Path) -> None:
    database_url = live.sqlite_url(tmp_path / "rx.sqlite3")
    with live.run_gunicorn(
        database_url, tmp_path, workers=1, options=["--access-logfile", "-"]
    ) as api:
        get(api, "/api/v2/orders/33719/status", {})
        assert api.stop() == 0
    text = api.log_path.read_text()
    stamp = r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[\d+\] \[INFO\] "
    assert re.search(rf"^{stamp}Listening at: http://127\.0\.0\.1:", text, re.MULTILINE)
    assert re.search(
        r'^127\.0\.0\.1 - - \[[^]]+\] "GET /api/v2/orders/33719/status HTTP/1\.1" 404 ',
        text,
        re.MULTILINE,
    )


@pytest.mark.e2e
def test_text_logs_in_a_file_have_no_colour_codes(database_url: str, tmp_path: Path) -> None:
    with live.run_api(database_url, tmp_path) as api:
        get(api, "/api/v2/orders/33719/status", {})
        api.stop()
    text = api.log_path.read_text()
    assert "INFO [run_api] Rx-Universe v2 API simulator listening on http://" in text
    assert "\x1b" not in text


@pytest.mark.e2e
def test_the_tracker_logs_one_json_line_per_batch_with_counts_and_duration(
    database_url: str, tmp_path: Path
) -> None:
    with live.run_api(database_url, tmp_path) as api:
        for _ in range(3):
            flag(api, create_ready_order(api))
    drained = live.run_tracker_once(database_url, LOG_FORMAT="json", TRACKER_BATCH_SIZE=2)
    assert drained.returncode == 0, drained.stderr
    batches = [line for line in json_lines(drained.stderr) if line["logger"] == "tracker.jobs"]
    assert [(b["taken"], b["completed"], b["rejected"], b["left_flagged"]) for b in batches] == [
        (2, 2, 0, 0),
        (1, 1, 0, 0),
    ]
    assert all(b["duration_ms"] > 0 and b["program"] == "run_tracker" for b in batches)
