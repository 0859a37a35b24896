"""The store and queue interface every backend implements (SQLite, Redis).

One contract, two implementations, one test suite (tests/store_contract.py). Everything is
namespaced by tenant: no method takes a user id without its tenant.

Why these operations:
- ``mutate_model`` is the only way a self-model changes. It reads, calls a pure function,
  and writes back under an optimistic version check (retrying on conflict), so 50 concurrent
  observers on one user lose nothing. With an ``observation_id`` it is idempotent: the id is
  recorded in the same transaction as the change, and an id already applied is skipped, so a
  queue that delivers at least once takes effect exactly once.
- An erasure leaves a tombstone (the time of erasure); an observation made before it is
  dropped at apply time, so in-flight observations cannot bring an erased user back.
- ``record_exchange`` writes the decision record and enqueues the observation in one
  durable step, before the gateway relies on either.
- ``apply_observations`` is ``mutate_model`` plus ``log_observation`` for several
  observations of one user at once: one read, one write and one commit for a worker's whole
  batch of that user, where one per observation made the worker slower than the gateway
  (every exchange through a personalized request is an observation). Each observation is
  still applied at most once, and never when it predates the user's erasure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from selfmodel.domain.models import DecisionRecord, Observation, SelfModel

Mutation = Callable[[SelfModel], SelfModel]


class StoreError(Exception):
    """The backend failed (unreachable, corrupt, timed out). Chat degrades; the API answers 503."""


class ConflictError(StoreError):
    """Optimistic-concurrency retries ran out; callers may retry the whole operation."""


@dataclass(frozen=True)
class QueueEntry:
    """A claimed observation. ``entry_id`` is the backend's handle (stream id, row id)."""

    entry_id: str
    observation: Observation
    tries: int  # deliveries so far, this one included
    enqueued_at: float


@dataclass(frozen=True)
class Step:
    """One observation of a batch and its pure change to the model (see ``Mutation``)."""

    observation: Observation
    fn: Mutation


@dataclass(frozen=True)
class BatchApplied:
    """What ``apply_observations`` did: the model after it (None when the user does not
    exist, e.g. every step predates an erasure), and which observation ids it applied now
    and which it dropped for an erasure; the others had been applied before."""

    model: SelfModel | None
    applied: frozenset[str]
    erased: frozenset[str]


@dataclass(frozen=True)
class DeadLetter:
    entry_id: str
    observation: Observation
    tries: int
    error: str
    at: float


@dataclass(frozen=True)
class QueueStats:
    depth: int  # entries not yet acknowledged (waiting + claimed)
    pending: int  # claimed by a worker, not yet acknowledged
    dead: int  # in the dead-letter list
    oldest_age: float  # seconds since the oldest unacknowledged entry was enqueued (0 if none)


@dataclass
class UserSummary:
    """One user of a tenant, for insights and admin listings."""

    user_id: str
    model: SelfModel | None
    consent: bool | None = None
    extra: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class UserRow:
    """One user in a listing (the console's user search): who, when last changed, how many
    active beliefs. Cheap to list: no model is parsed into domain objects."""

    user_id: str
    updated_at: float  # the model's last change (recent activity)
    beliefs: int  # active beliefs


@runtime_checkable
class Store(Protocol):
    """What the gateway, the API and the workers need from a backend."""

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect, create tables / consumer groups. Idempotent."""

    async def close(self) -> None: ...

    async def ping(self) -> bool:
        """True when the backend answers now (for /readyz); never raises."""

    # -- self-models ----------------------------------------------------------------------
    async def get_model(self, tenant: str, user_id: str) -> SelfModel | None: ...

    async def create_model(
        self, tenant: str, user_id: str, context: dict[str, object] | None = None
    ) -> SelfModel:
        """Create if absent (idempotent); return the stored model either way."""

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
        """Apply ``fn`` to the stored model under an optimistic version check.

        ``fn`` must be pure (it may be called again after a conflict). The store bumps
        ``version`` and sets ``updated_at``; ``fn`` need not. Returns the new model; the
        unchanged model if ``observation_id`` was applied before; None if the user does not
        exist and ``create`` is False, or if ``observed_at`` predates the user's erasure.
        """

    async def apply_observations(
        self, tenant: str, user_id: str, steps: Sequence[Step]
    ) -> BatchApplied:
        """Apply each step's ``fn`` in order, in one transaction, to one user's model (created
        if absent), skipping steps whose observation id was applied before (or repeats in
        ``steps``) and steps observed at or before the user's erasure; record the ids and
        log the applied observations in the same write."""

    async def delete_model(self, tenant: str, user_id: str) -> bool:
        """Erase everything about the user: model, applied ids, observation log, decision
        records, consent, queued entries where the backend can find them; leave a tombstone.
        True if anything existed."""

    async def list_models(self, tenant: str, limit: int = 10_000) -> list[SelfModel]: ...

    async def list_users(self, tenant: str, *, search: str = "", limit: int = 50) -> list[UserRow]:
        """The tenant's users whose id contains ``search`` (case-sensitive; "" for all),
        most recently changed first, at most ``limit``."""

    async def erased_at(self, tenant: str, user_id: str) -> float | None:
        """The time of the user's last erasure, if any."""

    async def get_profile(self, tenant: str, user_id: str) -> tuple[SelfModel | None, bool | None]:
        """The model and the consent record in one round trip: what every personalized
        request needs (a withdrawn consent stops personalization under any policy)."""

    # -- consent --------------------------------------------------------------------------
    async def get_consent(self, tenant: str, user_id: str) -> bool | None: ...

    async def set_consent(self, tenant: str, user_id: str, granted: bool) -> None: ...

    # -- observation log (for export and retention) ---------------------------------------
    async def log_observation(self, observation: Observation) -> None:
        """Keep the (redacted) observation for export; idempotent by id."""

    async def list_observations(
        self, tenant: str, user_id: str, limit: int = 1000
    ) -> list[Observation]: ...

    async def purge_observations(self, older_than: float) -> int:
        """Delete logged observations made before ``older_than``; return how many."""

    # -- decision records -----------------------------------------------------------------
    async def put_decision(self, record: DecisionRecord, ttl_seconds: float) -> None: ...

    async def get_decision(self, tenant: str, request_id: str) -> DecisionRecord | None: ...

    async def list_decisions(
        self, tenant: str, since: float = 0.0, limit: int = 100_000
    ) -> list[DecisionRecord]:
        """For insights: a tenant's unexpired decision records, oldest first."""

    async def list_user_decisions(
        self, tenant: str, user_id: str, limit: int = 50
    ) -> list[DecisionRecord]:
        """One user's unexpired decision records, newest first (what was personalized for
        them lately, without reading the whole tenant's records)."""

    # -- the observation queue --------------------------------------------------------------
    async def enqueue(self, observation: Observation) -> str:
        """Durably enqueue; return the entry id."""

    async def record_exchange(
        self, decision: DecisionRecord | None, observation: Observation | None, ttl_seconds: float
    ) -> None:
        """Write a decision record and enqueue an observation as one durable step."""

    async def claim(
        self, consumer: str, count: int, *, block_ms: int = 0, lease_seconds: float = 30.0
    ) -> list[QueueEntry]:
        """Claim up to ``count`` entries for ``consumer``: first its own unacknowledged ones
        (a restarted worker drains its pending entries), then entries whose lease expired
        (another worker died), then new ones. Blocks up to ``block_ms`` when there are none."""

    async def ack(self, entry: QueueEntry) -> None: ...

    async def ack_many(self, entries: Sequence[QueueEntry]) -> None:
        """Acknowledge several entries in one round trip / commit."""

    async def fail(self, entry: QueueEntry, error: str, *, max_tries: int) -> bool:
        """Record a failed try; after ``max_tries`` move it to the dead-letter list with
        ``error`` and return True. Otherwise it is delivered again after its lease."""

    async def queue_stats(self) -> QueueStats: ...

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]: ...

    # -- outcomes (proof of value) --------------------------------------------------------
    async def add_outcome(
        self, tenant: str, user_id: str, name: str, value: float, at: float
    ) -> None: ...

    async def list_outcomes(
        self, tenant: str, since: float = 0.0
    ) -> list[tuple[str, str, float, float]]:
        """(user_id, name, value, at) for a tenant, oldest first."""

    # -- admin ----------------------------------------------------------------------------
    async def scan_user(self, tenant: str, user_id: str) -> list[str]:
        """Every raw key/row that mentions the user (for erasure tests); empty after delete."""
