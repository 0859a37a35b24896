"""Self-models, consent and tombstones on SQLite: blocking functions run on the store's thread.

A self-model is one JSON document per (tenant, user) with its version beside it. A mutation
runs entirely inside one ``BEGIN IMMEDIATE`` transaction (read, apply ``fn``, write, record the
observation id), so it cannot lose an update to another thread or process; the version check
in the UPDATE is a second guard that would turn any such bug into an error, not a lost write.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence

from selfmodel.domain.models import SelfModel
from selfmodel.recent import Recent
from selfmodel.store._codec import erased_before, fold_steps, next_version, user_digest
from selfmodel.store._compact import pack
from selfmodel.store._sqlite_schema import immediate
from selfmodel.store.base import BatchApplied, ConflictError, Mutation, Step, UserRow

_GET = "SELECT doc FROM models WHERE tenant=? AND user_id=?"
_HEAD = "SELECT version, stamp FROM models INDEXED BY models_head WHERE tenant=? AND user_id=?"
_ERASED = "SELECT erased_at FROM tombstones WHERE tenant=? AND user_hash=?"
_APPLIED = "SELECT 1 FROM applied WHERE tenant=? AND user_id=? AND obs_id=?"
# An applied id carries the time it was applied: the retention purge drops old ones.
_MARK = "INSERT INTO applied (tenant, user_id, obs_id, at) VALUES (?, ?, ?, ?)"
_IN_CHUNK = 500  # ids per IN (...) list, well under SQLite's bound on bound parameters


class ModelCache:
    """Self-models this process parsed or wrote, so the chat path does not parse the same
    JSON document again on every request (parsing a model with 50 beliefs and their evidence
    was the largest cost of a personalized request).

    Every read still asks the database, but for the document only when its (version, stamp)
    differs from the cached model's: a write by another process, or an erasure followed by a
    new model, is always seen. The stamp is the model's ``updated_at``, so a model re-created
    at the same version after an erasure never matches. Models are immutable by contract
    (domain functions return new ones), so sharing one object between readers is safe.
    The bound is a count of the most recently used users: a model with 50 beliefs and full
    evidence chains takes about half a megabyte parsed, so the default keeps memory bounded.
    """

    def __init__(self, size: int = 256) -> None:
        self._items: Recent[tuple[str, str], SelfModel] = Recent(size)
        self._lock = threading.Lock()  # the read and write lanes are two threads

    def get(self, tenant: str, user_id: str) -> SelfModel | None:
        with self._lock:
            return self._items.get((tenant, user_id))

    def put(self, model: SelfModel) -> None:
        with self._lock:
            self._items.put((model.tenant, model.user_id), model)

    def drop(self, tenant: str, user_id: str) -> None:
        with self._lock:
            self._items.drop((tenant, user_id))


def cached_model(
    conn: sqlite3.Connection, tenant: str, user_id: str, cache: ModelCache
) -> SelfModel | None:
    """The stored model, parsed only if it changed since this process last saw it.

    The (version, stamp) check reads the ``models_head`` index alone: in the table row the
    stamp sits after the document, which spans overflow pages that SQLite would walk to
    reach it. The document is read only when the head differs from the cached model's.
    """
    head = conn.execute(_HEAD, (tenant, user_id)).fetchone()
    if head is None:
        cache.drop(tenant, user_id)
        return None
    known = cache.get(tenant, user_id)
    if known is not None and (known.version, known.updated_at) == head:
        return known
    row = conn.execute(_GET, (tenant, user_id)).fetchone()
    if row is None:  # erased between the two reads
        cache.drop(tenant, user_id)
        return None
    model = SelfModel.model_validate_json(row[0])
    cache.put(model)
    return model


def get_model(conn: sqlite3.Connection, tenant: str, user_id: str) -> SelfModel | None:
    """The stored model, parsed afresh (see ``cached_model`` for the shared parsed copy)."""
    row = conn.execute(_GET, (tenant, user_id)).fetchone()
    return SelfModel.model_validate_json(row[0]) if row else None


def list_models(conn: sqlite3.Connection, tenant: str, limit: int) -> list[SelfModel]:
    rows = conn.execute(
        "SELECT doc FROM models WHERE tenant=? ORDER BY user_id LIMIT ?", (tenant, limit)
    )
    return [SelfModel.model_validate_json(doc) for (doc,) in rows]


# The page of users is chosen on the covering ``models_head`` index (no document is read),
# then only those documents are asked for their count of active beliefs.
_USERS = (
    "SELECT u.user_id, u.stamp, (SELECT count(*) FROM json_each(m.doc, '$.beliefs') "
    "WHERE json_extract(value, '$.status') = 'active') "
    "FROM (SELECT user_id, stamp FROM models INDEXED BY models_head "
    "WHERE tenant=? AND instr(user_id, ?) > 0 ORDER BY stamp DESC, user_id LIMIT ?) u "
    "JOIN models m ON m.tenant=? AND m.user_id=u.user_id ORDER BY u.stamp DESC, u.user_id")


def list_users(conn: sqlite3.Connection, tenant: str, search: str, limit: int) -> list[UserRow]:
    rows = conn.execute(_USERS, (tenant, search, max(limit, 0), tenant))
    return [UserRow(user_id, float(stamp), int(count)) for user_id, stamp, count in rows]


def erased_at(conn: sqlite3.Connection, tenant: str, user_id: str) -> float | None:
    row = conn.execute(_ERASED, (tenant, user_digest(tenant, user_id))).fetchone()
    return float(row[0]) if row else None


def create_model(
    conn: sqlite3.Connection, tenant: str, user_id: str, context: dict[str, object] | None
) -> SelfModel:
    with immediate(conn):
        existing = get_model(conn, tenant, user_id)
        if existing is not None:
            return existing
        now = time.time()
        model = SelfModel(tenant=tenant, user_id=user_id, version=1, created_at=now,
                          updated_at=now, context=dict(context or {}))
        conn.execute("INSERT INTO models (tenant, user_id, version, doc, stamp) "
                     "VALUES (?, ?, 1, ?, ?)", (tenant, user_id, model.model_dump_json(), now))
        return model


def mutate_model(
    conn: sqlite3.Connection,
    tenant: str,
    user_id: str,
    fn: Mutation,
    observation_id: str | None,
    observed_at: float | None,
    create: bool,
    cache: ModelCache,
) -> SelfModel | None:
    with immediate(conn):
        if observed_at is not None and erased_before(erased_at(conn, tenant, user_id),
                                                     observed_at):
            return None
        current = cached_model(conn, tenant, user_id, cache)
        if observation_id is not None and conn.execute(
            _APPLIED, (tenant, user_id, observation_id)
        ).fetchone():
            return current
        if current is None and not create:
            return None
        new = next_version(tenant, user_id, current, fn)
        _write(conn, new, current)
        if observation_id is not None:
            conn.execute(_MARK, (tenant, user_id, observation_id, time.time()))
    cache.put(new)  # after the commit: a rolled-back write never reaches the cache
    return new


def apply_observations(
    conn: sqlite3.Connection, tenant: str, user_id: str, steps: Sequence[Step],
    cache: ModelCache,
) -> BatchApplied:
    """A batch of one user's observations in one transaction: read once, apply the steps not
    applied before (store.base.Store.apply_observations), write once, record and log them."""
    ids = list(dict.fromkeys(step.observation.id for step in steps))
    with immediate(conn):
        erased = erased_at(conn, tenant, user_id)
        current = cached_model(conn, tenant, user_id, cache)
        new, result, logged = fold_steps(
            tenant, user_id, current, steps,
            done=applied_among(conn, tenant, user_id, ids), erased=erased)
        if new is None:
            return result
        _write(conn, new, current)
        now = time.time()
        conn.executemany(_MARK, [(tenant, user_id, obs.id, now) for obs in logged])
        conn.executemany(
            "INSERT OR IGNORE INTO observations (tenant, id, user_id, at, doc) "
            "VALUES (?, ?, ?, ?, ?)",
            [(tenant, obs.id, user_id, obs.at, pack(obs.model_dump_json())) for obs in logged])
    cache.put(new)
    return result


def applied_among(conn: sqlite3.Connection, tenant: str, user_id: str,
                  ids: Sequence[str]) -> set[str]:
    """Which of ``ids`` were applied to the user's model before."""
    found: set[str] = set()
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start:start + _IN_CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(f"SELECT obs_id FROM applied WHERE tenant=? AND user_id=? "
                            f"AND obs_id IN ({marks})", (tenant, user_id, *chunk))
        found.update(row[0] for row in rows)
    return found


def _write(conn: sqlite3.Connection, new: SelfModel, current: SelfModel | None) -> None:
    doc = new.model_dump_json()
    if current is None:
        conn.execute("INSERT INTO models (tenant, user_id, version, doc, stamp) "
                     "VALUES (?, ?, ?, ?, ?)",
                     (new.tenant, new.user_id, new.version, doc, new.updated_at))
        return
    cursor = conn.execute(
        "UPDATE models SET version=?, doc=?, stamp=? WHERE tenant=? AND user_id=? AND version=?",
        (new.version, doc, new.updated_at, new.tenant, new.user_id, current.version),
    )
    if cursor.rowcount != 1:
        raise ConflictError(f"self-model of {new.user_id!r} changed under a write lock")


def get_profile(
    conn: sqlite3.Connection, tenant: str, user_id: str, cache: ModelCache
) -> tuple[SelfModel | None, bool | None]:
    return cached_model(conn, tenant, user_id, cache), get_consent(conn, tenant, user_id)


def get_consent(conn: sqlite3.Connection, tenant: str, user_id: str) -> bool | None:
    row = conn.execute(
        "SELECT granted FROM consent WHERE tenant=? AND user_id=?", (tenant, user_id)
    ).fetchone()
    return bool(row[0]) if row else None


def set_consent(conn: sqlite3.Connection, tenant: str, user_id: str, granted: bool) -> None:
    with immediate(conn):
        conn.execute(
            "INSERT INTO consent (tenant, user_id, granted, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (tenant, user_id) DO UPDATE SET granted=excluded.granted, "
            "updated_at=excluded.updated_at",
            (tenant, user_id, int(granted), time.time()),
        )
