"""The observation queue as a PostgreSQL table with leases.

A row is free (``consumer`` NULL) or leased to a consumer until ``lease_until``. ``claim`` is
one statement whose SELECTs take rows ``FOR UPDATE SKIP LOCKED``: workers in any number of
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

from selfmodel.domain.models import Observation
from selfmodel.store._codec import user_digest
from selfmodel.store._compact import pack
from selfmodel.store._group_commit import Exchange
from selfmodel.store._pg_models import Conn, lock_key
from selfmodel.store._pg_records import NOT_ERASED
from selfmodel.store.base import DeadLetter, QueueEntry, QueueStats

# One statement, one round trip: up to $3 rows of each kind locked FOR UPDATE SKIP LOCKED
# (rows another claim holds are skipped, never waited for), the first $3 taken in order (own,
# expired, free; oldest first in each) and leased. Rows locked but not taken are released
# when the statement's transaction ends.
_CLAIM = """
WITH own AS (
    SELECT id, enqueued_at FROM queue WHERE consumer = $1
    ORDER BY enqueued_at, id LIMIT $3 FOR UPDATE SKIP LOCKED),
expired AS (
    SELECT id, enqueued_at FROM queue
    WHERE consumer IS NOT NULL AND lease_until < $2 AND consumer <> $1
    ORDER BY enqueued_at, id LIMIT $3 FOR UPDATE SKIP LOCKED),
free AS (
    SELECT id, enqueued_at FROM queue WHERE consumer IS NULL
    ORDER BY enqueued_at, id LIMIT $3 FOR UPDATE SKIP LOCKED),
picked AS (
    SELECT id, rank FROM (
        SELECT id, enqueued_at, 1 AS rank FROM own
        UNION ALL SELECT id, enqueued_at, 2 FROM expired
        UNION ALL SELECT id, enqueued_at, 3 FROM free) AS candidates
    ORDER BY rank, enqueued_at, id LIMIT $3)
UPDATE queue SET consumer = $1, lease_until = $4, tries = queue.tries + 1
FROM picked WHERE queue.id = picked.id
RETURNING queue.id, queue.payload, queue.tries, queue.enqueued_at, picked.rank"""
# A queue entry whose request began before an erasure of its user is not written at all
# (issue 20 item 4): ``selfmodel_exchange`` checks the same for the chat path.
_INSERT = ("INSERT INTO queue (tenant, user_id, payload, enqueued_at) "
           "SELECT $1, $2, $3, $4 WHERE " + NOT_ERASED.format(h="$5", at="$6")
           + " RETURNING id")

_EXCHANGES = (
    "SELECT sum(selfmodel_exchange(l, t, r, u, a, e, d, h, p, eu, n, b)) FROM unnest("
    "$1::bigint[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], "
    "$7::bytea[], $8::text[], $9::text[], $10::text[], $11::float8[], $12::float8[]) "
    "AS x(l, t, r, u, a, e, d, h, p, eu, n, b)")


async def insert(conn: Conn, obs: Observation, now: float) -> str:
    """The entry's id, or "" when the user was erased after the request began."""
    entry_id = await conn.fetchval(_INSERT, obs.tenant, obs.user_id, obs.model_dump_json(),
                                   now, user_digest(obs.tenant, obs.user_id), obs.began())
    return "" if entry_id is None else str(entry_id)


async def record_exchanges(conn: Conn, exchanges: Sequence[Exchange]) -> None:
    """Several exchanges' decision records and queue entries in one statement, so one
    transaction and one round trip (the function ``selfmodel_exchange``, _pg_schema.py, once
    per exchange): each record and its entry are written together or not at all. The
    function takes each user's shared lock, which orders the write against an erasure of
    that user (which takes it exclusively), so a record written while the erasure runs
    cannot outlive it; an erasure holds one lock only, so shared locks of several users in
    one transaction cannot deadlock with it."""
    now = time.time()
    columns: list[list[object]] = [[] for _ in range(12)]
    for decision, obs, ttl in exchanges:
        tenant = decision.tenant if decision else obs.tenant if obs else ""
        user = (decision.user_id if decision
                else obs.user_id if obs else None)  # whose lock and tombstone
        row = (lock_key(tenant, user) if user is not None else None, tenant,
               decision.request_id if decision else None, user,
               decision.at if decision else None, now + ttl if decision else None,
               pack(decision.model_dump_json()) if decision else None,
               user_digest(tenant, user) if user is not None else None,
               obs.model_dump_json() if obs else None, obs.user_id if obs else None, now,
               obs.began() if obs else None)
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    await conn.fetchval(_EXCHANGES, *columns)


async def claim(conn: Conn, consumer: str, count: int, lease_seconds: float
                ) -> list[QueueEntry]:
    now = time.time()
    rows = await conn.fetch(_CLAIM, consumer, now, count, now + lease_seconds)
    rows = sorted(rows, key=lambda r: (r[4], r[3], r[0]))  # RETURNING keeps no order
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
