"""Small formatting filters for the console's templates (times, percentages, numbers)."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def when(ts: float | None) -> str:
    """``2025-01-31 12:00 UTC``; a dash for an unset time."""
    if not ts:
        return "\u2014"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def ago(ts: float | None, now: float | None = None) -> str:
    """``5 min ago``: how long ago, in the largest unit that fits."""
    if not ts:
        return "never"
    seconds = max(0.0, (now or time.time()) - ts)
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return "just now"


def pct(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"
