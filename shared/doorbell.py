"""The wake-up on SQLite: local sockets beside the database file, rung after a flag's commit.

SQLite has no NOTIFY. Each tracker binds a Unix datagram socket in `<database file>-wakeup/`
(beside the `-wal` and `-shm` files SQLite keeps there itself: every process that writes the
database can write that folder, whoever runs it); an API process that committed a flag sends one
byte to every socket there. A tracker that reads one polls at once. Nothing waits: a datagram
that cannot be sent (the tracker's queue is full, so a wake-up already waits; or nobody listens)
is not sent, and the poll finds the order as it always did.

Chosen over the candidates the issue named, measured (bench/analysis.md, "The wake-up on
SQLite"): reading `PRAGMA data_version` every 10 ms cost an idle tracker 0.8% of a core and woke
it for any commit (a check-in, a heartbeat, its own writes); a socket's blocking read costs it
0.02%, and a ring costs the API 5 µs. A file watched for changes would need a platform's own API
(inotify, kqueue) or a poll of its own.

A socket left by a tracker that was killed answers ECONNREFUSED: the ringing process removes it.
A tracker whose socket vanished (its folder deleted) binds a new one within a second.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import secrets
import socket
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import URL

log = logging.getLogger(__name__)

# The longest socket path every platform binds (sockaddr_un: 108 bytes on Linux, 104 on macOS).
MAX_PATH_BYTES = 100
SUFFIX = "-wakeup"
# The longest a process rings from a listing of the folder it made earlier.
RELIST_SECONDS = 1.0
# How long a listener waits before it checks whether it should stop, or bind again.
CHECK_SECONDS = 1.0
# A listener's shortest time between two wake-ups: under a flood of flags (each rings), the
# tracker is woken at most this often, for all the rings that came meanwhile.
WAKE_SPACING = 0.005


def folder_for(url: URL) -> Path | None:
    """Where the doorbells of the SQLite database at `url` hang; None for a database in memory
    (one process only: nobody to wake) or without Unix sockets on this platform."""
    if url.get_backend_name() != "sqlite" or not hasattr(socket, "AF_UNIX"):
        return None
    database = url.database or ""
    if database in ("", ":memory:") or url.query.get("mode") == "memory":
        return None
    if database.startswith("file:"):  # a URI filename (?uri=true)
        database = database.removeprefix("file:").split("?", 1)[0]
    path = Path(database).absolute()
    return path.with_name(path.name + SUFFIX)


class Ringer:
    """One process's side that rings: a datagram to every tracker listening on the database."""

    def __init__(self, folder: Path) -> None:
        self.folder = str(folder)
        self.sock: socket.socket | None = None
        self.pid = 0
        # The folder's sockets, listed again when the folder changed (a tracker came or went) or
        # a second has passed (a change within the clock tick of the last listing leaves the
        # folder's time as it was): a stat costs a quarter of a listing, on every flag.
        self.listed: tuple[int, float, list[str]] = (-1, -math.inf, [])

    def ring(self) -> None:
        """Wake every tracker listening; never blocks, never raises."""
        paths = self._paths()
        if not paths:
            return
        sock = self._socket()
        for path in paths:
            try:
                sock.sendto(b"!", path)
            except BlockingIOError:  # its queue is full: it has a wake-up waiting already
                pass
            except ConnectionRefusedError:  # left by a tracker that was killed
                _remove_socket(path)
            except OSError as error:
                log.debug("Could not ring %s (%s)", path, error)

    def _paths(self) -> list[str]:
        try:
            changed = os.stat(self.folder).st_mtime_ns
        except OSError:  # no tracker has listened yet
            return []
        was, listed_at, paths = self.listed
        now = time.monotonic()
        if changed != was or now - listed_at >= RELIST_SECONDS:
            try:
                names = os.listdir(self.folder)
            except OSError:
                return []
            paths = [os.path.join(self.folder, name) for name in names]
            self.listed = (changed, now, paths)
        return paths

    def _socket(self) -> socket.socket:
        """This process's sending socket (made again in a process forked from another)."""
        if self.sock is None or self.pid != os.getpid():
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.setblocking(False)
            self.sock, self.pid = sock, os.getpid()
        return self.sock


def _remove_socket(path: str) -> None:
    """Remove `path` if it is a socket: nothing else in the folder is ours to remove."""
    with contextlib.suppress(OSError):
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)


def listen(folder: Path, on_ring: Callable[[], None], stopping: threading.Event) -> None:
    """Call `on_ring` whenever a process rings, from a thread of its own, until `stopping`."""
    threading.Thread(
        target=_listen, args=(folder, on_ring, stopping), name="doorbell", daemon=True
    ).start()


def _listen(folder: Path, on_ring: Callable[[], None], stopping: threading.Event) -> None:
    path = folder / secrets.token_hex(6)  # unique: trackers in containers may share a pid
    if len(os.fsencode(path)) > MAX_PATH_BYTES:
        log.warning(
            "The wake-up socket's path would be too long (%s): polling only, every interval",
            path,
        )
        return
    sock: socket.socket | None = None
    warned = False
    try:
        while not stopping.is_set():
            if sock is None or not os.path.exists(path):
                sock = _bind(sock, folder, path)
                if sock is None:
                    if not warned:
                        log.warning("No wake-up socket in %s: polling only until one binds", folder)
                        warned = True
                    stopping.wait(CHECK_SECONDS)
                    continue
                if warned:
                    log.info("Wake-up socket bound again: %s", path)
                warned = False
                on_ring()  # anything flagged while nobody listened here
            try:
                sock.recv(16)
            except TimeoutError:
                continue
            while True:  # and once more for the rings that came during the spacing, if any
                on_ring()
                stopping.wait(WAKE_SPACING)
                if not _drain(sock):
                    break
    finally:
        if sock is not None:
            sock.close()
            _remove_socket(str(path))


def _bind(old: socket.socket | None, folder: Path, path: Path) -> socket.socket | None:
    """A socket bound at `path`, the folder made if need be; None if that failed."""
    if old is not None:
        old.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        folder.mkdir(exist_ok=True)
        _remove_socket(str(path))
        sock.bind(str(path))
    except OSError as error:
        sock.close()
        log.debug("Could not bind %s (%s)", path, error)
        return None
    sock.settimeout(CHECK_SECONDS)
    return sock


def _drain(sock: socket.socket) -> bool:
    """Read every ring already queued, one wake-up answers them all; True if there was any.
    (Not with MSG_DONTWAIT: a socket with a timeout waits to be readable before any recv.)"""
    sock.setblocking(False)
    found = False
    try:
        while True:
            sock.recv(16)
            found = True
    except BlockingIOError:
        pass
    except OSError as error:
        log.debug("Wake-up socket: %s", error)
    finally:
        sock.settimeout(CHECK_SECONDS)
    return found
