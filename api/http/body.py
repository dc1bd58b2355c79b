"""Request bodies: JSON read strictly (a bad body is a 400 in our shape, never a 500), and JSON
written in the documented key order."""

from __future__ import annotations

import io
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


class JSONRequest(Request):
    """A request whose body is read whole or refused, and whose unreadable JSON body is reported
    in our shape, with the parser's reason."""

    @cached_property
    def stream(self) -> IO[bytes]:
        """The body, never cut short: over `max_content_length` it is a 413 however it is framed.

        werkzeug reads a body sent without a length (chunked, under gunicorn) only up to the
        limit and hands on what it got, so a JSON document cut at 1 MiB could be parsed; and it
        reads an invalid Content-Length as 0, an empty body. Both are refused here instead. Only
        a view that reads its body comes here: the completion call never does.
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


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, with a document too deeply nested to parse reported as malformed JSON.

    Python's parser recurses once per level and gives up with RecursionError, which is not a
    ValueError: Flask would let it through as a 500.
    """

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("the body is nested too deeply") from None
