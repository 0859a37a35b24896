"""Self-models, consent and tombstones on PostgreSQL.

Every change to one user's data (a mutation, a batch of observations, an erasure) runs in a
transaction that first takes that user's advisory lock (``pg_advisory_xact_lock`` on a key
derived from the tenant and user id); the chat path's exchange takes it shared. So the read,
the pure function and the write of a mutation cannot interleave with another writer or with
an erasure in any process, and the lock is released by the commit (or by the server when a
process dies). The reads come after the lock, in their own statement: in READ COMMITTED a
statement's snapshot is taken when it starts, so a read in the same statement as the lock
could see the world from before the wait. The version check in the UPDATE is a second guard
that turns a bug into an error, never a lost write.

``ProfileCache`` keeps the parsed models this process saw: the read sends the cached
(version, stamp) along and the server returns the document only when it differs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TypeAlias

import asyncpg

from selfmodel.domain.models import Observation, SelfModel
from selfmodel.recent import Recent
from selfmodel.store._codec import fold_steps, next_version, user_digest
from selfmodel.store._compact import pack
from selfmodel.store.base import BatchApplied, ConflictError, Mutation, Step, UserRow

# A pooled connection (a proxy) is used as one; both have the methods used here.
Conn: TypeAlias = asyncpg.Connection

_PROFILE = """
SELECT m.version, m.stamp, CASE WHEN m.version = $3 AND m.stamp = $4 THEN NULL ELSE m.doc END,
       c.granted
FROM (SELECT 1) AS one
LEFT JOIN models m ON m.tenant = $1 AND m.user_id = $2
LEFT JOIN consent c ON c.tenant = $1 AND c.user_id = $2"""
# The state a write needs, read after the user's lock: tombstone, model, ids applied before.
# The applied ids are looked up one by one (a LATERAL probe per id, always the full key of
# the primary key). ``obs_id = ANY($6)`` was planned, on a table without statistics (a new
# schema, or autovacuum off), as a scan of all of the user's applied rows with the ids as a
# filter: one buffer per id the user ever had applied, so the worker's cost per batch grew
# with the user's history (12,000 buffers at 12,000 ids, against 9 for the probes).
_STATE = """
SELECT (SELECT erased_at FROM tombstones WHERE tenant = $1 AND user_hash = $3),
       m.version, m.stamp, CASE WHEN m.version = $4 AND m.stamp = $5 THEN NULL ELSE m.doc END,
       ARRAY(SELECT x.id FROM unnest($6::text[]) AS x(id) CROSS JOIN LATERAL (
                 SELECT 1 FROM applied
                 WHERE tenant = $1 AND user_id = $2 AND obs_id = x.id LIMIT 1) AS hit)
FROM (SELECT 1) AS one
LEFT JOIN models m ON m.tenant = $1 AND m.user_id = $2"""
_INSERT = "INSERT INTO models (tenant, user_id, version, stamp, doc) VALUES ($1, $2, $3, $4, $5)"
_UPDATE = ("UPDATE models SET version = $3, stamp = $4, doc = $5 "
           "WHERE tenant = $1 AND user_id = $2 AND version = $6")


def _write_sql(model: str, first: int) -> str:
    """One statement that writes the model (``model``, RETURNING 1), the applied ids and the
    logged observations (parameters from ``$first`` on): one round trip instead of three,
    which under load was a large part of a worker's time per user."""
    ids, at, log_ids, log_at, log_docs = (f"${first + i}" for i in range(5))
    return (
        f"WITH written AS ({model} RETURNING 1), "
        f"ids AS (INSERT INTO applied (tenant, user_id, obs_id, at) "
        f"SELECT $1, $2, unnest({ids}::text[]), {at} ON CONFLICT DO NOTHING), "
        f"logged AS (INSERT INTO observations (tenant, id, user_id, at, doc) "
        f"SELECT $1, i, $2, a, d FROM unnest({log_ids}::text[], {log_at}::float8[], "
        f"{log_docs}::bytea[]) AS t(i, a, d) ON CONFLICT DO NOTHING) "
        "SELECT count(*) FROM written")


_WRITE_NEW = _write_sql(_INSERT, 6)
_WRITE_NEXT = _write_sql(_UPDATE, 7)


def lock_key(tenant: str, user_id: str) -> int:
    """The user's advisory lock key: 64 bits of the tombstone digest (a collision only makes
    two users wait for each other)."""
    return int.from_bytes(bytes.fromhex(user_digest(tenant, user_id)[:16]), "big", signed=True)


async def lock_user(conn: Conn, tenant: str, user_id: str, *, shared: bool = False) -> None:
    """Hold the user's lock until the transaction ends."""
    fn = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    await conn.execute(f"SELECT {fn}($1)", lock_key(tenant, user_id))


class ProfileCache:
    """The parsed models this process read or wrote, keyed by user, checked against the
    stored (version, stamp) on every read; the stamp is the model's ``updated_at``, so a
    model re-created at the same version after an erasure never matches. Models are
    immutable by contract, so one object is shared by every reader. Lives on one loop."""

    def __init__(self, size: int = 256) -> None:
        self._items: Recent[tuple[str, str], SelfModel] = Recent(size)

    def get(self, tenant: str, user_id: str) -> SelfModel | None:
        return self._items.get((tenant, user_id))

    def resolve(self, tenant: str, user_id: str, known: SelfModel | None,
                version: int | None, doc: str | None) -> SelfModel | None:
        """The model a read found: None (no row), ``known`` (the cached model the read was
        sent with: the server omits the document when it still matches), or the document
        parsed and cached."""
        if version is None:
            self._items.drop((tenant, user_id))
            return None
        if doc is None and known is not None:
            return known
        assert doc is not None  # the server omits the document only on a match
        model = SelfModel.model_validate_json(doc)
        self._items.put((tenant, user_id), model)
        return model

    def put(self, model: SelfModel) -> None:
        self._items.put((model.tenant, model.user_id), model)

    def drop(self, tenant: str, user_id: str) -> None:
        self._items.drop((tenant, user_id))


def head(known: SelfModel | None) -> tuple[int, float]:
    """The (version, stamp) a read sends along, so the server can leave the document out."""
    return (known.version, known.updated_at) if known is not None else (-1, -1.0)


async def get_profile(conn: Conn, tenant: str, user_id: str, cache: ProfileCache
                      ) -> tuple[SelfModel | None, bool | None]:
    """Model and consent in one round trip; the document only if the cached one is stale."""
    known = cache.get(tenant, user_id)
    row = await conn.fetchrow(_PROFILE, tenant, user_id, *head(known))
    model = cache.resolve(tenant, user_id, known, row[0], row[2])
    return model, row[3]


async def get_model(conn: Conn, tenant: str, user_id: str, cache: ProfileCache
                    ) -> SelfModel | None:
    return (await get_profile(conn, tenant, user_id, cache))[0]


async def list_models(conn: Conn, tenant: str, limit: int) -> list[SelfModel]:
    rows = await conn.fetch("SELECT doc FROM models WHERE tenant = $1 ORDER BY user_id LIMIT $2",
                            tenant, limit)
    return [SelfModel.model_validate_json(row[0]) for row in rows]


_USERS = (
    "SELECT user_id, stamp, (SELECT count(*) FROM jsonb_array_elements(doc::jsonb -> 'beliefs')"
    " AS b WHERE coalesce(b ->> 'status', 'active') = 'active') FROM models "
    "WHERE tenant = $1 AND strpos(user_id, $2) > 0 ORDER BY stamp DESC, user_id LIMIT $3")


async def list_users(conn: Conn, tenant: str, search: str, limit: int) -> list[UserRow]:
    """The console's user search: most recently changed first (index models_recent)."""
    rows = await conn.fetch(_USERS, tenant, search, max(limit, 0))
    return [UserRow(row[0], float(row[1]), int(row[2])) for row in rows]


async def erased_at(conn: Conn, tenant: str, user_id: str) -> float | None:
    value = await conn.fetchval("SELECT erased_at FROM tombstones WHERE tenant = $1 AND "
                                "user_hash = $2", tenant, user_digest(tenant, user_id))
    return float(value) if value is not None else None


async def create_model(conn: Conn, tenant: str, user_id: str,
                       context: dict[str, object] | None, cache: ProfileCache) -> SelfModel:
    now = time.time()
    model = SelfModel(tenant=tenant, user_id=user_id, version=1, created_at=now,
                      updated_at=now, context=dict(context or {}))
    inserted = await conn.fetchval(
        _INSERT + " ON CONFLICT DO NOTHING RETURNING 1", tenant, user_id, 1, now,
        model.model_dump_json())
    if inserted:
        cache.put(model)
        return model
    existing = await get_model(conn, tenant, user_id, cache)
    return existing if existing is not None else await create_model(
        conn, tenant, user_id, context, cache)  # erased in between: create it after all


class _State:
    """What a write found after taking the user's lock."""

    def __init__(self, row: asyncpg.Record, tenant: str, user_id: str,
                 known: SelfModel | None, cache: ProfileCache) -> None:
        self.erased: float | None = row[0]
        self.current = cache.resolve(tenant, user_id, known, row[1], row[3])
        self.done: set[str] = set(row[4])


async def _locked_state(conn: Conn, tenant: str, user_id: str, ids: Sequence[str],
                        cache: ProfileCache) -> _State:
    await lock_user(conn, tenant, user_id)
    known = cache.get(tenant, user_id)
    row = await conn.fetchrow(_STATE, tenant, user_id, user_digest(tenant, user_id),
                              *head(known), list(ids))
    return _State(row, tenant, user_id, known, cache)


async def mutate_model(
    conn: Conn, tenant: str, user_id: str, fn: Mutation, observation_id: str | None,
    observed_at: float | None, create: bool, cache: ProfileCache,
) -> SelfModel | None:
    async with conn.transaction():
        ids = [observation_id] if observation_id is not None else []
        state = await _locked_state(conn, tenant, user_id, ids, cache)
        if (observed_at is not None and state.erased is not None
                and observed_at <= state.erased):
            return None
        if observation_id is not None and observation_id in state.done:
            return state.current
        if state.current is None and not create:
            return None
        new = next_version(tenant, user_id, state.current, fn)
        await _write(conn, new, state.current, ids, [])
    cache.put(new)  # after the commit: a rolled-back write never reaches the cache
    return new


async def apply_observations(conn: Conn, tenant: str, user_id: str, steps: Sequence[Step],
                             cache: ProfileCache) -> BatchApplied:
    """A batch of one user's observations in one transaction (Store.apply_observations)."""
    ids = list(dict.fromkeys(step.observation.id for step in steps))
    async with conn.transaction():
        state = await _locked_state(conn, tenant, user_id, ids, cache)
        new, result, logged = fold_steps(tenant, user_id, state.current, steps,
                                         done=state.done, erased=state.erased)
        if new is None:
            return result
        await _write(conn, new, state.current, [o.id for o in logged], logged)
    cache.put(new)
    return result


async def _write(conn: Conn, new: SelfModel, current: SelfModel | None,
                 applied: list[str], logged: list[Observation]) -> None:
    """The new model, the ids applied now and their log entries, in one statement; a model
    that changed under the lock (a bug) fails the transaction."""
    model = (new.tenant, new.user_id, new.version, new.updated_at, new.model_dump_json())
    rest = (applied, time.time(), [o.id for o in logged], [o.at for o in logged],
            [pack(o.model_dump_json()) for o in logged])
    if current is None:
        written = await conn.fetchval(_WRITE_NEW, *model, *rest)
    else:
        written = await conn.fetchval(_WRITE_NEXT, *model, current.version, *rest)
    if written != 1:
        raise ConflictError(f"self-model of {new.user_id!r} changed under the user's lock")


async def get_consent(conn: Conn, tenant: str, user_id: str) -> bool | None:
    value = await conn.fetchval("SELECT granted FROM consent WHERE tenant = $1 AND "
                                "user_id = $2", tenant, user_id)
    return bool(value) if value is not None else None


async def set_consent(conn: Conn, tenant: str, user_id: str, granted: bool) -> None:
    await conn.execute(
        "INSERT INTO consent (tenant, user_id, granted, updated_at) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (tenant, user_id) DO UPDATE SET granted = excluded.granted, "
        "updated_at = excluded.updated_at", tenant, user_id, granted, time.time())
