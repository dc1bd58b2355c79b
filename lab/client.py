"""A small HTTP/1.1 client on asyncio with kept-alive connections: the lab's one way to the API.

Written on asyncio streams rather than a thread per connection (urllib) so one process can keep
hundreds of orders in flight and still outrun the API it loads (bench: "Lab simulator"); it
speaks only what the API answers with: a status line, headers, a body of `Content-Length` bytes.
A request whose answer never came is sent again only if doing it twice is harmless (a GET): a
POST, PATCH or DELETE may have been applied, and is not.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any
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


class TransportError(Exception):
    """No answer: the connection failed, closed, or the answer was not HTTP the client reads."""


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.last_used = time.monotonic()

    def close(self) -> None:
        self.writer.close()

    def closed_by_server(self) -> bool:
        """The server's end of the connection has been seen: nothing can be sent on it."""
        return self.reader.at_eof() or self.writer.is_closing()


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
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError as error:
            raise TransportError(str(error)) from None
        return _Connection(reader, writer), False

    async def _send(self, connection: _Connection, message: bytes) -> Reply:
        """One exchange on `connection`, closed if it fails: _ClosedBeforeAnswer when the server
        closed it before a byte of the answer came, TransportError for any other failure."""
        try:
            return await asyncio.wait_for(self._exchange(connection, message), REQUEST_TIMEOUT)
        except _ClosedBeforeAnswer:
            connection.close()
            raise
        except (OSError, TimeoutError, ValueError) as error:
            connection.close()
            raise TransportError(str(error) or type(error).__name__) from None

    async def _exchange(self, connection: _Connection, message: bytes) -> Reply:
        connection.writer.write(message)
        await connection.writer.drain()
        try:
            head = await connection.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as error:
            if not error.partial:
                raise _ClosedBeforeAnswer() from None
            raise ValueError("the answer was cut short") from None
        except asyncio.LimitOverrunError:
            raise ValueError("the answer's headers are too long") from None
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        try:
            raw = await connection.reader.readexactly(int(headers.get("content-length", "0")))
        except asyncio.IncompleteReadError:
            raise ValueError("the answer was cut short") from None
        if headers.get("connection", "").lower() == "close":
            connection.close()
        else:
            connection.last_used = time.monotonic()
            self._idle.append(connection)
        return Reply(status, json.loads(raw) if raw else None)


class _ClosedBeforeAnswer(Exception):
    """The connection closed before a byte of the answer came."""
