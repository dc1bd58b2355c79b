"""A small HTTP/1.1 client on asyncio with kept-alive connections: the lab's one way to the API.

Written on asyncio rather than a thread per connection (urllib) so one process can keep hundreds
of orders in flight and still outrun the API it loads (bench: "Lab simulator"); each connection
is an asyncio protocol that parses its answer as the bytes arrive. It speaks only what the API
answers with: a status line, headers, a body of `Content-Length` bytes.
A request whose answer never came is sent again only if doing it twice is harmless (a GET): a
POST, PATCH or DELETE may have been applied, and is not.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

# Servers close a connection idle for a while (gunicorn.conf.py: 5 s); one idle this long is
# dropped rather than reused, so a request rarely meets a connection closed under it.
MAX_IDLE_SECONDS = 2.0
REQUEST_TIMEOUT = 30.0
# The methods a request may be sent again with once written (even in part): a server that got it
# and lost the answer has done no harm by doing it twice (RFC 9110's idempotent methods). DELETE
# is one by the RFC but not to the lab: a second cancel is refused ("Order already completed"),
# so a cancel applied once would come back as an error. A POST (a submission, a check-in, a
# completion flag) could be applied twice: it is never sent again.
RESENDABLE = frozenset({"GET", "HEAD", "OPTIONS", "PUT"})
_CLOSED = "the server closed the connection without an answer"
# As asyncio's streams allowed: an answer whose head is longer is not HTTP the client reads.
MAX_HEAD_BYTES = 2**16


class TransportError(Exception):
    """No answer: the connection failed, closed, or the answer was not HTTP the client reads."""


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any


class _Connection(asyncio.Protocol):
    """One kept-alive connection, read as the bytes arrive: the answer to the request in hand
    is parsed in place and handed over whole, with no stream or task of its own (the lab's
    costliest part before, bench/analysis.md)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes, bool]] | None = None
        self.closed = False  # the server's end has been seen: nothing can be sent on it
        self.last_used = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # create_connection's: a TCP one

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEAD_BYTES:
                self._fail(ValueError("the answer's headers are too long"))
            return
        try:
            status, length, close = _head(bytes(self.buffer[:end]))
        except ValueError as error:
            self._fail(error)
            return
        body_start = end + 4
        if len(self.buffer) < body_start + length:
            return
        body = bytes(self.buffer[body_start : body_start + length])
        del self.buffer[: body_start + length]
        self.waiter.set_result((status, body, close))

    def eof_received(self) -> bool:
        self.closed = True
        self._lost(None)
        return False  # close the transport

    def connection_lost(self, error: Exception | None) -> None:
        self.closed = True
        self._lost(error)

    def _lost(self, error: Exception | None) -> None:
        if error is not None:
            self._fail(error)
        elif self.buffer:
            self._fail(ValueError("the answer was cut short"))
        else:
            self._fail(_ClosedBeforeAnswer())

    def _fail(self, error: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)

    async def exchange(self, message: bytes) -> tuple[int, bytes, bool]:
        """Send `message`; the answer's status, body, and whether the server closes after it."""
        if self.closed or self.transport is None:
            raise _ClosedBeforeAnswer()
        self.buffer.clear()
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(message)
        try:
            return await self.waiter
        finally:
            self.waiter = None

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def closed_by_server(self) -> bool:
        """The server's end of the connection has been seen: nothing can be sent on it."""
        return self.closed or self.transport is None or self.transport.is_closing()


def _head(head: bytes) -> tuple[int, int, bool]:
    """An answer's status, Content-Length, and whether it says `Connection: close`."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        raise ValueError("the answer is not HTTP")
    status = int(parts[1])
    length, close = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            close = value.strip().lower() == b"close"
    return status, length, close


class Client:
    """Requests to one API, over at most `connections` kept-alive connections at a time."""

    def __init__(self, base_url: str, connections: int) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"{base_url!r} is not an http:// URL")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(connections)

    async def request(self, method: str, path: str, body: Any = None) -> Reply:
        """Send one request and read its answer; TransportError if none came. A request written
        and left unanswered is sent again only with a method in RESENDABLE."""
        payload = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {self.prefix}{path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        head += f"Content-Length: {len(payload)}\r\n\r\n"
        message = head.encode() + payload
        async with self._slots:
            connection, reused = await self._connection()
            try:
                return await self._send(connection, message)
            except _ClosedBeforeAnswer:
                if not reused:
                    raise TransportError(_CLOSED) from None
                if method not in RESENDABLE:
                    raise TransportError(f"{_CLOSED}; a {method} is not sent twice") from None
            # A kept-alive connection the server closed as the request went out, most likely
            # unread; a method the server may get twice is sent again on a new connection.
            connection, _ = await self._connection(fresh=True)
            try:
                return await self._send(connection, message)
            except _ClosedBeforeAnswer:
                raise TransportError(_CLOSED) from None

    async def close(self) -> None:
        """Close every idle connection."""
        for connection in self._idle:
            connection.close()
        self._idle.clear()

    async def _connection(self, fresh: bool = False) -> tuple[_Connection, bool]:
        now = time.monotonic()
        while self._idle and not fresh:
            connection = self._idle.pop()
            # One the server has closed while it was idle is dropped before a byte is written:
            # the request goes on another, whatever its method, as none of it was sent.
            if now - connection.last_used < MAX_IDLE_SECONDS and not connection.closed_by_server():
                return connection, True
            connection.close()
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(_Connection, self.host, self.port)
        except OSError as error:
            raise TransportError(str(error)) from None
        return connection, False

    async def _send(self, connection: _Connection, message: bytes) -> Reply:
        """One exchange on `connection`, closed if it fails: _ClosedBeforeAnswer when the server
        closed it before a byte of the answer came, TransportError for any other failure."""
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                status, raw, close = await connection.exchange(message)
            reply = Reply(status, json.loads(raw) if raw else None)
        except _ClosedBeforeAnswer:
            connection.close()
            raise
        except (OSError, TimeoutError, ValueError) as error:
            connection.close()
            raise TransportError(str(error) or type(error).__name__) from None
        if close:
            connection.close()
        else:
            connection.last_used = time.monotonic()
            self._idle.append(connection)
        return reply


class _ClosedBeforeAnswer(Exception):
    """The connection closed before a byte of the answer came."""
