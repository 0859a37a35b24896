"""Listings for the console on Redis: a tenant's users, and one user's decision records.

Users: the tenant's user set, filtered by id, ordered by the ``head`` each model write leaves
beside the document ("<version>:<updated_at>"); a model only created has no head yet, so its
document says when. Only the page shown is then read in full, to count active beliefs, with
``json.loads`` (no domain objects are built for a listing).

Decisions: the user's own index (request id -> expiry) orders records by when they were
written (every record has the same time to live); a record is written when its answer ends,
so a long stream can land after a later request. The page is therefore read with a margin
(``MARGIN``) and sorted by request time, in one round trip.
"""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from selfmodel.domain.models import DecisionRecord
from selfmodel.store._compact import unpack
from selfmodel.store._redis_keys import Keys
from selfmodel.store._redis_records import get_many
from selfmodel.store.base import UserRow

ACTIVE = "active"
MARGIN = 16


async def list_users(r: Redis, keys: Keys, tenant: str, search: str,
                     limit: int) -> list[UserRow]:
    members: set[Any] = await r.smembers(keys.users(tenant))
    users = [m.decode() for m in members]
    users = [u for u in users if search in u]
    heads = await get_many(r, [keys.user(tenant, u).head for u in users])
    stamps = {u: _stamp(head) for u, head in zip(users, heads, strict=True)}
    unknown = [u for u, stamp in stamps.items() if stamp is None]
    for user, raw in zip(unknown, await _models(r, keys, tenant, unknown), strict=True):
        stamps[user] = float(raw.get("updated_at", 0.0)) if raw is not None else None
    ranked = sorted(((stamp, u) for u, stamp in stamps.items() if stamp is not None),
                    key=lambda pair: (-pair[0], pair[1]))[: max(limit, 0)]
    docs = await _models(r, keys, tenant, [u for _, u in ranked])
    return [UserRow(user, stamp, _active(doc)) for (stamp, user), doc in
            zip(ranked, docs, strict=True) if doc is not None]


async def _models(r: Redis, keys: Keys, tenant: str, users: list[str]) -> list[Any]:
    raws = await get_many(r, [keys.user(tenant, u).model for u in users]) if users else []
    return [json.loads(raw) if raw else None for raw in raws]


def _stamp(head: bytes | None) -> float | None:
    if not head:
        return None
    _, _, at = head.decode().partition(":")
    try:
        return float(at)
    except ValueError:
        return None


def _active(doc: dict[str, Any]) -> int:
    return sum(1 for b in doc.get("beliefs", []) if b.get("status", ACTIVE) == ACTIVE)


async def list_user_decisions(r: Redis, keys: Keys, tenant: str, user_id: str,
                              limit: int) -> list[DecisionRecord]:
    if limit <= 0:
        return []
    wanted = limit * 2 + MARGIN
    ids: list[Any] = await r.zrevrange(keys.user(tenant, user_id).decisions, 0, wanted - 1)
    raws = await get_many(r, [keys.decision(tenant, i.decode()) for i in ids]) if ids else []
    records = [DecisionRecord.model_validate_json(unpack(raw)) for raw in raws if raw is not None]
    records = [d for d in records if d.tenant == tenant and d.user_id == user_id]
    return sorted(records, key=lambda d: (d.at, d.request_id), reverse=True)[:limit]
