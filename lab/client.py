"""A small HTTP/1.1 client on asyncio with kept-alive connections: the lab's one way to the API.

Written on asyncio streams rather than a thread per connection (urllib) so one process can keep
hundreds of orders in flight and still outrun the API it loads (bench: "Lab simulator"); it
speaks only what the API answers with: a status line, headers, a body of `Content-Length` bytes.
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
        """Send one request and read its answer; TransportError if none came."""
        payload = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {self.prefix}{path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        head += f"Content-Length: {len(payload)}\r\n\r\n"
        message = head.encode() + payload
        async with self._slots:
            connection, reused = await self._connection()
            try:
                return await asyncio.wait_for(self._exchange(connection, message), REQUEST_TIMEOUT)
            except _ClosedBeforeAnswer:
                connection.close()
                if not reused:
                    raise TransportError("the server closed the connection") from None
                # A kept-alive connection the server had closed: the request never reached it
                # (not a byte came back), so sending it again on a new one is safe.
                connection, _ = await self._connection(fresh=True)
                try:
                    return await asyncio.wait_for(
                        self._exchange(connection, message), REQUEST_TIMEOUT
                    )
                except (OSError, _ClosedBeforeAnswer, TimeoutError, ValueError) as error:
                    connection.close()
                    raise TransportError(str(error) or type(error).__name__) from None
            except (OSError, TimeoutError, ValueError) as error:
                connection.close()
                raise TransportError(str(error) or type(error).__name__) from None

    async def close(self) -> None:
        """Close every idle connection."""
        for connection in self._idle:
            connection.close()
        self._idle.clear()

    async def _connection(self, fresh: bool = False) -> tuple[_Connection, bool]:
        now = time.monotonic()
        while self._idle and not fresh:
            connection = self._idle.pop()
            if now - connection.last_used < MAX_IDLE_SECONDS:
                return connection, True
            connection.close()
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError as error:
            raise TransportError(str(error)) from None
        return _Connection(reader, writer), False

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
