"""Observation log, decision records, outcomes, erasure and the erasure scan on PostgreSQL.

A decision record or logged observation of a moment at or before the user's erasure is
dropped on write (the tombstone check is in the INSERT, after the user's shared lock), so a
request still in flight during an erasure cannot bring the user back. Expired decision
records are filtered on read and purged lazily, PURGE_BATCH rows at a time, by the store.
"""

from __future__ import annotations

import time

from selfmodel.domain.models import DecisionRecord, Observation
from selfmodel.store._codec import user_digest
from selfmodel.store._compact import pack, unpack
from selfmodel.store._pg_models import Conn, lock_user

PURGE_BATCH = 1000

# Every table holding personal data, with the column that names its row in scan_user.
USER_TABLES: dict[str, str] = {
    "models": "user_id", "applied": "obs_id", "consent": "user_id", "observations": "id",
    "decisions": "request_id", "outcomes": "id::text", "queue": "id::text",
    "dead_letters": "id::text",
}

NOT_ERASED = ("NOT EXISTS (SELECT 1 FROM tombstones WHERE tenant = $1 AND user_hash = {h} "
               "AND erased_at >= {at})")
_DECISION = (
    "INSERT INTO decisions (tenant, request_id, user_id, at, expires_at, doc) "
    "SELECT $1, $2, $3, $4, $5, $6 WHERE $3::text IS NULL OR "
    + NOT_ERASED.format(h="$7", at="$4")
    + " ON CONFLICT (tenant, request_id) DO UPDATE SET user_id = excluded.user_id, "
    "at = excluded.at, expires_at = excluded.expires_at, doc = excluded.doc")
# An observation is dropped when its request began before an erasure of the user ($7: the
# request's start, however late the answer ended and the observation was stamped).
_LOG = ("INSERT INTO observations (tenant, id, user_id, at, doc) "
        "SELECT $1, $2, $3, $4, $5 WHERE " + NOT_ERASED.format(h="$6", at="$7")
        + " ON CONFLICT DO NOTHING")


def decision_args(record: DecisionRecord, ttl: float, now: float) -> tuple[object, ...]:
    """The parameters of _DECISION ($1 to $7)."""
    digest = user_digest(record.tenant, record.user_id) if record.user_id is not None else ""
    return (record.tenant, record.request_id, record.user_id, record.at, now + ttl,
            pack(record.model_dump_json()), digest)


async def insert_decision(conn: Conn, record: DecisionRecord, ttl: float, now: float) -> None:
    """Write one record (the caller holds a transaction and the user's shared lock)."""
    await conn.execute(_DECISION, *decision_args(record, ttl, now))


async def put_decision(conn: Conn, record: DecisionRecord, ttl: float) -> None:
    async with conn.transaction():
        if record.user_id is not None:
            await lock_user(conn, record.tenant, record.user_id, shared=True)
        await insert_decision(conn, record, ttl, time.time())


async def purge_decisions(conn: Conn) -> int:
    """Delete up to PURGE_BATCH expired records; return how many."""
    status = await conn.execute(
        "DELETE FROM decisions WHERE ctid = ANY(ARRAY(SELECT ctid FROM decisions "
        "WHERE expires_at <= $1 LIMIT $2))", time.time(), PURGE_BATCH)
    return _count(status)


async def get_decision(conn: Conn, tenant: str, request_id: str) -> DecisionRecord | None:
    doc = await conn.fetchval(
        "SELECT doc FROM decisions WHERE tenant = $1 AND request_id = $2 AND expires_at > $3",
        tenant, request_id, time.time())
    return DecisionRecord.model_validate_json(unpack(doc)) if doc is not None else None


async def list_decisions(conn: Conn, tenant: str, since: float, limit: int
                         ) -> list[DecisionRecord]:
    rows = await conn.fetch(
        "SELECT doc FROM decisions WHERE tenant = $1 AND at >= $2 AND expires_at > $3 "
        "ORDER BY at, request_id LIMIT $4", tenant, since, time.time(), limit)
    return [DecisionRecord.model_validate_json(unpack(row[0])) for row in rows]


async def list_user_decisions(conn: Conn, tenant: str, user_id: str, limit: int
                              ) -> list[DecisionRecord]:
    rows = await conn.fetch(
        "SELECT doc FROM decisions WHERE tenant = $1 AND user_id = $2 AND expires_at > $3 "
        "ORDER BY at DESC, request_id DESC LIMIT $4", tenant, user_id, time.time(),
        max(limit, 0))
    return [DecisionRecord.model_validate_json(unpack(row[0])) for row in rows]


async def log_observation(conn: Conn, obs: Observation) -> None:
    async with conn.transaction():
        await lock_user(conn, obs.tenant, obs.user_id, shared=True)
        await conn.execute(_LOG, obs.tenant, obs.id, obs.user_id, obs.at,
                           pack(obs.model_dump_json()), user_digest(obs.tenant, obs.user_id),
                           obs.began())


async def list_observations(conn: Conn, tenant: str, user_id: str, limit: int
                            ) -> list[Observation]:
    rows = await conn.fetch(
        "SELECT doc FROM observations WHERE tenant = $1 AND user_id = $2 ORDER BY at, id "
        "LIMIT $3", tenant, user_id, limit)
    return [Observation.model_validate_json(unpack(row[0])) for row in rows]


async def purge_observations(conn: Conn, older_than: float) -> int:
    """Logged observations made before ``older_than`` go, and so do the ids applied before
    it: the retention (90 days by default) is far longer than any entry stays in the queue
    (it is acknowledged or dead-lettered after ``max_tries`` leases), so an id that old can
    no longer be delivered again and the set does not grow without bound."""
    async with conn.transaction():
        await conn.execute("DELETE FROM applied WHERE at < $1", older_than)
        return _count(await conn.execute("DELETE FROM observations WHERE at < $1",
                                         older_than))


async def add_outcome(conn: Conn, tenant: str, user_id: str, name: str, value: float,
                      at: float) -> None:
    await conn.execute("INSERT INTO outcomes (tenant, user_id, name, value, at) "
                       "VALUES ($1, $2, $3, $4, $5)", tenant, user_id, name, value, at)


async def list_outcomes(conn: Conn, tenant: str, since: float
                        ) -> list[tuple[str, str, float, float]]:
    rows = await conn.fetch("SELECT user_id, name, value, at FROM outcomes WHERE tenant = $1 "
                            "AND at >= $2 ORDER BY at, id", tenant, since)
    return [(r[0], r[1], float(r[2]), float(r[3])) for r in rows]


async def delete_user(conn: Conn, tenant: str, user_id: str) -> bool:
    """Erase every row of the user and write the tombstone, in one transaction under the
    user's exclusive lock (so no write of that user interleaves)."""
    async with conn.transaction():
        await lock_user(conn, tenant, user_id)
        removed = 0
        for table in USER_TABLES:
            status = await conn.execute(
                f"DELETE FROM {table} WHERE tenant = $1 AND user_id = $2", tenant, user_id)
            removed += _count(status)
        await conn.execute(
            "INSERT INTO tombstones (tenant, user_hash, erased_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (tenant, user_hash) DO UPDATE SET "
            "erased_at = greatest(tombstones.erased_at, excluded.erased_at)",
            tenant, user_digest(tenant, user_id), time.time())
    return removed > 0


async def scan_user(conn: Conn, tenant: str, user_id: str) -> list[str]:
    """``table:row`` for every row naming the user; the tombstone holds only a digest."""
    found: list[str] = []
    for table, column in USER_TABLES.items():
        rows = await conn.fetch(f"SELECT {column} FROM {table} WHERE tenant = $1 AND "
                                "user_id = $2", tenant, user_id)
        found.extend(f"{table}:{row[0]}" for row in rows)
    return found


def _count(status: str) -> int:
    """The row count of a command tag such as ``DELETE 3``."""
    return int(status.rsplit(" ", 1)[-1])
