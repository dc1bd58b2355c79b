"""A small threaded TCP proxy the tests put between a process and PostgreSQL, to cut its link.

Stopping the shared PostgreSQL server would break every other test run on this machine; cutting
the proxy takes the database away from the processes behind it, and only from them.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal

from sqlalchemy import make_url

CutMode = Literal["refuse", "blackhole", "freeze"]
CHUNK = 64 * 1024
# How often the accept loop looks at its stop flag: the bound on how long close() waits for it.
ACCEPT_TICK = 0.1
JOIN_TIMEOUT = 5.0


class _Link:
    """One client connection and its upstream one; two threads pump between them."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self._closed = threading.Lock()

    def close(self) -> None:
        """Shut both sockets down, which also wakes the pump threads blocked on them."""
        if self._closed.acquire(blocking=False):
            _close(self.client)
            _close(self.upstream)


@dataclass
class _Trigger:
    """A cut armed to happen when a client has sent `patterns`, in this order."""

    patterns: tuple[bytes, ...]
    mode: CutMode
    forward: bool
    seen: int = 0
    tripped: threading.Event = field(default_factory=threading.Event)


class Proxy:
    """Forwards 127.0.0.1:`port` to 127.0.0.1:`upstream_port` until cut.

    `cut()` closes every current connection and, until `restore()`, either closes each new one
    at once ("refuse": the client fails fast, as when the server is down) or accepts it and never
    answers ("blackhole": the client waits for its connect timeout, as across a lost network);
    "freeze" leaves the current connections open but silent. `cut_on()` cuts at a chosen moment
    of the conversation, e.g. in the middle of a transaction.
    At most `max_links` connections are open at once, so at most 1 + 2 * `max_links` threads
    run; a connection beyond that is closed at once.
    """

    def __init__(self, upstream_port: int = 5432, *, max_links: int = 64) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.max_links = max_links
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(ACCEPT_TICK)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._held: list[socket.socket] = []
        self._pumps: list[threading.Thread] = []
        self._mode: CutMode | None = None
        self._trigger: _Trigger | None = None
        self._stopping = threading.Event()
        self._flowing = threading.Event()
        self._flowing.set()
        self._acceptor = threading.Thread(target=self._accept_loop, name="proxy-accept")
        self.accepted = 0
        self.dropped = 0

    def __enter__(self) -> Proxy:
        self.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        self._acceptor.start()

    def url_for(self, database_url: str) -> str:
        """`database_url` through this proxy: only host and port change, the query stays."""
        url = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    @property
    def is_cut(self) -> bool:
        return self._mode is not None

    def cut(self, mode: CutMode = "refuse") -> None:
        """Close every current connection and refuse (or swallow) new ones until restored.

        "freeze" closes nothing: current connections stay open but carry no byte either way, as
        when the server stalls (SIGSTOP, a frozen VM) while its kernel still acknowledges.
        """
        with self._lock:
            self._mode = mode
            links = list(self._links)
        if mode == "freeze":
            self._flowing.clear()
            return
        for link in links:
            link.close()
        self._flowing.set()  # a frozen pump wakes to find its link closed

    def cut_on(
        self, *patterns: bytes, mode: CutMode = "refuse", forward: bool = False
    ) -> threading.Event:
        """Cut at the exact moment a client has sent `patterns` (SQL text, in this order, on any
        of its connections): before the last one reaches the server, or just after it if
        `forward`. The event returned is set once the cut is made."""
        trigger = _Trigger(patterns, mode, forward)
        with self._lock:
            self._trigger = trigger
        return trigger.tripped

    def restore(self) -> None:
        """Forward new connections again; the ones swallowed meanwhile are closed."""
        with self._lock:
            self._mode = None
            held, self._held = self._held, []
        self._flowing.set()
        for sock in held:
            _close(sock)

    def close(self) -> None:
        """Stop accepting, close every connection and wait for every thread of ours to end."""
        self._stopping.set()
        self._flowing.set()
        if self._acceptor.is_alive():
            self._acceptor.join(JOIN_TIMEOUT)
        self._listener.close()
        with self._lock:
            links, self._links = list(self._links), set()
            held, self._held = self._held, []
        for sock in held:
            _close(sock)
        for link in links:
            link.close()
        for thread in self.threads():
            thread.join(JOIN_TIMEOUT)
        leftover = [thread.name for thread in self.threads()]
        if leftover:
            raise RuntimeError(f"proxy threads still running after close: {leftover}")

    def threads(self) -> list[threading.Thread]:
        """The threads of this proxy still running, for tests that check none is left behind."""
        with self._lock:
            return [t for t in (self._acceptor, *self._pumps) if t.is_alive()]

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed
            client.settimeout(None)
            self._admit(client)

    def _admit(self, client: socket.socket) -> None:
        with self._lock:
            mode = self._mode
            full = len(self._links) >= self.max_links
            if mode in ("blackhole", "freeze") and len(self._held) < self.max_links:
                self._held.append(client)
                return
        if mode is not None or full:
            self.dropped += 1
            _close(client)
            return
        try:
            upstream = socket.create_connection(self.upstream, timeout=5.0)
        except OSError:
            _close(client)
            return
        upstream.settimeout(None)
        link = _Link(client, upstream)
        with self._lock:
            if self._mode is not None or self._stopping.is_set():
                link.close()
                return
            self._links.add(link)
            self.accepted += 1
        pumps = [
            threading.Thread(
                target=self._pump, args=(link, src, dst), name=f"proxy-{name}", daemon=True
            )
            for name, src, dst in (("up", client, upstream), ("down", upstream, client))
        ]
        with self._lock:
            self._pumps = [t for t in self._pumps if t.is_alive()] + pumps
        for thread in pumps:
            thread.start()

    def _pump(self, link: _Link, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(CHUNK):
                trigger = self._tripped_by(data) if source is link.client else None
                if trigger is not None:
                    if trigger.forward:
                        target.sendall(data)
                        data = b""
                    self.cut(trigger.mode)
                    trigger.tripped.set()
                self._flowing.wait()
                if data:
                    target.sendall(data)  # fails if the cut closed this link
        except OSError:
            pass
        finally:
            # Either side ending ends the link, as a real TCP connection to the server would.
            link.close()
            with self._lock:
                self._links.discard(link)

    def _tripped_by(self, data: bytes) -> _Trigger | None:
        with self._lock:
            trigger = self._trigger
            if trigger is None:
                return None
            start = 0
            while trigger.seen < len(trigger.patterns):
                found = data.find(trigger.patterns[trigger.seen], start)
                if found < 0:
                    return None
                start = found + len(trigger.patterns[trigger.seen])
                trigger.seen += 1
            self._trigger = None
            return trigger


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
