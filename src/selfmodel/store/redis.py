"""The shared store: one Redis server or a Redis Cluster (``redis+cluster://host:port``).

Every replica of ``serve`` and every ``worker`` can share it. Key layout: _redis_keys.py.
A self-model is one JSON document per user, with its head ("<version>:<updated_at>") beside it
so that the chat path's ``get_profile`` fetches the document only when it changed (one small
Lua script on a single server; an MGET in a cluster). ``get_model`` is a single GET. A mutation is
optimistic: WATCH the model and the applied-ids set, read, apply ``fn``, then MULTI/EXEC the
new document together with the observation id; a concurrent write aborts the EXEC and the
mutation is retried after a short jittered sleep. All keys of that transaction share the
user's hash tag, so it also works in Redis Cluster. Erasure: _redis_erase.py. The chat
path's ``record_exchange`` is one atomic Lua script on a single server (_redis_records.py).

Client defaults (a URL's own ``socket_timeout=`` etc. win): a bounded connect and socket
timeout, so a hung server fails the call instead of hanging the chat path; a blocking claim
never blocks longer than the socket timeout allows.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from functools import wraps
from typing import Any, ParamSpec, TypeVar, cast

from pydantic import ValidationError
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError, ResponseError, WatchError
from redis.typing import EncodableT, KeyT

from selfmodel.domain.models import DecisionRecord, Observation, SelfModel
from selfmodel.recent import Recent
from selfmodel.store import _redis_records as rec
from selfmodel.store import _redis_users as listing
from selfmodel.store._codec import erased_before, fold_steps, next_version
from selfmodel.store._redis_erase import Eraser
from selfmodel.store._redis_keys import Keys, UserKeys, parse_url
from selfmodel.store._redis_queue import StreamQueue
from selfmodel.store.base import (
    BatchApplied,
    ConflictError,
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

MAX_ATTEMPTS = 100  # optimistic retries before ConflictError (50 racing writers need ~50)
BACKOFF_BASE = 0.0005
BACKOFF_CAP = 0.02
PING_TIMEOUT = 2.0
# The last line of defence only: callers' latency budgets (store/guard.py) are far shorter.
# The socket timeout stays above the queue's longest blocking read (_redis_queue.MAX_BLOCK_MS).
CONNECT_TIMEOUT = 2.0
SOCKET_TIMEOUT = 5.0


def _translated(
    method: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """Redis client errors leave the store as StoreError (the API answers 503)."""

    @wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except RedisError as exc:
            raise StoreError(f"Redis store failed: {exc}") from exc
        except ValidationError as exc:
            raise StoreError(f"Redis store holds a record this version cannot read: {exc}"
                             ) from exc

    return wrapper


def _backoff(attempt: int) -> float:
    return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(attempt, 10)))


RECENT_MODELS = 64  # users whose model get_profile keeps by its head
RECENT_DOCUMENTS = 16  # parsed documents kept by their bytes, least recently used dropped
# get_profile on a single server: the model's head and consent, and the document only when the
# head differs from the cached model's (a 50-belief document is tens of KB on every request).
PROFILE_LUA = """
local head = redis.call('GET', KEYS[1])
local consent = redis.call('GET', KEYS[3])
if head and head == ARGV[1] then
  return {head, false, consent}
end
return {head, redis.call('GET', KEYS[2]), consent}
"""


def head_of(model: SelfModel) -> str:
    """What ``UserKeys.head`` holds for ``model``: a write changes both together."""
    return f"{model.version}:{model.updated_at!r}"


def _consent(raw: bytes | str | None) -> bool | None:
    return None if raw is None else raw in (b"1", "1")


def _model(raw: bytes | str | None) -> SelfModel | None:
    return SelfModel.model_validate_json(raw) if raw else None


class RedisStore:
    """The Store protocol on Redis; see selfmodel.store.base for the contract."""

    def __init__(self, url: str) -> None:
        target = parse_url(url)
        self.cluster = target.cluster
        self.keys = Keys(target.prefix)
        # The cluster client speaks the same command API; typing it as Redis keeps the
        # command signatures checked (its pipelines differ only in how they route).
        self._r: Redis = (
            cast(Redis, RedisCluster.from_url(target.url, socket_connect_timeout=CONNECT_TIMEOUT,
                                              socket_timeout=SOCKET_TIMEOUT))
            if target.cluster
            else Redis.from_url(target.url, socket_connect_timeout=CONNECT_TIMEOUT,
                                socket_timeout=SOCKET_TIMEOUT)
        )
        self.queue = StreamQueue(self._r, self.keys, self.cluster)
        self._recent: Recent[bytes | str, SelfModel] = Recent(RECENT_DOCUMENTS)  # raw -> parsed
        self._heads: Recent[tuple[str, str], tuple[bytes, SelfModel]] = Recent(RECENT_MODELS)
        self._profile = self._r.register_script(PROFILE_LUA)
        self._eraser = Eraser(self._r, self.keys, self.queue, self.cluster)
        self._exchange = self._r.register_script(rec.EXCHANGE_LUA)

    # -- lifecycle --------------------------------------------------------------------------
    @_translated
    async def start(self) -> None:
        await self.queue.ensure_group()

    async def close(self) -> None:
        await self._r.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self._r.ping(), PING_TIMEOUT))
        except Exception:  # ping reports, it never raises
            return False

    # -- self-models ------------------------------------------------------------------------
    @_translated
    async def get_model(self, tenant: str, user_id: str) -> SelfModel | None:
        return self._parsed(await self._r.get(self.keys.user(tenant, user_id).model))

    @_translated
    async def create_model(
        self, tenant: str, user_id: str, context: dict[str, object] | None = None
    ) -> SelfModel:
        now = time.time()
        new = SelfModel(tenant=tenant, user_id=user_id, version=1, created_at=now,
                        updated_at=now, context=dict(context or {}))
        name = self.keys.user(tenant, user_id).model
        async with self._r.pipeline(transaction=not self.cluster) as pipe:
            pipe.set(name, new.model_dump_json(), nx=True, get=True)
            if not self.cluster:
                pipe.sadd(self.keys.users(tenant), user_id)
            old = (await pipe.execute())[0]
        if self.cluster and old is None:
            await self._r.sadd(self.keys.users(tenant), user_id)
        return _model(old) or new

    @_translated
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
        uk = self.keys.user(tenant, user_id)
        return await _optimistic(
            lambda: self._mutate_once(uk, tenant, user_id, fn, observation_id, observed_at,
                                      create),
            f"self-model of {user_id!r}")

    async def _mutate_once(self, uk: UserKeys, tenant: str, user_id: str, fn: Mutation,
                           observation_id: str | None, observed_at: float | None,
                           create: bool) -> SelfModel | None:
        async with self._r.pipeline(transaction=True) as pipe:
            await pipe.watch(uk.model, uk.applied)
            if observed_at is not None and erased_before(
                await self._erased_at(tenant, user_id), observed_at
            ):
                return None
            # The applied-id check comes first: the model read after it is at least as new as
            # the write that recorded the id (same transaction), never an older one.
            if observation_id is not None and await applied_among(
                    self._r, pipe, uk, [observation_id]):
                return self._parsed(await pipe.get(uk.model))
            current = self._parsed(await pipe.get(uk.model))
            if current is None and not create:
                return None
            new = next_version(tenant, user_id, current, fn)
            pipe.multi()  # type: ignore[no-untyped-call]
            document = _queue_model_write(pipe, uk, new)
            now = time.time()
            if observation_id is not None:
                pipe.zadd(uk.applied, {observation_id: now})
                if not self.cluster:
                    rec.index_for_purge(pipe, self.keys, tenant, user_id, now)
            if current is None and not self.cluster:
                pipe.sadd(self.keys.users(tenant), user_id)
            await pipe.execute()
        self._keep(document, new)
        if self.cluster and (current is None or observation_id is not None):
            async with self._r.pipeline(transaction=False) as shared:
                if current is None:
                    shared.sadd(self.keys.users(tenant), user_id)
                if observation_id is not None:
                    rec.index_for_purge(shared, self.keys, tenant, user_id, now)
                await shared.execute()
        return new

    @_translated
    async def apply_observations(
        self, tenant: str, user_id: str, steps: Sequence[Step]
    ) -> BatchApplied:
        uk = self.keys.user(tenant, user_id)
        return await _optimistic(lambda: self._apply_once(uk, tenant, user_id, steps),
                                 f"self-model of {user_id!r}")

    async def _apply_once(self, uk: UserKeys, tenant: str, user_id: str,
                          steps: Sequence[Step]) -> BatchApplied:
        """``mutate_model`` for a batch: one WATCH, one read, one MULTI with the new
        document, every applied id and every log entry."""
        ids = list(dict.fromkeys(step.observation.id for step in steps))
        async with self._r.pipeline(transaction=True) as pipe:
            await pipe.watch(uk.model, uk.applied)
            erased = await self._erased_at(tenant, user_id)
            done = await applied_among(self._r, pipe, uk, ids)
            current = self._parsed(await pipe.get(uk.model))
            new, result, logged = fold_steps(tenant, user_id, current, steps, done=done,
                                             erased=erased)
            if new is None:
                return result
            pipe.multi()  # type: ignore[no-untyped-call]
            document = _queue_model_write(pipe, uk, new)
            now = time.time()
            pipe.zadd(uk.applied, dict.fromkeys(result.applied, now))
            for obs in logged:
                rec.add_log_entry(pipe, self.keys, obs, user_part=True,
                                  shared_part=not self.cluster)
            if current is None and not self.cluster:
                pipe.sadd(self.keys.users(tenant), user_id)
            await pipe.execute()
        self._keep(document, new)
        await self._after_cluster_write(tenant, user_id, current, logged)
        return result

    async def _after_cluster_write(self, tenant: str, user_id: str, current: SelfModel | None,
                                   logged: list[Observation]) -> None:
        """In a cluster the tenant's user set and the shared retention index sit in other
        slots than the user's keys, so they are written after the user's transaction."""
        if not self.cluster:
            return
        async with self._r.pipeline(transaction=False) as pipe:
            if current is None:
                pipe.sadd(self.keys.users(tenant), user_id)
            for obs in logged:
                rec.add_log_entry(pipe, self.keys, obs, user_part=False, shared_part=True)
            await pipe.execute()

    @_translated
    async def delete_model(self, tenant: str, user_id: str) -> bool:
        if self.cluster:
            await self._eraser.write_tombstone(tenant, user_id)
        existed = await _optimistic(lambda: self._eraser.erase_keys(tenant, user_id),
                                    f"erasure of {user_id!r}")
        return await self._eraser.erase_shared_logs(tenant, user_id) or existed

    @_translated
    async def list_models(self, tenant: str, limit: int = 10_000) -> list[SelfModel]:
        members: set[Any] = await self._r.smembers(self.keys.users(tenant))
        users = sorted(m.decode() for m in members)[: max(limit, 0)]
        raws = await rec.get_many(self._r, [self.keys.user(tenant, u).model for u in users])
        return [m for m in map(_model, raws) if m is not None]

    @_translated
    async def list_users(self, tenant: str, *, search: str = "", limit: int = 50) -> list[UserRow]:
        return await listing.list_users(self._r, self.keys, tenant, search, limit)

    @_translated
    async def erased_at(self, tenant: str, user_id: str) -> float | None:
        return await self._erased_at(tenant, user_id)

    async def _erased_at(self, tenant: str, user_id: str) -> float | None:
        raw = await self._r.get(self.keys.tombstone(tenant, user_id))
        return float(raw) if raw is not None else None

    @_translated
    async def get_profile(
        self, tenant: str, user_id: str
    ) -> tuple[SelfModel | None, bool | None]:
        keys = self.keys.user(tenant, user_id)  # one hash slot: one call, cluster or not
        if self.cluster:
            raw_model, raw_consent = await self._r.mget([keys.model, keys.consent])
            return self._parsed(raw_model), _consent(raw_consent)
        known = self._heads.get((tenant, user_id))
        head, raw_model, raw_consent = await run_script(
            self._r, self._profile, [keys.head, keys.model, keys.consent],
            [known[0] if known else b""])
        if known is not None and raw_model is None and head == known[0]:
            return known[1], _consent(raw_consent)
        model = self._parsed(raw_model)
        self._remember(tenant, user_id, head, model)
        return model, _consent(raw_consent)

    def _remember(self, tenant: str, user_id: str, head: bytes | None,
                  model: SelfModel | None) -> None:
        """Keep the model by its head for the next get_profile (a model written before heads
        existed has none and is compared by its bytes instead)."""
        if head is None or model is None:
            self._heads.drop((tenant, user_id))
        else:
            self._heads.put((tenant, user_id), (head, model))

    def _parsed(self, raw: bytes | str | None) -> SelfModel | None:
        """The model in ``raw``, parsed only if these exact bytes were not parsed before.

        Parsing a model with 50 beliefs and their evidence costs milliseconds; comparing the
        bytes with the last ones seen costs microseconds. Equal bytes are the same model, so
        this can never serve a stale or erased one. Models are immutable by contract.
        """
        if raw is None:
            return None
        hit = self._recent.get(raw)
        if hit is not None:
            return hit
        model = SelfModel.model_validate_json(raw)
        self._keep(raw, model)
        return model

    def _keep(self, raw: bytes | str, model: SelfModel) -> None:
        """Remember ``model`` as the parse of ``raw``. A write keeps what it wrote, so the
        next read of that version is not parsed again; a few documents suffice (each version
        is read a few times, soon after it was written), and each one is hundreds of KB
        parsed."""
        self._recent.put(raw.encode() if isinstance(raw, str) else raw, model)

    # -- consent ----------------------------------------------------------------------------
    @_translated
    async def get_consent(self, tenant: str, user_id: str) -> bool | None:
        raw = await self._r.get(self.keys.user(tenant, user_id).consent)
        return None if raw is None else raw == b"1"

    @_translated
    async def set_consent(self, tenant: str, user_id: str, granted: bool) -> None:
        await self._r.set(self.keys.user(tenant, user_id).consent, "1" if granted else "0")

    # -- observation log --------------------------------------------------------------------
    @_translated
    async def log_observation(self, observation: Observation) -> None:
        await _optimistic(lambda: self._log_once(observation),
                          f"observation {observation.id!r}")

    async def _log_once(self, obs: Observation) -> None:
        """Log unless the user was erased after the observation; WATCHing the model key makes
        an erasure racing with this write abort it (see _redis_erase.py)."""
        uk = self.keys.user(obs.tenant, obs.user_id)
        async with self._r.pipeline(transaction=True) as pipe:
            await pipe.watch(uk.model)
            if erased_before(await self._erased_at(obs.tenant, obs.user_id), obs.began()):
                return
            pipe.multi()  # type: ignore[no-untyped-call]
            rec.add_log_entry(pipe, self.keys, obs, user_part=True, shared_part=not self.cluster)
            await pipe.execute()
        if self.cluster:
            async with self._r.pipeline(transaction=False) as pipe:
                rec.add_log_entry(pipe, self.keys, obs, user_part=False, shared_part=True)
                await pipe.execute()

    @_translated
    async def list_observations(
        self, tenant: str, user_id: str, limit: int = 1000
    ) -> list[Observation]:
        return await rec.list_observations(self._r, self.keys, tenant, user_id, limit)

    @_translated
    async def purge_observations(self, older_than: float) -> int:
        return await rec.purge_observations(self._r, self.keys, older_than)

    # -- decision records -------------------------------------------------------------------
    @_translated
    async def put_decision(self, record: DecisionRecord, ttl_seconds: float) -> None:
        await self._write_exchange(record, None, ttl_seconds)

    @_translated
    async def get_decision(self, tenant: str, request_id: str) -> DecisionRecord | None:
        return await rec.get_decision(self._r, self.keys, tenant, request_id)

    @_translated
    async def list_decisions(
        self, tenant: str, since: float = 0.0, limit: int = 100_000
    ) -> list[DecisionRecord]:
        return await rec.list_decisions(self._r, self.keys, tenant, since, limit)

    @_translated
    async def list_user_decisions(
        self, tenant: str, user_id: str, limit: int = 50
    ) -> list[DecisionRecord]:
        return await listing.list_user_decisions(self._r, self.keys, tenant, user_id, limit)

    # -- queue ------------------------------------------------------------------------------
    @_translated
    async def enqueue(self, observation: Observation) -> str:
        return await self.queue.enqueue(observation)

    @_translated
    async def record_exchange(
        self, decision: DecisionRecord | None, observation: Observation | None,
        ttl_seconds: float,
    ) -> None:
        if decision is not None or observation is not None:
            await self._write_exchange(decision, observation, ttl_seconds)

    async def _write_exchange(self, decision: DecisionRecord | None,
                              observation: Observation | None, ttl: float) -> None:
        """One atomic script on a single server; in a cluster, the decision then the entry."""
        if not self.cluster:
            keys, args = rec.exchange_args(self.keys, decision, observation, ttl, time.time())
            await run_script(self._r, self._exchange, keys, args)
            return
        if decision is not None and not (decision.user_id is not None and erased_before(
            await self._erased_at(decision.tenant, decision.user_id), decision.at
        )):
            async with self._r.pipeline(transaction=False) as pipe:
                rec.add_decision(pipe, self.keys, decision, ttl, time.time())
                await pipe.execute()
        if observation is not None:
            await self.queue.enqueue(observation)

    @_translated
    async def claim(
        self, consumer: str, count: int, *, block_ms: int = 0, lease_seconds: float = 30.0
    ) -> list[QueueEntry]:
        return await self.queue.claim(consumer, count, block_ms, lease_seconds)

    async def ack(self, entry: QueueEntry) -> None:
        await self.ack_many([entry])

    @_translated
    async def ack_many(self, entries: Sequence[QueueEntry]) -> None:
        if entries:
            await self.queue.ack([entry.entry_id for entry in entries])

    @_translated
    async def fail(self, entry: QueueEntry, error: str, *, max_tries: int) -> bool:
        return await self.queue.fail(entry, error, max_tries)

    @_translated
    async def queue_stats(self) -> QueueStats:
        return await self.queue.stats()

    @_translated
    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        return await self.queue.dead_letters(limit)

    # -- outcomes ---------------------------------------------------------------------------
    @_translated
    async def add_outcome(
        self, tenant: str, user_id: str, name: str, value: float, at: float
    ) -> None:
        await rec.add_outcome(self._r, self.keys, tenant, user_id, name, value, at)

    @_translated
    async def list_outcomes(
        self, tenant: str, since: float = 0.0
    ) -> list[tuple[str, str, float, float]]:
        return await rec.list_outcomes(self._r, self.keys, tenant, since)

    # -- admin ------------------------------------------------------------------------------
    @_translated
    async def scan_user(self, tenant: str, user_id: str) -> list[str]:
        return await self._eraser.scan(tenant, user_id)


def _queue_model_write(pipe: Pipeline, uk: UserKeys, model: SelfModel) -> str:
    """Queue the SETs of a model's document and its head (always together: get_profile
    trusts the head to name the document); returns the document written."""
    document = model.model_dump_json()
    pipe.set(uk.model, document)
    pipe.set(uk.head, head_of(model))
    return document


async def run_script(client: Redis, script: AsyncScript, keys: Sequence[KeyT],
                     args: Sequence[EncodableT]) -> Any:
    """EVALSHA, loading the script if the server does not know it. What ``AsyncScript``
    does when called, without its per-call type checks of the client (a measurable share of
    a chat request's CPU: the chat path runs two scripts per request)."""
    try:
        return await client.evalsha(script.sha, len(keys), *keys, *args)
    except NoScriptError:
        return await script(keys=keys, args=args)


async def applied_among(r: Redis, pipe: Pipeline, uk: UserKeys, ids: list[str]) -> set[str]:
    """Which of ``ids`` were applied to the user's model before (a watched read).

    Applied ids are a sorted set scored by the time they were applied, so the retention
    purge can drop old ones (_redis_records.purge_observations). A store written before
    that kept a plain set: it is converted once, its ids stamped now, and the caller's
    transaction retried (the conversion changed a watched key)."""
    if not ids:
        return set()
    try:
        scores = await pipe.zmscore(uk.applied, ids)
    except ResponseError as exc:
        if "WRONGTYPE" not in str(exc):
            raise
        await rec.upgrade_applied(r, uk)
        raise WatchError("applied ids converted to a sorted set") from exc
    return {i for i, score in zip(ids, scores, strict=True) if score is not None}


async def _optimistic(attempt: Callable[[], Awaitable[T]], what: str) -> T:
    """Run a WATCH/MULTI attempt until no concurrent write aborts it, with jittered backoff."""
    for n in range(MAX_ATTEMPTS):
        try:
            return await attempt()
        except WatchError:
            await asyncio.sleep(_backoff(n))
    raise ConflictError(f"{what} kept changing: gave up after {MAX_ATTEMPTS} attempts")
