"""The production store: PostgreSQL, shared by any number of gateway replicas and workers.

One asyncpg pool per process (``pool=`` in the URL, default 10 connections). asyncpg was
chosen over psycopg 3 by measurement (docs/ARCHITECTURE.md): at 10 concurrent callers it
spent 10-40% less client CPU per profile read and per exchange write, and CPU on the gateway
is what bounds its requests per second. Modules by noun: the schema and its migrations
(_pg_schema.py), models, consent and tombstones (_pg_models.py), the queue (_pg_queue.py),
records, erasure and the scan (_pg_records.py).

``start`` refuses a database whose schema is older than this code (``selfmodel migrate``
creates or upgrades it; the message says so), rather than altering tables behind the
operator's back while other replicas run.

A blocking ``claim`` polls the queue every 0.1 s (store/_blocking_claim.py; one statement,
cheap on an empty queue), and is woken at once by entries enqueued through this store object
(a gateway and its in-process workers).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

import asyncpg
from pydantic import ValidationError

from selfmodel.domain.models import DecisionRecord, Observation, SelfModel
from selfmodel.store import _pg_models as models
from selfmodel.store import _pg_queue as queue
from selfmodel.store import _pg_records as records
from selfmodel.store._blocking_claim import claim_within
from selfmodel.store._group_commit import Exchange, GroupCommit
from selfmodel.store._pg_schema import (
    connect,
    migrate,
    outdated,
    parse_url,
    schema_version,
    server_settings,
)
from selfmodel.store.base import (
    BatchApplied,
    DeadLetter,
    Mutation,
    QueueEntry,
    QueueStats,
    Step,
    StoreError,
    UserRow,
)

P = ParamSpec("P")
T = TypeVar("T")

PURGE_EVERY = 10.0  # seconds between lazy purges of expired decision records
PING_TIMEOUT = 2.0
CONNECT_TIMEOUT = 10.0
COMMAND_TIMEOUT = 30.0  # a hung server fails the call instead of hanging the chat path

_FAILURES = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


class PostgresStore:
    """The Store protocol on PostgreSQL; see selfmodel.store.base for the contract."""

    def __init__(self, url: str) -> None:
        self.target = parse_url(url)
        self._pool: asyncpg.Pool | None = None
        self._cache = models.ProfileCache()
        self._enqueued: asyncio.Event | None = None
        self._next_purge = 0.0
        self._group = GroupCommit(self._commit_group)  # the chat path's exchanges

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        if self._pool is not None:
            return
        self._enqueued = asyncio.Event()
        try:
            # Every connection opened at start: one opened under a burst costs tens of ms,
            # past the chat path's read budget (a burst of such misses would trip the
            # store's breaker, and the API with it).
            pool = await asyncpg.create_pool(
                self.target.dsn, min_size=self.target.pool, max_size=self.target.pool,
                timeout=CONNECT_TIMEOUT, command_timeout=COMMAND_TIMEOUT,
                server_settings=server_settings(self.target), reset=_keep_session)
            async with pool.acquire() as conn:
                problem = outdated(await schema_version(conn))
        except _FAILURES as exc:
            raise StoreError(f"cannot open PostgreSQL store: {exc}") from exc
        if problem is not None:
            await pool.close()
            raise StoreError(problem)
        self._pool = pool

    async def close(self) -> None:
        await self._group.drain()  # exchanges accepted before close are written
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def ping(self) -> bool:
        if self._pool is None:
            return False
        try:
            return bool(await asyncio.wait_for(self._run(_ping), PING_TIMEOUT))
        except Exception:  # ping reports, it never raises
            return False

    # -- self-models ------------------------------------------------------------------------
    async def get_model(self, tenant: str, user_id: str) -> SelfModel | None:
        return await self._run(models.get_model, tenant, user_id, self._cache)

    async def get_profile(self, tenant: str, user_id: str
                          ) -> tuple[SelfModel | None, bool | None]:
        return await self._run(models.get_profile, tenant, user_id, self._cache)

    async def create_model(self, tenant: str, user_id: str,
                           context: dict[str, object] | None = None) -> SelfModel:
        return await self._run(models.create_model, tenant, user_id, context, self._cache)

    async def mutate_model(
        self, tenant: str, user_id: str, fn: Mutation, *, observation_id: str | None = None,
        observed_at: float | None = None, create: bool = True,
    ) -> SelfModel | None:
        return await self._run(models.mutate_model, tenant, user_id, fn, observation_id,
                               observed_at, create, self._cache)

    async def apply_observations(self, tenant: str, user_id: str, steps: Sequence[Step]
                                 ) -> BatchApplied:
        if not steps:
            return BatchApplied(await self.get_model(tenant, user_id), frozenset(), frozenset())
        return await self._run(models.apply_observations, tenant, user_id, steps, self._cache)

    async def delete_model(self, tenant: str, user_id: str) -> bool:
        self._cache.drop(tenant, user_id)
        existed = await self._run(records.delete_user, tenant, user_id)
        self._cache.drop(tenant, user_id)  # and again, for a read that raced the erasure
        return existed

    async def list_models(self, tenant: str, limit: int = 10_000) -> list[SelfModel]:
        return await self._run(models.list_models, tenant, limit)

    async def erased_at(self, tenant: str, user_id: str) -> float | None:
        return await self._run(models.erased_at, tenant, user_id)

    async def list_users(self, tenant: str, *, search: str = "", limit: int = 50
                         ) -> list[UserRow]:
        return await self._run(models.list_users, tenant, search, limit)

    # -- consent ----------------------------------------------------------------------------
    async def get_consent(self, tenant: str, user_id: str) -> bool | None:
        return await self._run(models.get_consent, tenant, user_id)

    async def set_consent(self, tenant: str, user_id: str, granted: bool) -> None:
        await self._run(models.set_consent, tenant, user_id, granted)

    # -- observation log --------------------------------------------------------------------
    async def log_observation(self, observation: Observation) -> None:
        await self._run(records.log_observation, observation)

    async def list_observations(self, tenant: str, user_id: str, limit: int = 1000
                                ) -> list[Observation]:
        return await self._run(records.list_observations, tenant, user_id, limit)

    async def purge_observations(self, older_than: float) -> int:
        return await self._run(records.purge_observations, older_than)

    # -- decision records -------------------------------------------------------------------
    async def put_decision(self, record: DecisionRecord, ttl_seconds: float) -> None:
        await self._run(records.put_decision, record, ttl_seconds)
        await self._purge_if_due()

    async def get_decision(self, tenant: str, request_id: str) -> DecisionRecord | None:
        return await self._run(records.get_decision, tenant, request_id)

    async def list_decisions(self, tenant: str, since: float = 0.0, limit: int = 100_000
                             ) -> list[DecisionRecord]:
        return await self._run(records.list_decisions, tenant, since, limit)

    async def list_user_decisions(self, tenant: str, user_id: str, limit: int = 50
                                  ) -> list[DecisionRecord]:
        return await self._run(records.list_user_decisions, tenant, user_id, limit)

    # -- queue ------------------------------------------------------------------------------
    async def enqueue(self, observation: Observation) -> str:
        entry_id = await self._run(queue.insert, observation, time.time())
        self._wake()
        return entry_id

    async def record_exchange(self, decision: DecisionRecord | None,
                              observation: Observation | None, ttl_seconds: float) -> None:
        """Group commit: the exchanges of concurrent requests share one statement.

        The writer takes whatever exchanges are waiting when it runs, so under load one
        round trip carries many requests' records (each round trip costs the gateway more
        CPU than the rows it carries), and a lone request is written at once. Each call
        returns only after its own exchange is committed; if a group fails, its exchanges
        are written one by one, so one bad record cannot fail the others.
        """
        if decision is None and observation is None:
            return
        await self._group.submit((decision, observation, ttl_seconds))

    async def _commit_group(self, exchanges: list[Exchange]) -> None:
        await self._run(queue.record_exchanges, exchanges)
        if any(obs is not None for _, obs, _ in exchanges):
            self._wake()
        if any(decision is not None for decision, _, _ in exchanges):
            await self._purge_if_due()

    async def claim(self, consumer: str, count: int, *, block_ms: int = 0,
                    lease_seconds: float = 30.0) -> list[QueueEntry]:
        return await claim_within(
            lambda: self._run(queue.claim, consumer, count, lease_seconds), count, block_ms,
            self._enqueued)

    def _wake(self) -> None:
        if self._enqueued is not None:
            self._enqueued.set()

    async def ack(self, entry: QueueEntry) -> None:
        await self.ack_many([entry])

    async def ack_many(self, entries: Sequence[QueueEntry]) -> None:
        if entries:
            await self._run(queue.ack, [entry.entry_id for entry in entries])

    async def fail(self, entry: QueueEntry, error: str, *, max_tries: int) -> bool:
        return await self._run(queue.fail, entry.entry_id, error, max_tries)

    async def queue_stats(self) -> QueueStats:
        return await self._run(queue.stats)

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        return await self._run(queue.dead_letters, limit)

    # -- outcomes ---------------------------------------------------------------------------
    async def add_outcome(self, tenant: str, user_id: str, name: str, value: float,
                          at: float) -> None:
        await self._run(records.add_outcome, tenant, user_id, name, value, at)

    async def list_outcomes(self, tenant: str, since: float = 0.0
                            ) -> list[tuple[str, str, float, float]]:
        return await self._run(records.list_outcomes, tenant, since)

    # -- admin ------------------------------------------------------------------------------
    async def scan_user(self, tenant: str, user_id: str) -> list[str]:
        return await self._run(records.scan_user, tenant, user_id)

    # -- plumbing ---------------------------------------------------------------------------
    async def _purge_if_due(self) -> None:
        """Expired decision records go a batch at a time; a full batch means a backlog, so
        the next write purges again."""
        now = time.monotonic()
        if now < self._next_purge:
            return
        self._next_purge = now + PURGE_EVERY
        if await self._run(records.purge_decisions) >= records.PURGE_BATCH:
            self._next_purge = 0.0

    async def _run(self, fn: Callable[Concatenate[Any, P], Awaitable[T]],
                   *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(conn, ...)`` on a pooled connection; driver errors and unreadable records
        become StoreError (chat degrades, the API answers 503)."""
        if self._pool is None:
            raise StoreError("the PostgreSQL store is not started (call start())")
        try:
            async with self._pool.acquire() as conn:
                return await fn(conn, *args, **kwargs)
        except _FAILURES as exc:
            raise StoreError(f"PostgreSQL store failed: {exc}") from exc
        except ValidationError as exc:
            raise StoreError(f"PostgreSQL store holds a record this version cannot read: "
                             f"{exc}") from exc


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a connection needs before it goes back to the pool: nothing, beyond the
    rollback of a transaction left open that asyncpg always does.

    asyncpg's default sends ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL`` on every release: a second round trip for each store call, and server CPU.
    This store leaves no session state behind (its advisory locks are transaction-level,
    it opens no cursor outside a transaction, never LISTENs, never SETs), so the reset
    had nothing to undo; without it a profile lookup is one round trip instead of two
    (BENCHMARKS.md, "PostgreSQL at scale")."""


async def _ping(conn: Any) -> bool:
    return bool(await conn.fetchval("SELECT 1") == 1)


async def migrate_database(url: str) -> tuple[int, int]:
    """Create or upgrade the schema at ``url`` (``selfmodel migrate``); return the version
    before and after. Safe to run while replicas are up, and from several hosts at once."""
    target = parse_url(url)
    try:
        conn = await connect(target, CONNECT_TIMEOUT)
        try:
            return await migrate(conn, target.schema)
        finally:
            await conn.close()
    except _FAILURES as exc:
        raise StoreError(f"cannot migrate the PostgreSQL store: {exc}") from exc


async def database_version(url: str) -> int:
    """The schema version the database at ``url`` is at (0: never migrated)."""
    target = parse_url(url)
    try:
        conn = await connect(target, CONNECT_TIMEOUT)
        try:
            return await schema_version(conn)
        finally:
            await conn.close()
    except _FAILURES as exc:
        raise StoreError(f"cannot read the PostgreSQL schema version: {exc}") from exc
