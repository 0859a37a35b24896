"""SQLite connection settings, schema and the write-transaction helper.

WAL lets readers run while one writer commits, so several processes (``serve`` and any
number of ``worker``) share one file; ``synchronous=NORMAL`` in WAL mode survives a process
crash (the case that matters for the queue), trading only the last commits on power loss.
Every write goes through ``BEGIN IMMEDIATE``: it takes the write lock up front, so a
read-modify-write can never be overtaken by another process between its read and its write.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager

BUSY_TIMEOUT_MS = 10_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    tenant TEXT NOT NULL, user_id TEXT NOT NULL, version INTEGER NOT NULL, doc TEXT NOT NULL,
    stamp REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, user_id));
CREATE TABLE IF NOT EXISTS applied (
    tenant TEXT NOT NULL, user_id TEXT NOT NULL, obs_id TEXT NOT NULL,
    at REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, user_id, obs_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tombstones (
    tenant TEXT NOT NULL, user_hash TEXT NOT NULL, erased_at REAL NOT NULL,
    PRIMARY KEY (tenant, user_hash)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS consent (
    tenant TEXT NOT NULL, user_id TEXT NOT NULL, granted INTEGER NOT NULL,
    updated_at REAL NOT NULL, PRIMARY KEY (tenant, user_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS observations (
    tenant TEXT NOT NULL, id TEXT NOT NULL, user_id TEXT NOT NULL, at REAL NOT NULL,
    doc TEXT NOT NULL, PRIMARY KEY (tenant, id));
CREATE INDEX IF NOT EXISTS observations_user ON observations (tenant, user_id, at);
CREATE INDEX IF NOT EXISTS observations_at ON observations (at);
CREATE TABLE IF NOT EXISTS decisions (
    tenant TEXT NOT NULL, request_id TEXT NOT NULL, user_id TEXT, at REAL NOT NULL,
    expires_at REAL NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (tenant, request_id));
CREATE INDEX IF NOT EXISTS decisions_user ON decisions (tenant, user_id);
CREATE INDEX IF NOT EXISTS decisions_at ON decisions (tenant, at);
CREATE INDEX IF NOT EXISTS decisions_expiry ON decisions (expires_at);
CREATE TABLE IF NOT EXISTS outcomes (
    id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL,
    value REAL NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS outcomes_at ON outcomes (tenant, at);
CREATE INDEX IF NOT EXISTS outcomes_user ON outcomes (tenant, user_id);
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, user_id TEXT NOT NULL,
    payload TEXT NOT NULL, enqueued_at REAL NOT NULL, available_at REAL NOT NULL,
    consumer TEXT, lease_until REAL, tries INTEGER NOT NULL DEFAULT 0, last_error TEXT);
CREATE INDEX IF NOT EXISTS queue_free ON queue (enqueued_at, id) WHERE consumer IS NULL;
CREATE INDEX IF NOT EXISTS queue_leased ON queue (consumer, enqueued_at, id)
    WHERE consumer IS NOT NULL;
CREATE INDEX IF NOT EXISTS queue_lease ON queue (lease_until) WHERE consumer IS NOT NULL;
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT, entry_id TEXT NOT NULL, tenant TEXT NOT NULL,
    user_id TEXT NOT NULL, payload TEXT NOT NULL, tries INTEGER NOT NULL, error TEXT NOT NULL,
    at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS dead_letters_user ON dead_letters (tenant, user_id);
"""


def connect(path: str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), tuned for WAL."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=True,
                           cached_statements=256)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    if path != ":memory:":
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=OFF")
    # Deleted bytes (an erased user's rows, old versions of a model document, acknowledged
    # queue entries) are overwritten with zeros: otherwise an erasure leaves them readable
    # in the file's free pages.
    conn.execute("PRAGMA secure_delete=ON")
    return conn


def connect_inline(path: str) -> sqlite3.Connection:
    """A read-only connection for the event loop: it never waits for a lock (busy timeout 0),
    so a read that would block fails at once instead (see store/sqlite.py)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=True,
                           cached_statements=64)
    conn.execute("PRAGMA busy_timeout=0")
    conn.execute("PRAGMA query_only=1")
    return conn


def connect_inline_writer(path: str) -> sqlite3.Connection:
    """A connection for writes made on the event loop: it never waits for the write lock
    (busy timeout 0) and never checkpoints (see store/sqlite.py)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=True,
                           cached_statements=64)
    conn.execute("PRAGMA busy_timeout=0")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    return conn


def create_schema(conn: sqlite3.Connection) -> None:
    """Create every table and index (idempotent; safe when several processes start at once)."""
    with immediate(conn):
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(models)")}
        if "stamp" not in columns:  # a file made before the stamp existed
            conn.execute("ALTER TABLE models ADD COLUMN stamp REAL NOT NULL DEFAULT 0")
        columns = {row[1] for row in conn.execute("PRAGMA table_info(applied)")}
        if "at" not in columns:  # a file made before applied ids expired
            conn.execute("ALTER TABLE applied ADD COLUMN at REAL NOT NULL DEFAULT 0")
            # Ids applied before are stamped now, not at 0: the first purge would otherwise
            # drop ids whose observations may still be in the queue.
            conn.execute("UPDATE applied SET at = ?", (time.time(),))
        # The retention purge of applied ids (records.purge_observations) reads this index.
        conn.execute("CREATE INDEX IF NOT EXISTS applied_at ON applied (at)")
        # Every chat request inserts a queue row: only what claims need is indexed (a row
        # enters the leased indexes when claimed). Erasure scans the queue, which is short.
        conn.execute("DROP INDEX IF EXISTS queue_consumer")
        conn.execute("DROP INDEX IF EXISTS queue_user")
        # After the stamp: the chat path's check of a cached model reads this index alone.
        conn.execute("CREATE INDEX IF NOT EXISTS models_head "
                     "ON models (tenant, user_id, version, stamp)")


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction holding the database's write lock from its first statement."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
