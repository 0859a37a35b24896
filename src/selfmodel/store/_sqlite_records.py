"""Observation log, decision records, outcomes, erasure and the erasure scan on SQLite.

Decision records carry ``expires_at``: reads filter on it and expired rows are purged lazily
by whichever write comes along (at most PURGE_BATCH rows at a time, so a backlog after a long
downtime never stalls one request), so no timer thread is needed.
A record or logged observation of a moment at or before the user's erasure is dropped on
write: a request still in flight during an erasure cannot bring the user back.
"""

from __future__ import annotations

import sqlite3
import time

from selfmodel.domain.models import DecisionRecord, Observation
from selfmodel.store._codec import erased_before, user_digest
from selfmodel.store._compact import pack, unpack
from selfmodel.store._sqlite_models import erased_at
from selfmodel.store._sqlite_schema import immediate

PURGE_BATCH = 1000

# Every table holding personal data, with the columns that name its row in scan_user.
USER_TABLES: dict[str, str] = {
    "models": "user_id", "applied": "obs_id", "consent": "user_id", "observations": "id",
    "decisions": "request_id", "outcomes": "id", "queue": "id", "dead_letters": "id",
}


def log_observation(conn: sqlite3.Connection, obs: Observation) -> None:
    with immediate(conn):
        if erased_before(erased_at(conn, obs.tenant, obs.user_id), obs.began()):
            return
        conn.execute(
            "INSERT OR IGNORE INTO observations (tenant, id, user_id, at, doc) "
            "VALUES (?, ?, ?, ?, ?)",
            (obs.tenant, obs.id, obs.user_id, obs.at, pack(obs.model_dump_json())),
        )


def list_observations(
    conn: sqlite3.Connection, tenant: str, user_id: str, limit: int
) -> list[Observation]:
    rows = conn.execute(
        "SELECT doc FROM observations WHERE tenant=? AND user_id=? ORDER BY at, id LIMIT ?",
        (tenant, user_id, limit),
    )
    return [Observation.model_validate_json(unpack(doc)) for (doc,) in rows]


def purge_observations(conn: sqlite3.Connection, older_than: float) -> int:
    """Logged observations made before ``older_than`` go, and so do the ids applied before
    it: the retention (90 days by default) is far longer than any entry stays in the queue,
    so an id that old can no longer be delivered again, and the set stops growing."""
    with immediate(conn):
        conn.execute("DELETE FROM applied WHERE at < ?", (older_than,))
        return conn.execute("DELETE FROM observations WHERE at < ?", (older_than,)).rowcount


def put_decision(conn: sqlite3.Connection, record: DecisionRecord, ttl: float,
                 now: float, purge: bool) -> int:
    """Insert a decision record (the caller holds the write transaction); with ``purge``,
    delete up to PURGE_BATCH expired records first and return how many."""
    purged = 0
    if purge:
        purged = conn.execute(
            "DELETE FROM decisions WHERE rowid IN (SELECT rowid FROM decisions "
            "WHERE expires_at <= ? LIMIT ?)", (now, PURGE_BATCH)).rowcount
    if record.user_id is not None and erased_before(
        erased_at(conn, record.tenant, record.user_id), record.at
    ):
        return purged
    conn.execute(
        "INSERT OR REPLACE INTO decisions (tenant, request_id, user_id, at, expires_at, doc) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (record.tenant, record.request_id, record.user_id, record.at, now + ttl,
         pack(record.model_dump_json())),
    )
    return purged


def store_decision(conn: sqlite3.Connection, record: DecisionRecord, ttl: float,
                   purge: bool) -> int:
    with immediate(conn):
        return put_decision(conn, record, ttl, time.time(), purge)


def get_decision(
    conn: sqlite3.Connection, tenant: str, request_id: str
) -> DecisionRecord | None:
    row = conn.execute(
        "SELECT doc FROM decisions WHERE tenant=? AND request_id=? AND expires_at > ?",
        (tenant, request_id, time.time()),
    ).fetchone()
    return DecisionRecord.model_validate_json(unpack(row[0])) if row else None


def list_decisions(
    conn: sqlite3.Connection, tenant: str, since: float, limit: int
) -> list[DecisionRecord]:
    rows = conn.execute(
        "SELECT doc FROM decisions WHERE tenant=? AND at >= ? AND expires_at > ? "
        "ORDER BY at, request_id LIMIT ?",
        (tenant, since, time.time(), limit),
    )
    return [DecisionRecord.model_validate_json(unpack(doc)) for (doc,) in rows]


def list_user_decisions(
    conn: sqlite3.Connection, tenant: str, user_id: str, limit: int
) -> list[DecisionRecord]:
    rows = conn.execute(
        "SELECT doc FROM decisions INDEXED BY decisions_user WHERE tenant=? AND user_id=? "
        "AND expires_at > ? ORDER BY at DESC, request_id DESC LIMIT ?",
        (tenant, user_id, time.time(), max(limit, 0)),
    )
    return [DecisionRecord.model_validate_json(unpack(doc)) for (doc,) in rows]


def add_outcome(conn: sqlite3.Connection, tenant: str, user_id: str, name: str,
                value: float, at: float) -> None:
    with immediate(conn):
        conn.execute(
            "INSERT INTO outcomes (tenant, user_id, name, value, at) VALUES (?, ?, ?, ?, ?)",
            (tenant, user_id, name, value, at),
        )


def list_outcomes(
    conn: sqlite3.Connection, tenant: str, since: float
) -> list[tuple[str, str, float, float]]:
    rows = conn.execute(
        "SELECT user_id, name, value, at FROM outcomes WHERE tenant=? AND at >= ? "
        "ORDER BY at, id", (tenant, since),
    )
    return [(u, n, float(v), float(a)) for u, n, v, a in rows]


def delete_user(conn: sqlite3.Connection, tenant: str, user_id: str) -> bool:
    """Erase every row of the user and write the tombstone, in one transaction.

    Deleted bytes are overwritten with zeros (``secure_delete``, _sqlite_schema.connect);
    ``checkpoint`` then clears the WAL of the pages that held them."""
    return _delete_user(conn, tenant, user_id)


def checkpoint(conn: sqlite3.Connection) -> bool:
    """Copy the WAL into the database and truncate it, so an erased user's rows do not
    linger there; False when a reader kept it from completing (it is retried at the next
    erasure, and SQLite's own checkpoints reuse the file from its start)."""
    busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return not busy


def _delete_user(conn: sqlite3.Connection, tenant: str, user_id: str) -> bool:
    with immediate(conn):
        removed = 0
        for table in USER_TABLES:
            removed += conn.execute(
                f"DELETE FROM {table} WHERE tenant=? AND user_id=?", (tenant, user_id)
            ).rowcount
        conn.execute(
            "INSERT INTO tombstones (tenant, user_hash, erased_at) VALUES (?, ?, ?) "
            "ON CONFLICT (tenant, user_hash) DO UPDATE SET "
            "erased_at=max(erased_at, excluded.erased_at)",
            (tenant, user_digest(tenant, user_id), time.time()),
        )
        return removed > 0


def scan_user(conn: sqlite3.Connection, tenant: str, user_id: str) -> list[str]:
    """``table:row`` for every row naming the user; the tombstone holds only a digest."""
    found: list[str] = []
    for table, column in USER_TABLES.items():
        rows = conn.execute(
            f"SELECT {column} FROM {table} WHERE tenant=? AND user_id=?", (tenant, user_id)
        )
        found.extend(f"{table}:{value}" for (value,) in rows)
    return found
