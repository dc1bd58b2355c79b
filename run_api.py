"""Serve the Rx-Universe v2 API simulator with waitress: `python run_api.py` (see --help)."""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import sys
from types import FrameType

from api.app import (
    MAX_BODY_BYTES,
    create_app,
)
from api.http.server import make_server, open_files_needed, raise_open_files_limit
from api.sim.scenarios import (
    ScenarioNotLoaded,
    load_configured_scenario,
)
from config.startup import exit_if_database_unusable, start

# The errors of bind() that come from the address, not the port.
_ADDRESS_ERRORS = {errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--host",
        help="address to listen on, 0.0.0.0 for every interface "
        "(default: the HOST setting, else 127.0.0.1)",
    )
    parser.add_argument("--port", help="port to listen on (default: the PORT setting, else 4567)")
    parser.add_argument(
        "--scenario",
        help="a scenario (its name in SCENARIO_FOLDER, by default config/scenarios) loaded in "
        "place of every order before serving (default: the SCENARIO setting, else none)",
    )
    args = parser.parse_args(argv)
    overrides = {"HOST": args.host, "PORT": args.port, "SCENARIO": args.scenario}
    settings, lab = start("run_api", {key: value for key, value in overrides.items() if value})
    with exit_if_database_unusable("run_api", settings.database_url):
        app = create_app(settings, lab=lab)
        try:
            loaded = load_configured_scenario(settings, lab)
        except ScenarioNotLoaded as error:
            print(f"run_api: {error}", file=sys.stderr)
            return 2
    log = logging.getLogger("run_api")
    # Each connection is an open file: a low limit would refuse clients long before waitress's.
    too_low = raise_open_files_limit(open_files_needed())
    if too_low:
        log.warning("Open files: %s", too_low)
    # One line naming the setting to change, and exit 2, as for any other bad setting.
    where = f"cannot listen on {settings.host}:{settings.port}"
    try:
        server = make_server(app, settings.host, settings.port, MAX_BODY_BYTES)
    except ValueError:  # waitress's word for a host name that does not resolve
        print(f"run_api: HOST: {where}: no such address", file=sys.stderr)
        return 2
    except OSError as error:
        setting = "HOST" if error.errno in _ADDRESS_ERRORS else "PORT"
        print(f"run_api: {setting}: {where}: {error.strerror or error}", file=sys.stderr)
        return 2

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        server.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if loaded is not None:
        log.info("Scenario %s loaded: %d orders", settings.scenario, loaded)
    log.info("Rx-Universe v2 API simulator listening on http://%s:%d", settings.host, server.port)
    server.serve_forever()
    log.info("API stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
