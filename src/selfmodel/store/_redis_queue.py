"""The observation queue as one Redis Stream with the consumer group ``workers``.

Delivery is at least once: an entry stays in the group's pending list (PEL) until ``ack``
(XACK + XDEL; the stream is never trimmed, so an unacknowledged entry is never dropped).
``claim`` takes, in order: the consumer's own pending entries (XREADGROUP from id 0, so a
worker restarted under its old name drains what it held), entries idle longer than the lease
(XAUTOCLAIM, following the cursor to the end: their worker died or hangs), then new entries
(XREADGROUP ``>``, blocking only when nothing else was found). ``tries`` is the delivery count
Redis keeps. The group is created at id 0 with MKSTREAM, so entries written before any worker
existed are delivered. Each entry carries tenant and user as fields, so an erasure can find a
user's entries without parsing every payload.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError
from redis.typing import EncodableT, FieldT

from selfmodel.domain.models import Observation
from selfmodel.store._codec import dead_letter_doc, dead_letter_owner, parse_dead_letter
from selfmodel.store._redis_keys import GROUP, Keys
from selfmodel.store.base import DeadLetter, QueueEntry, QueueStats

SCAN_PAGE = 1000
MAX_BLOCK_MS = 2_000  # a blocking read stays well inside the client's socket timeout

# Single server: dead-letter an entry only if it is still pending (an erasure may have removed
# it meanwhile), and do the move atomically. KEYS: stream, dead list. ARGV: group, id, doc.
_DEAD_LETTER_LUA = """
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('XDEL', KEYS[1], ARGV[2])
  redis.call('RPUSH', KEYS[2], ARGV[3])
  return 1
end
return 0
"""

Raw = tuple[Any, dict[bytes, bytes]]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entries(response: Any) -> list[Raw]:
    """The entries of an XREADGROUP reply, in RESP2 (list) or RESP3 (dict) shape."""
    if not response:
        return []
    streams = response.values() if isinstance(response, dict) else (s[1] for s in response)
    out: list[Raw] = []
    for entries in streams:
        for entry in entries:
            out.extend(entry if isinstance(entry, list) else [entry])
    return out


def _stream_ms(entry_id: str) -> float:
    return int(entry_id.split("-", 1)[0]) / 1000


class StreamQueue:
    """Queue operations on the stream; RedisStore delegates to it."""

    def __init__(self, client: Redis, keys: Keys, cluster: bool) -> None:
        self._r = client
        self._keys = keys
        self._cluster = cluster
        self._dead_letter = client.register_script(_DEAD_LETTER_LUA)

    async def ensure_group(self) -> None:
        try:
            await self._r.xgroup_create(self._keys.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def add(self, pipe: Pipeline, obs: Observation) -> None:
        """Queue an XADD on ``pipe`` (part of a caller's transaction)."""
        pipe.xadd(self._keys.stream, self._fields(obs))

    async def enqueue(self, obs: Observation) -> str:
        return _text(await self._r.xadd(self._keys.stream, self._fields(obs)))

    @staticmethod
    def _fields(obs: Observation) -> dict[FieldT, EncodableT]:
        return {"t": obs.tenant, "u": obs.user_id, "p": obs.model_dump_json()}

    async def claim(self, consumer: str, count: int, block_ms: int,
                    lease_seconds: float) -> list[QueueEntry]:
        try:
            return await self._claim(consumer, count, block_ms, lease_seconds)
        except ResponseError as exc:  # the stream or group was deleted under us
            if "NOGROUP" not in str(exc):
                raise
            await self.ensure_group()
            return await self._claim(consumer, count, block_ms, lease_seconds)

    async def _claim(self, consumer: str, count: int, block_ms: int,
                     lease_seconds: float) -> list[QueueEntry]:
        if count <= 0:
            return []
        raw = await self._own(consumer, count)
        if len(raw) < count:
            raw += await self._autoclaim(consumer, count - len(raw), int(lease_seconds * 1000),
                                         {_text(r[0]) for r in raw})
        entries = await self._with_tries(consumer, raw)
        if len(entries) < count:
            block = min(block_ms, MAX_BLOCK_MS) if block_ms > 0 and not entries else None
            entries += await self._new(consumer, count - len(entries), block)
        return entries

    async def _own(self, consumer: str, count: int) -> list[Raw]:
        reply = await self._r.xreadgroup(GROUP, consumer, {self._keys.stream: "0"}, count=count)
        raw = _entries(reply)
        gone = [r[0] for r in raw if not r[1]]  # deleted (erased) but still pending: drop
        if gone:
            await self._r.xack(self._keys.stream, GROUP, *gone)
        return [r for r in raw if r[1]]

    async def _autoclaim(self, consumer: str, want: int, min_idle_ms: int,
                         seen: set[str]) -> list[Raw]:
        got: list[Raw] = []
        cursor: bytes | str = "0-0"
        while len(got) < want:
            reply = await self._r.xautoclaim(self._keys.stream, GROUP, consumer, min_idle_ms,
                                             cursor, count=want - len(got))
            cursor = cast(bytes, reply[0])
            got += [r for r in reply[1] if r[1] and _text(r[0]) not in seen]
            if _text(cursor) == "0-0":
                break
        return got

    async def _with_tries(self, consumer: str, raw: list[Raw]) -> list[QueueEntry]:
        """Entries re-delivered from the PEL, with their delivery counts (XPENDING)."""
        if not raw:
            return []
        ids = [_text(r[0]) for r in raw]
        pending = await self._r.xpending_range(
            self._keys.stream, GROUP, min="-", max="+", count=len(ids) * 2 + 16,
            consumername=consumer)
        tries = {_text(cast(bytes, p["message_id"])): int(p["times_delivered"])
                 for p in pending}
        return [self._entry(i, r[1], tries.get(i, 1)) for i, r in zip(ids, raw, strict=True)]

    async def _new(self, consumer: str, count: int, block: int | None) -> list[QueueEntry]:
        reply = await self._r.xreadgroup(GROUP, consumer, {self._keys.stream: ">"},
                                         count=count, block=block)
        return [self._entry(_text(i), fields, 1) for i, fields in _entries(reply) if fields]

    @staticmethod
    def _entry(entry_id: str, fields: dict[bytes, bytes], tries: int) -> QueueEntry:
        return QueueEntry(entry_id=entry_id,
                          observation=Observation.model_validate_json(fields[b"p"]),
                          tries=tries, enqueued_at=_stream_ms(entry_id))

    async def ack(self, entry_ids: Sequence[str]) -> None:
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.xack(self._keys.stream, GROUP, *entry_ids)
            pipe.xdel(self._keys.stream, *entry_ids)
            await pipe.execute()

    async def fail(self, entry: QueueEntry, error: str, max_tries: int) -> bool:
        """At ``max_tries`` move the entry to the dead letters; before, leave it pending (its
        consumer's next claim, or another after the lease, delivers it again)."""
        if entry.tries < max_tries:
            return False
        obs = entry.observation
        doc = dead_letter_doc(entry.entry_id, obs.model_dump_json(), obs.tenant, obs.user_id,
                              entry.tries, error)
        if not self._cluster:
            moved = await self._dead_letter(keys=[self._keys.stream, self._keys.dead],
                                            args=[GROUP, entry.entry_id, doc])
            return bool(moved)
        # Cluster: stream and list live in different slots; acknowledge first, so an entry
        # erased meanwhile is never copied into the dead letters.
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.xack(self._keys.stream, GROUP, entry.entry_id)
            pipe.xdel(self._keys.stream, entry.entry_id)
            acked, _ = await pipe.execute()
        if acked:
            await self._r.rpush(self._keys.dead, doc)
        return bool(acked)

    async def stats(self) -> QueueStats:
        try:
            return await self._stats()
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self.ensure_group()
            return await self._stats()

    async def _stats(self) -> QueueStats:
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.xlen(self._keys.stream)
            pipe.xpending(self._keys.stream, GROUP)
            pipe.llen(self._keys.dead)
            pipe.xrange(self._keys.stream, "-", "+", count=1)
            depth, pending, dead, first = await pipe.execute()
        age = max(0.0, time.time() - _stream_ms(_text(first[0][0]))) if first else 0.0
        return QueueStats(depth=int(depth), pending=int(pending["pending"]), dead=int(dead),
                          oldest_age=age)

    async def dead_letters(self, limit: int) -> list[DeadLetter]:
        if limit <= 0:
            return []
        return [parse_dead_letter(raw) for raw in await self._r.lrange(self._keys.dead, 0,
                                                                       limit - 1)]

    # -- erasure ----------------------------------------------------------------------------
    async def user_entries(self, tenant: str, user_id: str) -> list[str]:
        """Stream ids of the user's entries (waiting or pending), by scanning the stream."""
        want_t, want_u = tenant.encode(), user_id.encode()
        found: list[str] = []
        start = "-"
        while True:
            page: Any = await self._r.xrange(self._keys.stream, start, "+", count=SCAN_PAGE)
            found += [_text(i) for i, f in page if f.get(b"t") == want_t
                      and f.get(b"u") == want_u]
            if len(page) < SCAN_PAGE:
                return found
            start = "(" + _text(page[-1][0])

    async def user_dead_letters(self, tenant: str, user_id: str) -> list[bytes]:
        raws: list[Any] = await self._r.lrange(self._keys.dead, 0, -1)
        return [raw for raw in raws if dead_letter_owner(raw) == (tenant, user_id)]

    async def erase_user(self, tenant: str, user_id: str) -> int:
        """Remove the user's stream entries (acknowledging pending ones) and dead letters."""
        ids = await self.user_entries(tenant, user_id)
        dead = await self.user_dead_letters(tenant, user_id)
        if ids:
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.xack(self._keys.stream, GROUP, *ids)
                pipe.xdel(self._keys.stream, *ids)
                await pipe.execute()
        for raw in dead:
            await self._r.lrem(self._keys.dead, 0, raw.decode())
        return len(ids) + len(dead)
