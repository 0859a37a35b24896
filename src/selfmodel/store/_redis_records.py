"""Decision records, the observation log and outcomes on Redis.

On a single server, ``record_exchange`` (and ``put_decision``) is one Lua script: the decision
record, its index entries and the stream entry are written atomically in one round trip, and
the record is dropped if the user was erased after the request began (the tombstone is read in
the same atomic step). One script costs the gateway about half the client CPU of the same
writes as a MULTI pipeline, which matters on the chat path. In Redis Cluster the keys live in
different slots, so the same writes are steps (decision first) through pipelines.
Decision records expire by key TTL; the indexes that point at them (the tenant's, for
insights, and the user's, for erasure) are trimmed as records are added.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from selfmodel.domain.models import DecisionRecord, Observation
from selfmodel.store._compact import pack, unpack
from selfmodel.store._redis_keys import Keys, UserKeys, owner_member

# KEYS: decision, tenant index, user index, tombstone, stream.
# ARGV: decision doc ('' = none), ttl ms, request id, at, tenant-index trim bound, expires at,
#       has user ('1' / ''), now, tenant, user, payload ('' = no observation), the time the
#       observation's request began. Neither is written if the user was erased since.
EXCHANGE_LUA = """
local erased = ARGV[7] == '1' and redis.call('GET', KEYS[4])
if ARGV[1] ~= '' then
  if not erased or tonumber(erased) < tonumber(ARGV[4]) then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[5])
    if ARGV[7] == '1' then
      redis.call('ZADD', KEYS[3], ARGV[6], ARGV[3])
      redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[8])
      redis.call('PEXPIRE', KEYS[3], ARGV[2], 'NX')
      redis.call('PEXPIRE', KEYS[3], ARGV[2], 'GT')
    end
  end
end
if ARGV[11] ~= '' and (not erased or tonumber(erased) < tonumber(ARGV[12])) then
  return redis.call('XADD', KEYS[5], '*', 't', ARGV[9], 'u', ARGV[10], 'p', ARGV[11])
end
return false
"""


def exchange_args(keys: Keys, decision: DecisionRecord | None, obs: Observation | None,
                  ttl: float, now: float) -> tuple[list[str], list[str | bytes]]:
    """KEYS and ARGV of EXCHANGE_LUA (single server only: the keys span slots)."""
    ttl_ms = str(max(1, int(ttl * 1000)))
    tenant = decision.tenant if decision else obs.tenant if obs else ""
    user = decision.user_id if decision else None
    uk = keys.user(tenant, user) if user is not None else None
    script_keys = [
        keys.decision(tenant, decision.request_id) if decision else keys.stream,
        keys.decisions(tenant),
        uk.decisions if uk else keys.stream,
        keys.tombstone(tenant, user) if user is not None else keys.stream,
        keys.stream,
    ]
    args = [
        pack(decision.model_dump_json()) if decision else "", ttl_ms,
        decision.request_id if decision else "", repr(decision.at if decision else now),
        repr(now - ttl), repr(now + ttl), "1" if uk else "", repr(now),
        obs.tenant if obs else "", obs.user_id if obs else "",
        obs.model_dump_json() if obs else "", repr(obs.began() if obs else now),
    ]
    return script_keys, args


def add_decision(pipe: Pipeline, keys: Keys, record: DecisionRecord, ttl: float,
                 now: float) -> None:
    """Queue the writes of one decision record on ``pipe`` (the cluster path)."""
    ttl_ms = max(1, int(ttl * 1000))
    pipe.set(keys.decision(record.tenant, record.request_id), pack(record.model_dump_json()),
             px=ttl_ms)
    index = keys.decisions(record.tenant)
    pipe.zadd(index, {record.request_id: record.at})
    pipe.zremrangebyscore(index, "-inf", f"({now - ttl}")
    if record.user_id is not None:
        user_index = keys.user(record.tenant, record.user_id).decisions
        pipe.zadd(user_index, {record.request_id: now + ttl})
        pipe.zremrangebyscore(user_index, "-inf", f"({now}")
        pipe.pexpire(user_index, ttl_ms, nx=True)
        pipe.pexpire(user_index, ttl_ms, gt=True)


async def get_decision(r: Redis, keys: Keys, tenant: str,
                       request_id: str) -> DecisionRecord | None:
    raw = await r.get(keys.decision(tenant, request_id))
    if raw is None:
        return None
    record = DecisionRecord.model_validate_json(unpack(raw))
    return record if record.tenant == tenant else None


async def list_decisions(r: Redis, keys: Keys, tenant: str, since: float,
                         limit: int) -> list[DecisionRecord]:
    index = keys.decisions(tenant)
    ids: list[Any] = await r.zrangebyscore(index, since, "+inf", start=0, num=limit)
    if not ids:
        return []
    raws = await get_many(r, [keys.decision(tenant, i.decode()) for i in ids])
    expired = [i for i, raw in zip(ids, raws, strict=True) if raw is None]
    if expired:
        await r.zrem(index, *expired)
    return [DecisionRecord.model_validate_json(unpack(raw)) for raw in raws if raw is not None]


async def get_many(r: Redis, names: list[str]) -> list[Any]:
    """GET each key in one round trip (keys may sit in different cluster slots)."""
    async with r.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.get(name)
        return await pipe.execute()


def add_log_entry(pipe: Pipeline, keys: Keys, obs: Observation, user_part: bool,
                  shared_part: bool) -> None:
    """Queue the writes of one logged observation: the user's own keys and/or the shared
    retention index (apart in Redis Cluster, where they sit in different slots)."""
    if user_part:
        uk = keys.user(obs.tenant, obs.user_id)
        pipe.hsetnx(uk.obs, obs.id, pack(obs.model_dump_json()))
        pipe.zadd(uk.obs_at, {obs.id: obs.at}, nx=True)
    if shared_part:
        pipe.zadd(keys.obs_users, {owner_member(obs.tenant, obs.user_id): obs.at}, lt=True)


async def list_observations(r: Redis, keys: Keys, tenant: str, user_id: str,
                            limit: int) -> list[Observation]:
    uk = keys.user(tenant, user_id)
    ids: list[Any] = await r.zrange(uk.obs_at, 0, limit - 1) if limit > 0 else []
    if not ids:
        return []
    raws = await r.hmget(uk.obs, ids)
    return [Observation.model_validate_json(unpack(raw)) for raw in raws if raw is not None]


async def purge_observations(r: Redis, keys: Keys, older_than: float) -> int:
    """Drop logged observations made before ``older_than``, user by user, using the shared
    index of each user's oldest logged observation to visit only users with old entries."""
    members: list[Any] = await r.zrangebyscore(keys.obs_users, "-inf", f"({older_than}")
    removed = 0
    for member in members:
        tenant, user_id = json.loads(member)
        removed += await _purge_user(r, keys, tenant, user_id, member, older_than)
    return removed


async def _purge_user(r: Redis, keys: Keys, tenant: str, user_id: str, member: bytes,
                      older_than: float) -> int:
    """The user's old log entries and old applied ids go (an id applied that long ago can
    no longer be delivered again); the user stays in the index at its oldest remaining
    entry or id."""
    uk = keys.user(tenant, user_id)
    await upgrade_applied(r, uk)
    ids = await r.zrangebyscore(uk.obs_at, "-inf", f"({older_than}")
    async with r.pipeline(transaction=True) as pipe:
        if ids:
            pipe.hdel(uk.obs, *ids)
            pipe.zrem(uk.obs_at, *ids)
        pipe.zremrangebyscore(uk.applied, "-inf", f"({older_than}")
        pipe.zrange(uk.obs_at, 0, 0, withscores=True)
        pipe.zrange(uk.applied, 0, 0, withscores=True)
        *_, oldest_log, oldest_id = await pipe.execute()
    oldest = [first[0][1] for first in (oldest_log, oldest_id) if first]
    if oldest:
        await r.zadd(keys.obs_users, {member: min(oldest)}, xx=True)
    else:
        await r.zrem(keys.obs_users, member)
    return len(ids)


def index_for_purge(pipe: Pipeline, keys: Keys, tenant: str, user_id: str, at: float) -> None:
    """Queue: the retention purge visits this user at ``at`` at the latest (an applied id
    that no log entry brought into the index)."""
    pipe.zadd(keys.obs_users, {owner_member(tenant, user_id): at}, lt=True)


async def upgrade_applied(r: Redis, uk: UserKeys) -> None:
    """A user's applied ids kept as a plain set (before they expired) become a sorted set,
    each id stamped now; a no-op on a sorted set or no key."""
    async with r.pipeline(transaction=True) as tx:
        while True:
            try:
                await tx.watch(uk.applied)
                if await tx.type(uk.applied) not in (b"set", "set"):
                    return
                members: list[Any] = list(await tx.smembers(uk.applied))
                tx.multi()  # type: ignore[no-untyped-call]
                tx.delete(uk.applied)
                now = time.time()
                for start in range(0, len(members), 1000):
                    tx.zadd(uk.applied, dict.fromkeys(members[start:start + 1000], now))
                await tx.execute()
                return
            except WatchError:
                continue


async def add_outcome(r: Redis, keys: Keys, tenant: str, user_id: str, name: str,
                      value: float, at: float) -> None:
    doc = json.dumps([user_id, name, value, at, uuid.uuid4().hex[:12]])
    await r.zadd(keys.outcomes(tenant), {doc: at})


async def list_outcomes(r: Redis, keys: Keys, tenant: str,
                        since: float) -> list[tuple[str, str, float, float]]:
    docs: list[Any] = await r.zrangebyscore(keys.outcomes(tenant), since, "+inf")
    rows = [json.loads(doc) for doc in docs]
    return [(u, n, float(v), float(a)) for u, n, v, a, _ in rows]


async def user_outcomes(r: Redis, keys: Keys, tenant: str, user_id: str) -> list[bytes]:
    """The user's raw outcome members (erasure reads the whole tenant log: it is rare)."""
    docs: list[Any] = await r.zrange(keys.outcomes(tenant), 0, -1)
    return [doc for doc in docs if json.loads(doc)[0] == user_id]
