"""Rx-Universe's one-letter codes for an order's status and job type."""

from __future__ import annotations

import enum


class OrderStatus(enum.StrEnum):
    """Stored statuses; Hold (`W`) is derived from `on_hold`, so the two never disagree."""

    UNVALID = "U"
    VALID = "V"
    PROCESS = "P"
    COMPLETE = "C"


class JobType(enum.StrEnum):
    FULL = "F"
    UNCUT = "U"
    ADDON = "A"
    EDGE = "E"
