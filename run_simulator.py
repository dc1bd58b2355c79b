"""Start the whole simulator with one command: the API and the Job Tracker (and, with --lab, a lab
that runs by itself) as supervised child processes, on the settings' database (the embedded SQLite
file by default). Prints the addresses that matter; Ctrl-C or SIGTERM stops them all."""

from __future__ import annotations

import argparse
import sys

from config.startup import start
from live import supervisor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="run_simulator.py",
        description=__doc__,
        epilog="Each child's output is shown with its name; if one exits, the others are stopped "
        "and the exit status is 1. Settings are those of run_api.py and run_tracker.py "
        "(docs/configuration.md).",
    )
    parser.add_argument("--host", help="address the API listens on (default: HOST, else 127.0.0.1)")
    parser.add_argument("--port", help="the API's port (default: PORT, else 4567)")
    parser.add_argument(
        "--lab", action="store_true", help="also run the self-running lab (run_lab.py)"
    )
    args = parser.parse_args(argv)
    overrides = {"HOST": args.host, "PORT": args.port}
    # Read once here, so that a bad setting is one line before anything starts.
    settings, _lab = start("run_simulator", {k: v for k, v in overrides.items() if v})
    return supervisor.run(host=settings.host, port=settings.port, lab=args.lab)


if __name__ == "__main__":
    sys.exit(main())
