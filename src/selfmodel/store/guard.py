"""``GuardedStore``: latency budgets, a circuit breaker and the spool around any store.

A store that is down fails fast (connection refused); one that is frozen (a stopped Redis, a
SQLite file another process holds locked) makes every call wait for a socket or busy
timeout, and the gateway with it: the chat path once waited 60 s per request. Budgets say
how long each kind of call may take, whichever backend answers:

- the chat path's profile read (``store.read_budget_ms``, tens of ms): past it the chat goes
  on unpersonalized, as when the store is down;
- the exchange's record (``store.record_budget_ms``): past it (or on a failure) the record
  goes to the spool (store/spool.py) and the answer is not held back;
- every other call (``store.api_budget_ms``, about a second; a mutation ``MUTATE_FACTOR``
  times that): past it a ``StoreTimeout`` (a ``StoreError``: the self-model API answers 503).

Failures and timeouts feed one circuit breaker (providers/circuit.py): after
``breaker_failures`` in a row the store is not asked at all for ``breaker_cooldown_ms``
(calls fail at once), then one call probes it. While the spool holds records, new ones go
behind them, and a replay task sends them oldest first whenever the breaker lets it.

The queue side used by workers (claim, ack, fail, apply_observations, stats) passes through
unbudgeted: workers have their own backoff, and a batch write may legitimately take longer
than a chat may wait. The wrapper knows nothing of any backend, so SQLite, Redis and any
later store (PostgreSQL) get the same behaviour by being wrapped (``app.build_services``).
The budget is ``asyncio.timeout`` around the awaited call: no thread, a timer handle each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TypeVar

from selfmodel.config import Config, StoreSettings
from selfmodel.domain.models import DecisionRecord, Observation, SelfModel
from selfmodel.metrics import Metrics
from selfmodel.providers.circuit import Circuit
from selfmodel.store.base import (
    BatchApplied,
    ConflictError,
    DeadLetter,
    Mutation,
    QueueEntry,
    QueueStats,
    Step,
    Store,
    StoreError,
    UserRow,
)
from selfmodel.store.spool import Spool, Spooled

log = logging.getLogger("selfmodel.store.guard")

T = TypeVar("T")
# A spooled record that the store, while answering pings, refused this many times is dropped
# (counted): one unreadable record must not hold back the ones behind it for ever.
REPLAY_STRIKES = 3
_TRANSIENT = (StoreError, OSError, TimeoutError)
# A mutation retries its optimistic write while other writers of the user win (25 concurrent
# ``?wait=true`` observations of one user took over a second on a busy machine): it gets this
# many API budgets. The routes that mutate read the model first, within the API budget, so a
# frozen store still fails them within about a second.
MUTATE_FACTOR = 10


def guarded(config: Config, store: Store, metrics: Metrics | None = None) -> GuardedStore:
    """``store`` wrapped as ``config.store`` says (a store already wrapped is kept)."""
    if isinstance(store, GuardedStore):
        return store
    return GuardedStore(store, config.store, Spool(spool_path(config), config.store.spool_max),
                        metrics)


def spool_path(config: Config) -> Path | None:
    """``store.spool_path`` (relative to the config file); by default beside a SQLite file,
    and in memory (None) for other stores."""
    if config.store.spool_path:
        return config.resolve_path(config.store.spool_path)
    url = config.store_url()
    prefix = "sqlite:///"
    if url.startswith(prefix) and url[len(prefix):] not in ("", ":memory:"):
        return Path(url[len(prefix):] + "-spool.jsonl")
    return None


class StoreTimeout(StoreError):
    """The store did not answer within its budget."""


class StoreCircuitOpen(StoreError):
    """The store failed repeatedly and rests until a probe succeeds."""


class GuardedStore:
    """The Store protocol around ``inner``, with budgets, a breaker and a spool."""

    def __init__(self, inner: Store, settings: StoreSettings, spool: Spool,
                 metrics: Metrics | None = None) -> None:
        self.inner = inner
        self.spool = spool
        self.metrics = metrics
        self.circuit = Circuit(settings.breaker_failures, settings.breaker_cooldown_ms / 1000)
        self._read_budget = settings.read_budget_ms / 1000
        self._record_budget = settings.record_budget_ms / 1000
        self._api_budget = settings.api_budget_ms / 1000
        self._erase_budget = settings.erase_budget_ms / 1000
        self._cooldown = settings.breaker_cooldown_ms / 1000
        self._window = settings.breaker_window_ms / 1000
        self._failing_since: float | None = None  # first failure since the last success
        self._kick: asyncio.Event | None = None
        self._replayer: asyncio.Task[None] | None = None
        self._strikes = 0

    # -- the guard ---------------------------------------------------------------------------
    async def _bounded(self, operation: str, call: Callable[[], Awaitable[T]],
                       budget: float) -> T:
        """``call()`` within ``budget`` seconds, if the breaker admits it; its outcome fed back
        to the breaker. A conflict is an answer (the store works), not a failure."""
        if not self.circuit.admit():
            raise StoreCircuitOpen(f"the store failed repeatedly; {operation} not attempted "
                                   "until a probe succeeds")
        try:
            async with asyncio.timeout(budget):
                result = await call()
        except ConflictError:
            self.circuit.succeeded()
            raise
        except TimeoutError as exc:
            self._failed(operation, timed_out=True)
            raise StoreTimeout(f"the store did not answer {operation} within "
                               f"{budget * 1000:.0f} ms") from exc
        except _TRANSIENT as exc:
            self._failed(operation, timed_out=False)
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"the store failed {operation}: {exc}") from exc
        except BaseException:  # cancelled, or a bug: no verdict on the store
            self.circuit.abandoned()
            raise
        self._succeeded()
        return result

    def _failed(self, operation: str, *, timed_out: bool) -> None:
        """Count a failure towards the breaker once failures alone have lasted the window:
        ten concurrent reads over budget in one busy moment open nothing, a store that
        answers nothing for a second does (and a failed probe, later still, reopens it)."""
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        if now - self._failing_since >= self._window:
            self.circuit.failed()
        if timed_out and self.metrics is not None:
            self.metrics.store_timeouts.labels(operation=operation).inc()

    def _succeeded(self) -> None:
        self._failing_since = None
        self.circuit.succeeded()
        if self.spool and self._kick is not None:
            self._kick.set()

    # -- the spool ---------------------------------------------------------------------------
    async def record_exchange(
        self, decision: DecisionRecord | None, observation: Observation | None,
        ttl_seconds: float,
    ) -> None:
        """Record now within the budget, or spool (behind what is spooled already, so records
        land in order). Raises StoreError only when the spool is full (the record is lost,
        and counted)."""
        if decision is None and observation is None:
            return
        if not self.spool:
            try:
                await self._bounded("record_exchange", lambda: self.inner.record_exchange(
                    decision, observation, ttl_seconds), self._record_budget)
                return
            except StoreError as exc:
                log.warning("exchange record goes to the spool: %s", exc)
        await self._to_spool(Spooled(decision, observation, ttl_seconds))

    async def _to_spool(self, item: Spooled) -> None:
        if not await self.spool.append(item):
            if self.metrics is not None:
                self.metrics.spool_dropped.inc()
            raise StoreError(f"the store is unavailable and the spool is full "
                             f"({self.spool.limit} records): exchange record dropped")
        if self.metrics is not None:
            self.metrics.spooled.inc()
            self.metrics.spool_depth.set(len(self.spool))
        if self._kick is not None:
            self._kick.set()

    async def replay(self) -> int:
        """Send spooled records to the store, oldest first, while it takes them; returns how
        many were recorded (or dropped as unrecordable)."""
        done = 0
        while (item := self.spool.head()) is not None:
            try:
                await self._bounded("replay", partial(self.inner.record_exchange, item.decision,
                                                      item.observation, item.ttl),
                                    self._record_budget)
            except StoreError as exc:
                if not await self._refused(exc):
                    break
                self.spool.drop_head()
            else:
                self.spool.pop()
                self._strikes = 0
                if self.metrics is not None:
                    self.metrics.spool_replayed.inc()
            done += 1
        if done:
            await self.spool.flush()
            if self.metrics is not None:
                self.metrics.spool_depth.set(len(self.spool))
        return done

    async def _refused(self, exc: StoreError) -> bool:
        """True when the head record itself is the problem (the store answers pings but
        failed this record ``REPLAY_STRIKES`` times): it is dropped and counted."""
        if isinstance(exc, StoreCircuitOpen | StoreTimeout) or not await self.ping():
            return False
        self._strikes += 1
        if self._strikes < REPLAY_STRIKES:
            return False
        self._strikes = 0
        log.error("a spooled exchange record was refused %d times; dropped: %s",
                  REPLAY_STRIKES, exc)
        if self.metrics is not None:
            self.metrics.spool_dropped.inc()
        return True

    async def _replay_loop(self) -> None:
        assert self._kick is not None
        while True:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation that
            # arrives as the event is set, and close() then waited for ever (seen in a test).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._cooldown):
                    await self._kick.wait()
            self._kick.clear()
            if self.spool:
                try:
                    await self.replay()
                except Exception:  # never let the replayer die: records would wait for ever
                    log.exception("spool replay failed")

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        await self.inner.start()
        self.spool.open()
        if self._replayer is None:
            self._kick = asyncio.Event()
            self._replayer = asyncio.create_task(self._replay_loop(), name="spool-replay")
            if self.spool:
                self._kick.set()
        if self.metrics is not None:
            self.metrics.spool_depth.set(len(self.spool))

    async def close(self) -> None:
        if self._replayer is not None:
            self._replayer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replayer
            self._replayer = None
        if self.spool:
            with contextlib.suppress(Exception):
                await self.replay()  # one last try; what is left stays in the file
            if self.spool:
                log.warning("%d exchange record(s) still spooled at shutdown%s",
                            len(self.spool), "" if self.spool.path else " (in memory: lost)")
        self.spool.close()
        await self.inner.close()

    async def ping(self) -> bool:
        return await self.inner.ping()

    # -- budgeted calls ----------------------------------------------------------------------
    async def get_profile(self, tenant: str, user_id: str
                          ) -> tuple[SelfModel | None, bool | None]:
        return await self._bounded("get_profile", lambda: self.inner.get_profile(
            tenant, user_id), self._read_budget)

    async def get_model(self, tenant: str, user_id: str) -> SelfModel | None:
        return await self._api("get_model", lambda: self.inner.get_model(tenant, user_id))

    async def create_model(self, tenant: str, user_id: str,
                           context: dict[str, object] | None = None) -> SelfModel:
        return await self._api("create_model", lambda: self.inner.create_model(
            tenant, user_id, context))

    async def mutate_model(self, tenant: str, user_id: str, fn: Mutation, *,
                           observation_id: str | None = None, observed_at: float | None = None,
                           create: bool = True) -> SelfModel | None:
        return await self._bounded("mutate_model", lambda: self.inner.mutate_model(
            tenant, user_id, fn, observation_id=observation_id, observed_at=observed_at,
            create=create), self._api_budget * MUTATE_FACTOR)

    async def delete_model(self, tenant: str, user_id: str) -> bool:
        return await self._bounded("delete_model", lambda: self.inner.delete_model(
            tenant, user_id), self._erase_budget)

    async def erased_at(self, tenant: str, user_id: str) -> float | None:
        return await self._api("erased_at", lambda: self.inner.erased_at(tenant, user_id))

    async def get_consent(self, tenant: str, user_id: str) -> bool | None:
        return await self._api("get_consent", lambda: self.inner.get_consent(tenant, user_id))

    async def set_consent(self, tenant: str, user_id: str, granted: bool) -> None:
        await self._api("set_consent", lambda: self.inner.set_consent(
            tenant, user_id, granted))

    async def log_observation(self, observation: Observation) -> None:
        await self._api("log_observation", lambda: self.inner.log_observation(observation))

    async def list_observations(self, tenant: str, user_id: str,
                                limit: int = 1000) -> list[Observation]:
        return await self._api("list_observations", lambda: self.inner.list_observations(
            tenant, user_id, limit))

    async def put_decision(self, record: DecisionRecord, ttl_seconds: float) -> None:
        await self._api("put_decision", lambda: self.inner.put_decision(record, ttl_seconds))

    async def get_decision(self, tenant: str, request_id: str) -> DecisionRecord | None:
        return await self._api("get_decision", lambda: self.inner.get_decision(
            tenant, request_id))

    async def enqueue(self, observation: Observation) -> str:
        return await self._api("enqueue", lambda: self.inner.enqueue(observation))

    async def add_outcome(self, tenant: str, user_id: str, name: str, value: float,
                          at: float) -> None:
        await self._api("add_outcome", lambda: self.inner.add_outcome(
            tenant, user_id, name, value, at))

    async def _api(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        return await self._bounded(operation, call, self._api_budget)

    # -- passed through: workers, maintenance, insights, admin ------------------------------
    async def apply_observations(self, tenant: str, user_id: str,
                                 steps: Sequence[Step]) -> BatchApplied:
        return await self.inner.apply_observations(tenant, user_id, steps)

    async def list_models(self, tenant: str, limit: int = 10_000) -> list[SelfModel]:
        return await self.inner.list_models(tenant, limit)

    async def purge_observations(self, older_than: float) -> int:
        return await self.inner.purge_observations(older_than)

    async def list_decisions(self, tenant: str, since: float = 0.0,
                             limit: int = 100_000) -> list[DecisionRecord]:
        return await self.inner.list_decisions(tenant, since, limit)

    # -- the console's reads: bounded like the API's ----------------------------------------
    async def list_users(self, tenant: str, *, search: str = "", limit: int = 50
                         ) -> list[UserRow]:
        return await self._api("list_users",
                               lambda: self.inner.list_users(tenant, search=search, limit=limit))

    async def list_user_decisions(self, tenant: str, user_id: str, limit: int = 50
                                  ) -> list[DecisionRecord]:
        return await self._api("list_user_decisions",
                               lambda: self.inner.list_user_decisions(tenant, user_id, limit))

    async def claim(self, consumer: str, count: int, *, block_ms: int = 0,
                    lease_seconds: float = 30.0) -> list[QueueEntry]:
        return await self.inner.claim(consumer, count, block_ms=block_ms,
                                      lease_seconds=lease_seconds)

    async def ack(self, entry: QueueEntry) -> None:
        await self.inner.ack(entry)

    async def ack_many(self, entries: Sequence[QueueEntry]) -> None:
        await self.inner.ack_many(entries)

    async def fail(self, entry: QueueEntry, error: str, *, max_tries: int) -> bool:
        return await self.inner.fail(entry, error, max_tries=max_tries)

    async def queue_stats(self) -> QueueStats:
        return await self.inner.queue_stats()

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        return await self.inner.dead_letters(limit)

    async def list_outcomes(self, tenant: str, since: float = 0.0
                            ) -> list[tuple[str, str, float, float]]:
        return await self.inner.list_outcomes(tenant, since)

    async def scan_user(self, tenant: str, user_id: str) -> list[str]:
        return await self.inner.scan_user(tenant, user_id)
