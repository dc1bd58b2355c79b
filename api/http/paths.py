"""Path parameters: the URL converters that let any identifier reach its view."""

from __future__ import annotations

from werkzeug.routing import BaseConverter


class IdentifierConverter(BaseConverter):
    """Any path segment text at all, slashes and newlines included, even none.

    An identifier in the URL must always reach the view, so that whatever a client sends in it
    (an encoded slash, a newline, nothing) gets Rx-Universe's own answer, not a routing 404.
    """

    regex = r"(?s:.*?)"
    part_isolating = False
    weight = 200


class SegmentConverter(BaseConverter):
    """One path segment's text, even none, but no slash.

    For a rule that a longer rule extends (`/orders/<n>` and `/orders/<n>/checkins`): with
    `identifier` the shorter rule would also take `33719/checkins` as its identifier, and answer a
    wrong method on the longer one with its own 400 or 404 instead of 405.
    """

    regex = r"[^/]*"
