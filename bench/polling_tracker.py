"""`run_tracker.py` with PostgreSQL's wake-up listener switched off: the polling-alone case.

On PostgreSQL the tracker always LISTENs, so measuring what polling alone gives needs the shipped
tracker started with `wake_up=False`; everything else is run_tracker.py's own code.
"""

from __future__ import annotations

import sys

import run_tracker

if __name__ == "__main__":
    sys.exit(run_tracker.main(wake_up=False))
