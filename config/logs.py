"""Logging for both processes: text by default, or one JSON object per line (LOG_FORMAT=json).

A request's id travels in a context variable, so every line logged while the API serves that
request carries it, whichever module logs; the API sets it (api.http.requests).
"""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
# CSI sequences (colours, cursor moves): werkzeug's request log colours status codes always.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (None outside a request) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class NoAnsiFilter(logging.Filter):
    """Strips colour codes from the message: a file or a log collector would keep them raw."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "\x1b" in message:
            record.msg, record.args = _ANSI.sub("", message), None
        return True


def json_formatter(program: str) -> logging.Formatter:
    """One JSON object per record, in the shape the manual documents (docs/api/monitoring.md):
    ours, and gunicorn's own lines under gunicorn.conf.py."""
    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s %(request_id)s",
        rename_fields={"levelname": "level", "name": "logger"},
        static_fields={"program": program},
        timestamp="time",  # ISO 8601, UTC
    )


def configure_logging(
    program: str, *, level: str = "INFO", log_format: str = "text", stream: TextIO | None = None
) -> None:
    """Send every logger's records to `stream` (default stderr), as text or JSON lines."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    if not stream.isatty():
        handler.addFilter(NoAnsiFilter())
    if log_format == "json":
        handler.setFormatter(json_formatter(program))
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s %(levelname)s [{program}] %(message)s")
        )
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
