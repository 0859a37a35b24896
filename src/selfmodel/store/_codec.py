"""Encodings both store backends share, so they agree on what is written and erased.

- The erasure tombstone is keyed by ``user_digest`` (a SHA-256 of tenant and user id), never
  by the raw user id: after an erasure the store keeps only the tenant, that digest and the
  time of erasure. It is pseudonymous, not anonymous (whoever knows the id can recompute it),
  which is exactly what it is for: an in-flight observation of that id must be recognized.
- Dead letters are self-describing JSON documents (the Redis backend keeps them in a list);
  the observation inside is kept as the JSON text the queue carried, so nothing is parsed twice.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Collection, Sequence
from typing import Any, NamedTuple

from selfmodel.domain.models import Observation, SelfModel
from selfmodel.store.base import BatchApplied, DeadLetter, Mutation, Step

_TAG_ESCAPES = str.maketrans({"%": "%25", "{": "%7B", "}": "%7D"})


def user_digest(tenant: str, user_id: str) -> str:
    """The tombstone's key for a user: no raw user id is kept after an erasure."""
    return hashlib.sha256(f"{tenant}\x00{user_id}".encode()).hexdigest()


def escape_tag(value: str) -> str:
    """Percent-encode ``%``, ``{`` and ``}`` so an id cannot open or close a hash tag."""
    return value.translate(_TAG_ESCAPES)


def erased_before(erased_at: float | None, observed_at: float | None) -> bool:
    """True when an observation made at ``observed_at`` is covered by the erasure.

    An observation made at the very instant of the erasure is dropped too: erring towards
    forgetting is the safe side of a tie.
    """
    return erased_at is not None and observed_at is not None and observed_at <= erased_at


def dead_letter_doc(entry_id: str, payload: str, tenant: str, user_id: str, tries: int,
                    error: str) -> str:
    """A dead letter as one JSON document (tenant and user on top, for erasure scans)."""
    return json.dumps({
        "entry_id": entry_id, "tenant": tenant, "user_id": user_id, "payload": payload,
        "tries": tries, "error": error, "at": time.time(),
    })


def parse_dead_letter(raw: str | bytes) -> DeadLetter:
    doc: dict[str, Any] = json.loads(raw)
    return DeadLetter(
        entry_id=doc["entry_id"],
        observation=Observation.model_validate_json(doc["payload"]),
        tries=int(doc["tries"]),
        error=doc["error"],
        at=float(doc["at"]),
    )


def dead_letter_owner(raw: str | bytes) -> tuple[str, str]:
    """(tenant, user_id) of an encoded dead letter, without parsing the observation."""
    doc: dict[str, Any] = json.loads(raw)
    return doc["tenant"], doc["user_id"]


def next_version(
    tenant: str, user_id: str, current: SelfModel | None, fn: Mutation
) -> SelfModel:
    """``fn`` applied to the stored model (or a blank one), stamped by the store.

    The store owns identity, version and timestamps, so ``fn`` cannot move a model to another
    user or forget to bump the version.
    """
    now = time.time()
    base = current or SelfModel(tenant=tenant, user_id=user_id, created_at=now, updated_at=now)
    return fn(base).model_copy(update={
        "tenant": tenant, "user_id": user_id, "version": base.version + 1,
        "created_at": base.created_at, "updated_at": now,
    })


class Folded(NamedTuple):
    """What ``fold_steps`` made of a batch."""

    new: SelfModel | None  # the model to write; None when no step applies
    result: BatchApplied
    logged: list[Observation]  # the observations applied now, once each, in batch order


def fold_steps(
    tenant: str,
    user_id: str,
    current: SelfModel | None,
    steps: Sequence[Step],
    *,
    done: Collection[str],
    erased: float | None,
) -> Folded:
    """The batch's steps applied in order to ``current``, as one new version; ``done`` holds
    the ids applied before. Both backends call it inside their transaction and write what it
    returns, so they agree on the rules (and on what goes into the observation log)."""
    seen = set(done)
    fns: list[Mutation] = []
    logged: list[Observation] = []
    dropped: set[str] = set()
    for step in steps:
        obs = step.observation
        if erased_before(erased, obs.began()):
            dropped.add(obs.id)
        elif obs.id not in seen:
            seen.add(obs.id)
            logged.append(obs)
            fns.append(step.fn)
    if not fns:
        return Folded(None, BatchApplied(current, frozenset(), frozenset(dropped)), [])

    def all_steps(model: SelfModel) -> SelfModel:
        for fn in fns:
            model = fn(model)
        return model

    new = next_version(tenant, user_id, current, all_steps)
    applied = frozenset(obs.id for obs in logged)
    return Folded(new, BatchApplied(new, applied, frozenset(dropped)), logged)
