"""The observation worker: claim a batch, apply each entry, acknowledge it.

Modelled on arq's worker: delivery is at least once and the effect exactly once, because
``apply_observation`` is idempotent by observation id (the id is written in the same store
transaction as the belief change). So the loop never has to be clever about crashes:

- an entry is acknowledged only after it was applied; a worker killed in between leaves it
  leased, and it is delivered again (to the same name at once, to others after the lease);
- a failure is recorded with ``store.fail`` (a short error, no payload); after ``max_tries``
  the store moves the entry to the dead letters and the queue flows on;
- within a batch, each user's entries are applied oldest exchange first, in one store write
  per user (one read, one write, one commit: applying them one by one cost more than
  serving the requests that produced them), users in parallel; the acknowledgements of a
  user's entries go in one call too;
- stopping is bounded and graceful: the batch in flight is finished and acknowledged, nothing
  new is claimed, and queued work stays for the next worker (RELIABILITY 9).

``maintain`` runs beside the workers: it refreshes the queue gauges and purges observations
older than the retention (beliefs keep their aggregate counts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import groupby
from typing import TYPE_CHECKING

from selfmodel.config import Config, Policy
from selfmodel.domain.models import Observation
from selfmodel.domain.privacy import redact
from selfmodel.metrics import Metrics
from selfmodel.observer.apply import (
    apply_observation,
    count_outcome,
    extract_with,
    mutation,
    needs_extractor,
    write_embedder,
)
from selfmodel.observer.extractors import Extractor, build_extractor
from selfmodel.personalize.provider_embedding import ProviderEmbedders
from selfmodel.personalize.semantic import load_embeddings
from selfmodel.store.base import QueueEntry, Step, Store

if TYPE_CHECKING:
    from selfmodel.providers.router import Router

log = logging.getLogger("selfmodel.observer")

PolicyLookup = Callable[[str], Policy | None]
MAX_ERROR = 300
LEASE_USE = 0.8  # start no entry after this share of the lease has passed
_BACKOFF_MIN, _BACKOFF_MAX = 0.2, 5.0
# Extraction runs on the event loop: it yields after this many seconds of work, so requests
# sharing the loop wait at most that long, while a worker under load still gets through a
# batch in a few turns (yielding after every entry starved it, and freshness with it).
YIELD_EVERY = 0.002


def policy_lookup(config: Config) -> PolicyLookup:
    """Tenant name -> its policy; None for a tenant no longer configured."""
    policies = {t.name: t.policy for t in config.effective_tenants()}
    return policies.get


def default_name() -> str:
    """host-pid: unique per process, so a restarted process does not inherit old leases
    under the same name unless asked to (``selfmodel worker --name``)."""
    return f"{socket.gethostname()}-{os.getpid()}"


def short_error(exc: BaseException) -> str:
    """What went wrong, for the dead-letter list: the type and the first line of the message,
    redacted and bounded (never the observation itself)."""
    first = (str(exc).strip().splitlines() or [""])[0]
    text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return redact(text)[:MAX_ERROR]


def by_user(entries: Iterable[QueueEntry]) -> list[list[QueueEntry]]:
    """The batch split per user, each user's entries in exchange order (oldest first)."""

    def user(entry: QueueEntry) -> tuple[str, str]:
        return (entry.observation.tenant, entry.observation.user_id)

    ordered = sorted(entries, key=lambda e: (user(e), e.observation.at, e.enqueued_at))
    return [list(group) for _, group in groupby(ordered, key=user)]


@dataclass(frozen=True, slots=True)
class Observing:
    """What observation workers run on (the gateway's in-process workers, from
    ``Services.observing``, and ``selfmodel worker`` alike). ``router``: only when the llm
    extractor calls a model; ``extractor``: one shared by the workers (None: they build the
    configured one)."""

    config: Config
    store: Store
    metrics: Metrics
    router: Router | None = None
    extractor: Extractor | None = None
    embedders: ProviderEmbedders | None = None


class Worker:
    """One consumer of the observation queue."""

    def __init__(self, store: Store, extractor: Extractor, policies: PolicyLookup, *,
                 metrics: Metrics | None = None, name: str | None = None,
                 batch_size: int = 32, lease_seconds: float = 30.0, max_tries: int = 5,
                 block_ms: int = 500, pause_ms: int = 0,
                 embedders: ProviderEmbedders | None = None) -> None:
        self.store = store
        self.embedders = embedders  # tenants whose vectors come from a provider
        self.extractor = extractor
        self.policies = policies
        self.metrics = metrics
        self.name = name or default_name()
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.max_tries = max_tries
        self.block_ms = block_ms
        self.pause = pause_ms / 1000
        self._backoff = _BACKOFF_MIN

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and apply until ``stop`` is set; the batch in flight is always finished.

        After a batch that was not full the worker pauses ``pause_ms`` before it claims
        again, so that under steady traffic the next batch holds what arrived meanwhile:
        the cost of a claim, a read, a write and an acknowledgement is then shared by many
        observations instead of paid for each. A full batch means a backlog: no pause. The
        first observation after a quiet spell is claimed at once, so freshness suffers at
        most the pause.
        """
        log.info("observation worker %s started", self.name)
        while not stop.is_set():
            entries = await self._claim(stop)
            if entries:
                await self.process(entries)
                if len(entries) < self.batch_size and self.pause > 0:
                    await _sleep_unless(stop, self.pause)
        log.info("observation worker %s stopped", self.name)

    async def _claim(self, stop: asyncio.Event) -> list[QueueEntry]:
        try:
            entries = await self.store.claim(self.name, self.batch_size, block_ms=self.block_ms,
                                             lease_seconds=self.lease_seconds)
        except Exception as exc:  # store down: wait and try again, never die
            log.warning("worker %s cannot claim: %s", self.name, short_error(exc))
            self._count_store_error("claim")
            await _sleep_unless(stop, self._backoff)
            self._backoff = min(_BACKOFF_MAX, self._backoff * 2)
            return []
        self._backoff = _BACKOFF_MIN
        return entries

    async def process(self, entries: list[QueueEntry]) -> dict[str, int]:
        """Apply one claimed batch; returns counts by outcome (for the debug line and tests)."""
        started = time.perf_counter()
        outcomes: dict[str, int] = {}
        groups = by_user(entries)
        deadline = time.monotonic() + self.lease_seconds * LEASE_USE
        results = await asyncio.gather(*(self._apply_user(g, deadline) for g in groups))
        for outcome in (o for result in results for o in result):
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        log.debug("worker %s: batch of %d in %.3fs: %s", self.name, len(entries),
                  time.perf_counter() - started, outcomes)
        return outcomes

    async def _apply_user(self, entries: list[QueueEntry], deadline: float) -> list[str]:
        """One user's entries, in order, in one store write (``Store.apply_observations``).

        Past ``deadline`` the lease may soon pass to another worker, so the group is left
        alone: this worker's next claim takes (and re-leases) its own entries first, and no
        entry is worked on by two workers at once. If the batched write fails, the entries
        are applied one by one, so one entry that cannot be applied fails alone.
        """
        if time.monotonic() > deadline:
            return ["deferred"] * len(entries)
        first = entries[0].observation
        policy = self.policies(first.tenant)
        if policy is None:
            log.warning("dropping %d observation(s) of unknown tenant %r", len(entries),
                        first.tenant)
            for _ in entries:
                self._count("unknown_tenant")
            return await self._ack_all(entries, "unknown_tenant")
        try:
            entries, outcomes = await self._consented(entries, policy)
            ready, extracted = await self._extract_all(entries, policy, deadline)
        except Exception as exc:  # the store could not be read: each entry fails, to retry
            return [await self._fail(entry, exc) for entry in entries]
        outcomes += extracted
        if not ready:
            return outcomes
        try:
            result = await self.store.apply_observations(
                first.tenant, first.user_id, [step for _, step in ready])
        except Exception as exc:
            log.warning("worker %s: batch of %d for one user failed (%s); one by one",
                        self.name, len(ready), short_error(exc))
            return outcomes + [await self._handle(entry, policy) for entry, _ in ready]
        for entry, _ in ready:
            obs = entry.observation
            outcome = ("applied" if obs.id in result.applied
                       else "erased" if obs.id in result.erased else "duplicate")
            count_outcome(self.metrics, obs, outcome)
        return outcomes + await self._ack_all([entry for entry, _ in ready], "done")

    async def _consented(self, entries: list[QueueEntry], policy: Policy
                         ) -> tuple[list[QueueEntry], list[str]]:
        """Entries made while the gateway could not read the user's consent are applied only
        if the consent recorded now allows it; the others are acknowledged and dropped."""
        if not any(e.observation.consent_unchecked for e in entries):
            return entries, []
        first = entries[0].observation
        if policy.consent_allows(await self.store.get_consent(first.tenant, first.user_id)):
            return entries, []
        for _ in (refused := [e for e in entries if e.observation.consent_unchecked]):
            self._count("no_consent")
        kept = [e for e in entries if not e.observation.consent_unchecked]
        return kept, await self._ack_all(refused, "no_consent")

    async def _extract_all(
        self, entries: list[QueueEntry], policy: Policy, deadline: float
    ) -> tuple[list[tuple[QueueEntry, Step]], list[str]]:
        """Each entry's extraction, with the user's model read once for the group; an entry
        whose extraction fails is recorded as failed and left out, and so are the entries
        that would start past ``deadline`` (an llm extractor can be slow): deferred."""
        model = None
        if any(needs_extractor(e.observation) for e in entries):
            first = entries[0].observation
            model = await self.store.get_model(first.tenant, first.user_id)
            await self._ahead([e.observation for e in entries if needs_extractor(e.observation)])
        ready: list[tuple[QueueEntry, Step]] = []
        outcomes: list[str] = []
        ran_since = time.perf_counter()
        for entry in entries:
            obs = entry.observation
            if time.monotonic() > deadline:
                outcomes.append("deferred")
                continue
            try:
                extraction = await extract_with(self.extractor, obs, model)
            except Exception as exc:
                outcomes.append(await self._fail(entry, exc))
                continue
            embedder = await write_embedder(self.embedders, obs.tenant, extraction, model)
            ready.append((entry, Step(obs, mutation(obs, extraction, policy,
                                                    embedder=embedder))))
            if time.perf_counter() - ran_since > YIELD_EVERY:
                await asyncio.sleep(0)  # let requests sharing the loop run
                ran_since = time.perf_counter()
        return ready, outcomes

    async def _ahead(self, observations: list[Observation]) -> None:
        """Let an extractor that can read several observations more cheaply together prepare
        them (the grammar extractor parses them in one batch). Failing here loses only that
        saving: each observation is still extracted, and fails, on its own."""
        ahead = getattr(self.extractor, "ahead", None)
        if ahead is None or len(observations) < 2:
            return
        try:
            await ahead(observations)
        except Exception as exc:
            log.debug("worker %s: batch parse skipped: %s", self.name, short_error(exc))

    async def _ack_all(self, entries: list[QueueEntry], outcome: str) -> list[str]:
        try:
            await self.store.ack_many(entries)
        except Exception as exc:  # applied but not acknowledged: redelivered, then skipped
            log.warning("worker %s cannot ack %d entries: %s", self.name, len(entries),
                        short_error(exc))
            self._count_store_error("ack")
        return [outcome] * len(entries)

    async def _handle(self, entry: QueueEntry, policy: Policy) -> str:
        """One entry on its own: the fallback when a user's batched write failed."""
        try:
            await apply_observation(self.store, self.extractor, entry.observation,
                                    policy=policy, metrics=self.metrics,
                                    embedders=self.embedders)
        except Exception as exc:
            return await self._fail(entry, exc)
        return (await self._ack_all([entry], "done"))[0]

    async def _fail(self, entry: QueueEntry, exc: Exception) -> str:
        error = short_error(exc)
        log.warning("worker %s: observation %s failed (try %d of %d): %s", self.name,
                    entry.observation.id, entry.tries, self.max_tries, error)
        try:
            dead = await self.store.fail(entry, error, max_tries=self.max_tries)
        except Exception as store_exc:
            log.warning("worker %s cannot record a failure: %s", self.name,
                        short_error(store_exc))
            self._count_store_error("fail")
            dead = False
        outcome = "dead" if dead else "failed"
        self._count(outcome)
        return outcome

    def _count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.observations.labels(outcome=outcome).inc()

    def _count_store_error(self, operation: str) -> None:
        if self.metrics is not None:
            self.metrics.store_errors.labels(operation=operation).inc()


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake at once when ``stop`` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def update_queue_gauges(store: Store, metrics: Metrics) -> None:
    stats = await store.queue_stats()
    metrics.queue_depth.set(stats.depth)
    metrics.queue_lag.set(stats.oldest_age)
    metrics.dead_letters.set(stats.dead)


async def maintain(store: Store, metrics: Metrics | None, *, retention_seconds: float,
                   stop: asyncio.Event, stats_every: float = 5.0,
                   purge_every: float = 3600.0) -> None:
    """Queue gauges every ``stats_every`` seconds; the retention purge every ``purge_every``."""
    next_purge = 0.0
    while not stop.is_set():
        try:
            if metrics is not None:
                await update_queue_gauges(store, metrics)
            if time.monotonic() >= next_purge:
                purged = await store.purge_observations(time.time() - retention_seconds)
                next_purge = time.monotonic() + purge_every
                if purged:
                    log.info("purged %d observations older than the retention", purged)
        except Exception as exc:
            log.warning("observer maintenance failed: %s", short_error(exc))
        await _sleep_unless(stop, stats_every)


def build_workers(services: Observing, count: int, *, name: str | None = None,
                  extractor: Extractor | None = None) -> list[Worker]:
    """``count`` workers sharing one extractor (the app's, when it built one), named
    ``<name>-<i>``."""
    config = services.config
    settings = config.observer
    extractor = (extractor or services.extractor
                 or build_extractor(config, services.router, metrics=services.metrics))
    base = name or default_name()
    embedders = services.embedders or ProviderEmbedders(config, services.router,
                                                        services.metrics)
    return [Worker(services.store, extractor, policy_lookup(config), metrics=services.metrics,
                   embedders=embedders or None,
                   name=f"{base}-{i}", batch_size=settings.batch_size,
                   lease_seconds=settings.lease_seconds, max_tries=settings.max_tries,
                   pause_ms=settings.batch_pause_ms)
            for i in range(count)]


async def run_workers(services: Observing, stop: asyncio.Event, count: int, *,
                      name: str | None = None) -> None:
    """``count`` workers and the maintenance task, until ``stop`` (``selfmodel serve`` runs
    this in-process; ``selfmodel worker`` runs it alone)."""
    workers = build_workers(services, count, name=name)
    prepare = getattr(workers[0].extractor, "prepare", None) if workers else None
    if prepare is not None:
        # The grammar extractor's process starts and loads its parser (a second, more on a
        # busy host) before any batch is claimed, so no lease runs out while a batch waits.
        await prepare()
    retention = services.config.observer.observation_retention_days * 86400.0
    # Every written claim gets a vector: load the embedding table before the first claim,
    # off the event loop, instead of stalling the first batch (and its leases) on it.
    await asyncio.to_thread(load_embeddings)
    await asyncio.gather(
        *(worker.run(stop) for worker in workers),
        maintain(services.store, services.metrics, retention_seconds=retention, stop=stop),
    )

