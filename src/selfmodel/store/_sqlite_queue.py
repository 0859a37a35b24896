"""The observation queue as a SQLite table with leases.

A row is free (``consumer`` NULL) or leased to a consumer until ``lease_until``. ``claim`` is
one ``BEGIN IMMEDIATE`` transaction, so two processes never lease the same row: it takes the
consumer's own leased rows first (a restarted worker drains what it held), then rows whose
lease expired (their worker died or hangs), then free rows, each group oldest first. ``tries``
counts deliveries. ``fail`` keeps the lease (the consumer's next claim retries the entry;
others get it when the lease expires) and, at ``max_tries``, moves the row to ``dead_letters``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

from selfmodel.domain.models import Observation
from selfmodel.store._codec import erased_before
from selfmodel.store._group_commit import Exchange
from selfmodel.store._sqlite_models import erased_at
from selfmodel.store._sqlite_records import put_decision
from selfmodel.store._sqlite_schema import immediate
from selfmodel.store.base import DeadLetter, QueueEntry, QueueStats

_COLUMNS = "id, payload, tries, enqueued_at"
_OWN = (f"SELECT {_COLUMNS} FROM queue WHERE consumer=? "
        "ORDER BY enqueued_at, id LIMIT ?")
_EXPIRED = (f"SELECT {_COLUMNS} FROM queue WHERE consumer IS NOT NULL AND lease_until < ? "
            "AND consumer != ? ORDER BY enqueued_at, id LIMIT ?")
_FREE = (f"SELECT {_COLUMNS} FROM queue WHERE consumer IS NULL AND available_at <= ? "
         "ORDER BY enqueued_at, id LIMIT ?")
_ANY = ("SELECT EXISTS (SELECT 1 FROM queue WHERE consumer IS NULL AND available_at <= ?) "
        "OR EXISTS (SELECT 1 FROM queue WHERE consumer=?) "
        "OR EXISTS (SELECT 1 FROM queue WHERE consumer IS NOT NULL AND lease_until < ?)")
_INSERT = ("INSERT INTO queue (tenant, user_id, payload, enqueued_at, available_at) "
           "VALUES (?, ?, ?, ?, ?)")

Row = tuple[int, str, int, float]


def insert(conn: sqlite3.Connection, obs: Observation, now: float) -> str:
    """Add one entry; the caller holds the write transaction. An observation whose request
    began before the user's erasure is not written at all ("" for its id): the worker would
    drop it, and meanwhile the user's words would sit in the file again."""
    if erased_before(erased_at(conn, obs.tenant, obs.user_id), obs.began()):
        return ""
    cursor = conn.execute(_INSERT, (obs.tenant, obs.user_id, obs.model_dump_json(), now, now))
    return str(cursor.lastrowid)


def enqueue(conn: sqlite3.Connection, obs: Observation) -> str:
    with immediate(conn):
        return insert(conn, obs, time.time())



def record_exchanges(conn: sqlite3.Connection, exchanges: Sequence[Exchange],
                     purge: bool) -> int:
    """Decision records and queue entries of several exchanges in one transaction (group
    commit): each record and its entry commit together or not at all. Returns how many
    expired decision records were purged on the way."""
    now = time.time()
    purged = 0
    with immediate(conn):
        for decision, obs, ttl in exchanges:
            if decision is not None:
                purged += put_decision(conn, decision, ttl, now, purge)
                purge = False  # at most one purge batch per transaction
            if obs is not None:
                insert(conn, obs, now)
    return purged


def claimable(conn: sqlite3.Connection, consumer: str) -> bool:
    """A cheap read (no write lock) telling whether ``claim`` would find anything."""
    now = time.time()
    return bool(conn.execute(_ANY, (now, consumer, now)).fetchone()[0])


def claim(conn: sqlite3.Connection, consumer: str, count: int,
          lease_seconds: float) -> list[QueueEntry]:
    now = time.time()
    with immediate(conn):
        rows: list[Row] = conn.execute(_OWN, (consumer, count)).fetchall()
        if len(rows) < count:
            rows += conn.execute(_EXPIRED, (now, consumer, count - len(rows))).fetchall()
        if len(rows) < count:
            rows += conn.execute(_FREE, (now, count - len(rows))).fetchall()
        conn.executemany(
            "UPDATE queue SET consumer=?, lease_until=?, tries=tries+1 WHERE id=?",
            [(consumer, now + lease_seconds, row[0]) for row in rows],
        )
    return [QueueEntry(entry_id=str(i), observation=Observation.model_validate_json(p),
                       tries=tries + 1, enqueued_at=at) for i, p, tries, at in rows]


def ack(conn: sqlite3.Connection, entry_ids: Sequence[str]) -> None:
    with immediate(conn):
        conn.executemany("DELETE FROM queue WHERE id=?", [(int(i),) for i in entry_ids])


def fail(conn: sqlite3.Connection, entry_id: str, error: str, max_tries: int) -> bool:
    with immediate(conn):
        row = conn.execute(
            "SELECT tenant, user_id, payload, tries FROM queue WHERE id=?", (int(entry_id),)
        ).fetchone()
        if row is None:  # acknowledged or erased meanwhile
            return False
        tenant, user_id, payload, tries = row
        if tries < max_tries:
            conn.execute("UPDATE queue SET last_error=? WHERE id=?", (error, int(entry_id)))
            return False
        conn.execute(
            "INSERT INTO dead_letters (entry_id, tenant, user_id, payload, tries, error, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (entry_id, tenant, user_id, payload, tries, error, time.time()),
        )
        conn.execute("DELETE FROM queue WHERE id=?", (int(entry_id),))
        return True


def stats(conn: sqlite3.Connection) -> QueueStats:
    depth, pending, oldest = conn.execute(
        "SELECT count(*), count(consumer), min(enqueued_at) FROM queue"
    ).fetchone()
    (dead,) = conn.execute("SELECT count(*) FROM dead_letters").fetchone()
    age = max(0.0, time.time() - oldest) if oldest is not None else 0.0
    return QueueStats(depth=depth, pending=pending, dead=dead, oldest_age=age)


def dead_letters(conn: sqlite3.Connection, limit: int) -> list[DeadLetter]:
    rows = conn.execute(
        "SELECT entry_id, payload, tries, error, at FROM dead_letters ORDER BY id LIMIT ?",
        (limit,),
    )
    return [DeadLetter(entry_id=e, observation=Observation.model_validate_json(p), tries=t,
                       error=err, at=at) for e, p, t, err, at in rows]
