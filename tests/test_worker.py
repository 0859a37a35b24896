"""The observation worker on real stores (SQLite file, Redis): delivery, dead letters, order,
graceful stop, maintenance, and the capture of an exchange."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from selfmodel.config import Config, Policy
from selfmodel.domain.models import Extraction, Observation, SelfModel
from selfmodel.metrics import Metrics
from selfmodel.observer.capture import MAX_FIELD_BYTES, build_observation, observation_id
from selfmodel.observer.extractors import GrammarExtractor
from selfmodel.observer.worker import (
    Observing,
    Worker,
    by_user,
    maintain,
    run_workers,
    short_error,
)
from selfmodel.store import open_store
from selfmodel.store.base import QueueEntry, Store

T = "acme"
POLICIES = {T: Policy()}


@pytest.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    url = request.getfixturevalue(f"{request.param}_url")
    s = open_store(url)
    await s.start()
    yield s
    await s.close()


def obs(user: str, content: str, *, at: float | None = None, tenant: str = T) -> Observation:
    return Observation(id="obs_" + uuid.uuid4().hex, tenant=tenant, user_id=user,
                       content=content, at=time.time() if at is None else at)


def worker(store: Store, extractor: Any = None, **kw: Any) -> Worker:
    kw.setdefault("block_ms", 50)
    return Worker(store, extractor or GrammarExtractor(), POLICIES.get, name=kw.pop("name", "w1"),
                  **kw)


async def drain(w: Worker, store: Store, timeout: float = 15.0) -> None:
    """Run the worker until the queue is empty (dead letters aside), then stop it."""
    stop = asyncio.Event()
    task = asyncio.create_task(w.run(stop))
    deadline = time.monotonic() + timeout
    while (await store.queue_stats()).depth and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_observations_enqueued_before_the_worker_starts_are_applied(store: Store) -> None:
    for user, text in [("u1", "I'm vegetarian"), ("u2", "I love jazz"), ("u1", "I live in Oslo")]:
        await store.enqueue(obs(user, text))
    metrics = Metrics()
    await drain(worker(store, metrics=metrics), store)
    u1 = await store.get_model(T, "u1")
    u2 = await store.get_model(T, "u2")
    assert u1 is not None and u2 is not None
    assert {b.key for b in u1.beliefs} == {"diet", "location"}
    assert {b.key for b in u2.beliefs} == {"likes:jazz"}
    stats = await store.queue_stats()
    assert (stats.depth, stats.pending, stats.dead) == (0, 0, 0)
    applied = metrics.registry.get_sample_value("selfmodel_observations_applied_total",
                                                {"outcome": "applied"})
    assert applied == 3


class Poisoned:
    """Raises for one observation id, every time; the grammar extractor for the rest."""

    def __init__(self, poison_id: str) -> None:
        self.poison_id = poison_id
        self.grammar = GrammarExtractor()
        self.tries = 0

    async def extract(self, observation: Observation, model: SelfModel | None) -> Extraction:
        if observation.id == self.poison_id:
            self.tries += 1
            raise RuntimeError("cannot read this one\nsecond line with jo@example.com")
        return await self.grammar.extract(observation, model)


async def test_a_poisoned_entry_goes_to_the_dead_letters_and_the_rest_flow(store: Store) -> None:
    poison = obs("u1", "I love tea")
    await store.enqueue(poison)
    others = [obs(f"u{i}", f"I love board game number {i}") for i in range(2, 12)]
    for o in others:
        await store.enqueue(o)
    extractor = Poisoned(poison.id)
    metrics = Metrics()
    await drain(worker(store, extractor, max_tries=3, batch_size=4, metrics=metrics), store)
    assert extractor.tries == 3
    (dead,) = await store.dead_letters()
    assert dead.observation.id == poison.id
    assert dead.error == "RuntimeError: cannot read this one"
    for i, o in enumerate(others, start=2):
        model = await store.get_model(T, o.user_id)
        assert model is not None
        assert [b.key for b in model.beliefs] == [f"likes:board_game_number_{i}"]
    assert await store.get_model(T, "u1") is None
    stats = await store.queue_stats()
    assert (stats.depth, stats.dead) == (0, 1)
    sample = metrics.registry.get_sample_value
    assert sample("selfmodel_observations_applied_total", {"outcome": "dead"}) == 1
    assert sample("selfmodel_observations_applied_total", {"outcome": "failed"}) == 2


class Recording:
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def extract(self, observation: Observation, model: SelfModel | None) -> Extraction:
        self.seen.append(observation.content)
        return Extraction()


async def test_each_users_entries_are_applied_in_exchange_order(store: Store) -> None:
    now = time.time()
    # Enqueued newest first: the worker must still apply u1's entries oldest first.
    for k in (3, 2, 1):
        await store.enqueue(obs("u1", f"u1-{k}", at=now - 10 + k))
    await store.enqueue(obs("u2", "u2-1", at=now))
    recording = Recording()
    await drain(worker(store, recording, batch_size=10), store)
    u1 = [s for s in recording.seen if s.startswith("u1")]
    assert u1 == ["u1-1", "u1-2", "u1-3"]


def test_by_user_groups_and_orders() -> None:
    def entry(user: str, at: float) -> QueueEntry:
        return QueueEntry(entry_id=f"{user}{at}", observation=obs(user, "x", at=at), tries=1,
                          enqueued_at=0.0)

    groups = by_user([entry("b", 2), entry("a", 3), entry("b", 1), entry("a", 1)])
    assert [[(e.observation.user_id, e.observation.at) for e in g] for g in groups] == [
        [("a", 1), ("a", 3)], [("b", 1), ("b", 2)]]


class Gate:
    """Holds every extraction until released, to stop a worker with a batch in flight."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.count = 0

    async def extract(self, observation: Observation, model: SelfModel | None) -> Extraction:
        self.count += 1
        self.entered.set()
        await self.release.wait()
        return Extraction()


async def test_stop_finishes_the_batch_in_flight_and_leaves_the_rest_queued(store: Store) -> None:
    for i in range(6):
        await store.enqueue(obs(f"u{i}", "hello"))
    gate = Gate()
    stop = asyncio.Event()
    task = asyncio.create_task(worker(store, gate, batch_size=2).run(stop))
    await asyncio.wait_for(gate.entered.wait(), 5)
    stop.set()
    await asyncio.sleep(0.1)
    assert not task.done()  # waiting for the batch in flight
    gate.release.set()
    await asyncio.wait_for(task, 5)
    assert gate.count == 2
    stats = await store.queue_stats()
    assert (stats.depth, stats.pending) == (4, 0)  # acknowledged; the rest left for others


async def test_an_unknown_tenant_is_dropped_not_retried(store: Store) -> None:
    await store.enqueue(obs("u1", "I love tea", tenant="gone"))
    metrics = Metrics()
    await drain(worker(store, metrics=metrics), store)
    assert await store.get_model("gone", "u1") is None
    assert (await store.queue_stats()).depth == 0
    assert metrics.registry.get_sample_value("selfmodel_observations_applied_total",
                                             {"outcome": "unknown_tenant"}) == 1


async def test_a_redelivered_entry_is_applied_once(store: Store) -> None:
    o = obs("u1", "I love tea")
    await store.enqueue(o)
    await store.enqueue(o)  # the same observation twice (a retried capture)
    await drain(worker(store), store)
    model = await store.get_model(T, "u1")
    assert model is not None
    (belief,) = model.beliefs
    assert belief.observations == 1
    assert model.stats.get("exchanges", 1) == 1


async def test_maintenance_sets_gauges_and_purges_old_observations(store: Store) -> None:
    old = obs("u1", "I love tea", at=time.time() - 10 * 86400)
    await store.log_observation(old)
    await store.log_observation(obs("u1", "I love coffee"))
    await store.enqueue(obs("u2", "hi"))
    metrics = Metrics()
    stop = asyncio.Event()
    task = asyncio.create_task(maintain(store, metrics, retention_seconds=86400.0, stop=stop,
                                        stats_every=0.05))
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.wait_for(task, 5)
    remaining = await store.list_observations(T, "u1")
    assert [o.content for o in remaining] == ["I love coffee"]
    assert metrics.registry.get_sample_value("selfmodel_observation_queue_depth") == 1
    assert metrics.registry.get_sample_value("selfmodel_observation_dead_letters") == 0


async def test_run_workers_serves_the_queue_until_stopped(store: Store) -> None:
    config = Config.model_validate({"tenants": [{"name": T}],
                                    "observer": {"batch_size": 4}})
    services = Observing(config, store, Metrics())
    stop = asyncio.Event()
    task = asyncio.create_task(run_workers(services, stop, 3, name="serve"))
    for i in range(20):
        await store.enqueue(obs(f"u{i % 5}", f"I love board game number {i}"))
    deadline = time.monotonic() + 10
    while (await store.queue_stats()).depth and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, 5)
    models = [await store.get_model(T, f"u{i}") for i in range(5)]
    assert sum(len(m.beliefs) for m in models if m) == 20


def test_short_error_is_one_redacted_bounded_line() -> None:
    error = short_error(ValueError("bad value for jo@example.com\n" + "x" * 50))
    assert error == "ValueError: bad value for [email]"
    assert len(short_error(ValueError("y" * 5000))) == 300
    assert short_error(KeyError()) == "KeyError"


def test_capture_is_deterministic_redacted_and_bounded() -> None:
    def capture(**extra: Any) -> Observation:
        fields: dict[str, Any] = dict(
            tenant=T, user_id="u1", request_id="req_1", model="gpt", surface="chat",
            user_turns=["I'm vegan", "mail jo@example.com"], previous_assistant="prev",
            assistant="x" * (3 * MAX_FIELD_BYTES), applied_belief_ids=["b1", "b1", "b2"],
            truncated=True, arm="personalized", tokens=42, at=123.0)
        fields.update(extra)
        return build_observation(**fields)

    first, again = capture(), capture()
    assert first.id == again.id == observation_id(T, "req_1")
    assert capture(tenant="other").id != first.id
    assert first.content == "I'm vegan\n\nmail [email]"
    assert len(first.assistant.encode()) <= MAX_FIELD_BYTES
    assert "[...]" in first.assistant
    assert first.applied_belief_ids == ["b1", "b2"]
    assert (first.source, first.truncated, first.tokens, first.at) == ("gateway", True, 42, 123.0)
    emoji = capture(user_turns="\U0001f600" * 5000)
    assert len(emoji.content.encode()) <= MAX_FIELD_BYTES


async def test_erasure_while_observations_are_in_flight(store: Store) -> None:
    await store.enqueue(obs("u1", "I'm vegetarian"))
    await drain(worker(store), store)
    for i in range(5):
        await store.enqueue(obs("u1", f"I love board game number {i}"))
    w = worker(store)
    entries = await store.claim(w.name, 10, lease_seconds=30)
    assert len(entries) == 5  # in flight
    assert await store.delete_model(T, "u1")
    await w.process(entries)
    assert await store.get_model(T, "u1") is None
    assert await store.list_observations(T, "u1") == []
    assert (await store.queue_stats()).depth == 0


class Slow:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.seen: list[str] = []

    async def extract(self, observation: Observation, model: SelfModel | None) -> Extraction:
        self.seen.append(observation.content)
        await asyncio.sleep(self.seconds)
        return Extraction()


async def test_no_entry_is_started_once_most_of_the_lease_has_passed(store: Store) -> None:
    now = time.time()
    for k in range(4):
        await store.enqueue(obs("u1", f"step{k}", at=now + k))
    slow = Slow(0.5)
    w = worker(store, slow, lease_seconds=1.0, batch_size=10)
    entries = await store.claim(w.name, 10, lease_seconds=w.lease_seconds)
    outcomes = await w.process(entries)
    # Entries start at 0 s and 0.5 s at the earliest; a third could only start after 0.8 s.
    assert outcomes["done"] in (1, 2) and outcomes["done"] + outcomes["deferred"] == 4
    assert (await store.queue_stats()).depth == outcomes["deferred"]
    await drain(w, store)  # its next claims take the deferred entries back, in order
    assert slow.seen == ["step0", "step1", "step2", "step3"]


async def test_a_users_batch_is_one_write_and_each_entry_counts(store: Store) -> None:
    now = time.time()
    texts = ["I'm vegetarian", "What is a monad?", "I live in Oslo", "I love jazz"]
    for k, text in enumerate(texts):
        await store.enqueue(obs("u1", text, at=now + k))
    metrics = Metrics()
    w = worker(store, metrics=metrics, batch_size=10)
    entries = await store.claim(w.name, 10, lease_seconds=w.lease_seconds)
    assert await w.process(entries) == {"done": 4}
    model = await store.get_model(T, "u1")
    assert model is not None and model.version == 1  # one write for the user's four entries
    assert {b.key for b in model.beliefs} == {"diet", "location", "likes:jazz"}
    assert len(await store.list_observations(T, "u1")) == 4
    assert (await store.queue_stats()).depth == 0
    applied = metrics.registry.get_sample_value("selfmodel_observations_applied_total",
                                                {"outcome": "applied"})
    assert applied == 4
    # Redelivered (a worker died before its ack): skipped, counted as duplicates.
    assert await w.process(entries) == {"done": 4}
    again = await store.get_model(T, "u1")
    assert again is not None and again.version == 1
    duplicates = metrics.registry.get_sample_value("selfmodel_observations_applied_total",
                                                   {"outcome": "duplicate"})
    assert duplicates == 4


async def test_an_entry_that_fails_in_a_batch_fails_alone(store: Store) -> None:
    now = time.time()
    sent = [obs("u1", text, at=now + k)
            for k, text in enumerate(["I'm vegetarian", "poison", "I live in Oslo"])]
    for observation in sent:
        await store.enqueue(observation)
    w = worker(store, Poisoned(sent[1].id), batch_size=10, max_tries=1)
    entries = await store.claim(w.name, 10, lease_seconds=w.lease_seconds)
    assert await w.process(entries) == {"done": 2, "dead": 1}
    model = await store.get_model(T, "u1")
    assert model is not None and {b.key for b in model.beliefs} == {"diet", "location"}
    stats = await store.queue_stats()
    assert (stats.depth, stats.dead) == (0, 1)


class Failing:
    """The store, except that one of its methods always raises."""

    def __init__(self, inner: Store, method: str) -> None:
        self.inner = inner
        self.method = method

    def __getattr__(self, name: str) -> Any:
        if name != self.method:
            return getattr(self.inner, name)

        async def fail(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(f"{name} refused")

        return fail


async def test_a_failed_batch_write_falls_back_to_one_by_one(store: Store) -> None:
    now = time.time()
    for k, text in enumerate(["I'm vegetarian", "I live in Oslo"]):
        await store.enqueue(obs("u1", text, at=now + k))
    w = worker(Failing(store, "apply_observations"), batch_size=10)  # type: ignore[arg-type]
    entries = await store.claim(w.name, 10, lease_seconds=w.lease_seconds)
    assert await w.process(entries) == {"done": 2}
    model = await store.get_model(T, "u1")
    assert model is not None and model.version == 2  # written one by one
    assert {b.key for b in model.beliefs} == {"diet", "location"}


async def test_a_pause_after_a_small_batch_gathers_the_next_arrivals(store: Store) -> None:
    w = worker(store, pause_ms=400, batch_size=10)
    stop = asyncio.Event()
    task = asyncio.create_task(w.run(stop))
    try:
        await store.enqueue(obs("u1", "I'm vegetarian"))
        first = await _wait_for_version(store, 1)
        assert first.version == 1  # the first observation after a quiet spell: at once
        for text in ("I live in Oslo", "I love jazz", "What is a monad?"):
            await store.enqueue(obs("u1", text))  # arrive during the pause
        model = await _wait_for_keys(store, {"diet", "location", "likes:jazz"})
        assert model.version == 2  # the three were applied as one batch, in one write
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def _wait_for_version(store: Store, version: int) -> SelfModel:
    for _ in range(250):
        model = await store.get_model(T, "u1")
        if model is not None and model.version >= version:
            return model
        await asyncio.sleep(0.02)
    raise AssertionError("not applied in time")


async def _wait_for_keys(store: Store, keys: set[str]) -> SelfModel:
    for _ in range(250):
        model = await store.get_model(T, "u1")
        if model is not None and {b.key for b in model.beliefs} >= keys:
            return model
        await asyncio.sleep(0.02)
    raise AssertionError("not applied in time")


async def test_a_failed_model_read_fails_the_entries_and_the_worker_goes_on(
    store: Store,
) -> None:
    await store.enqueue(obs("u1", "I'm vegetarian"))
    w = worker(Failing(store, "get_model"), batch_size=10,  # type: ignore[arg-type]
               max_tries=3)
    entries = await store.claim(w.name, 10, lease_seconds=w.lease_seconds)
    assert await w.process(entries) == {"failed": 1}
    assert (await store.queue_stats()).depth == 1  # kept, to be retried
    await drain(worker(store), store)
    model = await store.get_model(T, "u1")
    assert model is not None and {b.key for b in model.beliefs} == {"diet"}
