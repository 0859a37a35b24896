"""PostgreSQL: the store URL, the connection pool and the versioned schema.

The schema is a list of migrations, each a list of SQL statements, applied in order by
``selfmodel migrate`` and recorded in ``schema_version`` (one row per applied migration).
Migrations only ever add: a version of selfmodel runs on a schema at its own version or
newer (a rolling upgrade migrates first, while the older replicas still run), and refuses
to start on an older one, naming the command that fixes it. ``migrate`` holds a
transaction-level advisory lock, so two deploys migrating at once apply each step once.

Documents are the same encodings the other backends write: a self-model is the pydantic
model's JSON in a ``text`` column (PostgreSQL compresses a long one by itself, TOAST);
decision records and logged observations are packed (store/_compact.py) in ``bytea``. The
database never looks inside them, so a field added to a model needs no migration. Times
are ``double precision`` Unix seconds, the floats the domain uses, so a stored time reads
back equal.

The URL is libpq's (``postgresql://user@host:port/db``) with two parameters of our own,
removed before connecting: ``schema=<name>`` puts every table in that schema (tests give
each test its own; a deployment may share a database with other applications), and
``pool=<n>`` bounds the connections of one process (default 10).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from selfmodel.store.base import StoreError

SCHEMES = ("postgresql://", "postgres://")
DEFAULT_POOL = 10
_MIGRATE_LOCK = 0x5E1F_30DE1  # pg_advisory_xact_lock key held while migrating

MIGRATIONS: list[list[str]] = [
    # 1: every table the Store protocol needs (store/base.py).
    [
        """CREATE TABLE models (
            tenant text NOT NULL, user_id text NOT NULL, version integer NOT NULL,
            stamp double precision NOT NULL, doc text NOT NULL,
            PRIMARY KEY (tenant, user_id))""",
        """CREATE TABLE applied (
            tenant text NOT NULL, user_id text NOT NULL, obs_id text NOT NULL,
            at double precision NOT NULL,
            PRIMARY KEY (tenant, user_id, obs_id))""",
        "CREATE INDEX applied_at ON applied (at)",
        """CREATE TABLE tombstones (
            tenant text NOT NULL, user_hash text NOT NULL, erased_at double precision NOT NULL,
            PRIMARY KEY (tenant, user_hash))""",
        """CREATE TABLE consent (
            tenant text NOT NULL, user_id text NOT NULL, granted boolean NOT NULL,
            updated_at double precision NOT NULL, PRIMARY KEY (tenant, user_id))""",
        """CREATE TABLE observations (
            tenant text NOT NULL, id text NOT NULL, user_id text NOT NULL,
            at double precision NOT NULL, doc bytea NOT NULL, PRIMARY KEY (tenant, id))""",
        "CREATE INDEX observations_user ON observations (tenant, user_id, at)",
        # Times only grow with insertion order: a BRIN index (a few pages for millions of
        # rows) serves the retention purges, where a B-tree cost ~40 bytes per request.
        "CREATE INDEX observations_at ON observations USING brin (at)",
        """CREATE TABLE decisions (
            tenant text NOT NULL, request_id text NOT NULL, user_id text,
            at double precision NOT NULL, expires_at double precision NOT NULL,
            doc bytea NOT NULL, PRIMARY KEY (tenant, request_id))""",
        "CREATE INDEX decisions_user ON decisions (tenant, user_id)",
        "CREATE INDEX decisions_at ON decisions (tenant, at)",
        "CREATE INDEX decisions_expiry ON decisions USING brin (expires_at)",
        """CREATE TABLE outcomes (
            id bigserial PRIMARY KEY, tenant text NOT NULL, user_id text NOT NULL,
            name text NOT NULL, value double precision NOT NULL,
            at double precision NOT NULL)""",
        "CREATE INDEX outcomes_at ON outcomes (tenant, at)",
        "CREATE INDEX outcomes_user ON outcomes (tenant, user_id)",
        """CREATE TABLE queue (
            id bigserial PRIMARY KEY, tenant text NOT NULL, user_id text NOT NULL,
            payload text NOT NULL, enqueued_at double precision NOT NULL,
            consumer text, lease_until double precision, tries integer NOT NULL DEFAULT 0,
            last_error text)""",
        "CREATE INDEX queue_free ON queue (enqueued_at, id) WHERE consumer IS NULL",
        """CREATE INDEX queue_leased ON queue (consumer, enqueued_at, id)
            WHERE consumer IS NOT NULL""",
        "CREATE INDEX queue_lease ON queue (lease_until) WHERE consumer IS NOT NULL",
        "CREATE INDEX queue_user ON queue (tenant, user_id)",
        """CREATE TABLE dead_letters (
            id bigserial PRIMARY KEY, entry_id text NOT NULL, tenant text NOT NULL,
            user_id text NOT NULL, payload text NOT NULL, tries integer NOT NULL,
            error text NOT NULL, at double precision NOT NULL)""",
        "CREATE INDEX dead_letters_user ON dead_letters (tenant, user_id)",
        # The chat path's one write in one round trip: the user's shared lock, then (in a
        # statement of its own, so it sees an erasure that committed while it waited: a
        # PL/pgSQL statement takes a fresh snapshot) the decision record unless the user
        # was erased after it, and the queue entry. Parameters are NULL for an absent part.
        """CREATE FUNCTION selfmodel_exchange(
            p_lock bigint, p_tenant text, p_request text, p_user text, p_at double precision,
            p_expires double precision, p_doc bytea, p_hash text, p_payload text,
            p_entry_user text, p_now double precision, p_began double precision)
            RETURNS integer
        LANGUAGE plpgsql AS $fn$
        BEGIN
            IF p_lock IS NOT NULL THEN
                PERFORM pg_advisory_xact_lock_shared(p_lock);
            END IF;
            IF p_request IS NOT NULL THEN
                INSERT INTO decisions (tenant, request_id, user_id, at, expires_at, doc)
                SELECT p_tenant, p_request, p_user, p_at, p_expires, p_doc
                WHERE p_user IS NULL OR NOT EXISTS (
                    SELECT 1 FROM tombstones
                    WHERE tenant = p_tenant AND user_hash = p_hash AND erased_at >= p_at)
                ON CONFLICT (tenant, request_id) DO UPDATE SET user_id = excluded.user_id,
                    at = excluded.at, expires_at = excluded.expires_at, doc = excluded.doc;
            END IF;
            -- an entry whose request began before an erasure of its user is not written
            IF p_payload IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM tombstones WHERE tenant = p_tenant
                    AND user_hash = p_hash AND erased_at >= p_began) THEN
                INSERT INTO queue (tenant, user_id, payload, enqueued_at)
                VALUES (p_tenant, p_entry_user, p_payload, p_now);
            END IF;
            RETURN 1;
        END
        $fn$""",
    ],
    # 2: the console lists a tenant's users by recent activity.
    [
        "CREATE INDEX models_recent ON models (tenant, stamp DESC, user_id)",
    ],
    # 3: a model document is compressed with LZ4 instead of pglz when the server has it
    # (PostgreSQL 14+ built with lz4, as the Debian and Docker builds are). Every write of
    # a user's model compresses the whole document: for a 60 KB model pglz took 2.1 ms of
    # the server's CPU and LZ4 0.95 ms, and the stored column was 28% smaller
    # (BENCHMARKS.md). Documents written before stay pglz until their next write; both
    # read back the same. A server without lz4 keeps pglz.
    [
        """DO $do$ BEGIN
            ALTER TABLE models ALTER COLUMN doc SET COMPRESSION lz4;
        EXCEPTION WHEN feature_not_supported OR invalid_parameter_value
                       OR undefined_object THEN
            NULL;
        END $do$""",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)  # the version this code needs


@dataclass(frozen=True)
class Target:
    """Where to connect: the URL asyncpg is given, and our own parameters."""

    dsn: str
    schema: str | None
    pool: int


def parse_url(url: str) -> Target:
    """Split our parameters (``schema``, ``pool``) off a ``postgresql://`` URL."""
    if not url.startswith(SCHEMES):
        raise StoreError(f"not a PostgreSQL url: {url!r} (expected postgresql://user@host/db)")
    parts = urlsplit(url)
    ours: dict[str, str | None] = {"schema": None, "pool": None}
    rest: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in ours:
            ours[key] = value
        else:
            rest.append((key, value))
    schema = ours["schema"] or None
    if schema is not None and not schema.replace("_", "").isalnum():
        raise StoreError(f"schema={schema!r}: use letters, digits and '_' only")
    try:
        pool = int(ours["pool"] or DEFAULT_POOL)
    except ValueError as exc:
        raise StoreError(f"pool={ours['pool']!r} is not a number") from exc
    dsn = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(rest), ""))
    return Target(dsn=dsn, schema=schema, pool=max(1, pool))


def server_settings(target: Target) -> dict[str, str]:
    """Session settings of every connection (the schema goes first on the search path)."""
    settings = {"application_name": "selfmodel"}
    if target.schema:
        settings["search_path"] = target.schema
    return settings


async def connect(target: Target, timeout: float = 10.0) -> asyncpg.Connection:
    """One connection outside the pool (migrate, doctor, tests)."""
    conn: asyncpg.Connection = await asyncpg.connect(
        target.dsn, timeout=timeout, server_settings=server_settings(target))
    return conn


async def schema_version(conn: asyncpg.Connection) -> int:
    """The version the database is at: 0 when selfmodel never migrated it."""
    exists = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    if not exists:
        return 0
    version = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
    return int(version)


async def migrate(conn: asyncpg.Connection, schema: str | None) -> tuple[int, int]:
    """Apply the migrations the database lacks, each in its own transaction; return the
    version before and after."""
    if schema:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATE_LOCK)
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version ("
                           "version integer PRIMARY KEY, applied_at timestamptz NOT NULL "
                           "DEFAULT now())")
        before = await schema_version(conn)
        for version, statements in enumerate(MIGRATIONS, start=1):
            if version <= before:
                continue
            for statement in statements:
                await conn.execute(statement)
            await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", version)
    return before, max(before, SCHEMA_VERSION)


def outdated(version: int) -> str | None:
    """Why this code cannot run on a schema at ``version``; None when it can."""
    if version >= SCHEMA_VERSION:
        return None
    if version == 0:
        return ("the PostgreSQL database has no selfmodel schema yet: run "
                "`selfmodel migrate --config <your config.yaml>` once to create it")
    return (f"the PostgreSQL schema is at version {version}, this selfmodel needs "
            f"{SCHEMA_VERSION}: run `selfmodel migrate --config <your config.yaml>`")
