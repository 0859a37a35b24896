"""The self-model's types: beliefs, evidence, observations, decision records.

These are plain pydantic models with no I/O. Times are UNIX seconds (float) inside the
domain, because the belief math is arithmetic on them; the HTTP layer renders them as
ISO 8601 strings.

A belief's confidence is *derived*, never stored as truth: the belief keeps the decayed sums
of the evidence for and against it (``support``, ``against`` at ``ref_at``), and
``selfmodel.domain.confidence`` turns those into a number for a given moment. Exponential
decay makes those sums order-independent, so observations applied out of order (two workers,
a redelivery) give the same result.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Kind(StrEnum):
    PREFERENCE = "preference"
    EXPERTISE = "expertise"
    GOAL = "goal"
    CONTEXT = "context"
    TRAIT = "trait"


class BeliefStatus(StrEnum):
    ACTIVE = "active"
    REJECTED = "rejected"  # by the user (PATCH); weaker evidence never revives it
    SUPERSEDED = "superseded"  # replaced by an edit or another value that won


class Source(StrEnum):
    """Where a piece of evidence came from; each has a weight (domain.confidence.WEIGHTS)."""

    USER_CONFIRMED = "user_confirmed"  # PATCH confirm / edit by the user
    USER_REJECTED = "user_rejected"  # PATCH reject
    CORRECTION = "correction"  # "no, too long" after a personalized answer
    EXPLICIT = "explicit"  # "I'm vegetarian" said in chat
    API = "api"  # structured observation posted by the app
    INFERRED = "inferred"  # read between the lines (llm extractor)
    FEEDBACK = "feedback"  # thumbs up/down on an answer that applied the belief
    APPLIED = "applied"  # applied and the user carried on without correcting


class ObservationType(StrEnum):
    PREFERENCE = "preference"
    CORRECTION = "correction"
    INTERACTION = "interaction"
    FEEDBACK = "feedback"


class Evidence(BaseModel):
    """One piece of evidence for (polarity +1) or against (-1) a belief."""

    observation_id: str
    quote: str = ""
    polarity: Literal[1, -1] = 1
    weight: float = 1.0
    source: Source = Source.EXPLICIT
    at: float


class Belief(BaseModel):
    """What the model believes about one user on one slot (``domain``/``key``)."""

    id: str
    kind: Kind = Kind.PREFERENCE
    domain: str = "general"
    key: str
    value: str
    statement: str
    support: float = 0.0  # decayed sum of supporting weights at ref_at
    against: float = 0.0  # decayed sum of opposing weights at ref_at
    exerted: float = 0.0  # decayed sum of what its support counts against rivals, at ref_at
    ref_at: float = 0.0
    observations: int = 0  # every piece of evidence ever counted, kept or not
    evidence: list[Evidence] = Field(default_factory=list)  # the newest MAX_EVIDENCE kept
    first_seen: float = 0.0
    last_seen: float = 0.0
    status: BeliefStatus = BeliefStatus.ACTIVE
    rejected_weight: float = 0.0  # the weight a new claim needs to revive a rejected belief
    context: str | None = None  # e.g. "work"; None applies everywhere
    times_applied: int = 0
    # Answers that applied the belief and that the user carried on from without correcting.
    # Counted here, not kept as evidence items: they carry no quote, and one per exchange
    # would push the user's own words out of the evidence chain (see domain/evidence.py).
    times_accepted: int = 0
    # The statement's meaning as a unit vector (``domain.meaning.encode``: base64 int8),
    # computed when the statement is written, and the embedding model that made it (a
    # vector of another model is recomputed). Kept in the store, never shown by the API.
    vector: str | None = None
    vector_model: str | None = None

    @property
    def slot(self) -> tuple[str, str]:
        return (self.domain, self.key)


class SelfModel(BaseModel):
    """Everything selfmodel believes about one user of one tenant."""

    tenant: str
    user_id: str
    beliefs: list[Belief] = Field(default_factory=list)
    accepted: float = 0.0  # personalized answers carried on from (decayed count)
    corrected: float = 0.0  # personalized answers the user corrected (decayed count)
    outcomes_at: float = 0.0  # the time ``accepted`` and ``corrected`` are expressed at
    version: int = 0  # bumped by every stored change; the optimistic-concurrency token
    created_at: float = 0.0
    updated_at: float = 0.0
    context: dict[str, Any] = Field(default_factory=dict)  # app-supplied, from create
    # Belief ids injected into the last personalized answer the user saw: the next
    # observation's correction (or silent acceptance) is about these.
    last_applied: list[str] = Field(default_factory=list)
    # Experiment name -> arm ("personalized" | "control"), recorded the first time the user is
    # seen, so changing a holdout share never flips users already assigned.
    experiments: dict[str, str] = Field(default_factory=dict)
    # Outcome counters for insights: exchanges, corrections, feedback_up, feedback_down,
    # tokens, follow_ups (an exchange within 30 minutes of the previous one).
    stats: dict[str, float] = Field(default_factory=dict)
    last_exchange_at: float = 0.0

    def belief(self, belief_id: str) -> Belief | None:
        return next((b for b in self.beliefs if b.id == belief_id), None)


class Claim(BaseModel):
    """What an extractor (or the API) says one observation tells about the user."""

    kind: Kind = Kind.PREFERENCE
    domain: str = "general"
    key: str
    value: str
    statement: str
    polarity: Literal[1, -1] = 1
    source: Source = Source.EXPLICIT
    quote: str = ""
    context: str | None = None
    # The statement's vector and its model, set before the update (observer/apply.py), so
    # the pure update can recognize a claim that means what an existing belief means.
    vector: str | None = None
    vector_model: str | None = None


class Extraction(BaseModel):
    """What an extractor read in one observation."""

    claims: list[Claim] = Field(default_factory=list)
    correction: bool = False  # the user corrected the previous (personalized) answer
    # Slots "domain/key" the correction concerns; empty with correction=True: all applied.
    corrected_slots: list[str] = Field(default_factory=list)
    feedback: Literal[1, -1] | None = None  # thumbs up / down on the previous answer
    refused: list[str] = Field(default_factory=list)  # what was not stored, and why


class Observation(BaseModel):
    """One thing seen about a user: an exchange through the gateway or an API call.

    It is what the queue carries. ``id`` is the idempotency key: applying the same id twice
    has the effect of applying it once.
    """

    model_config = ConfigDict(extra="ignore")

    id: str
    tenant: str
    user_id: str
    type: ObservationType = ObservationType.INTERACTION
    content: str = ""  # the user's own words (new user turns joined), already redacted
    context: str | None = None
    at: float  # when the exchange happened (not when it is applied)
    source: Literal["gateway", "api"] = "api"
    # Structured form from the API: apply as given, no extraction needed.
    key: str | None = None
    value: str | None = None
    kind: Kind | None = None
    domain: str | None = None
    evidence: str | None = None
    # Gateway exchanges only.
    assistant: str = ""  # the answer delivered (possibly truncated), already redacted
    model: str | None = None
    request_id: str | None = None
    applied_belief_ids: list[str] = Field(default_factory=list)
    previous_assistant: str = ""  # the answer the user is now reacting to, if any
    truncated: bool = False
    surface: str = "chat"  # chat | responses | messages
    arm: str | None = None  # experiment arm of the request, if any
    experiment: str | None = None  # the experiment that arm belongs to (tenant config)
    tokens: int = 0  # total tokens of the exchange when the provider reported them
    # When the request that produced it began (``at`` is when it ended): an erasure after
    # that moment drops the observation, even though it was stamped after the erasure.
    began_at: float | None = None
    # Made while the store could not be read (so the user's consent was not checked): the
    # worker checks it before applying.
    consent_unchecked: bool = False

    def began(self) -> float:
        """The moment an erasure is compared with: the request's start, or ``at``."""
        return self.at if self.began_at is None else min(self.at, self.began_at)


class AppliedBelief(BaseModel):
    """A belief as it was when injected into one request."""

    id: str
    statement: str
    kind: Kind
    domain: str
    key: str
    value: str
    confidence: float
    evidence_ids: list[str] = Field(default_factory=list)


class DecisionRecord(BaseModel):
    """Why one request was personalized the way it was: the user's right to an explanation."""

    request_id: str
    tenant: str
    user_id: str | None
    at: float
    model: str
    surface: str = "chat"
    personalized: bool
    reason: str = ""  # why not, when not: "no user", "opt-out", "consent", "control arm", ...
    cold_start: bool = False
    arm: str | None = None
    template: str | None = None
    template_version: str | None = None  # sha256 of the template source
    beliefs: list[AppliedBelief] = Field(default_factory=list)
    defaults: list[str] = Field(default_factory=list)
    system_prompt: str | None = None  # exactly the personalization sent, None if not
    # Why the user's other beliefs were not applied (personalize/left_out.py): reason ->
    # how many, and belief id -> reason for the first few that passed the gate.
    left_out: dict[str, int] = Field(default_factory=dict)
    left_out_ids: dict[str, str] = Field(default_factory=dict)
