"""The observation queue as a PostgreSQL table with leases.

A row is free (``consumer`` NULL) or leased to a consumer until ``lease_until``. ``claim`` is
one transaction whose SELECTs take rows ``FOR UPDATE SKIP LOCKED``: workers in any number of
processes claim at once without waiting for each other and never lease the same row. It
takes the consumer's own leased rows first (a restarted worker drains what it held), then
rows whose lease expired (their worker died or hangs), then free rows, each group oldest
first. ``tries`` counts deliveries. ``fail`` keeps the lease (the consumer's next claim
retries the entry; others get it when the lease expires) and, at ``max_tries``, moves the
row to ``dead_letters`` with the error. Acknowledging deletes the row.

Exactly-once effect does not rest on the queue: the observation id is written to
``applied`` in the transaction that changes the model (_pg_models.py), so an entry delivered
again after a crash between that commit and its acknowledgement is skipped.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from selfmodel.domain.models import DecisionRecord, Observation
from selfmodel.store._codec import user_digest
from selfmodel.store._pg_models import Conn, lock_user
from selfmodel.store._pg_records import DECISION, NOT_ERASED, decision_args, insert_decision
from selfmodel.store.base import DeadLetter, QueueEntry, QueueStats

_OWN = ("SELECT id FROM queue WHERE consumer = $1 ORDER BY enqueued_at, id LIMIT $2 "
        "FOR UPDATE SKIP LOCKED")
_EXPIRED = ("SELECT id FROM queue WHERE consumer IS NOT NULL AND lease_until < $1 "
            "AND consumer <> $2 ORDER BY enqueued_at, id LIMIT $3 FOR UPDATE SKIP LOCKED")
_FREE = ("SELECT id FROM queue WHERE consumer IS NULL ORDER BY enqueued_at, id LIMIT $1 "
         "FOR UPDATE SKIP LOCKED")
_LEASE = ("UPDATE queue SET consumer = $1, lease_until = $2, tries = tries + 1 "
          "WHERE id = ANY($3::bigint[]) RETURNING id, payload, tries, enqueued_at")
_ANY = ("SELECT EXISTS (SELECT 1 FROM queue WHERE consumer IS NULL) "
        "OR EXISTS (SELECT 1 FROM queue WHERE consumer = $1) "
        "OR EXISTS (SELECT 1 FROM queue WHERE consumer IS NOT NULL AND lease_until < $2)")
# A queue entry whose request began before an erasure of its user is not written at all
# (issue 20 item 4); the user's shared lock orders this check against the erasure.
_INSERT = ("INSERT INTO queue (tenant, user_id, payload, enqueued_at) "
           "SELECT $1, $2, $3, $4 WHERE " + NOT_ERASED.format(h="$5", at="$6")
           + " RETURNING id")

_EXCHANGE = (f"WITH decision AS ({DECISION}), entry AS (INSERT INTO queue (tenant, user_id, "
             "payload, enqueued_at) SELECT $8, $9, $10, $11 WHERE NOT EXISTS (SELECT 1 FROM "
             "tombstones WHERE tenant = $8 AND user_hash = $12 AND erased_at >= $13)) "
             "SELECT 1")

Exchange = tuple[DecisionRecord | None, Observation | None, float]  # (record, entry, ttl)


async def insert(conn: Conn, obs: Observation, now: float) -> str:
    """The entry's id, or "" when the user was erased after the request began."""
    entry_id = await conn.fetchval(_INSERT, obs.tenant, obs.user_id, obs.model_dump_json(),
                                   now, user_digest(obs.tenant, obs.user_id), obs.began())
    return "" if entry_id is None else str(entry_id)


async def record_exchange(conn: Conn, decision: DecisionRecord | None,
                          obs: Observation | None, ttl: float) -> None:
    """The decision record and the queue entry in one transaction: both or neither. The
    user's shared lock orders it against an erasure of that user (which takes it
    exclusively), so a record written while the erasure runs cannot outlive it."""
    now = time.time()
    users = {(r.tenant, r.user_id) for r in (decision, obs)
             if r is not None and r.user_id is not None}
    async with conn.transaction():
        for tenant, user_id in sorted(users):
            await lock_user(conn, tenant, user_id, shared=True)
        if decision is not None and obs is not None:  # both in one statement
            await conn.execute(_EXCHANGE, *decision_args(decision, ttl, now),
                               obs.tenant, obs.user_id, obs.model_dump_json(), now,
                               user_digest(obs.tenant, obs.user_id), obs.began())
        elif decision is not None:
            await insert_decision(conn, decision, ttl, now)
        elif obs is not None:
            await insert(conn, obs, now)


async def claimable(conn: Conn, consumer: str) -> bool:
    """A cheap read (no locks) telling whether ``claim`` would find anything."""
    return bool(await conn.fetchval(_ANY, consumer, time.time()))


async def claim(conn: Conn, consumer: str, count: int, lease_seconds: float
                ) -> list[QueueEntry]:
    now = time.time()
    async with conn.transaction():
        ids: list[int] = [r[0] for r in await conn.fetch(_OWN, consumer, count)]
        if len(ids) < count:
            ids += [r[0] for r in await conn.fetch(_EXPIRED, now, consumer, count - len(ids))]
        if len(ids) < count:
            ids += [r[0] for r in await conn.fetch(_FREE, count - len(ids))]
        if not ids:
            return []
        rows = await conn.fetch(_LEASE, consumer, now + lease_seconds, ids)
    order = {entry_id: i for i, entry_id in enumerate(ids)}
    rows = sorted(rows, key=lambda r: order[r[0]])
    return [QueueEntry(entry_id=str(r[0]), observation=Observation.model_validate_json(r[1]),
                       tries=r[2], enqueued_at=r[3]) for r in rows]


async def ack(conn: Conn, entry_ids: Sequence[str]) -> None:
    await conn.execute("DELETE FROM queue WHERE id = ANY($1::bigint[])",
                       [int(i) for i in entry_ids])


async def fail(conn: Conn, entry_id: str, error: str, max_tries: int) -> bool:
    async with conn.transaction():
        row = await conn.fetchrow("SELECT tenant, user_id, payload, tries FROM queue "
                                  "WHERE id = $1 FOR UPDATE", int(entry_id))
        if row is None:  # acknowledged or erased meanwhile
            return False
        tenant, user_id, payload, tries = row
        if tries < max_tries:
            await conn.execute("UPDATE queue SET last_error = $1 WHERE id = $2", error,
                               int(entry_id))
            return False
        await conn.execute(
            "INSERT INTO dead_letters (entry_id, tenant, user_id, payload, tries, error, at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            entry_id, tenant, user_id, payload, tries, error, time.time())
        await conn.execute("DELETE FROM queue WHERE id = $1", int(entry_id))
        return True


async def stats(conn: Conn) -> QueueStats:
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM queue), (SELECT count(*) FROM queue "
        "WHERE consumer IS NOT NULL), (SELECT min(enqueued_at) FROM queue), "
        "(SELECT count(*) FROM dead_letters)")
    depth, pending, oldest, dead = row
    age = max(0.0, time.time() - oldest) if oldest is not None else 0.0
    return QueueStats(depth=depth, pending=pending, dead=dead, oldest_age=age)


async def dead_letters(conn: Conn, limit: int) -> list[DeadLetter]:
    rows = await conn.fetch("SELECT entry_id, payload, tries, error, at FROM dead_letters "
                            "ORDER BY id LIMIT $1", limit)
    return [DeadLetter(entry_id=r[0], observation=Observation.model_validate_json(r[1]),
                       tries=r[2], error=r[3], at=r[4]) for r in rows]
