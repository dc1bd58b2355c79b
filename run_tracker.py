"""Start the Job Tracker: `python run_tracker.py` polls for ever, `--once` drains and exits."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys

from prometheus_client import start_http_server

from config.startup import exit_if_database_unusable, start
from shared.db import schema
from shared.db.engine import make_engine, make_session_factory
from shared.domain.clock import utcnow
from tracker.jobs import TrackerConfig, run_cycle, stop
from tracker.scheduler import run_forever

TRACKER_POOL_SIZE = 1


def main(argv: list[str] | None = None, *, wake_up: bool = True) -> int:
    """Run the tracker; `wake_up=False` polls only (the benchmark's polling-alone case)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--once", action="store_true", help="process what is flagged now, then exit"
    )
    args = parser.parse_args(argv)
    settings, lab = start("run_tracker")
    # APScheduler says "skipped: maximum number of running instances reached" whenever a drain
    # outlasts the interval; that is our design (max_instances=1), not a problem to report.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    # One connection: the tracker works on one thread, one transaction at a time (its wake-up
    # listener has one more of its own, shared.wakeup); docs/deploying.md adds them up. Watched,
    # so that a batch on a server that stopped answering fails and is retried, not stuck.
    engine = make_engine(
        settings.database_url,
        timeout=settings.database_timeout,
        pool_size=TRACKER_POOL_SIZE,
        watchdog=True,
    )
    with exit_if_database_unusable("run_tracker", settings.database_url):
        schema.prepare(engine)
    config = TrackerConfig(
        tracker_id=settings.tracker_id or f"{socket.gethostname()}:{os.getpid()}",
        lab=lab,
        interval=settings.tracker_interval,
        batch_size=settings.tracker_batch_size,
        timezone=settings.lab_timezone,
        import_orders=settings.remote_order_processor,
    )
    if args.once:
        factory = make_session_factory(engine)
        with exit_if_database_unusable("run_tracker", settings.database_url):
            summary = run_cycle(factory, config)
            stop(factory, config, utcnow())
        print(
            f"Job Tracker: {summary.imported} imported, {summary.completed} completed, "
            f"{summary.rejected} rejected"
        )
        return 0
    if settings.tracker_metrics_port is not None:
        try:
            start_http_server(settings.tracker_metrics_port, addr=settings.host)
        except OSError as error:
            where = f"{settings.host}:{settings.tracker_metrics_port}"
            reason = error.strerror or error
            print(
                f"run_tracker: TRACKER_METRICS_PORT: cannot serve metrics on {where}: {reason}",
                file=sys.stderr,
            )
            return 2
    run_forever(engine, config, stop_grace=2 * settings.database_timeout, wake_up=wake_up)
    return 0


if __name__ == "__main__":
    sys.exit(main())
