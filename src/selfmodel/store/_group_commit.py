"""Group commit of the chat path's exchanges, shared by the SQLite and PostgreSQL stores.

Concurrent requests' exchanges (decision record + queue entry) wait in one list; a single
writer task takes whatever is waiting each time it runs and commits it as one group
through the store's ``commit`` (one transaction on SQLite, one statement on PostgreSQL).
Under load one commit carries many requests' records, and a lone request is written at
once. Each caller returns only after its own exchange is committed; when a group fails its
exchanges are committed one by one, so one bad record fails alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from selfmodel.domain.models import DecisionRecord, Observation

Exchange = tuple[DecisionRecord | None, Observation | None, float]  # (record, entry, ttl)
Commit = Callable[[list[Exchange]], Awaitable[None]]
_Waiting = tuple[Exchange, "asyncio.Future[None]"]


class GroupCommit:
    """The waiting exchanges and the one task that writes them (see the module docstring)."""

    def __init__(self, commit: Commit) -> None:
        self._commit = commit
        self._waiting: list[_Waiting] = []
        self._writer: asyncio.Future[None] | None = None

    async def submit(self, exchange: Exchange) -> None:
        """Return once ``exchange`` is committed (or raise why it could not be)."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((exchange, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write())
        await done

    async def drain(self) -> None:
        """Wait until the exchanges accepted so far are written (a store's close)."""
        if self._writer is not None:
            await asyncio.wait([self._writer])

    async def _write(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                await self._commit([exchange for exchange, _ in group])
                _settle(group, None)
            except Exception:
                for exchange, done in group:  # each on its own: one bad record fails alone
                    try:
                        await self._commit([exchange])
                        _settle([(exchange, done)], None)
                    except Exception as exc:
                        _settle([(exchange, done)], exc)


def _settle(group: list[_Waiting], error: Exception | None) -> None:
    """Tell each waiting caller how its write went (a caller may have gone meanwhile)."""
    for _, done in group:
        if done.done():
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)
