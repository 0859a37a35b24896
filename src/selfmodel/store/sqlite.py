"""The embedded store: one SQLite file (WAL), shared by any number of processes.

sqlite3 blocks, so calls run on threads owned by this store: two lanes, each one thread with
its own connection, for writes (all in ``BEGIN IMMEDIATE`` transactions) and reads. WAL
readers never wait for writers, so reads are not held up when another process holds the
write lock. An in-memory database (``sqlite:///:memory:``) exists only inside one connection,
so it uses one lane.

One read is the exception: ``get_profile``, the chat path's lookup of a user's model and
consent, runs on the event loop. It is two primary-key reads that return no document when the
parsed model in the cache is current, and a WAL reader does not wait for writers; its
connection has no busy timeout, so in the rare case that SQLite asks a reader to wait (WAL
recovery) the call fails at once and goes to the reader lane instead. A hand-off to a thread
and back costs about 30 us of CPU here, more than the read, and under load A/B runs measured
0.1-0.2 ms less CPU per request without it (the GIL also changes hands with busy threads).

The chat path's one write, the group commit of its exchanges (decision records and queue
entries), is also made on the loop when the write lock is free: a few inserts and a commit
that writes the WAL without syncing it (synchronous=NORMAL). Its connection has no busy
timeout and never checkpoints (a checkpoint copies pages into the database and syncs it:
milliseconds the loop must not wait), so when another connection or process holds the lock,
or anything fails, the group goes to the writer lane, as does every LANE_EVERY-th group and
every group that purges expired records, so the lane's connection keeps checkpointing. Side
by side with the lane-only write on a quiet machine, a lone request (c=1) took about 6% less
latency and CPU, and at c=10 the two were even (a group commit there already shares one
hand-off between requests); on a busy machine, where waking a thread costs more, a lone
request's latency was 18% lower.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Concatenate, ParamSpec, TypeVar

from pydantic import ValidationError

from selfmodel.domain.models import DecisionRecord, Observation, SelfModel
from selfmodel.store import _sqlite_models as models
from selfmodel.store import _sqlite_queue as queue
from selfmodel.store import _sqlite_records as records
from selfmodel.store._blocking_claim import claim_within
from selfmodel.store._group_commit import Exchange, GroupCommit
from selfmodel.store._sqlite_schema import (
    connect,
    connect_inline,
    connect_inline_writer,
    create_schema,
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

log = logging.getLogger("selfmodel.store.sqlite")

P = ParamSpec("P")
T = TypeVar("T")

URL_PREFIX = "sqlite:///"
# How often a blocking claim looks at the queue again for entries other processes enqueued.
# Entries enqueued through this store object (the gateway and its in-process workers) wake a
# waiting claim at once, so an idle worker does not spin and freshness does not wait a poll.
PURGE_EVERY = 10.0  # seconds between lazy purges of expired decision records
# Every LANE_EVERY-th exchange group is committed by the writer lane even when the lock is
# free: the lane's connection checkpoints the WAL, the loop's never does (see the module doc).
LANE_EVERY = 32
PING_TIMEOUT = 2.0


@dataclass
class _Lane:
    """One thread and the connection that lives on it."""

    executor: ThreadPoolExecutor
    conn: sqlite3.Connection | None = None


def sqlite_path(url: str) -> str:
    """The file path in ``sqlite:///path`` (``sqlite:////abs/path`` for an absolute one)."""
    if not url.startswith(URL_PREFIX) or len(url) == len(URL_PREFIX):
        raise StoreError(f"not a SQLite url: {url!r} (expected sqlite:///path)")
    return url[len(URL_PREFIX):]


class SQLiteStore:
    """The Store protocol on one SQLite file; see selfmodel.store.base for the contract."""

    def __init__(self, url: str) -> None:
        self.path = sqlite_path(url)
        self._writer = _Lane(ThreadPoolExecutor(1, thread_name_prefix="selfmodel-sqlite-w"))
        self._reader = self._writer
        if self.path != ":memory:":
            self._reader = _Lane(ThreadPoolExecutor(1, thread_name_prefix="selfmodel-sqlite-r"))
        self._next_purge = 0.0
        self._enqueued: asyncio.Event | None = None  # created on the store's own loop
        self._cache = models.ModelCache()
        self._inline: sqlite3.Connection | None = None  # get_profile's, on the event loop
        self._group = GroupCommit(self._commit_group)  # the chat path's exchanges
        self._inline_writer: sqlite3.Connection | None = None  # exchanges', on the loop
        self._groups = 0  # exchange groups committed, to send every LANE_EVERY-th to the lane

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        if self._writer.conn is not None:
            return
        self._enqueued = asyncio.Event()
        loop = asyncio.get_running_loop()
        try:
            self._writer.conn = await loop.run_in_executor(
                self._writer.executor, connect, self.path)
            await self._write(create_schema)
            if self._reader is not self._writer:
                self._reader.conn = await loop.run_in_executor(
                    self._reader.executor, connect, self.path)
                self._inline = connect_inline(self.path)
                self._inline_writer = connect_inline_writer(self.path)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite store {self.path}: {exc}") from exc

    async def close(self) -> None:
        await self._group.drain()  # exchanges accepted before close are written
        for inline in (self._inline, self._inline_writer):
            if inline is not None:
                inline.close()
        self._inline = self._inline_writer = None
        loop = asyncio.get_running_loop()
        for lane in {id(self._reader): self._reader, id(self._writer): self._writer}.values():
            if lane.conn is not None:
                await loop.run_in_executor(lane.executor, lane.conn.close)
                lane.conn = None
            lane.executor.shutdown(wait=False)

    async def ping(self) -> bool:
        try:
            return await asyncio.wait_for(self._read(_ping), PING_TIMEOUT)
        except Exception:  # ping reports, it never raises
            return False

    # -- self-models ------------------------------------------------------------------------
    async def get_model(self, tenant: str, user_id: str) -> SelfModel | None:
        return await self._read(models.cached_model, tenant, user_id, self._cache)

    async def get_profile(
        self, tenant: str, user_id: str
    ) -> tuple[SelfModel | None, bool | None]:
        if self._inline is not None:
            try:
                return models.get_profile(self._inline, tenant, user_id, self._cache)
            except sqlite3.Error:  # busy (WAL recovery) or failing: the reader lane decides
                pass
            except ValidationError as exc:
                raise _unreadable(exc) from exc
        return await self._read(models.get_profile, tenant, user_id, self._cache)

    async def create_model(
        self, tenant: str, user_id: str, context: dict[str, object] | None = None
    ) -> SelfModel:
        return await self._write(models.create_model, tenant, user_id, context)

    async def mutate_model(
        self,
        tenant: str,
        user_id: str,
        fn: Mutation,
        *,
        observation_id: str | None = None,
        observed_at: float | None = None,
        create: bool = True,
    ) -> SelfModel | None:
        return await self._write(models.mutate_model, tenant, user_id, fn, observation_id,
                                 observed_at, create, self._cache)

    async def apply_observations(
        self, tenant: str, user_id: str, steps: Sequence[Step]
    ) -> BatchApplied:
        if not steps:
            return BatchApplied(await self.get_model(tenant, user_id), frozenset(), frozenset())
        return await self._write(models.apply_observations, tenant, user_id, steps, self._cache)

    async def delete_model(self, tenant: str, user_id: str) -> bool:
        self._cache.drop(tenant, user_id)
        existed = await self._write(records.delete_user, tenant, user_id)
        self._cache.drop(tenant, user_id)  # and again, for a read that raced the erasure
        if self.path != ":memory:" and not await self._write(records.checkpoint):
            log.warning("WAL checkpoint after an erasure was kept from completing by a reader")
        return existed

    async def list_models(self, tenant: str, limit: int = 10_000) -> list[SelfModel]:
        return await self._read(models.list_models, tenant, limit)

    async def list_users(self, tenant: str, *, search: str = "", limit: int = 50) -> list[UserRow]:
        return await self._read(models.list_users, tenant, search, limit)

    async def erased_at(self, tenant: str, user_id: str) -> float | None:
        return await self._read(models.erased_at, tenant, user_id)

    # -- consent ----------------------------------------------------------------------------
    async def get_consent(self, tenant: str, user_id: str) -> bool | None:
        return await self._read(models.get_consent, tenant, user_id)

    async def set_consent(self, tenant: str, user_id: str, granted: bool) -> None:
        await self._write(models.set_consent, tenant, user_id, granted)

    # -- observation log --------------------------------------------------------------------
    async def log_observation(self, observation: Observation) -> None:
        await self._write(records.log_observation, observation)

    async def list_observations(
        self, tenant: str, user_id: str, limit: int = 1000
    ) -> list[Observation]:
        return await self._read(records.list_observations, tenant, user_id, limit)

    async def purge_observations(self, older_than: float) -> int:
        return await self._write(records.purge_observations, older_than)

    # -- decision records -------------------------------------------------------------------
    async def put_decision(self, record: DecisionRecord, ttl_seconds: float) -> None:
        self._purged(await self._write(records.store_decision, record, ttl_seconds,
                                       self._purge_due()))

    async def get_decision(self, tenant: str, request_id: str) -> DecisionRecord | None:
        return await self._read(records.get_decision, tenant, request_id)

    async def list_decisions(
        self, tenant: str, since: float = 0.0, limit: int = 100_000
    ) -> list[DecisionRecord]:
        return await self._read(records.list_decisions, tenant, since, limit)

    async def list_user_decisions(
        self, tenant: str, user_id: str, limit: int = 50
    ) -> list[DecisionRecord]:
        return await self._read(records.list_user_decisions, tenant, user_id, limit)

    # -- queue ------------------------------------------------------------------------------
    async def enqueue(self, observation: Observation) -> str:
        entry_id = await self._write(queue.enqueue, observation)
        self._wake()
        return entry_id

    async def record_exchange(
        self, decision: DecisionRecord | None, observation: Observation | None,
        ttl_seconds: float,
    ) -> None:
        """Group commit: the exchanges of concurrent requests share one transaction.

        The writer takes whatever exchanges are waiting when it runs (on the loop, or on the
        writer lane when it comes free), so under load one commit carries many requests'
        records (a commit per request was the largest store cost of the chat path), and a
        lone request is written at once. Each call returns only after its own exchange is
        committed; if a group fails, its exchanges are written one by one, so one bad
        record cannot lose the others.
        """
        if decision is None and observation is None:
            return
        await self._group.submit((decision, observation, ttl_seconds))

    async def _commit_group(self, exchanges: list[Exchange]) -> None:
        purge = self._purge_due()
        self._groups += 1
        if (self._inline_writer is None or purge or self._groups % LANE_EVERY == 0
                or not self._commit_inline(exchanges)):
            self._purged(await self._write(queue.record_exchanges, exchanges, purge))
        if any(obs is not None for _, obs, _ in exchanges):
            self._wake()

    def _commit_inline(self, exchanges: list[Exchange]) -> bool:
        """Commit a group on the event loop; False when it could not (the write lock is
        held, or SQLite failed): the caller then hands it to the writer lane, which waits
        for the lock and reports real failures."""
        assert self._inline_writer is not None
        conn = self._inline_writer
        try:
            queue.record_exchanges(conn, exchanges, False)
        except sqlite3.Error:
            if conn.in_transaction:  # a failed COMMIT leaves it open, holding the lock
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            return False
        return True

    def _wake(self) -> None:
        if self._enqueued is not None:
            self._enqueued.set()

    async def claim(
        self, consumer: str, count: int, *, block_ms: int = 0, lease_seconds: float = 30.0
    ) -> list[QueueEntry]:
        async def look() -> list[QueueEntry]:  # a cheap read first: claiming takes the lock
            if not await self._read(queue.claimable, consumer):
                return []
            return await self._write(queue.claim, consumer, count, lease_seconds)

        return await claim_within(look, count, block_ms, self._enqueued)

    async def ack(self, entry: QueueEntry) -> None:
        await self.ack_many([entry])

    async def ack_many(self, entries: Sequence[QueueEntry]) -> None:
        if entries:
            await self._write(queue.ack, [entry.entry_id for entry in entries])

    async def fail(self, entry: QueueEntry, error: str, *, max_tries: int) -> bool:
        return await self._write(queue.fail, entry.entry_id, error, max_tries)

    async def queue_stats(self) -> QueueStats:
        return await self._read(queue.stats)

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        return await self._read(queue.dead_letters, limit)

    # -- outcomes ---------------------------------------------------------------------------
    async def add_outcome(
        self, tenant: str, user_id: str, name: str, value: float, at: float
    ) -> None:
        await self._write(records.add_outcome, tenant, user_id, name, value, at)

    async def list_outcomes(
        self, tenant: str, since: float = 0.0
    ) -> list[tuple[str, str, float, float]]:
        return await self._read(records.list_outcomes, tenant, since)

    # -- admin ------------------------------------------------------------------------------
    async def scan_user(self, tenant: str, user_id: str) -> list[str]:
        return await self._read(records.scan_user, tenant, user_id)

    # -- plumbing ---------------------------------------------------------------------------
    def _purge_due(self) -> bool:
        now = time.monotonic()
        if now < self._next_purge:
            return False
        self._next_purge = now + PURGE_EVERY
        return True

    def _purged(self, count: int) -> None:
        """A full batch means a backlog: purge again on the next write."""
        if count >= records.PURGE_BATCH:
            self._next_purge = 0.0

    async def _read(self, fn: Callable[Concatenate[sqlite3.Connection, P], T],
                    *args: P.args, **kwargs: P.kwargs) -> T:
        return await _call(self._reader, fn, *args, **kwargs)

    async def _write(self, fn: Callable[Concatenate[sqlite3.Connection, P], T],
                     *args: P.args, **kwargs: P.kwargs) -> T:
        return await _call(self._writer, fn, *args, **kwargs)


async def _call(lane: _Lane, fn: Callable[Concatenate[sqlite3.Connection, P], T],
                *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``fn(conn, ...)`` on the lane's thread; sqlite errors and unreadable records
    become StoreError (chat degrades, the API answers 503)."""
    if lane.conn is None:
        raise StoreError("the SQLite store is not started (call start())")
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(lane.executor, partial(fn, lane.conn, *args, **kwargs))
    except sqlite3.Error as exc:
        raise StoreError(f"SQLite store failed: {exc}") from exc
    except ValidationError as exc:
        raise _unreadable(exc) from exc


def _unreadable(exc: ValidationError) -> StoreError:
    return StoreError(f"SQLite store holds a record this version cannot read: {exc}")


def _ping(conn: sqlite3.Connection) -> bool:
    return bool(conn.execute("SELECT 1").fetchone() == (1,))

