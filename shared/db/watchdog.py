"""The client-side deadline on database calls: a process's watchdog shuts the link of a connection
held past its deadline, so that a call on a server that never answers fails instead of waiting.

The server's own timeouts (`shared.db.engine.make_engine`: statement, lock, idle in transaction)
end the waits of a server that runs, and TCP's (`tcp_user_timeout`, keepalives) notice a server
that vanished from the network; neither notices a server that is frozen (SIGSTOP, a stalled VM)
while its host still acknowledges packets, and a call on it would wait until it woke. So each
connection, while a request or a tracker transaction holds it, is watched: one thread per process
looks at the watched connections every TICK seconds and shuts down the socket of any held past its
deadline. The call blocked on it wakes at once with the driver's "server closed the connection"
(an OperationalError: a 503 for a request, a back-off for the tracker), and the connection is
discarded as any lost one is.

Shutting the socket down is what works on a frozen server: a cancel request (psycopg's
`cancel_safe()`) goes to the server on a new connection, which a frozen server never reads. It is
the socket's shutdown, not its close: the descriptor stays the driver's, which closes it when it
discards the connection. A connection leaves the watch before the driver closes it
(`release`, from the pool's close event), and the shutdown happens under the same lock, so the
watchdog never touches a descriptor number reused meanwhile by another connection.

Watching costs a call two short critical sections (a dict's set and pop, about a microsecond
together); no thread is started per call.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

# How often the watchdog looks: a connection is shut at most this long after its deadline.
TICK = 0.1


log = logging.getLogger(__name__)


@dataclass
class _Watched:
    connection: Any  # the driver's connection
    deadline: float  # time.monotonic()
    seconds: float  # how long it was given, for the log


class Watchdog:
    """The connections held now, each with its deadline; a thread shuts those held past it."""

    def __init__(self) -> None:
        # Reentrant: a garbage collection inside the lock may finalize a pooled connection,
        # whose pool events release it here, on the same thread.
        self._lock = threading.RLock()
        self._watched: dict[int, _Watched] = {}
        self._thread: threading.Thread | None = None
        # A forked child (a gunicorn worker of a preloading master) has no watchdog thread and
        # none of its parent's calls in hand.
        os.register_at_fork(after_in_child=self._forget)

    def watch(self, connection: Any, seconds: float) -> float:
        """Shut `connection`'s socket unless it is released within `seconds`; the deadline."""
        deadline = time.monotonic() + seconds
        watched = _Watched(connection, deadline, seconds)
        with self._lock:
            self._watched[id(connection)] = watched
            if self._thread is None:
                self._start()
        return deadline

    def release(self, connection: Any) -> None:
        """`connection` is no longer held (or is about to be closed): no longer watched."""
        if sys.is_finalizing():
            # The interpreter is exiting: the watchdog's thread (a daemon) may have been stopped
            # holding the lock, and there is nothing left to watch for.
            return
        with self._lock:
            self._watched.pop(id(connection), None)

    def watched(self) -> int:
        """How many connections are watched now (for tests)."""
        with self._lock:
            return len(self._watched)

    def _start(self) -> None:
        thread = threading.Thread(target=self._run, name="database-watchdog", daemon=True)
        thread.start()
        self._thread = thread

    def _run(self) -> None:
        while not sys.is_finalizing():
            time.sleep(TICK)
            now = time.monotonic()
            with self._lock:
                overdue = [
                    self._watched.pop(key)
                    for key, held in list(self._watched.items())
                    if held.deadline <= now
                ]
                for held in overdue:
                    _shut_down(held.connection)
            for held in overdue:
                log.warning(
                    "No answer from the database after %g s: its connection was shut down",
                    held.seconds,
                )

    def _forget(self) -> None:
        self._lock = threading.RLock()
        self._watched = {}
        self._thread = None


def _shut_down(connection: Any) -> None:
    """Shut the connection's socket down both ways, waking whatever waits on it; the descriptor
    itself stays open for its driver to close."""
    try:
        descriptor = connection.fileno()  # psycopg: the libpq socket; raises once closed
    except Exception:  # closed already, or a driver without a socket
        return
    try:
        duplicate = os.dup(descriptor)
    except OSError:
        return
    try:
        with socket.socket(fileno=duplicate) as sock:  # closes the duplicate only
            duplicate = -1
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        if duplicate >= 0:
            os.close(duplicate)


WATCHDOG = Watchdog()
