"""Start the Job Tracker: `python run_tracker.py` polls for ever, `--once` drains and exits."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys

from sqlalchemy.exc import OperationalError

from config.lab import LabFileError, load_lab
from config.settings import Settings, SettingsError
from shared import schema
from shared.clock import utcnow
from shared.db import make_engine, make_session_factory
from tracker.jobs import TrackerConfig, run_cycle, stop
from tracker.scheduler import run_forever


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--once", action="store_true", help="process what is flagged now, then exit"
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings.load()
        lab = load_lab(settings.lab_file)
    except (SettingsError, LabFileError) as error:
        print(f"run_tracker: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s [tracker] %(message)s"
    )
    # APScheduler says "skipped: maximum number of running instances reached" whenever a drain
    # outlasts the interval; that is our design (max_instances=1), not a problem to report.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    engine = make_engine(settings.database_url, timeout=settings.database_timeout)
    try:
        schema.prepare(engine)
    except OperationalError as error:
        print(f"run_tracker: cannot reach the database: {error.orig}", file=sys.stderr)
        return 1
    except schema.SchemaOutOfDate as error:
        print(f"run_tracker: {error}", file=sys.stderr)
        return 1
    factory = make_session_factory(engine)
    config = TrackerConfig(
        tracker_id=settings.tracker_id or f"{socket.gethostname()}:{os.getpid()}",
        lab=lab,
        interval=settings.tracker_interval,
        batch_size=settings.tracker_batch_size,
        timezone=settings.lab_timezone,
    )
    if args.once:
        summary = run_cycle(factory, config)
        stop(factory, config, utcnow())
        print(f"Job Tracker: {summary.completed} completed, {summary.rejected} rejected")
        return 0
    run_forever(engine, config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
