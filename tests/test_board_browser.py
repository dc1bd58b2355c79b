"""The lab board in a real browser (Debian's chromium, through selenium and chromium-driver),
against a live run_api.py and run_tracker.py while orders move through the v2 endpoints; the
landing page and Swagger UI; and a page on another site trying to change the lab (CSRF).

`BOARD_SCREENSHOT=docs/board.png` keeps a screenshot of the board mid-run (how docs/board.png
is made). Without a browser the test is skipped, except with `CI=true`, where it fails.
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome import service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, sessionmaker

import live
from shared.db.models import CheckIn, Order, WorkTicket

# Pages in a real browser, whatever the engine behind them (tests/test_board.py reads the board's
# data on both): the SQLite pass runs them.
pytestmark = pytest.mark.database_free

BROWSER = "/usr/bin/chromium"
# Under a loaded CI machine a board redraw, a tracker poll and the fault round trip can take
# several seconds each: 15 s was once not enough for the completions and the rejection.
PAGE_WAIT = 30.0
# Orders the test creates: a code for each, (addons, the v2 check-ins it makes).
ROUTES: list[tuple[list[str], list[str]]] = [
    ([], ["REC"]),
    ([], ["REC", "PICK"]),
    ([], ["REC", "PICK", "BLK"]),
    ([], ["REC", "PICK", "BLK", "GEN"]),
    (["BSC"], ["REC", "PICK", "BLK", "GEN", "BSC"]),
    (["AR"], ["REC", "PICK", "BLK", "GEN", "CLN", "AR1"]),
    ([], ["REC", "PICK", "BLK", "GEN", "FIN"]),
    ([], ["REC", "PICK", "BLK", "GEN", "FIN", "SPL", "DBK", "LM"]),
    ([], ["REC", "PICK", "BLK", "GEN", "FIN", "SPL", "DBK", "LM", "TRC", "EDG"]),
]


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not (Path(BROWSER).exists() and Path(driver_path).exists()):
        message = f"needs {BROWSER} and chromedriver (apt-get install chromium chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1920,1080")  # a wall screen
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=service.Service(driver_path))
    try:
        yield driver
    finally:
        driver.quit()


@contextmanager
def api_and_tracker(database_url: str, tmp_path: Path) -> Iterator[live.Api]:
    """run_api.py and a run_tracker.py polling every 0.2 s, once the tracker has a heartbeat."""
    with (
        live.run_api(database_url, tmp_path) as api,
        live.run_tracker(database_url, tmp_path, tracker_interval=0.2),
    ):
        live.wait_until(
            lambda: call(api, "GET", "/api/sim/tracker", status=200)["running"] or None,
            PAGE_WAIT,
            "the tracker's first heartbeat",
        )
        yield api


def call(api: live.Api, method: str, path: str, body: Any = None, status: int = 201) -> Any:
    answer, payload = api.call(method, path, body)
    assert answer == status, (method, path, payload)
    return payload


def start_orders(api: live.Api, routes: list[tuple[list[str], list[str]]]) -> list[str]:
    """Create the orders (Valid, not yet in the lab), then check each in through its route."""
    numbers = []
    for addons, stations in routes:
        order = call(api, "POST", "/api/sim/orders", {"status": "V", "addons": addons})
        numbers.append(order["orderNumber"])
        for station in stations:
            body = {"orderIdentifier": order["orderNumber"]}
            call(api, "POST", f"/api/v2/job_track/stations/{station}", body)
    return numbers


def shown(driver: webdriver.Chrome) -> dict[str, Any] | None:
    """What the board shows now: its tiles, and each station's work in process (None before its
    first answer, or when it redraws as it is read)."""
    if not driver.find_element(By.TAG_NAME, "body").get_attribute("data-generated-at"):
        return None
    try:
        return _figures(driver)
    except StaleElementReferenceException:
        return None


def _figures(driver: webdriver.Chrome) -> dict[str, Any]:
    figures: dict[str, Any] = {
        name: int(driver.find_element(By.ID, name).text)
        for name in (
            "active",
            "not-started",
            "on-hold",
            "flagged",
            "completed",
            "rejected",
            "tickets",
        )
    }
    rows = driver.find_elements(By.CSS_SELECTOR, "#stations .station")
    figures["stations"] = {
        row.get_attribute("data-station"): int(row.find_element(By.CLASS_NAME, "wip").text)
        for row in rows
        if row.find_element(By.CLASS_NAME, "wip").text != "0"
    }
    return figures


def in_database(session_factory: sessionmaker[Session]) -> dict[str, Any]:
    """The same figures, counted straight from the tables."""
    since = datetime.now(UTC) - timedelta(minutes=15)
    active = and_(Order.status != "C", Order.deleted.is_(False))
    latest = (
        select(CheckIn.station)
        .where(CheckIn.order_number == Order.order_number)
        .order_by(CheckIn.checked_in_at.desc(), CheckIn.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    with session_factory() as session:

        def count(*where: Any) -> int:
            return session.execute(
                select(func.count(Order.order_number)).where(*where)
            ).scalar_one()

        at = session.execute(select(latest, func.count()).where(active).group_by(latest)).all()
        completed = session.execute(
            select(func.count()).where(CheckIn.station == "CMP", CheckIn.checked_in_at >= since)
        ).scalar_one()
        return {
            "active": count(active),
            "not-started": dict(at).get(None, 0),
            "on-hold": count(active, Order.on_hold.is_(True)),
            "flagged": count(Order.completion_requested_at.is_not(None)),
            "completed": completed,
            "rejected": count(Order.last_rejected_at >= since),
            "tickets": session.execute(
                select(func.count()).where(WorkTicket.printed_at >= since)
            ).scalar_one(),
            "stations": {station: n for station, n in at if station is not None},
        }


# The last figures compared, so that a wait that times out says how the two differed.
LAST_SEEN: dict[str, Any] = {}


def board_matches(
    driver: webdriver.Chrome, session_factory: sessionmaker[Session]
) -> dict[str, Any] | None:
    now = shown(driver)
    counted = in_database(session_factory)
    LAST_SEEN.update(board=now, database=counted)
    return now if now is not None and now == counted else None


def wait_for_board(
    driver: webdriver.Chrome,
    session_factory: sessionmaker[Session],
    what: str,
    until: Callable[[dict[str, Any]], bool] = lambda _: True,
) -> dict[str, Any]:
    """Until the board agrees with the database (and `until` holds); a timeout names both."""
    try:
        return live.wait_until(
            lambda: (now := board_matches(driver, session_factory)) and until(now) and now,
            PAGE_WAIT,
            what,
        )
    except TimeoutError as error:
        raise AssertionError(
            f"{error}: board {LAST_SEEN.get('board')}, database {LAST_SEEN.get('database')}"
        ) from error


def tracker_beat(api: live.Api) -> str:
    return str(call(api, "GET", "/api/sim/tracker", status=200)["lastHeartbeat"])


def wait_for_beats(api: live.Api, beats: int) -> None:
    """Until the tracker has written `beats` more heartbeats."""
    for _ in range(beats):
        last = tracker_beat(api)
        live.wait_until(
            lambda last=last: tracker_beat(api) != last or None,
            PAGE_WAIT,
            "a new heartbeat",
        )


@pytest.mark.e2e
def test_the_board_shows_the_lab_live_in_a_browser_and_agrees_with_the_database(
    browser: webdriver.Chrome,
    database_url: str,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    with api_and_tracker(database_url, tmp_path) as api:
        browser.get(api.base_url + "/board")
        assert browser.title == "Lab board"
        first = wait_for_board(browser, session_factory, "the empty board")
        assert first["active"] == 0

        numbers = start_orders(api, ROUTES * 3)
        held = numbers[0]
        call(api, "PATCH", f"/api/sim/orders/{held}", {"onHold": True}, status=200)
        busy = wait_for_board(browser, session_factory, "the lab at work")
        assert (busy["active"], busy["on-hold"], busy["stations"]["GEN"]) == (27, 1, 3)

        # Three completed by the tracker; one rejected by it (held after its flag, while a
        # tracker fault paused the queue); one refused by the API (it never passed MIR).
        for number in numbers[1:4]:
            call(api, "POST", f"/api/v2/orders/{number}/complete")
        fault = call(api, "POST", "/api/sim/faults", {"tracker": "pause"})
        wait_for_beats(api, 2)  # the second beat's poll has surely read the pause
        call(api, "POST", f"/api/v2/orders/{numbers[6]}/complete")
        call(api, "PATCH", f"/api/sim/orders/{numbers[6]}", {"onHold": True}, status=200)
        call(api, "DELETE", f"/api/sim/faults/{fault['id']}", status=200)
        (mirror,) = start_orders(api, [(["MIR"], ["REC"])])
        for number in numbers[7:9]:
            call(api, "POST", f"/api/v2/orders/{number}/print_ticket")
        call(api, "POST", f"/api/v2/orders/{mirror}/complete", status=400)

        after = wait_for_board(
            browser,
            session_factory,
            "the completions and the rejection on the board",
            lambda now: bool(now["rejected"]),
        )
        assert (after["completed"], after["rejected"], after["flagged"]) == (3, 1, 0)
        assert (after["active"], after["on-hold"], after["tickets"]) == (25, 2, 2)
        assert browser.find_element(By.ID, "last-ticket").text.startswith(
            f"last #{numbers[8]} on LPT1"
        )
        assert browser.find_element(By.ID, "tracker").text.startswith("Job Tracker running")
        assert browser.find_element(By.ID, "rejected-by-code").text == "05: 1"
        events = browser.find_element(By.ID, "events").text
        assert f"#{numbers[6]} rejected, code 05" in events
        assert f"#{numbers[3]} completed" in events

        if os.environ.get("BOARD_SCREENSHOT"):
            browser.save_screenshot(os.environ["BOARD_SCREENSHOT"])
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []


@pytest.mark.e2e
def test_the_landing_page_in_a_browser_says_what_runs_and_every_link_opens(
    browser: webdriver.Chrome, database_url: str, tmp_path: Path
) -> None:
    """Offline, as served: the state, the links each opening its page, the icon, no console
    error (no 404 for a favicon)."""
    with api_and_tracker(database_url, tmp_path) as api:
        browser.get(api.base_url + "/")
        assert browser.title == "Rx-Universe v2 API simulator"
        assert browser.find_element(By.ID, "tracker").text.startswith("running (last heartbeat")
        engine = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
        assert browser.find_element(By.ID, "database").text.startswith(engine + ", ")
        assert browser.find_element(By.ID, "importer").text.startswith("importing")
        assert "stations" in browser.find_element(By.ID, "lab").text
        quick = browser.find_element(By.ID, "quick-start").text
        assert f"curl -X POST {api.base_url}/api/v2/orders/33719/complete" in quick
        titles = {
            "API reference": "Rx-Universe v2 API simulator: API documentation",
            "Lab board": "Lab board",
        }
        for text, title in titles.items():
            browser.find_element(By.LINK_TEXT, text).click()
            live.wait_until(lambda title=title: browser.title == title, PAGE_WAIT, title)
            browser.back()
        icon = browser.execute_script(
            "return fetch('/favicon.ico').then(r => r.status + ' ' + r.headers.get('content-type'))"
        )
        assert icon.startswith("200 image/svg+xml")
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []


@pytest.mark.e2e
def test_swagger_uis_authorize_takes_a_key_and_the_completion_call_then_gets_through(
    browser: webdriver.Chrome, database_url: str, tmp_path: Path
) -> None:
    """With API_KEYS set, the reference page opens without a key; Authorize, then "Try it out"
    on the completion call: the answer is Rx-Universe's 404 code 01, not our 401."""
    with live.run_api(database_url, tmp_path, api_keys="key-one") as api:
        browser.get(api.base_url + "/api/v2/docs")
        wait = WebDriverWait(browser, PAGE_WAIT)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "button.authorize"))
        browser.find_element(By.CSS_SELECTOR, "button.authorize").click()
        forms = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".auth-container"))
        api_key = next(f for f in forms if "ApiKey" in f.text and "AdminKey" not in f.text)
        api_key.find_element(By.CSS_SELECTOR, "input").send_keys("key-one")
        api_key.find_element(By.CSS_SELECTOR, "button.authorize").click()
        browser.find_element(By.CSS_SELECTOR, "button.btn-done").click()

        operation = wait.until(
            lambda d: d.find_element(By.ID, "operations-Rx-Universe_v2-complete_order")
        )
        operation.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
        wait.until(lambda d: operation.find_elements(By.CSS_SELECTOR, "button.try-out__btn"))
        operation.find_element(By.CSS_SELECTOR, "button.try-out__btn").click()
        operation.find_element(By.CSS_SELECTOR, "input[placeholder='orderIdentifier']").send_keys(
            "999999"
        )
        operation.find_element(By.CSS_SELECTOR, "button.execute").click()
        status = wait.until(
            lambda d: operation.find_elements(
                By.CSS_SELECTOR, ".live-responses-table tbody .response-col_status"
            )
        )
        assert status[0].text.strip() == "404"
        body = operation.find_element(By.CSS_SELECTOR, ".live-responses-table .microlight").text
        assert '"Error Code: 01"' in body and '"Error Message: Order not found"' in body


# What any page on any site can send to another origin without the browser asking first (no
# CORS preflight): a text/plain form, and fetches in no-cors mode, with no body, a text body, a
# Blob with no type. Each would have changed the lab: reset it, created 66666 and 66667, paused
# the Remote Order Processor.
ATTACK_PAGE = """<!doctype html>
<title>sending</title>
<form method="post" enctype="text/plain" action="{api}/api/sim/reset">
  <input name='{{"orderNumber": "' value='66668"}}'>
</form>
<script>
  const options = {{ method: "POST", mode: "no-cors" }};
  Promise.all([
    fetch("{api}/api/sim/reset", options),
    fetch("{api}/api/sim/orders", {{ ...options, body: '{{"orderNumber": "66666"}}' }}),
    fetch("{api}/api/sim/orders", {{ ...options, body: new Blob(['{{"orderNumber": "66667"}}']) }}),
    fetch("{api}/api/sim/processor/pause", options),
  ]).then(
    () => {{ document.title = "sent"; }},
    (error) => {{ document.title = "failed " + error; }},
  );
</script>
"""


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Nothing on the test's output for each file served."""


@contextmanager
def another_site(folder: Path) -> Iterator[str]:
    """`folder` served on a port of its own: another origin than the API's."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def page_text(driver: webdriver.Chrome, url: str) -> str | None:
    """The text of the page at `url` once the browser shows it (None before, or mid-load)."""
    try:
        return driver.find_element(By.TAG_NAME, "body").text if driver.current_url == url else None
    except StaleElementReferenceException:
        return None


@pytest.mark.e2e
def test_a_page_on_another_site_cannot_change_the_lab_and_the_board_page_still_can(
    browser: webdriver.Chrome, database_url: str, tmp_path: Path
) -> None:
    """With no SIM_ADMIN_KEY: a page from another origin sends the simulator every write a
    browser lets it send unasked; none changes the lab. A page of the API's own origin still
    reads, and writes with or without a body."""
    site = tmp_path / "site"
    site.mkdir()
    with live.run_api(database_url, tmp_path) as api, another_site(site) as elsewhere:
        (site / "attack.html").write_text(ATTACK_PAGE.format(api=api.base_url))
        call(api, "POST", "/api/sim/orders", {"orderNumber": "33719"})

        browser.get(elsewhere + "/attack.html")
        live.wait_until(lambda: browser.title != "sending" or None, PAGE_WAIT, "the fetches")
        assert browser.title == "sent"
        browser.execute_script("document.forms[0].submit()")
        answer = live.wait_until(
            lambda: page_text(browser, api.base_url + "/api/sim/reset"),
            PAGE_WAIT,
            "the form's answer",
        )
        assert "Unsupported media type" in answer and "'text/plain'" in answer

        call(api, "GET", "/api/v2/orders/33719/status", status=200)
        for number in ("66666", "66667", "66668"):
            call(api, "GET", f"/api/v2/orders/{number}/status", status=404)
        assert call(api, "GET", "/api/sim/processor", status=200)["paused"] is False

        browser.get(api.base_url + "/board")
        live.wait_until(
            lambda: browser.find_element(By.TAG_NAME, "body").get_attribute("data-generated-at"),
            PAGE_WAIT,
            "the board's first answer",
        )
        statuses = browser.execute_async_script(
            """
            const done = arguments[arguments.length - 1];
            const json = { "Content-Type": "application/json" };
            Promise.all([
              fetch("/api/sim/processor/pause", { method: "POST" }),
              fetch("/api/sim/orders", {
                method: "POST", headers: json, body: '{"orderNumber": "77777"}',
              }),
            ]).then((answers) => done(answers.map((answer) => answer.status)));
            """
        )
        assert statuses == [200, 201]
        assert call(api, "GET", "/api/sim/processor", status=200)["paused"] is True
        call(api, "GET", "/api/v2/orders/77777/status", status=200)
