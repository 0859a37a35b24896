"""Erasing a user from Redis, and the scan that proves nothing is left.

The erasure writes the tombstone, then, in one transaction on the user's slot, SETs and DELs
the model key along with every other key of the user. The SET matters even when the model is
absent: it aborts every mutation WATCHing that key, and a mutation reads the tombstone only
after its WATCH, so it either committed before the erasure (and is erased with the rest) or
sees the tombstone. The transaction WATCHes the user's decision index, so a decision recorded
between reading that index and deleting it makes the erasure run again rather than miss it.
On a single server the tombstone, the user's keys and the shared index entries are one
transaction; in a cluster they are steps (tombstone first). The stream, the dead letters and
the tenant's outcomes are shared structures, scanned for the user's entries afterwards.
"""

from __future__ import annotations

import json
import time
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from selfmodel.store import _redis_records as rec
from selfmodel.store._compact import unpack
from selfmodel.store._redis_keys import Keys, UserKeys, glob_escape, owner_member
from selfmodel.store._redis_queue import StreamQueue


class Eraser:
    """``erase`` and ``scan`` for one store (its client, keys, queue and topology)."""

    def __init__(self, client: Redis, keys: Keys, queue: StreamQueue, cluster: bool) -> None:
        self._r = client
        self._keys = keys
        self._queue = queue
        self._cluster = cluster

    async def write_tombstone(self, tenant: str, user_id: str) -> None:
        await self._r.set(self._keys.tombstone(tenant, user_id), repr(time.time()))

    async def erase_keys(self, tenant: str, user_id: str) -> bool:
        """One attempt (WatchError: retry) at the user's keys and the index entries naming
        the user; on a single server the tombstone is written in the same transaction."""
        uk = self._keys.user(tenant, user_id)
        async with self._r.pipeline(transaction=True) as pipe:
            await pipe.watch(uk.decisions)
            request_ids: list[Any] = await pipe.zrange(uk.decisions, 0, -1)
            pipe.multi()  # type: ignore[no-untyped-call]
            if not self._cluster:
                pipe.set(self._keys.tombstone(tenant, user_id), repr(time.time()))
            _queue_user_erase(pipe, uk)
            if not self._cluster:
                self._queue_shared_erase(pipe, tenant, user_id, request_ids)
            results = await pipe.execute()
        if not self._cluster:
            return bool(results[1]) or bool(results[4])  # EXISTS of the keys; SREM of users
        async with self._r.pipeline(transaction=False) as shared:
            self._queue_shared_erase(shared, tenant, user_id, request_ids)
            removed = await shared.execute()
        return bool(results[0]) or bool(removed[0])

    def _queue_shared_erase(self, pipe: Pipeline, tenant: str, user_id: str,
                            request_ids: list[bytes]) -> None:
        """Index entries naming the user, then the user's decision records (first: SREM)."""
        pipe.srem(self._keys.users(tenant), user_id)
        pipe.zrem(self._keys.obs_users, owner_member(tenant, user_id))
        for request_id in request_ids:
            pipe.delete(self._keys.decision(tenant, request_id.decode()))
        if request_ids:
            pipe.zrem(self._keys.decisions(tenant), *request_ids)

    async def erase_shared_logs(self, tenant: str, user_id: str) -> bool:
        """The user's stream entries, dead letters and outcomes."""
        removed = await self._queue.erase_user(tenant, user_id)
        outcomes = await rec.user_outcomes(self._r, self._keys, tenant, user_id)
        if outcomes:
            await self._r.zrem(self._keys.outcomes(tenant), *outcomes)
        return bool(removed or outcomes)

    async def scan(self, tenant: str, user_id: str) -> list[str]:
        """Keys under the user's hash tag, then every shared structure naming the user.
        The tombstone is keyed by a digest, so it never names the user."""
        uk = self._keys.user(tenant, user_id)
        found = [k.decode() async for k in self._r.scan_iter(match=glob_escape(uk.tag) + "*",
                                                             count=1000)]
        found += await self._scan_indexes(tenant, user_id)
        found += await self._scan_decisions(tenant, user_id)
        found += [f"{self._keys.stream}#{i}"
                  for i in await self._queue.user_entries(tenant, user_id)]
        found += [f"{self._keys.dead}#{raw.decode()}"
                  for raw in await self._queue.user_dead_letters(tenant, user_id)]
        found += [f"{self._keys.outcomes(tenant)}#{raw.decode()}"
                  for raw in await rec.user_outcomes(self._r, self._keys, tenant, user_id)]
        return found

    async def _scan_indexes(self, tenant: str, user_id: str) -> list[str]:
        found = []
        if await self._r.sismember(self._keys.users(tenant), user_id):
            found.append(f"{self._keys.users(tenant)}#{user_id}")
        member = owner_member(tenant, user_id)
        if await self._r.zscore(self._keys.obs_users, member) is not None:
            found.append(f"{self._keys.obs_users}#{member}")
        return found

    async def _scan_decisions(self, tenant: str, user_id: str) -> list[str]:
        found = []
        async for key in self._r.scan_iter(match=self._keys.decision_pattern(tenant),
                                           count=1000):
            raw = await self._r.get(key)
            if raw is not None and json.loads(unpack(raw)).get("user_id") == user_id:
                found.append(key.decode())
        return found


def _queue_user_erase(pipe: Pipeline, uk: UserKeys) -> None:
    """EXISTS (did anything exist?), SET the model key (aborts WATCHers even if it was
    absent), then DEL all of the user's keys."""
    pipe.exists(*uk.all())
    pipe.set(uk.model, b"")
    pipe.delete(*uk.all())
