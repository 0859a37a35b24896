"""A blocking ``claim`` for stores whose queue is a table (SQLite, PostgreSQL).

The store looks for work, and when there is none waits until its own process enqueues
something (an ``asyncio.Event`` set by ``enqueue`` and ``record_exchange``) or POLL_SECONDS
pass (other processes' enqueues are seen at the next look), until ``block_ms`` is spent.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from selfmodel.store.base import QueueEntry

POLL_SECONDS = 0.1


async def claim_within(look: Callable[[], Awaitable[list[QueueEntry]]], count: int,
                       block_ms: int, enqueued: asyncio.Event | None) -> list[QueueEntry]:
    """``look()`` until it finds entries or ``block_ms`` is spent (one look at least)."""
    deadline = time.monotonic() + max(block_ms, 0) / 1000
    while count > 0:
        if enqueued is not None:
            enqueued.clear()  # before looking, so no wake-up is missed
        entries = await look()
        if entries:
            return entries
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        await _wait(enqueued, min(POLL_SECONDS, remaining))
    return []


async def _wait(enqueued: asyncio.Event | None, seconds: float) -> None:
    if enqueued is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(enqueued.wait(), seconds)
