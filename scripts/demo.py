"""The end-to-end demo, and a smoke check: real API and tracker processes on a throwaway DB."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import textwrap
import time
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import live

TRACKER_INTERVAL = 0.5
TRACKER_WAIT = 20.0
MISSING_ORDER = "999999"
STATUS_FIELDS = (
    "orderNumber",
    "status",
    "statusDesc",
    "onHold",
    "currentStation",
    "currentStationDesc",
    "pendingCompletion",
    "completionError",
)
WIDTH = 96


class DemoFailed(Exception):
    """An answer differs from the documented one: the demo doubles as a smoke check."""


class Narrator:
    """Numbered steps, so a newcomer can point at the step that surprised them."""

    def __init__(self) -> None:
        self.number = 0

    def step(self, title: str, *explanation: str) -> None:
        """A heading and the why of the step, before any output it explains."""
        self.number += 1
        heading = f"{self.number}. {title}"
        print(f"\n{heading}\n{'-' * min(WIDTH, len(heading))}")
        for paragraph in explanation:
            say(paragraph)


def say(text: str, indent: int = 3) -> None:
    """Wrapped prose, so long explanations stay readable in any terminal."""
    print(textwrap.fill(text, WIDTH, initial_indent=" " * indent, subsequent_indent=" " * indent))


def exchange(
    api: live.Api,
    method: str,
    path: str,
    body: Any = None,
    *,
    status: int,
    expect: Mapping[str, Any] | None = None,
    fields: Sequence[str] | None = None,
) -> Any:
    """Show a real HTTP exchange, then fail loudly if it is not what the documentation says."""
    got, reply = api.call(method, path, body)
    request = f"{method} {path}" + ("" if body is None else f"  {json.dumps(body)}")
    print(f"\n   > {request}")
    print(f"   < {got} {HTTPStatus(got).phrase}")
    shown = {key: reply.get(key) for key in fields} if fields and isinstance(reply, dict) else reply
    if fields:
        print("     (the fields that matter here)")
    print(textwrap.indent(json.dumps(shown, indent=2), " " * 5))
    if got != status:
        raise DemoFailed(f"{method} {path}: expected HTTP {status}, got {got}")
    wrong = {
        key: value
        for key, value in (expect or {}).items()
        if not isinstance(reply, dict) or reply.get(key) != value
    }
    if wrong:
        raise DemoFailed(f"{method} {path}: expected {json.dumps(wrong)}")
    return reply


def refusal(code: str, message: str) -> dict[str, Any]:
    """The documented body of a refused completion."""
    return {
        "error": "Could not complete order",
        "details": [f"Error Code: {code}", f"Error Message: {message}"],
    }


def create(api: live.Api, **order: Any) -> str:
    """A quiet order creation: the simulator's own API is scaffolding, not the subject."""
    status, reply = api.call("POST", "/api/sim/orders", order)
    if status != 201:
        raise DemoFailed(f"POST /api/sim/orders {json.dumps(order)} answered {status}: {reply}")
    return str(reply["orderNumber"])


def stop(service: live.Service) -> None:
    """A clean SIGTERM stop is part of the contract: the lab restarts both daily."""
    code = service.stop()
    print(f"   {service.name} (pid {service.process.pid}) exited with code {code}")
    if code != 0:
        raise DemoFailed(f"{service.name} exited with {code} after SIGTERM, not 0")


def run(workdir: Path, started: list[live.Service]) -> None:
    """The story, step by step; every claim it prints is checked against a real answer."""
    database = live.sqlite_url(workdir / "demo.sqlite3")
    tell = Narrator()
    print("Rx-Universe order completion, end to end")
    print("=" * 40)
    say(
        "This demo starts the real API (run_api.py) and, later, the real Job Tracker "
        "(run_tracker.py) as separate processes sharing one throwaway SQLite database. "
        "Every call below is real HTTP. Each step says what should happen and checks it.",
        indent=0,
    )

    tell.step(
        "Start the API, and no Job Tracker yet",
        f"Database: {workdir / 'demo.sqlite3'} (deleted at the end).",
    )
    with live.run_api(database, workdir) as api:
        started.append(api)
        say(f"run_api.py (pid {api.process.pid}) answers on {api.base_url}.")

        tell.step(
            "Create one order in every state, through the simulator's POST /api/sim/orders",
            "That endpoint belongs to the simulator, not to Rx-Universe: it lets us set up "
            "orders in any state without a lab.",
        )
        ready = create(api, addons=["BSC"], stations=["GEN", "BSC"])
        deleted = create(api, deleted=True)
        unvalid = create(api, status="U", unvalidMessage="Missing frame measurements")
        completed = create(api, status="C", stations=["GEN", "FQA"])
        on_hold = create(api, onHold=True)
        uncoated = create(api, addons=["BSC"], stations=["GEN"])
        for number, what in (
            (ready, "ready: addon BSC (backside coat), and it passed station BSC"),
            (deleted, "flagged for deletion (cancelled)"),
            (unvalid, "unvalid (status U): it failed validation"),
            (completed, "already completed (status C)"),
            (on_hold, "on hold"),
            (uncoated, "addon BSC, but it never passed a backside-coating station"),
            (MISSING_ORDER, "does not exist"),
        ):
            say(f"{number:>7}  {what}")

        tell.step(
            "Ask to complete each one: POST /api/v2/orders/{n}/complete",
            "The API checks in a fixed order: found, deleted, unvalid, completed, on hold, then "
            "the job flow (the stations the addons need). The first failing check answers.",
        )
        cases: list[tuple[str, str, int, dict[str, Any]]] = [
            (ready, "201: accepted and flagged; the Job Tracker will complete it later.", 201,
             {"orderNumber": ready, "message": "Successful"}),
            (deleted, "400, code 02: a deleted order cannot be completed.", 400,
             refusal("02", "Order deleted")),
            (unvalid, "400, code 03: an unvalid order must be fixed first.", 400,
             refusal("03", "Order unvalid")),
            (completed, "400, code 04: it is already complete.", 400,
             refusal("04", "Order already completed")),
            (on_hold, "400, code 05: someone put it on hold.", 400,
             refusal("05", "Order on hold")),
            (uncoated, "400, code 20: its job flow says it still needs a backside coat.", 400,
             refusal("20", "Needs Backside Coat!")),
            (MISSING_ORDER, "404, code 01: there is no such order.", 404,
             refusal("01", "Order not found")),
        ]  # fmt: skip
        for number, why, status, body in cases:
            print(f"\n   Order {number}, expected {why}")
            exchange(api, "POST", f"/api/v2/orders/{number}/complete", status=status, expect=body)

        tell.step(
            f"Ask again for order {ready}",
            "A client that retries after a timeout must not get an error: the answer is 201 "
            "again, and the order is not flagged twice.",
        )
        exchange(
            api,
            "POST",
            f"/api/v2/orders/{ready}/complete",
            status=201,
            expect={"orderNumber": ready, "message": "Successful"},
        )

        tell.step(
            f"Look at order {ready}: flagged, not completed",
            "201 means 'flagged for completion'. Until a Job Tracker processes the flag, the "
            "order stays in process (P) with pendingCompletion true.",
        )
        exchange(
            api,
            "GET",
            f"/api/v2/orders/{ready}/status",
            status=200,
            expect={"status": "P", "pendingCompletion": True, "completionError": None},
            fields=STATUS_FIELDS,
        )

        tell.step(
            "Ask the simulator whether a Job Tracker runs: GET /api/sim/tracker",
            "None does: the real one is stopped daily for backups, so this is normal. Flagged "
            "orders simply wait ('pending').",
        )
        exchange(
            api, "GET", "/api/sim/tracker", status=200, expect={"running": False, "pending": 1}
        )

        second = create(api, addons=["BSC"], stations=["GEN", "BSC"])
        tell.step(
            f"Flag a second good order ({second}), then put it on hold",
            "The order changes between the flag and its processing, as happens in a lab. The "
            "API accepted it, so the Job Tracker must check again when it gets to it.",
        )
        exchange(
            api,
            "POST",
            f"/api/v2/orders/{second}/complete",
            status=201,
            expect={"orderNumber": second, "message": "Successful"},
        )
        exchange(
            api,
            "PATCH",
            f"/api/sim/orders/{second}",
            {"onHold": True},
            status=200,
            expect={"status": "W", "onHold": True, "pendingCompletion": True},
            fields=STATUS_FIELDS,
        )
        exchange(
            api, "GET", "/api/sim/tracker", status=200, expect={"running": False, "pending": 2}
        )

        tell.step(
            f"Start the Job Tracker (run_tracker.py, polling every {TRACKER_INTERVAL:g}s)",
            "It takes the flagged orders, re-runs the same checks, and completes or rejects "
            "each one. We poll GET /api/sim/tracker until nothing is pending.",
        )
        with live.run_tracker(database, workdir, TRACKER_INTERVAL=TRACKER_INTERVAL) as tracker:
            started.append(tracker)
            began = time.monotonic()

            def drained() -> Any:
                status, reply = api.call("GET", "/api/sim/tracker")
                if tracker.process.poll() is not None:
                    raise DemoFailed(f"run_tracker.py exited early ({tracker.process.returncode})")
                return reply if status == 200 and reply["pending"] == 0 else None

            live.wait_until(drained, TRACKER_WAIT, "the Job Tracker to drain the queue")
            print()
            say(
                f"run_tracker.py (pid {tracker.process.pid}) drained the queue in "
                f"{time.monotonic() - began:.1f}s."
            )

            tell.step(
                f"Order {ready} is completed",
                "Status C, checked in at the completion station CMP, no completion error.",
            )
            exchange(
                api,
                "GET",
                f"/api/v2/orders/{ready}/status",
                status=200,
                expect={
                    "status": "C",
                    "currentStation": "CMP",
                    "pendingCompletion": False,
                    "completionError": None,
                },
                fields=STATUS_FIELDS,
            )

            tell.step(
                f"Order {second} was rejected by the Job Tracker",
                "It was on hold when the tracker checked it. The flag is cleared and the reason "
                "is kept on the order: code 05, 'Order on hold'. Once the hold is released "
                '(PATCH {"onHold": false}), the client may ask again.',
            )
            exchange(
                api,
                "GET",
                f"/api/v2/orders/{second}/status",
                status=200,
                expect={
                    "status": "W",
                    "pendingCompletion": False,
                    "completionError": {"code": "05", "message": "Order on hold"},
                },
                fields=STATUS_FIELDS,
            )

            tell.step(
                "The simulator now sees a running Job Tracker",
                "The tracker writes a heartbeat at every poll; the API reads it.",
            )
            exchange(
                api, "GET", "/api/sim/tracker", status=200, expect={"running": True, "pending": 0}
            )

            tell.step(
                "Stop both processes with SIGTERM, as the lab's nightly backup does",
                "Each finishes what it has in hand and exits with code 0. The tracker records "
                "its stop, so the API reports it as not running at once.",
            )
            print()
            stop(tracker)
        exchange(api, "GET", "/api/sim/tracker", status=200, expect={"running": False})
        print()
        stop(api)


def _terminate(signum: int, _frame: FrameType | None) -> NoReturn:
    # Handled like Ctrl-C, so that the context managers stop the children on the way out.
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 only if every step answered as documented, so the demo works as a smoke check."""
    argparse.ArgumentParser(
        prog="scripts/demo",
        description="The end-to-end demo: run_api.py and run_tracker.py as two processes on a "
        "fresh SQLite database, each documented answer shown and checked; exit 0 only if every "
        "one was the documented one. Ctrl-C stops both.",
    ).parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    began = time.monotonic()
    started: list[live.Service] = []
    with tempfile.TemporaryDirectory(prefix="rx-jobtracker-demo-") as tmp:
        try:
            run(Path(tmp), started)
        except (DemoFailed, TimeoutError, RuntimeError, OSError) as error:
            print(f"\nDEMO FAILED: {error}", file=sys.stderr)
            for service in started:
                print(f"\n--- last lines of the {service.name} log ---", file=sys.stderr)
                print(service.log_tail(), file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(
                "\nInterrupted: every process the demo started has been stopped.", file=sys.stderr
            )
            return 130
    print(f"\nDone in {time.monotonic() - began:.1f}s: every answer was the documented one.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
