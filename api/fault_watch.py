"""When an API process may skip reading the faults table: it found no fault there less than
RECHECK_SECONDS ago. Setting a fault waits that long after it is committed before it answers.

So the fault check costs no query while no fault is set (reading the table before every /api/v2
request cost the completion call about a fifth of its throughput, a round trip more on
PostgreSQL: docs/benchmarks.md), and yet every process obeys a fault from the moment its 201 is
sent, with no message between processes (several machines may share one PostgreSQL): a process
that skips the read at that moment found the table empty by a read that began less than
RECHECK_SECONDS earlier, so after the fault was committed, and that read would have found it.
While a fault is set, every request reads the table, to apply it and count its `times`.

A fault written into the table by anything but POST /api/sim/faults is obeyed within
RECHECK_SECONDS.
"""

from __future__ import annotations

import time

# A tenth of a second: each process reads the table at most ten times a second while no fault is
# set, and setting a fault takes that much longer.
RECHECK_SECONDS = 0.1


class FaultWatch:
    """One per app (each process has its own): `skip()` before reading the faults, with
    `found_none(started)` after a read begun at `started()` found none that could fire."""

    def __init__(self, recheck_seconds: float = RECHECK_SECONDS) -> None:
        self.recheck_seconds = recheck_seconds
        self._empty_since: float | None = None

    def skip(self) -> bool:
        """Whether the table was found without a fault by a read begun in the last recheck."""
        since = self._empty_since
        return since is not None and time.monotonic() - since < self.recheck_seconds

    @staticmethod
    def started() -> float:
        return time.monotonic()

    def found_none(self, started: float) -> None:
        self._empty_since = started

    def fault_committed(self) -> None:
        """After a fault is committed: this process reads the table at its next request; every
        other one has done so once this returns."""
        self._empty_since = None
        time.sleep(self.recheck_seconds)
