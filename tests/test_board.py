"""The lab board: its data endpoint's figures, its window in time, its page and its guards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient
from freezegun import freeze_time
from helpers import assert_body
from sqlalchemy.orm import Session, sessionmaker

from shared.domain.lab_setup import Lab
from tracker.jobs import TrackerConfig, run_cycle

MakeOrder = Callable[..., str]
FLOW = "REC PICK BLK GEN FIN SPL DBK LM BSC HC CLN AR1 AR2 MIR TNT UV TRC EDG POL ETC MNT DB FQA"
FLOW += " SHP"  # CMP, the completion station, holds no work in process


def stations(lab: Lab, **loads: tuple[int, int]) -> list[dict[str, Any]]:
    """The default lab's stations in flow order, each with its (wip, on hold) from `loads`."""
    return [
        {
            "code": code,
            "desc": lab.stations[code].description,
            "wip": loads.get(code, (0, 0))[0],
            "onHold": loads.get(code, (0, 0))[1],
        }
        for code in FLOW.split()
    ]


def event(time: str, kind: str, number: int, station: str | None, code: str | None = None) -> Any:
    return {
        "time": time,
        "kind": kind,
        "orderNumber": str(number),
        "station": station,
        "code": code,
    }


def lab_at_work(
    client: FlaskClient, make_order: MakeOrder, session_factory: Any, config: TrackerConfig
) -> None:
    """Orders everywhere at 10:00, a tracker cycle at 10:01 (two completed, one rejected for a
    hold), then one more order flagged at 10:01:30."""
    with freeze_time("2026-11-27T10:00:00Z"):
        make_order(orderNumber=101, addons=["BSC"], stations=["GEN"])
        make_order(orderNumber=102, addons=["BSC"], stations=["GEN", "BSC"], onHold=True)
        make_order(orderNumber=103, status="V")
        make_order(orderNumber=104, status="C", stations=["GEN"])
        make_order(orderNumber=105, deleted=True, stations=["GEN"])
        for number in (106, 107, 108, 109):
            make_order(orderNumber=number, stations=["GEN"])
        for number in (106, 107, 108):
            assert client.post(f"/api/v2/orders/{number}/complete").status_code == 201
        assert client.patch("/api/sim/orders/107", json={"onHold": True}).status_code == 200
    with freeze_time("2026-11-27T10:01:00Z"):
        run_cycle(session_factory, config)
    with freeze_time("2026-11-27T10:01:30Z"):
        assert client.post("/api/v2/orders/109/complete").status_code == 201


def test_the_board_counts_work_in_process_the_queue_and_the_last_minutes(
    client: FlaskClient,
    make_order: MakeOrder,
    session_factory: sessionmaker[Session],
    tracker_config: TrackerConfig,
    lab: Lab,
) -> None:
    lab_at_work(client, make_order, session_factory, tracker_config)
    with freeze_time("2026-11-27T10:01:31Z"):
        response = client.get("/api/sim/board")
    at_ten = "2026-11-27T10:00:00.000Z"
    assert_body(
        response,
        200,
        {
            "generatedAt": "2026-11-27T10:01:31.000Z",
            "windowMinutes": 15,
            # 101 and 107 (held, rejected) at GEN, 102 held at BSC, 109 at GEN and flagged;
            # 104 completed and 105 cancelled are not in the lab; 103 has not started.
            "stations": stations(lab, GEN=(3, 1), BSC=(1, 1)),
            "notStarted": 1,
            "active": 5,
            "onHold": 2,
            "flagged": 1,
            "oldestFlag": "2026-11-27T10:01:30.000Z",
            # Its last beat was 31 s ago: more than three of its 1 s polls.
            "trackerRunning": False,
            "lastHeartbeat": "2026-11-27T10:01:00.000Z",
            "completed": 2,
            "rejected": 1,
            "rejectedByCode": [{"code": "05", "count": 1}],
            "events": [
                event("2026-11-27T10:01:00.000Z", "completed", 108, "CMP"),
                event("2026-11-27T10:01:00.000Z", "completed", 106, "CMP"),
                event("2026-11-27T10:01:00.000Z", "rejected", 107, None, "05"),
                *(event(at_ten, "checkin", n, "GEN") for n in (109, 108, 107, 106, 105, 104)),
                event(at_ten, "checkin", 102, "BSC"),
                event(at_ten, "checkin", 102, "GEN"),
                event(at_ten, "checkin", 101, "GEN"),
            ],
            "importWaiting": 0,
            "oldestSubmission": None,
            "importPaused": False,
            "imported": 0,
            "tickets": 0,
            "lastTicket": None,
        },
    )


def test_completions_and_rejections_leave_the_board_after_its_window(
    client: FlaskClient,
    make_order: MakeOrder,
    session_factory: sessionmaker[Session],
    tracker_config: TrackerConfig,
    lab: Lab,
) -> None:
    lab_at_work(client, make_order, session_factory, tracker_config)
    with freeze_time("2026-11-27T10:16:00.001Z"):
        board = client.get("/api/sim/board").get_json()
    assert (board["completed"], board["rejected"], board["rejectedByCode"]) == (0, 0, [])
    assert (board["events"], board["trackerRunning"]) == ([], False)
    assert (board["active"], board["flagged"], board["stations"]) == (
        5,
        1,
        stations(lab, GEN=(3, 1), BSC=(1, 1)),
    )


def test_a_rejection_stays_counted_when_the_order_is_asked_again(
    client: FlaskClient,
    make_order: MakeOrder,
    session_factory: sessionmaker[Session],
    tracker_config: TrackerConfig,
) -> None:
    lab_at_work(client, make_order, session_factory, tracker_config)
    with freeze_time("2026-11-27T10:02:00Z"):
        assert client.patch("/api/sim/orders/107", json={"onHold": False}).status_code == 200
        assert client.post("/api/v2/orders/107/complete").status_code == 201
        board = client.get("/api/sim/board").get_json()
    assert (board["rejected"], board["rejectedByCode"], board["flagged"]) == (
        1,
        [{"code": "05", "count": 1}],
        2,
    )


def test_the_board_page_and_its_files_are_served_from_the_api(client: FlaskClient) -> None:
    page = client.get("/board")
    assert (page.status_code, page.mimetype) == (200, "text/html")
    html = page.get_data(as_text=True)
    assert '<script src="board/board.js">' in html and "http" not in html.replace("http-equiv", "")
    script, style = client.get("/board/board.js"), client.get("/board/board.css")
    assert (script.status_code, style.status_code) == (200, 200)
    assert '"api/sim/board"' in script.get_data(as_text=True)
    missing = {"error": "Not found", "details": ["No endpoint for GET /board/board.html"]}
    assert_body(client.get("/board/board.html"), 404, missing)


def test_the_admin_key_guards_the_board_data_and_sim_api_off_removes_the_board(
    make_client: Callable[..., FlaskClient],
) -> None:
    guarded = make_client(sim_admin_key="s3cret")
    assert_body(
        guarded.get("/api/sim/board"),
        401,
        {"error": "Unauthorized", "details": ["A valid simulator admin key is required"]},
    )
    assert guarded.get("/api/sim/board", headers={"X-API-Key": "s3cret"}).status_code == 200
    assert guarded.get("/board").status_code == 200  # the page holds no data; it asks for the key
    off = make_client(sim_api=False)
    assert (off.get("/board").status_code, off.get("/api/sim/board").status_code) == (404, 404)


SUBMISSION = {
    "customerJobId": "J",
    "customerNumber": "1001",
    "jobType": "F",
    "poNumber": "P",
    "rtLensStyle": "SV",
    "rtLensMaterial": "PC",
}


def test_the_board_shows_the_import_queue_and_the_imports_of_the_window(
    client: FlaskClient, session_factory: sessionmaker[Session], tracker_config: TrackerConfig
) -> None:
    with freeze_time("2026-12-07T09:00:00Z"):
        for _ in range(3):
            assert client.post("/api/v2/orders", json=SUBMISSION).status_code == 202
        run_cycle(session_factory, tracker_config)  # imports all three
    client.post("/api/sim/processor/pause")
    with freeze_time("2026-12-07T09:05:00.25Z"):
        assert client.post("/api/v2/orders", json=SUBMISSION).status_code == 202
    with freeze_time("2026-12-07T09:10:00Z"):
        board = client.get("/api/sim/board").get_json()
    assert [
        board[k] for k in ("importWaiting", "oldestSubmission", "importPaused", "imported")
    ] == [
        1,
        "2026-12-07T09:05:00.250Z",
        True,
        3,
    ]
    with freeze_time("2026-12-07T09:15:00.001Z"):  # the three imports left the 15-minute window
        assert client.get("/api/sim/board").get_json()["imported"] == 0


def test_the_board_shows_the_tickets_of_the_window_and_the_latest_one(
    client: FlaskClient, make_order: Any
) -> None:
    first, second = make_order(), make_order()
    with freeze_time("2026-12-07T09:00:00Z"):
        assert client.post(f"/api/v2/orders/{first}/print_ticket").status_code == 201
    with freeze_time("2026-12-07T09:05:00.5Z"):
        url = f"/api/v2/orders/{second}/print_ticket"
        assert client.post(url, json={"lpt": "LPT2"}).status_code == 201
    with freeze_time("2026-12-07T09:10:00Z"):
        board = client.get("/api/sim/board").get_json()
    assert (board["tickets"], board["lastTicket"]) == (
        2,
        {"orderNumber": second, "port": "LPT2", "printedAt": "2026-12-07T09:05:00.500Z"},
    )
    with freeze_time("2026-12-07T09:16:00Z"):  # the first left the 15-minute window
        assert client.get("/api/sim/board").get_json()["tickets"] == 1
