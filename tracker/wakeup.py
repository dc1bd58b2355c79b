"""PostgreSQL's LISTEN/NOTIFY: the API announces a flag, the tracker wakes up at once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Engine

from shared.completion.flag import FLAGGED_CHANNEL

log = logging.getLogger(__name__)

_RECONNECT_DELAYS = (0.5, 1, 2, 5, 10)


def start_listener(engine: Engine, on_flag: Callable[[], None], stopping: threading.Event) -> None:
    """Call `on_flag` whenever an order is flagged, from a thread of its own; PostgreSQL only.

    The poll stays the safety net: a notification lost while the listener reconnects only
    delays an order until the next poll.
    """
    if engine.dialect.name != "postgresql":
        return
    thread = threading.Thread(
        target=_listen, args=(engine, on_flag, stopping), name="wakeup", daemon=True
    )
    thread.start()


def _listen(engine: Engine, on_flag: Callable[[], None], stopping: threading.Event) -> None:
    failures = 0
    while not stopping.is_set():
        try:
            # A connection of its own, outside the pool: it stays in LISTEN for ever.
            cargs, cparams = engine.dialect.create_connect_args(engine.url)
            with engine.dialect.loaded_dbapi.connect(*cargs, **cparams, autocommit=True) as conn:
                conn.execute(f"LISTEN {FLAGGED_CHANNEL}")
                if failures:
                    log.info("Listening for flagged orders again")
                failures = 0
                on_flag()  # anything flagged while we were not listening
                while not stopping.is_set():
                    for _ in conn.notifies(timeout=1.0, stop_after=1):
                        on_flag()
        except Exception as error:
            delay = _RECONNECT_DELAYS[min(failures, len(_RECONNECT_DELAYS) - 1)]
            failures += 1
            log.warning("Wake-up listener lost its connection (%s); retrying in %ss", error, delay)
            stopping.wait(delay)
