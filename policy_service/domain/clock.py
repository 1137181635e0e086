"""The one clock, and the one way a moment leaves the service: UTC, with its offset.

SQLite hands datetimes back without a zone (they are stored as UTC); storage turns them
aware through ``audit.tables.UtcDateTime`` (the one timestamp type of all storage), and
anything that still meets a naive value (a caller's, a test's) goes through ``as_utc`` so no
timestamp is ever written without one.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """Aware and in UTC: a naive moment is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso(moment: datetime | None) -> str | None:
    """RFC 3339 with an explicit offset (``+00:00``), or None."""
    return as_utc(moment).isoformat() if moment is not None else None
