"""Time as the domain sees it: aware UTC instants, and the lab's local calendar date."""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo


def utcnow() -> datetime:
    """The current instant, timezone-aware, in UTC."""
    return datetime.now(UTC)


def local_date(now: datetime, zone: tzinfo) -> date:
    """The lab's calendar date at `now` (dateCompleted is the lab's date, not UTC's)."""
    return now.astimezone(zone).date()
