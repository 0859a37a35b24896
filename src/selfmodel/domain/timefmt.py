"""UNIX seconds (the domain's time) to ISO 8601 (the HTTP layer's), in one place."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(ts: float) -> str:
    """``2025-01-31T12:00:00.250Z``: UTC, millisecond precision, a trailing Z."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_or_none(ts: float | None) -> str | None:
    """``iso(ts)``, or None for an unset time (0 or None): never a misleading 1970."""
    return iso(ts) if ts else None
