"""What the lab has done so far: the counts the live view shows and the summary prints."""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class Tally:
    """Counts kept by the runner as answers arrive; read by the live view and the summary."""

    seed: int
    po_prefix: str = ""  # the run's PO numbers start with it (lab.plan.run_tag)
    started: float = field(default_factory=time.monotonic)
    # Submitted and not yet imported (found by its PO), then created once imported.
    submitted: int = 0
    created: int = 0
    checkins: int = 0
    tickets: int = 0  # work tickets printed
    picks: int = 0  # pick verifications (the lenses, or the frame's items, of one order)
    trays_assigned: int = 0  # orders put in a tray by the lab (when the import gives none)
    held: int = 0
    completed: int = 0
    cancelled: int = 0
    given_up: int = 0
    failed: int = 0  # orders abandoned after an error
    requests: int = 0
    errors: int = 0
    # Completion calls answered with an error, and tracker rejections, by Rx-Universe's code.
    refused: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    # Orders now at each station (their last check-in), and those flagged awaiting the tracker.
    at_station: Counter[str] = field(default_factory=Counter)
    flagged: int = 0
    last_errors: deque[str] = field(default_factory=lambda: deque(maxlen=5))
    # When the run ended, once it has: the summary's seconds stop there.
    ended: float | None = None

    def count_request(self) -> None:
        """One request answered."""
        self.requests += 1

    def count_error(self, what: str) -> None:
        """A request with no answer, or one the lab did not expect."""
        self.errors += 1
        self.last_errors.append(what)

    def elapsed(self) -> float:
        """Seconds since the run started, or until it ended."""
        return (time.monotonic() if self.ended is None else self.ended) - self.started

    def end(self) -> None:
        """The run is over: its seconds are counted no further (from its first end on)."""
        if self.ended is None:
            self.ended = time.monotonic()

    def take_sum(self, parts: Sequence[Tally]) -> None:
        """Become the sum of `parts`, the tallies of the processes one run is split over: the
        counts added, the start the first one's, the end the last one's once all have ended
        (the monotonic clock is the machine's, the same in every process)."""
        for name in _SUMMED:
            setattr(
                self,
                name,
                sum((getattr(part, name) for part in parts), type(getattr(self, name))()),
            )
        self.started = min(part.started for part in parts)
        ends = [part.ended for part in parts]
        self.ended = None if None in ends else max(end for end in ends if end is not None)
        self.last_errors.clear()
        for part in parts:
            self.last_errors.extend(part.last_errors)

    def requests_per_second(self) -> float:
        """Requests answered per second since the start: the one rate the live view, the
        progress lines and the summary all show."""
        elapsed = self.elapsed()
        return self.requests / elapsed if elapsed > 0 else 0.0

    def in_process(self) -> int:
        """Orders started and not yet at an end."""
        ended = self.completed + self.cancelled + self.given_up + self.failed
        return self.created - ended

    def summary(self) -> dict[str, Any]:
        """The totals, as the machine-readable summary line holds them."""
        elapsed = self.elapsed()
        return {
            "seed": self.seed,
            "poPrefix": self.po_prefix,
            "seconds": round(elapsed, 3),
            "created": self.created,
            "completed": self.completed,
            "cancelled": self.cancelled,
            "givenUp": self.given_up,
            "failed": self.failed,
            "inProcess": self.in_process(),
            "waitingImport": self.submitted,
            "flagged": self.flagged,
            "held": self.held,
            "checkins": self.checkins,
            "ticketsPrinted": self.tickets,
            "picks": self.picks,
            "traysAssigned": self.trays_assigned,
            "refused": dict(sorted(self.refused.items())),
            "rejected": dict(sorted(self.rejected.items())),
            "requests": self.requests,
            "requestsPerSecond": round(self.requests_per_second(), 1),
            "ordersPerSecond": round(self.completed / elapsed, 2) if elapsed else 0.0,
            "errors": self.errors,
        }


# What one process counts and the run's tally adds up; the rest (the seed, the PO prefix, the
# clock, the last errors) is combined otherwise.
_SUMMED = tuple(
    spec.name
    for spec in fields(Tally)
    if spec.name not in ("seed", "po_prefix", "started", "ended", "last_errors")
)
