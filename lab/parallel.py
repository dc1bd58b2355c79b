"""One lab run split over several client processes, for a machine with CPUs to spare: each
process drives its share of the orders with its share of the concurrency, and sends its tally
to the process that started it, which shows them and sums them up as one run's."""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
from dataclasses import replace
from multiprocessing.connection import Connection
from types import FrameType

from lab.client import Client
from lab.plan import po_prefix
from lab.runner import LabRun, Options
from lab.tally import Tally
from shared.domain.lab_setup import Lab

# How often each process sends its tally: as often as the live view refreshes.
SEND_EVERY_SECONDS = 0.25


def shares(options: Options, processes: int) -> list[Options]:
    """Each process's options: every `processes`-th order from its own first one, the
    concurrency split as evenly as it goes (at least one each), the rest as given. No more
    processes than orders, nor than the concurrency allows."""
    processes = min(processes, options.concurrency, options.orders or processes)
    count, extra = divmod(options.concurrency, processes)
    return [
        replace(options, concurrency=count + (index < extra), first=index, step=processes)
        for index in range(processes)
    ]


class Split:
    """The processes of one run; their latest tallies summed into `tally` as they arrive."""

    def __init__(self, lab: Lab, url: str, options: Options, tally: Tally, processes: int) -> None:
        # spawn: a new interpreter each, nothing of this process's event loop or threads copied.
        context = multiprocessing.get_context("spawn")
        self.tally = tally
        self.pipes: list[Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        self._ends: list[Connection] = []
        for share in shares(options, processes):
            receiver, sender = context.Pipe(duplex=False)
            self.pipes.append(receiver)
            self._ends.append(sender)
            self.processes.append(
                context.Process(target=_drive, args=(lab, url, share, sender), daemon=True)
            )
        self.parts = [
            Tally(seed=options.seed, po_prefix=tally.po_prefix, started=tally.started)
            for _ in self.processes
        ]
        self.over = [False for _ in self.processes]
        self.crashed = 0

    async def run(self) -> None:
        """Run every process to its end."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        for process in self.processes:
            process.start()
        for end in self._ends:
            end.close()  # only the process holds its end now: at its exit the pipe reads EOF
        for index, pipe in enumerate(self.pipes):
            loop.add_reader(pipe.fileno(), self._receive, index, done)
        try:
            await done
        finally:
            for pipe in self.pipes:
                loop.remove_reader(pipe.fileno())
                pipe.close()
            for process in self.processes:
                await asyncio.to_thread(process.join)

    def stop(self) -> None:
        """Pass a stop on to each process, as Ctrl-C stops one lab: the first to start nothing
        new, the second to stop waiting for the tracker too."""
        for process in self.processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: the process's own handler stops its run

    def _receive(self, index: int, done: asyncio.Future[None]) -> None:
        pipe = self.pipes[index]
        try:
            part, over = pipe.recv()
        except EOFError:  # gone without its last tally: it crashed (its traceback is on stderr)
            part, over = self.parts[index], True
            part.end()
            self.crashed += 1
        if over:  # nothing more to read: its exit would read as EOF
            asyncio.get_running_loop().remove_reader(pipe.fileno())
        self.parts[index] = part
        self.over[index] = over
        self.tally.take_sum(self.parts)
        if all(self.over) and not done.done():
            done.set_result(None)


def _drive(lab: Lab, url: str, options: Options, pipe: Connection) -> None:
    """One process's share of the run; its tally sent now and then, and once more at the end."""
    # Ctrl-C reaches every process of the terminal's group: only the parent heeds it, and it
    # passes each press on as SIGTERM, so that one press is one stop here, not two.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    early: list[int] = []

    def stop_early(number: int, frame: FrameType | None) -> None:
        early.append(number)  # a stop before the run began: the run heeds it as it begins

    signal.signal(signal.SIGTERM, stop_early)
    tally = Tally(seed=options.seed, po_prefix=po_prefix(options.run))
    asyncio.run(_run_share(lab, url, options, tally, pipe, early))
    tally.end()
    pipe.send((tally, True))
    pipe.close()


async def _run_share(
    lab: Lab, url: str, options: Options, tally: Tally, pipe: Connection, early: list[int]
) -> None:
    client = Client(url, options.concurrency)
    run = LabRun(lab, client, options, tally)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, run.stop)
    for _ in early:
        run.stop()
    sender = asyncio.create_task(_send_tallies(tally, pipe))
    try:
        await run.run()
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        await client.close()


async def _send_tallies(tally: Tally, pipe: Connection) -> None:
    while True:
        await asyncio.sleep(SEND_EVERY_SECONDS)
        pipe.send((tally, False))
