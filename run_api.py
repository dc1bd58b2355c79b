"""Start the v2 API simulator on PORT (default 4567): `python run_api.py`."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from sqlalchemy.exc import OperationalError
from werkzeug.serving import make_server

from api import create_app
from config.lab import LabFileError, load_lab
from config.settings import Settings, SettingsError
from shared.schema import SchemaOutOfDate


def main() -> int:
    try:
        settings = Settings.load()
        lab = load_lab(settings.lab_file)
    except (SettingsError, LabFileError) as error:
        print(f"run_api: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s [api] %(message)s"
    )
    log = logging.getLogger("run_api")
    try:
        app = create_app(settings, lab=lab)
    except OperationalError as error:
        print(f"run_api: cannot reach the database: {error.orig}", file=sys.stderr)
        return 1
    except SchemaOutOfDate as error:
        print(f"run_api: {error}", file=sys.stderr)
        return 1
    try:
        server = make_server(settings.host, settings.port, app, threaded=True)
    except OSError as error:
        print(
            f"run_api: cannot listen on {settings.host}:{settings.port}: {error}", file=sys.stderr
        )
        return 1

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever() to return, so it must run on another thread.
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("Rx-Universe v2 API simulator listening on http://%s:%d", settings.host, server.port)
    server.serve_forever()
    server.server_close()
    log.info("API stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
