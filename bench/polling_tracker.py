"""`run_tracker.py` with PostgreSQL's wake-up listener switched off: the polling-alone case.

On PostgreSQL the tracker always LISTENs, so measuring what polling alone gives needs the
shipped tracker with that one call replaced; everything else is run_tracker.py's own code.
"""

from __future__ import annotations

import runpy
import threading
from collections.abc import Callable

from sqlalchemy import Engine

import tracker.scheduler
from bench import ROOT


def no_listener(engine: Engine, on_flag: Callable[[], None], stopping: threading.Event) -> None:
    """Never wake the tracker: only its interval poll completes orders."""


if __name__ == "__main__":
    # The scheduler module's own name for it is the one run_forever() calls.
    tracker.scheduler.start_listener = no_listener  # type: ignore[attr-defined]
    runpy.run_path(str(ROOT / "run_tracker.py"), run_name="__main__")
