"""The store contract: one suite, run against SQLite, a real Redis server, PostgreSQL and a
Redis Cluster.

Every test takes the ``store`` fixture and asserts only what selfmodel.store.base promises,
so a backend that passes here can be swapped for another. The cluster backend runs the same
tests on a throwaway 3-master cluster (marked slow; skipped only if redis-server lacks it).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import closing, contextmanager
from typing import Any

import pytest

from selfmodel.domain.models import Belief, BeliefStatus, DecisionRecord, Observation, SelfModel
from selfmodel.store import open_store
from selfmodel.store.base import QueueEntry, Step, Store, StoreError
from selfmodel.store.sqlite import SQLiteStore
from tests.store_cluster import RedisClusterProcess, start_cluster
from tests.store_raw import raw_mentions

T = "acme"


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterProcess]:
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


def _backend_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    cluster: RedisClusterProcess = request.getfixturevalue("redis_cluster")
    return cluster.url(prefix=f"t{uuid.uuid4().hex[:10]}:")


BACKENDS = ["sqlite", "redis", "postgres", pytest.param("cluster", marks=pytest.mark.slow)]


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest) -> str:
    return _backend_url(request)


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = open_store(store_url)
    await s.start()
    yield s
    await s.close()


@pytest.fixture
def opened(store_url: str) -> Callable[[], Store]:
    """Open another instance on the same backend (another process, a restarted worker)."""
    return lambda: open_store(store_url)


def obs(user: str = "u1", *, tenant: str = T, at: float | None = None,
        content: str = "I like tea") -> Observation:
    return Observation(id="obs_" + uuid.uuid4().hex, tenant=tenant, user_id=user,
                       content=content, at=time.time() if at is None else at)


def decision(user: str | None = "u1", *, tenant: str = T, at: float | None = None,
             request_id: str | None = None) -> DecisionRecord:
    return DecisionRecord(request_id=request_id or "req_" + uuid.uuid4().hex, tenant=tenant,
                          user_id=user, at=time.time() if at is None else at, model="echo",
                          personalized=True, system_prompt="User prefers tea.")


def add_belief(key: str) -> Callable[[SelfModel], SelfModel]:
    def fn(model: SelfModel) -> SelfModel:
        belief = Belief(id="b_" + key, key=key, value="v", statement=f"likes {key}")
        return model.model_copy(update={"beliefs": [*model.beliefs, belief]})
    return fn


# -- self-models -----------------------------------------------------------------------------

async def test_get_unknown_user_is_none(store: Store) -> None:
    assert await store.get_model(T, "nobody") is None
    assert await store.mutate_model(T, "nobody", add_belief("x"), create=False) is None
    assert await store.get_model(T, "nobody") is None


async def test_create_is_idempotent(store: Store) -> None:
    first = await store.create_model(T, "u1", {"plan": "pro"})
    second = await store.create_model(T, "u1", {"plan": "free"})
    assert first.version == second.version == 1
    assert second.context == {"plan": "pro"} and second.created_at == first.created_at
    assert await store.get_model(T, "u1") == first
    assert [m.user_id for m in await store.list_models(T)] == ["u1"]


async def test_mutate_stamps_version_and_times(store: Store) -> None:
    created = await store.create_model(T, "u1")
    changed = await store.mutate_model(T, "u1", add_belief("tea"))
    assert changed is not None and changed.version == 2
    assert changed.created_at == created.created_at <= changed.updated_at
    assert await store.get_model(T, "u1") == changed


async def test_fifty_concurrent_mutations_lose_nothing(store: Store) -> None:
    keys = [f"k{i}" for i in range(50)]
    await asyncio.gather(*(store.mutate_model(T, "u1", add_belief(k)) for k in keys))
    model = await store.get_model(T, "u1")
    assert model is not None
    assert sorted(b.key for b in model.beliefs) == sorted(keys)
    assert model.version == 50


async def test_same_observation_applies_once(store: Store) -> None:
    calls = 0

    def counted(model: SelfModel) -> SelfModel:
        nonlocal calls
        calls += 1
        return add_belief(f"k{calls}")(model)

    first = await store.mutate_model(T, "u1", counted, observation_id="o1")
    calls_before = calls  # fn may be re-called after a conflict, never after a skip
    again = await store.mutate_model(T, "u1", counted, observation_id="o1")
    assert first is not None and again == first
    assert calls == calls_before
    racing = await asyncio.gather(*(store.mutate_model(T, "u1", counted, observation_id="o2")
                                    for _ in range(5)))
    model = await store.get_model(T, "u1")
    assert model is not None and len(model.beliefs) == 2 and model.version == 2
    assert all(m == model for m in racing)


async def test_a_batch_applies_each_observation_once_in_one_write(store: Store) -> None:
    first, second = obs(), obs()
    before = await store.apply_observations(T, "u1", [Step(first, add_belief("a"))])
    assert before.applied == {first.id} and before.model is not None
    assert before.model.version == 1
    result = await store.apply_observations(T, "u1", [
        Step(first, add_belief("again")),  # applied before: skipped
        Step(second, add_belief("b")),
        Step(second, add_belief("twice")),  # the same id twice in one batch: once
    ])
    assert result.applied == {second.id} and not result.erased
    model = await store.get_model(T, "u1")
    assert model == result.model
    assert model is not None and [b.key for b in model.beliefs] == ["a", "b"]
    assert model.version == 2  # one write for the whole batch
    logged = await store.list_observations(T, "u1")
    assert sorted(o.id for o in logged) == sorted([first.id, second.id])
    nothing = await store.apply_observations(T, "u1", [Step(second, add_belief("c"))])
    assert nothing.applied == frozenset() and nothing.model == model


async def test_a_batch_drops_what_predates_an_erasure(store: Store) -> None:
    old = obs(at=time.time() - 60)
    await store.mutate_model(T, "u1", add_belief("a"))
    await store.delete_model(T, "u1")
    new = obs(at=time.time() + 1)
    result = await store.apply_observations(T, "u1", [Step(old, add_belief("old")),
                                                      Step(new, add_belief("new"))])
    assert result.erased == {old.id} and result.applied == {new.id}
    model = await store.get_model(T, "u1")
    assert model is not None and [b.key for b in model.beliefs] == ["new"]
    assert [o.id for o in await store.list_observations(T, "u1")] == [new.id]
    gone = await store.apply_observations(T, "u2", [])
    assert gone.model is None and not gone.applied


async def test_concurrent_batches_lose_nothing(store: Store) -> None:
    batches = [[Step(obs(), add_belief(f"k{i}-{j}")) for j in range(3)] for i in range(10)]
    await asyncio.gather(*(store.apply_observations(T, "u1", b) for b in batches))
    model = await store.get_model(T, "u1")
    assert model is not None and len(model.beliefs) == 30 and model.version == 10


async def test_tombstone_drops_observations_made_before_erasure(store: Store) -> None:
    before = time.time()
    await store.mutate_model(T, "u1", add_belief("tea"), observation_id="o1", observed_at=before)
    assert await store.delete_model(T, "u1") is True
    erased = await store.erased_at(T, "u1")
    assert erased is not None and erased >= before
    late = await store.mutate_model(T, "u1", add_belief("late"), observation_id="o2",
                                    observed_at=before + 0.000001)
    assert late is None and await store.get_model(T, "u1") is None
    # The applied ids went with the erasure: a new observation of a new session applies.
    fresh = await store.mutate_model(T, "u1", add_belief("new"), observation_id="o1",
                                     observed_at=time.time() + 1)
    assert fresh is not None and [b.key for b in fresh.beliefs] == ["new"]
    assert await store.erased_at(T, "someone-else") is None


# -- erasure ---------------------------------------------------------------------------------

async def _populate(store: Store, user: str, tenant: str = T) -> None:
    """Something of every kind the store keeps about a user."""
    await store.create_model(tenant, user)
    await store.mutate_model(tenant, user, add_belief("tea"), observation_id="o-" + user,
                             observed_at=time.time())
    await store.set_consent(tenant, user, True)
    await store.log_observation(obs(user, tenant=tenant))
    await store.put_decision(decision(user, tenant=tenant), 60)
    await store.add_outcome(tenant, user, "thumbs_up", 1.0, time.time())
    await store.record_exchange(decision(user, tenant=tenant), obs(user, tenant=tenant), 60)


async def test_erasure_leaves_nothing_about_the_user(store: Store, store_url: str) -> None:
    gone = "erin-7f3a"  # distinctive, so a raw scan for it cannot match by accident
    await _populate(store, gone)
    await _populate(store, "u2")
    claimed = await store.claim("w1", 10)  # both users' entries pending
    poison = next(e for e in claimed if e.observation.user_id == gone)
    await store.enqueue(obs(gone))  # one waiting
    assert await store.fail(poison, "boom", max_tries=1) is True  # one dead letter
    before = await store.scan_user(T, gone)
    assert len(before) >= 8, before
    assert raw_mentions(store_url, gone)

    assert await store.delete_model(T, gone) is True

    assert await store.scan_user(T, gone) == []
    assert raw_mentions(store_url, gone) == []  # the tombstone holds only a digest
    assert await store.get_model(T, gone) is None
    assert await store.get_consent(T, gone) is None
    assert await store.list_observations(T, gone) == []
    assert all(d.user_id != gone for d in await store.list_decisions(T))
    assert all(o[0] != gone for o in await store.list_outcomes(T))
    assert all(d.observation.user_id != gone for d in await store.dead_letters())
    assert all(e.observation.user_id != gone
               for e in await store.claim("w2", 10, lease_seconds=0.01))
    # The other user is untouched, and erasing twice finds nothing left.
    assert len(await store.scan_user(T, "u2")) >= 6
    assert await store.get_model(T, "u2") is not None
    assert await store.delete_model(T, gone) is False


async def test_erasure_racing_with_mutations_never_resurrects(store: Store) -> None:
    """An observation made before the erasure, applied while it runs, never survives it:
    whatever the interleaving, it either lands first (and is erased) or sees the tombstone."""
    for i in range(30):
        user, at = f"race{i}", time.time()
        if i % 2:
            await store.create_model(T, user)
        await asyncio.gather(
            *(store.mutate_model(T, user, add_belief(f"k{j}"), observation_id=f"o{j}",
                                 observed_at=at) for j in range(3)),
            store.delete_model(T, user),
        )
        assert await store.get_model(T, user) is None, user
        assert await store.scan_user(T, user) == []


async def test_exchange_in_flight_during_erasure_leaves_nothing(store: Store) -> None:
    """A request that began before the erasure and ends after it: its decision record is
    dropped on write, its observation at apply time."""
    began = time.time()
    await store.mutate_model(T, "u1", add_belief("tea"))
    await store.delete_model(T, "u1")
    late = decision("u1", at=began)
    await store.record_exchange(late, obs("u1", at=began), 60)
    await store.put_decision(decision("u1", at=began), 60)
    assert await store.get_decision(T, late.request_id) is None
    # The writer may drop the observation at once (SQLite and Redis do), or the apply does.
    for entry in await store.claim("w1", 10):
        assert await store.mutate_model(T, "u1", add_belief("x"),
                                        observation_id=entry.observation.id,
                                        observed_at=entry.observation.began()) is None
        await store.ack(entry)
    assert await store.scan_user(T, "u1") == []
    after = decision("u1")  # a new request after the erasure is recorded as usual
    await store.put_decision(after, 60)
    assert await store.get_decision(T, after.request_id) == after


async def test_work_that_began_before_an_erasure_is_dropped_however_late_it_is_stamped(
    store: Store,
) -> None:
    """Issue 20 item 4: a chat's observation is stamped when its answer ends, after an
    erasure that came while it was in flight; the request's start decides."""
    began = time.time()
    await store.mutate_model(T, "u1", add_belief("tea"))
    await store.delete_model(T, "u1")
    late = obs("u1", at=time.time() + 1)
    late.began_at = began
    result = await store.apply_observations(T, "u1", [Step(late, add_belief("x"))])
    assert result.model is None and result.erased == {late.id}
    assert await store.mutate_model(T, "u1", add_belief("x"), observation_id="obs_other",
                                    observed_at=late.began()) is None
    await store.log_observation(late)
    assert await store.get_model(T, "u1") is None
    assert await store.scan_user(T, "u1") == []


async def test_erasure_with_observations_in_flight(store: Store) -> None:
    """RELIABILITY 24: the erased user's in-flight observations do not bring them back."""
    for _ in range(5):
        await store.enqueue(obs("u1", at=time.time()))
    in_flight = await store.claim("w1", 2)
    await store.delete_model(T, "u1")
    for entry in in_flight:
        applied = await store.mutate_model(T, "u1", add_belief("x"),
                                           observation_id=entry.observation.id,
                                           observed_at=entry.observation.at)
        await store.log_observation(entry.observation)
        await store.ack(entry)
        assert applied is None
    assert await store.scan_user(T, "u1") == []
    assert (await store.queue_stats()).depth == 0


# -- consent, observation log, outcomes -----------------------------------------------------

async def test_consent(store: Store) -> None:
    assert await store.get_consent(T, "u1") is None
    await store.set_consent(T, "u1", True)
    assert await store.get_consent(T, "u1") is True
    await store.set_consent(T, "u1", False)
    assert await store.get_consent(T, "u1") is False


async def test_profile_reads_model_and_consent_together(store: Store) -> None:
    assert await store.get_profile(T, "u1") == (None, None)
    await store.create_model(T, "u1")
    await store.set_consent(T, "u1", False)
    model, consent = await store.get_profile(T, "u1")
    assert model is not None and model.user_id == "u1" and consent is False
    assert await store.get_profile("other-tenant", "u1") == (None, None)


async def test_observation_log_is_idempotent_and_purged(store: Store) -> None:
    now = time.time()
    old, new = obs("u1", at=now - 100), obs("u1", at=now)
    for o in (new, old, new):
        await store.log_observation(o)
    assert [o.id for o in await store.list_observations(T, "u1")] == [old.id, new.id]
    assert await store.purge_observations(now - 50) == 1
    assert [o.id for o in await store.list_observations(T, "u1")] == [new.id]
    assert await store.purge_observations(now - 50) == 0


async def test_applied_ids_expire_with_the_retention_purge(store: Store) -> None:
    """The ids applied before the retention bound are forgotten by the purge (the set does
    not grow without bound); ids applied after it are still skipped, on both write paths."""
    old, kept = obs("u1"), obs("u1")
    await store.apply_observations(T, "u1", [Step(old, add_belief("a"))])
    await store.mutate_model(T, "u2", add_belief("a"), observation_id="by-api")
    await asyncio.sleep(0.01)
    bound = time.time()
    await asyncio.sleep(0.01)
    await store.apply_observations(T, "u1", [Step(kept, add_belief("b"))])
    await store.purge_observations(bound)
    again = await store.apply_observations(T, "u1", [Step(old, add_belief("c")),
                                                     Step(kept, add_belief("d"))])
    assert again.applied == {old.id}  # forgotten, so applied again; the newer one skipped
    model = await store.mutate_model(T, "u2", add_belief("b"), observation_id="by-api")
    assert model is not None and [b.key for b in model.beliefs] == ["a", "b"]
    await store.purge_observations(bound)  # nothing newer than the bound goes
    twice = await store.apply_observations(T, "u1", [Step(old, add_belief("e"))])
    assert twice.applied == frozenset()


async def test_outcomes_in_time_order(store: Store) -> None:
    await store.add_outcome(T, "u2", "retained", 1.0, 20.0)
    await store.add_outcome(T, "u1", "thumbs_up", 1.0, 10.0)
    await store.add_outcome(T, "u1", "thumbs_up", 1.0, 10.0)  # a second event, same values
    assert await store.list_outcomes(T) == [
        ("u1", "thumbs_up", 1.0, 10.0), ("u1", "thumbs_up", 1.0, 10.0),
        ("u2", "retained", 1.0, 20.0)]
    assert await store.list_outcomes(T, since=15.0) == [("u2", "retained", 1.0, 20.0)]


# -- decision records ------------------------------------------------------------------------

async def test_decision_expires(store: Store) -> None:
    short, long = decision(), decision()
    await store.put_decision(short, 0.3)
    await store.put_decision(long, 60)
    assert await store.get_decision(T, short.request_id) == short
    await asyncio.sleep(0.45)
    assert await store.get_decision(T, short.request_id) is None
    assert await store.get_decision(T, long.request_id) == long
    assert [d.request_id for d in await store.list_decisions(T)] == [long.request_id]


async def test_list_decisions_since_oldest_first(store: Store) -> None:
    now = time.time()
    for at in (now - 1, now - 3, now - 2):
        await store.put_decision(decision(at=at), 60)
    await store.put_decision(decision(None, at=now - 1.5), 60)  # anonymous requests count
    await store.put_decision(decision(tenant="other", at=now - 1), 60)
    assert [d.at for d in await store.list_decisions(T)] == [now - 3, now - 2, now - 1.5,
                                                             now - 1]
    assert [d.at for d in await store.list_decisions(T, since=now - 2)] == [now - 2,
                                                                            now - 1.5, now - 1]
    assert len(await store.list_decisions(T, limit=2)) == 2


async def test_record_exchange_writes_decision_and_enqueues(store: Store) -> None:
    record, observation = decision(), obs()
    await store.record_exchange(record, observation, 60)
    assert await store.get_decision(T, record.request_id) == record
    [entry] = await store.claim("w1", 10)
    assert entry.observation == observation and entry.tries == 1


async def test_list_user_decisions_newest_first_and_only_that_user(store: Store) -> None:
    now = time.time()
    for at in (now - 3, now - 1, now - 2):
        await store.put_decision(decision("u1", at=at), 60)
    await store.put_decision(decision("u2", at=now), 60)
    await store.put_decision(decision("u1", tenant="other", at=now), 60)
    await store.put_decision(decision("u1", at=now - 0.5), 0.2)  # expires first
    await asyncio.sleep(0.35)
    assert [d.at for d in await store.list_user_decisions(T, "u1")] == [now - 1, now - 2,
                                                                        now - 3]
    assert [d.at for d in await store.list_user_decisions(T, "u1", limit=1)] == [now - 1]
    assert await store.list_user_decisions(T, "nobody") == []
    await store.delete_model(T, "u1")
    assert await store.list_user_decisions(T, "u1") == []


# -- listing users ---------------------------------------------------------------------------

async def test_list_users_most_recent_first_with_active_belief_counts(store: Store) -> None:
    def retire(key: str) -> Callable[[SelfModel], SelfModel]:
        def fn(model: SelfModel) -> SelfModel:
            beliefs = [b.model_copy(update={"status": BeliefStatus.REJECTED}) if b.key == key
                       else b
                       for b in model.beliefs]
            return model.model_copy(update={"beliefs": beliefs})
        return fn

    await store.create_model(T, "quiet")  # created, never changed since
    for user, keys in (("alice", ["a", "b", "c"]), ("bob", ["x"]), ("alina", [])):
        await store.create_model(T, user)
        for key in keys:
            await store.mutate_model(T, user, add_belief(key))
    await store.mutate_model(T, "alice", retire("b"))
    await store.mutate_model("other", "alice-elsewhere", add_belief("z"))
    rows = await store.list_users(T)
    assert [r.user_id for r in rows] == ["alice", "alina", "bob", "quiet"]
    assert {r.user_id: r.beliefs for r in rows} == {"alice": 2, "bob": 1, "alina": 0,
                                                    "quiet": 0}
    assert rows == sorted(rows, key=lambda r: -r.updated_at)
    alice = await store.get_model(T, "alice")
    assert alice is not None and rows[0].updated_at == alice.updated_at
    assert [r.user_id for r in await store.list_users(T, search="li")] == ["alice", "alina"]
    assert [r.user_id for r in await store.list_users(T, search="li", limit=1)] == ["alice"]
    assert await store.list_users(T, search="%") == []  # no wildcard: a literal search
    assert await store.list_users("nobody") == []
    await store.delete_model(T, "alice")
    assert "alice" not in [r.user_id for r in await store.list_users(T)]


# -- tenant isolation ------------------------------------------------------------------------

async def test_tenants_never_see_each_other(store: Store) -> None:
    """RELIABILITY 19: the same user id in tenants A and B are two different people."""
    await store.mutate_model("A", "same", add_belief("a-only"))
    await store.set_consent("A", "same", True)
    await store.log_observation(obs("same", tenant="A"))
    record = decision("same", tenant="A")
    await store.put_decision(record, 60)
    await store.add_outcome("A", "same", "thumbs_up", 1.0, 1.0)

    assert await store.get_model("B", "same") is None
    assert await store.list_models("B") == []
    assert await store.get_consent("B", "same") is None
    assert await store.list_observations("B", "same") == []
    assert await store.get_decision("B", record.request_id) is None
    assert await store.list_decisions("B") == [] and await store.list_outcomes("B") == []
    assert await store.scan_user("B", "same") == []

    await store.mutate_model("B", "same", add_belief("b-only"))
    assert await store.delete_model("B", "same") is True
    model_a = await store.get_model("A", "same")
    assert model_a is not None and [b.key for b in model_a.beliefs] == ["a-only"]
    assert await store.erased_at("A", "same") is None


async def test_ids_with_braces_and_separators_stay_apart(store: Store) -> None:
    """Hash-tag characters in user ids cannot merge two users (or break a cluster slot)."""
    tricky = ["a}{b", "a:b", "{a}", "a%7Db", "a*", "a?[x]"]
    for user in tricky:
        await store.mutate_model(T, user, add_belief(user))
    for user in tricky:
        model = await store.get_model(T, user)
        assert model is not None and [b.key for b in model.beliefs] == [user]
    await store.delete_model(T, "a*")
    assert await store.scan_user(T, "a*") == []
    assert [u for u in tricky if await store.get_model(T, u) is None] == ["a*"]


# -- the queue -------------------------------------------------------------------------------

async def test_entries_enqueued_before_any_consumer_are_delivered(
    opened: Callable[[], Store], store_url: str
) -> None:
    producer = opened()
    if store_url.startswith(("sqlite", "postgresql")):
        await producer.start()  # SQLite needs its schema; Redis: no consumer group yet
    sent = [obs(f"u{i}") for i in range(3)]
    for o in sent:
        await producer.enqueue(o)
    await producer.close()
    worker = opened()
    await worker.start()
    try:
        got = await worker.claim("first-worker", 10)
    finally:
        await worker.close()
    assert [e.observation.id for e in got] == [o.id for o in sent]


async def test_claim_then_ack(store: Store) -> None:
    for i in range(3):
        await store.enqueue(obs(f"u{i}"))
    got = await store.claim("w1", 2)
    assert len(got) == 2 and all(e.tries == 1 for e in got)
    for entry in got:
        await store.ack(entry)
    stats = await store.queue_stats()
    assert (stats.depth, stats.pending) == (1, 0)
    [last] = await store.claim("w1", 10)
    await store.ack(last)
    assert await store.claim("w1", 10) == []
    assert (await store.queue_stats()).depth == 0


async def test_ack_many_in_one_call(store: Store) -> None:
    for i in range(5):
        await store.enqueue(obs(f"u{i}"))
    got = await store.claim("w1", 4)
    await store.ack_many(got)
    await store.ack_many([])
    stats = await store.queue_stats()
    assert (stats.depth, stats.pending) == (1, 0)
    [last] = await store.claim("w1", 10)
    assert last.entry_id not in {e.entry_id for e in got}


async def test_claim_order_follows_enqueue_time(store: Store) -> None:
    sent = [obs("u1", content=f"m{i}") for i in range(6)]
    for o in sent:
        await store.enqueue(o)
    first = await store.claim("w1", 4)
    rest = await store.claim("w2", 4)
    assert [e.observation.content for e in first + rest] == [o.content for o in sent]
    assert [e.enqueued_at for e in first + rest] == sorted(e.enqueued_at for e in first + rest)


async def test_expired_lease_is_reclaimed_by_another_consumer(store: Store) -> None:
    """RELIABILITY 3: a worker that hangs loses its entries to another after the lease."""
    await store.enqueue(obs())
    [held] = await store.claim("hung", 1, lease_seconds=0.2)
    assert await store.claim("w2", 1, lease_seconds=0.2) == []
    await asyncio.sleep(0.35)
    [taken] = await store.claim("w2", 1, lease_seconds=0.2)
    assert taken.entry_id == held.entry_id and taken.tries == 2
    await store.ack(taken)
    assert await store.claim("hung", 1) == []
    assert (await store.queue_stats()).depth == 0


async def test_restarted_consumer_drains_its_own_pending_first(
    store: Store, opened: Callable[[], Store]
) -> None:
    await store.enqueue(obs(content="held"))
    [held] = await store.claim("w1", 1, lease_seconds=60)
    await store.enqueue(obs(content="new"))
    restarted = opened()  # the same worker name after a restart, in a new connection
    await restarted.start()
    try:
        [again] = await restarted.claim("w1", 1, lease_seconds=60)
        [new] = await restarted.claim("w1-other", 1)
    finally:
        await restarted.close()
    assert again.entry_id == held.entry_id and again.observation.content == "held"
    assert again.tries == 2 and new.observation.content == "new"


async def test_poison_entry_goes_to_dead_letters_and_others_flow(store: Store) -> None:
    """RELIABILITY 4: after max_tries the entry is dead-lettered with its last error."""
    poison = obs(content="poison")
    await store.enqueue(poison)
    done: list[str] = []
    dead = False
    for round_ in range(3):
        await store.enqueue(obs(content=f"good{round_}"))
        for entry in await store.claim("w1", 10, lease_seconds=0.05):
            if entry.observation.id == poison.id:
                dead = await store.fail(entry, f"boom {entry.tries}", max_tries=3)
                assert dead is (entry.tries == 3)
            else:
                done.append(entry.observation.content)
                await store.ack(entry)
    assert dead and done == ["good0", "good1", "good2"]
    [letter] = await store.dead_letters()
    assert letter.observation == poison and letter.error == "boom 3" and letter.tries == 3
    stats = await store.queue_stats()
    assert (stats.depth, stats.pending, stats.dead) == (0, 0, 1)


async def test_failed_entry_is_retried_before_max_tries(store: Store) -> None:
    await store.enqueue(obs())
    [entry] = await store.claim("w1", 1, lease_seconds=0.1)
    assert await store.fail(entry, "transient", max_tries=5) is False
    await asyncio.sleep(0.2)
    [again] = await store.claim("w2", 1, lease_seconds=0.1)
    assert again.entry_id == entry.entry_id and again.tries == 2
    assert await store.dead_letters() == []


async def test_queue_stats_numbers(store: Store) -> None:
    empty = await store.queue_stats()
    assert (empty.depth, empty.pending, empty.dead, empty.oldest_age) == (0, 0, 0, 0.0)
    for i in range(3):
        await store.enqueue(obs(f"u{i}"))
    await asyncio.sleep(0.2)
    await store.claim("w1", 1)
    stats = await store.queue_stats()
    assert (stats.depth, stats.pending, stats.dead) == (3, 1, 0)
    assert 0.15 <= stats.oldest_age < 5


async def test_blocking_claim_waits_and_wakes(store: Store, opened: Callable[[], Store]) -> None:
    started = time.monotonic()
    assert await store.claim("w1", 1, block_ms=250) == []
    assert time.monotonic() - started >= 0.2

    producer = opened()
    await producer.start()

    async def produce_later() -> None:
        await asyncio.sleep(0.1)
        await producer.enqueue(obs(content="late"))

    try:
        started = time.monotonic()
        waiting = asyncio.create_task(store.claim("w1", 1, block_ms=3000))
        await produce_later()
        got: list[QueueEntry] = await waiting
        assert [e.observation.content for e in got] == ["late"]
        assert time.monotonic() - started < 1.5
    finally:
        await producer.close()


# -- health ----------------------------------------------------------------------------------

async def test_ping(store: Store) -> None:
    assert await store.ping() is True


@pytest.mark.parametrize("url", ["redis://127.0.0.1:1/0?prefix=x:",
                                 "postgresql://postgres@127.0.0.1:1/postgres",
                                 "sqlite:////nonexistent-dir/x/y.db"])
async def test_unreachable_backend_fails_as_store_error(url: str) -> None:
    store = open_store(url)
    assert await store.ping() is False
    with pytest.raises(StoreError):
        await store.start()
    await store.close()


async def test_in_memory_sqlite_works_for_quick_use() -> None:
    store = open_store("sqlite:///:memory:")
    await store.start()
    try:
        await store.mutate_model(T, "u1", add_belief("tea"))
        await store.record_exchange(decision(), obs(), 60)
        assert (await store.get_model(T, "u1")) is not None
        assert len(await store.claim("w1", 10)) == 1
        assert await store.ping() is True
    finally:
        await store.close()
    assert await store.ping() is False


# -- the parsed-model caches never hide another process's write -------------------------------

@pytest.mark.parametrize("backend", ["sqlite", "redis", "postgres"])
async def test_profile_cache_sees_other_writers_and_erasure(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(f"{backend}_url")
    here, there = open_store(url), open_store(url)  # two processes' stores
    await here.start()
    await there.start()
    try:
        await here.mutate_model(T, "u1", add_belief("a"))
        first, _ = await here.get_profile(T, "u1")
        again, _ = await here.get_profile(T, "u1")
        assert first is not None and again is first  # unchanged: not parsed again
        await there.mutate_model(T, "u1", add_belief("b"))
        seen, _ = await here.get_profile(T, "u1")
        assert seen is not None and [b.key for b in seen.beliefs] == ["a", "b"]
        await there.delete_model(T, "u1")
        assert await here.get_profile(T, "u1") == (None, None)
        await here.mutate_model(T, "u2", add_belief("x"))
        assert (await here.get_profile(T, "u2"))[0] is not None  # cached at version 1
        await there.delete_model(T, "u2")
        await there.mutate_model(T, "u2", add_belief("y"))  # re-created, at version 1 again
        fresh, _ = await here.get_profile(T, "u2")
        assert fresh is not None and [b.key for b in fresh.beliefs] == ["y"]
    finally:
        await here.close()
        await there.close()


# -- SQLite group commit ----------------------------------------------------------------------

# The ``store`` fixture on the SQLite backend only.
SQLITE_ONLY = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


def before_each_group_commit(monkeypatch: pytest.MonkeyPatch,
                             check: Callable[[Any], None]) -> None:
    """Run ``check(exchanges)`` before each SQLite group commit (raising fails the group)."""
    from selfmodel.store import _sqlite_queue

    real = _sqlite_queue.record_exchanges

    def checked(conn: Any, exchanges: Any, purge: bool) -> int:
        check(exchanges)
        return real(conn, exchanges, purge)

    monkeypatch.setattr(_sqlite_queue, "record_exchanges", checked)


async def assert_written(store: Store, records: list[DecisionRecord], *, queued: int) -> None:
    """Every record readable, and ``queued`` entries in the queue."""
    assert (await store.queue_stats()).depth == queued
    for record in records:
        assert await store.get_decision(T, record.request_id) == record


@SQLITE_ONLY
async def test_sqlite_group_commit_writes_concurrent_exchanges_together(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    groups: list[int] = []
    before_each_group_commit(monkeypatch, lambda exchanges: groups.append(len(exchanges)))
    records = [decision() for _ in range(20)]
    await asyncio.gather(*(store.record_exchange(r, obs(), 60) for r in records))
    assert sum(groups) == 20 and max(groups) > 1  # fewer commits than requests
    await assert_written(store, records, queued=20)


@SQLITE_ONLY
async def test_sqlite_a_failed_group_is_written_one_by_one(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = decision(user="bad")

    def picky(exchanges: Any) -> None:
        if any(record is bad for record, _, _ in exchanges):
            raise sqlite3.OperationalError("this record cannot be written")

    before_each_group_commit(monkeypatch, picky)
    good = [decision() for _ in range(5)]
    results = await asyncio.gather(
        *(store.record_exchange(r, obs(), 60) for r in [*good[:2], bad, *good[2:]]),
        return_exceptions=True)
    assert [isinstance(r, StoreError) for r in results] == [False, False, True, False,
                                                            False, False]
    await assert_written(store, good, queued=5)


@SQLITE_ONLY
async def test_sqlite_profile_read_on_the_loop_falls_back_to_the_reader_lane(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """get_profile reads on the event loop; if SQLite asks it to wait, the lane reads."""
    from selfmodel.store import _sqlite_models

    real = _sqlite_models.get_profile
    where: list[str] = []

    def busy_on_the_loop(conn: Any, *args: Any) -> Any:
        where.append(threading.current_thread().name)
        if threading.current_thread() is threading.main_thread():
            raise sqlite3.OperationalError("database is locked")
        return real(conn, *args)

    await store.mutate_model(T, "u1", add_belief("tea"))
    await store.set_consent(T, "u1", True)
    monkeypatch.setattr(_sqlite_models, "get_profile", busy_on_the_loop)
    model, consent = await store.get_profile(T, "u1")
    assert model is not None and [b.key for b in model.beliefs] == ["tea"]
    assert consent is True
    assert where[0] == threading.main_thread().name
    assert where[1].startswith("selfmodel-sqlite-r")


def as_sqlite(store: Store) -> SQLiteStore:
    assert isinstance(store, SQLiteStore)
    return store


@contextmanager
def writer_lane_blocked(store: Store) -> Iterator[None]:
    """Hold the SQLite store's writer thread busy until the block exits."""
    release = threading.Event()
    as_sqlite(store)._writer.executor.submit(release.wait, 30)
    try:
        yield
    finally:
        release.set()


def committed_decisions(store: Store) -> int:
    """Decision records another connection (another process) can read."""
    with closing(sqlite3.connect(as_sqlite(store).path)) as other:
        return int(other.execute("SELECT count(*) FROM decisions").fetchone()[0])


@SQLITE_ONLY
async def test_sqlite_exchange_is_committed_on_the_loop_while_the_writer_thread_is_busy(
    store: Store
) -> None:
    """With the write lock free, a group commit does not wait for the writer thread."""
    await store.record_exchange(decision(), obs(), 60)  # the first one purges, on the lane
    with writer_lane_blocked(store):
        record = decision()
        await asyncio.wait_for(store.record_exchange(record, obs(), 60), 5)
        assert committed_decisions(store) == 2  # durable before it returned
    await assert_written(store, [record], queued=2)


@SQLITE_ONLY
async def test_sqlite_exchange_waits_for_a_lock_another_process_holds(store: Store) -> None:
    """The loop's connection never waits for the lock: the lane does, and writes it."""
    await store.record_exchange(decision(), obs(), 60)
    with closing(sqlite3.connect(as_sqlite(store).path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        record = decision()
        pending = asyncio.ensure_future(store.record_exchange(record, obs(), 60))
        await asyncio.sleep(0.3)
        assert not pending.done()  # neither failed nor written while the lock is held
        other.execute("COMMIT")
        await asyncio.wait_for(pending, 5)
    await assert_written(store, [record], queued=2)


@SQLITE_ONLY
async def test_sqlite_every_nth_exchange_group_goes_to_the_lane_which_checkpoints(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop's connection never checkpoints the WAL; the lane's does, so the lane still
    commits some groups when the lock is always free."""
    from selfmodel.store import sqlite as sqlite_store

    monkeypatch.setattr(sqlite_store, "LANE_EVERY", 4)
    await store.record_exchange(decision(), obs(), 60)  # group 1: purges, on the lane
    with writer_lane_blocked(store):
        for _ in range(2):  # groups 2 and 3: on the loop
            await asyncio.wait_for(store.record_exchange(decision(), obs(), 60), 5)
        fourth = asyncio.ensure_future(store.record_exchange(decision(), obs(), 60))
        await asyncio.sleep(0.2)
        assert not fourth.done()  # waits for the lane
    await asyncio.wait_for(fourth, 5)
    assert committed_decisions(store) == 4
    inline = as_sqlite(store)._inline_writer
    assert inline is not None and inline.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)


async def test_redis_profile_reads_a_model_written_before_heads_existed(redis_url: str) -> None:
    """A document with no head key beside it (an older version wrote it) is still served,
    and a later write gives it a head."""
    import redis.asyncio as aioredis

    from selfmodel.store.redis import RedisStore

    store = open_store(redis_url)
    assert isinstance(store, RedisStore)
    await store.start()
    raw = aioredis.Redis.from_url(redis_url.split("?")[0])
    try:
        legacy = SelfModel(tenant=T, user_id="old", version=3, beliefs=[
            Belief(id="b_tea", key="tea", value="v", statement="likes tea")])
        keys = store.keys.user(T, "old")
        await raw.set(keys.model, legacy.model_dump_json())
        model, consent = await store.get_profile(T, "old")
        assert model == legacy and consent is None
        assert await raw.get(keys.head) is None
        await store.mutate_model(T, "old", add_belief("jazz"))
        model, _ = await store.get_profile(T, "old")
        assert model is not None and [b.key for b in model.beliefs] == ["tea", "jazz"]
        assert (await raw.get(keys.head) or b"").startswith(b"4:")
        again, _ = await store.get_profile(T, "old")
        assert again is model  # served by its head, not parsed again
    finally:
        await raw.aclose()
        await store.close()


async def test_redis_applied_ids_kept_as_a_plain_set_are_converted_and_still_count(
    redis_url: str,
) -> None:
    """A store written before applied ids expired kept them in a plain set: the ids in it
    are still skipped, the set becomes a sorted set stamped at the conversion, and the
    retention purge drops them once they are older than its bound."""
    import redis.asyncio as aioredis

    from selfmodel.store.redis import RedisStore

    store = open_store(redis_url)
    assert isinstance(store, RedisStore)
    await store.start()
    raw = aioredis.Redis.from_url(redis_url.split("?")[0])
    try:
        await store.mutate_model(T, "old", add_belief("tea"))
        keys = store.keys.user(T, "old")
        await raw.sadd(keys.applied, "seen-before")
        before = Observation(id="seen-before", tenant=T, user_id="old", content="hi",
                             at=time.time())
        again = await store.apply_observations(T, "old", [Step(obs("old"), add_belief("x")),
                                                          Step(before, add_belief("twice"))])
        assert "seen-before" not in again.applied and len(again.applied) == 1
        assert await raw.type(keys.applied) == b"zset"
        converted = await raw.zscore(keys.applied, "seen-before")
        assert converted is not None and converted > time.time() - 60
        await store.purge_observations(time.time() + 1)
        assert await raw.zcard(keys.applied) == 0
    finally:
        await raw.aclose()
        await store.close()


def test_sqlite_applied_ids_of_an_older_file_get_a_time_and_are_kept(tmp_path: Any) -> None:
    """A file made before applied ids expired: the ids gain the time the file was opened
    (not 0, which the first purge would take for ancient) and are still skipped."""
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE applied (tenant TEXT NOT NULL, user_id TEXT NOT NULL, "
                     "obs_id TEXT NOT NULL, PRIMARY KEY (tenant, user_id, obs_id)) "
                     "WITHOUT ROWID")
        conn.execute("INSERT INTO applied VALUES (?, 'u1', 'seen-before')", (T,))
        conn.commit()
    opened = time.time()

    async def check() -> None:
        store = open_store(f"sqlite:///{path}")
        await store.start()
        try:
            await store.purge_observations(opened - 60)
            model = await store.mutate_model(T, "u1", add_belief("x"),
                                             observation_id="seen-before")
            assert model is None or model.beliefs == []  # skipped: applied before
        finally:
            await store.close()

    asyncio.run(check())
    with closing(sqlite3.connect(path)) as conn:
        (at,) = conn.execute("SELECT at FROM applied WHERE obs_id = 'seen-before'").fetchone()
    assert at >= opened - 1


async def test_redis_scripts_are_loaded_again_after_a_script_flush(redis_url: str) -> None:
    """A restarted (or flushed) server forgets scripts: the store loads them again."""
    import redis.asyncio as aioredis

    store = open_store(redis_url)
    await store.start()
    raw = aioredis.Redis.from_url(redis_url.split("?")[0])
    try:
        await store.mutate_model(T, "u1", add_belief("tea"))
        await raw.script_flush()
        model, _ = await store.get_profile(T, "u1")
        assert model is not None and [b.key for b in model.beliefs] == ["tea"]
        await raw.script_flush()
        record = decision()
        await store.record_exchange(record, obs(), 60)
        assert await store.get_decision(T, record.request_id) == record
    finally:
        await raw.aclose()
        await store.close()
