"""Start the v2 API simulator on PORT (default 4567): `python run_api.py`."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from werkzeug.serving import make_server

from api import create_app
from config.startup import exit_if_database_unusable, start


def main() -> int:
    settings, lab = start("run_api")
    with exit_if_database_unusable("run_api"):
        app = create_app(settings, lab=lab)
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
    log = logging.getLogger("run_api")
    log.info("Rx-Universe v2 API simulator listening on http://%s:%d", settings.host, server.port)
    server.serve_forever()
    server.server_close()
    log.info("API stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
