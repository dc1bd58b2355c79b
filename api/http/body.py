"""Request bodies: JSON read strictly (a bad body is a 400 in our shape, never a 500), and JSON
written in the documented key order."""

from __future__ import annotations

import io
import logging
import re
from typing import IO, Any, NoReturn

from flask import Request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import get_input_stream


class MalformedJSON(Exception):
    """The request body is not JSON."""


class InvalidContentLength(Exception):
    """The Content-Length header is not a number of bytes: where the body ends is unknown."""


_DIGITS = re.compile(r"[0-9]+")


# Seconds a client may leave its body unfinished under gunicorn, which has no such timeout of its
# own: a stalled body then holds a server thread no longer than waitress would hold the socket.
BODY_READ_TIMEOUT = 20.0


log = logging.getLogger(__name__)


class BodyRefused(Exception):
    """A request body that cannot be taken as it came: the status and the one detail line."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


def take_whole_body(environ: dict[str, Any], limit: int) -> None:
    """Read the request's body whole before any view runs, and put it back in `environ` as a
    buffer of exactly its length; raise BodyRefused if it cannot be taken whole.

    Every route sees a body that is all there or no request at all: a body shorter than its
    Content-Length (the client half-closed, or went quiet for BODY_READ_TIMEOUT), a chunked body
    the server cannot decode, or a body past `limit` however it is framed, is refused before
    anything is written, even by a view that never reads its body (the completion call). A
    request without a body costs two dictionary reads.
    """
    declared = environ.get("CONTENT_LENGTH") or ""
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    expected: int | None = None
    if not chunked:
        if not declared.strip():
            return
        if not _DIGITS.fullmatch(declared.strip()):
            raise BodyRefused(
                400,
                "Invalid request",
                f"Content-Length: must be a number of bytes, not {declared!r}",
            )
        expected = int(declared)
        if expected == 0:
            return
        if expected > limit:
            raise BodyRefused(413, "Request too large", f"The body may be at most {limit} bytes")
    elif not environ.get("wsgi.input_terminated"):
        return  # chunked, and no server vouching for the end of the stream: no body to read
    source: IO[bytes] = environ["wsgi.input"]
    sock = environ.get("gunicorn.socket")
    if sock is not None:
        sock.settimeout(BODY_READ_TIMEOUT)  # gthread sets it blocking again between requests
    body = bytearray()
    want = expected if expected is not None else limit + 1
    try:
        while len(body) < want:
            piece = source.read(want - len(body))
            if not piece:
                break
            body += piece
    except Exception as error:  # the server's own framing errors, a reset, a timeout
        reason = str(error) or type(error).__name__
        raise BodyRefused(400, "Invalid request", f"The body could not be read: {reason}") from None
    if expected is not None and len(body) < expected:
        raise BodyRefused(
            400,
            "Invalid request",
            f"The body ended after {len(body)} of the {expected} bytes its Content-Length "
            "announced",
        )
    if len(body) > limit:
        raise BodyRefused(413, "Request too large", f"The body may be at most {limit} bytes")
    environ["wsgi.input"] = io.BytesIO(bytes(body))
    environ["CONTENT_LENGTH"] = str(len(body))
    environ["wsgi.input_terminated"] = True


class JSONRequest(Request):
    """A request whose body is read whole or refused, and whose unreadable JSON body is reported
    in our shape, with the parser's reason."""

    @cached_property
    def stream(self) -> IO[bytes]:
        """The body, never cut short: over `max_content_length` it is a 413 however it is framed.

        The app's middleware (`take_whole_body`) has already taken the body whole, so this only
        reads its buffer; the checks stay for a request built without the middleware. werkzeug
        reads a body sent without a length (chunked, under gunicorn) only up to the limit and
        hands on what it got, so a JSON document cut at 1 MiB could be parsed; and it reads an
        invalid Content-Length as 0, an empty body. Both are refused here instead.
        """
        declared = self.environ.get("CONTENT_LENGTH")
        if declared and not _DIGITS.fullmatch(declared.strip()):
            raise InvalidContentLength(declared)
        limit = self.max_content_length
        if self.content_length is not None or limit is None:
            return get_input_stream(self.environ, max_content_length=limit)
        if not self.environ.get("wsgi.input_terminated"):
            return io.BytesIO()  # no length and no end the server vouches for: no body
        # The server ends the stream (it decoded the chunks): read one byte past the limit.
        source: IO[bytes] = self.environ["wsgi.input"]
        body = bytearray()
        while len(body) <= limit:
            piece = source.read(limit + 1 - len(body))
            if not piece:
                return io.BytesIO(bytes(body))
            body += piece
        raise RequestEntityTooLarge()

    def on_json_loading_failed(self, e: ValueError | None) -> NoReturn:
        raise MalformedJSON(str(e) if e else "the body could not be decoded")


def _not_json(constant: str) -> NoReturn:
    """Python's parser reads NaN and Infinity, which JSON does not have: stored, they would be
    served back as text no JSON parser reads."""
    raise ValueError(f"{constant} is not a JSON value")


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, with NaN and Infinity refused, and a document too deeply nested to parse
    reported as malformed JSON.

    Python's parser recurses once per level and gives up with RecursionError, which is not a
    ValueError: Flask would let it through as a 500.
    """

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        kwargs.setdefault("parse_constant", _not_json)
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("the body is nested too deeply") from None
