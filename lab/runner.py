"""The lab at work: orders started at a rate, each driven through its plan over HTTP, and a
clean stop that lets every request in flight, and every order awaiting the tracker, finish."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from lab.client import Client, Reply, TransportError
from lab.plan import OrderPlan, Step, plan_order
from lab.tally import Tally
from shared.domain.lab_setup import Lab

# Completion calls per order: the first, and a retry after each fix; then the lab gives up.
MAX_COMPLETION_CALLS = 3
# After a stop, orders already flagged are watched this long for the tracker's verdict.
DRAIN_SECONDS = 15.0
# How often a flagged order's status is read: soon at first (a tracker woken by PostgreSQL's
# NOTIFY completes within milliseconds), then less often, never rarer than every half second.
FIRST_POLL_SECONDS = 0.02
MAX_POLL_SECONDS = 0.5
# Every order's lenses: a style and a material on both eyes, as a submission needs one of each.
LENS_STYLE, LENS_MATERIAL = "SV", "PC"
_CODE = re.compile(r"Error Code: (\d+)")
# Trays a workstation tries for an order before it gives up, and the highest tray number.
TRAY_ATTEMPTS = 50
LAST_TRAY = 99999
TRAY_IN_USE = "Tray is already assigned to an active order"
# Where the lab picks: the lenses as an order reaches lens pick, the frame's items as it reaches
# edging (the codes each picks are those the order expects, read from its pick information).
PICKED_AT = {
    "PICK": ("rtOPC", "ltOPC"),
    "EDG": ("frameUPC", "frameSKU", "framePartSKU", "frameSideShieldSKU"),
}


@dataclass(frozen=True)
class Options:
    """How the lab runs: the command line's options."""

    orders: int | None
    duration: float | None
    rate: float  # orders started per second; 0: as fast as `concurrency` allows
    station_time: float
    concurrency: int
    seed: int
    run: str  # in each order's PO number (lab.plan.run_tag), the same in every process
    # This process's share of the day when the lab is split over several (run_lab.py
    # --processes): orders first, first + step, first + 2 step... each started on the whole
    # lab's schedule, so the processes together start the orders one process would.
    first: int = 0
    step: int = 1


class _Failed(Exception):
    """The order met an answer the lab did not expect; it is abandoned, the error counted."""


class LabRun:
    """One run of the lab against one API."""

    def __init__(self, lab: Lab, client: Client, options: Options, tally: Tally) -> None:
        self.lab = lab
        self.client = client
        self.options = options
        self.tally = tally
        self.stopping = asyncio.Event()
        self.drain_over = asyncio.Event()
        self._reason = next(iter(lab.delete_reasons), None) if lab.delete_reason_required else None

    def stop(self) -> None:
        """Start no new work; a second call also stops watching flagged orders."""
        if self.stopping.is_set():
            self.drain_over.set()
            return
        self.stopping.set()
        asyncio.get_running_loop().call_later(DRAIN_SECONDS, self.drain_over.set)

    async def run(self) -> None:
        """Start orders until told to stop, the duration is over, or `orders` were started;
        return once each started order has reached an end or stopped."""
        options = self.options
        if options.duration is not None:
            asyncio.get_running_loop().call_later(options.duration, self.stop)
        slots = asyncio.Semaphore(options.concurrency)
        tasks: set[asyncio.Task[None]] = set()
        started = time.monotonic()
        if options.orders is None:
            indices: Iterable[int] = itertools.count(options.first, options.step)
        else:
            indices = range(options.first, options.orders, options.step)
        for index in indices:
            if options.rate > 0:
                await self._pause(started + index / options.rate - time.monotonic())
            await slots.acquire()
            if self.stopping.is_set():
                slots.release()
                break
            plan = plan_order(self.lab, options.seed, index, options.station_time, run=options.run)
            task = asyncio.create_task(self._order(plan))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            task.add_done_callback(lambda _: slots.release())
        if tasks:
            await asyncio.gather(*tasks)

    async def _pause(self, seconds: float) -> None:
        """Sleep, or less if the lab is told to stop meanwhile."""
        if seconds > 0:
            await _wait(self.stopping, seconds)

    async def _call(self, method: str, path: str, body: Any = None) -> Reply:
        try:
            reply = await self.client.request(method, path, body)
        except TransportError as error:
            self.tally.count_error(f"{method} {path}: {error}")
            raise _Failed() from None
        self.tally.count_request()
        return reply

    def _unexpected(self, method: str, path: str, reply: Reply) -> _Failed:
        self.tally.count_error(f"{method} {path}: {reply.status} {reply.body}")
        return _Failed()

    async def _order(self, plan: OrderPlan) -> None:
        number: str | None = None
        station: str | None = None
        tally = self.tally
        try:
            number, tray = await self._create(plan)
            if tray is None:
                await self._assign_tray(plan, number)
            await self._print_ticket(number)
            for index, step in enumerate(plan.steps):
                if await self._interruption(plan, number, index):
                    return
                if index == plan.skip:
                    continue
                if self.stopping.is_set():
                    return
                group = PICKED_AT.get(step.station)
                if group is not None:
                    await self._pick(number, group)
                await self._check_in(number, step)
                tally.at_station[step.station] += 1
                if station is not None:
                    tally.at_station[station] -= 1
                station = step.station
                await self._pause(plan.station_times[index])
            if await self._interruption(plan, number, len(plan.steps)):
                return
            await self._complete(plan, number)
        except _Abandoned:
            pass  # still flagged: counted as in process, the summary says how many
        except _NotImported:
            pass  # never created: the summary counts what was created
        except _Failed:
            if number is not None:
                tally.failed += 1
        finally:
            if station is not None:
                tally.at_station[station] -= 1

    async def _create(self, plan: OrderPlan) -> tuple[str, str | None]:
        """Submit the order as an integration does, then find it by its PO once the Remote Order
        Processor (a tracker) has imported it; its order number and tray."""
        body = {
            "customerJobId": f"LAB-{plan.index}",
            "customerNumber": plan.customer_number,
            "jobType": plan.job_type.value,
            "poNumber": plan.po_number,
            "rtLensStyle": LENS_STYLE,
            "ltLensStyle": LENS_STYLE,
            "rtLensMaterial": LENS_MATERIAL,
            "ltLensMaterial": LENS_MATERIAL,
            "addons": list(plan.addons),
        }
        reply = await self._call("POST", "/api/v2/orders", body)
        if reply.status != 202:
            raise self._unexpected("POST", "/api/v2/orders", reply)
        self.tally.submitted += 1
        path = f"/api/v2/orders/{plan.po_number}/status"
        delay = FIRST_POLL_SECONDS
        try:
            while not self.drain_over.is_set():
                await self._drain_pause(delay)
                reply = await self._call("GET", path)
                if reply.status == 200:
                    self.tally.created += 1
                    return str(reply.body["orderNumber"]), reply.body["trayNumber"]
                if reply.status != 404:
                    raise self._unexpected("GET", path, reply)
                delay = min(delay * 1.5, MAX_POLL_SECONDS)
            raise _NotImported()
        finally:
            self.tally.submitted -= 1

    async def _assign_tray(self, plan: OrderPlan, number: str) -> None:
        """Put an order the import gave no tray (the lab file's `auto_assign_trays` off) in one,
        as a tray-assignment workstation does: the next tray is tried while one is in use."""
        path = f"/api/v2/orders/{number}/tray"
        for attempt in range(TRAY_ATTEMPTS):
            tray = str((plan.index + attempt) % LAST_TRAY + 1)
            reply = await self._call("POST", path, {"trayNumber": tray})
            if reply.status == 200:
                self.tally.trays_assigned += 1
                return
            if reply.status != 400 or reply.body.get("details") != [TRAY_IN_USE]:
                raise self._unexpected("POST", path, reply)
        raise self._unexpected("POST", path, reply)

    async def _pick(self, number: str, codes: tuple[str, ...]) -> None:
        """Scan the order's own codes of one group (its lenses, or its frame's items), as a pick
        workstation does; nothing if the order has none of them."""
        path = f"/api/v2/orders/{number}/pick"
        reply = await self._call("GET", path)
        if reply.status != 200:
            raise self._unexpected("GET", path, reply)
        scanned = {code: reply.body[code] for code in codes if reply.body.get(code)}
        if "frameUPC" in scanned:
            scanned.pop("frameSKU", None)  # one frame code per pick, as Rx-Universe requires
        if not scanned:
            return
        reply = await self._call("POST", path, scanned)
        if reply.status != 200:
            raise self._unexpected("POST", path, reply)
        self.tally.picks += 1

    async def _print_ticket(self, number: str) -> None:
        """The work ticket, printed as the order enters the lab."""
        path = f"/api/v2/orders/{number}/print_ticket"
        reply = await self._call("POST", path)
        if reply.status != 201:
            raise self._unexpected("POST", path, reply)
        self.tally.tickets += 1

    async def _interruption(self, plan: OrderPlan, number: str, index: int) -> bool:
        """Cancel (true: the order ends) or hold the order at this point of its plan."""
        if self.stopping.is_set():
            return False
        if plan.cancel_after == index:
            path = f"/api/v2/orders/{number}"
            if self._reason is not None:
                path += f"?deleteReason={quote(self._reason)}"
            reply = await self._call("DELETE", path)
            if reply.status != 200:
                raise self._unexpected("DELETE", path, reply)
            self.tally.cancelled += 1
            return True
        if plan.hold_after == index:
            path = f"/api/sim/orders/{number}"
            for on_hold in (True, False):
                reply = await self._call("PATCH", path, {"onHold": on_hold})
                if reply.status != 200:
                    raise self._unexpected("PATCH", path, reply)
                if on_hold:
                    self.tally.held += 1
                    # Released even when told to stop meanwhile: an order is never left on hold.
                    await self._pause(plan.hold_time)
        return False

    async def _check_in(self, number: str, step: Step) -> None:
        path = f"/api/v2/job_track/stations/{quote(step.station, safe='')}"
        body: dict[str, str] = {"orderIdentifier": number}
        if step.operator is not None:
            body["operator"] = step.operator
        reply = await self._call("POST", path, body)
        if reply.status != 201:
            raise self._unexpected("POST", path, reply)
        self.tally.checkins += 1

    async def _complete(self, plan: OrderPlan, number: str) -> None:
        """Ask for completion; on a refusal, fix what can be fixed and ask again."""
        tally = self.tally
        path = f"/api/v2/orders/{number}/complete"
        for _ in range(MAX_COMPLETION_CALLS):
            if self.stopping.is_set():
                return
            reply = await self._call("POST", path)
            if reply.status == 201:
                code = await self._watch(number)
                if code is None:
                    return
                tally.rejected[code] += 1
            else:
                code = _error_code(reply)
                if code is None:
                    raise self._unexpected("POST", path, reply)
                tally.refused[code] += 1
            if self.stopping.is_set() or not await self._fix(plan, number, code):
                break
        else:
            tally.given_up += 1
            return
        if not self.stopping.is_set():
            tally.given_up += 1

    async def _watch(self, number: str) -> str | None:
        """Read the order's status until the tracker has decided: None once completed, else
        the code it rejected the order with."""
        tally = self.tally
        path = f"/api/v2/orders/{number}/status"
        delay = FIRST_POLL_SECONDS
        tally.flagged += 1
        try:
            while not self.drain_over.is_set():
                await self._drain_pause(delay)
                reply = await self._call("GET", path)
                if reply.status != 200:
                    raise self._unexpected("GET", path, reply)
                if reply.body["status"] == "C":
                    tally.flagged -= 1
                    tally.completed += 1
                    return None
                error = reply.body.get("completionError")
                if not reply.body.get("pendingCompletion") and error:
                    tally.flagged -= 1
                    return str(error["code"])
                delay = min(delay * 1.5, MAX_POLL_SECONDS)
        except BaseException:
            tally.flagged -= 1  # an error or a cancel: no longer watched as flagged
            raise
        # Still flagged in the lab as the run ends: the summary counts it so.
        raise _Abandoned()

    async def _drain_pause(self, seconds: float) -> None:
        await _wait(self.drain_over, seconds)

    async def _fix(self, plan: OrderPlan, number: str, code: str) -> bool:
        """Fix what made the order refused, if the lab knows how: a skipped station is
        checked in now, a hold released. False when it does not."""
        if code == "20" and plan.skip is not None:
            await self._check_in(number, plan.steps[plan.skip])
            return True
        if code == "05":
            path = f"/api/sim/orders/{number}"
            reply = await self._call("PATCH", path, {"onHold": False})
            if reply.status != 200:
                raise self._unexpected("PATCH", path, reply)
            return True
        return False


class _NotImported(_Failed):
    """Submitted, and still not imported when the drain after a stop ran out."""


class _Abandoned(_Failed):
    """Still flagged when the drain after a stop ran out."""


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or until `event` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


def _error_code(reply: Reply) -> str | None:
    """Rx-Universe's code in a completion error's details (`Error Code: 20`)."""
    if reply.status not in (400, 404) or not isinstance(reply.body, dict):
        return None
    for detail in reply.body.get("details", []):
        found = _CODE.fullmatch(str(detail))
        if found:
            return found.group(1)
    return None
