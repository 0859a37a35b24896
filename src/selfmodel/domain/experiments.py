"""Holdout experiments: which arm a user is in, stable across processes, replicas and restarts.

A tenant turns on a holdout with ``experiment: {name: holdout, control_share: 0.1}``. Each
user is put in ``control`` (observed, never personalized) or ``personalized`` by a SHA-256
hash of (salt, tenant, experiment name, user id) mapped to a bucket in [0, 1): the same user
lands in the same arm on every replica and after every restart, with no coordination and no
Python ``hash()`` (which is salted per process).

Once a user's first exchange is applied, their arm is recorded in ``SelfModel.experiments``
and that record wins from then on. So:

- raising or lowering ``control_share`` only affects users not yet recorded; nobody assigned
  flips arms mid-experiment (which would mix exposures and bias the measured lift);
- to end a holdout, remove the tenant's ``experiment`` section: every user is personalized;
- to re-randomize on purpose, give the experiment a new ``name``: no user has a recorded arm
  for it, so everyone is assigned afresh (the old name's records stay, for its report).

Changing ``salt`` alone re-randomizes only users not yet recorded; use a new name instead.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the domain imports nothing of ours at run time but domain/
    from selfmodel.config import ExperimentSettings

CONTROL = "control"
PERSONALIZED = "personalized"
ARMS = (PERSONALIZED, CONTROL)

_BUCKET_BYTES = 8  # 64 bits of the digest: far finer than any share anyone configures
_SCALE = float(1 << (8 * _BUCKET_BYTES))


def bucket(tenant: str, experiment: str, user_id: str, salt: str | None = None) -> float:
    """The user's position in [0, 1) for this experiment: uniform, and the same everywhere.

    The parts are JSON-encoded as a list so no choice of ids can make two different
    (tenant, experiment, user) triples hash the same text (``"a/b" + "c"`` vs ``"a" + "b/c"``),
    and ASCII escaping keeps lone surrogates from raising on encode.
    """
    key = json.dumps([salt or "", tenant, experiment, user_id], ensure_ascii=True)
    digest = hashlib.sha256(key.encode("ascii")).digest()
    return int.from_bytes(digest[:_BUCKET_BYTES], "big") / _SCALE


def assign_arm(
    tenant: str,
    user_id: str,
    settings: ExperimentSettings | None,
    recorded: dict[str, str],
) -> str | None:
    """The user's arm for the tenant's experiment, or None when no experiment applies.

    ``recorded`` is the user's ``SelfModel.experiments`` (empty for a new user). A recorded
    arm is returned even if the share has since changed, including to 0: a running
    experiment's assigned users never flip. With no experiment configured, None.
    """
    if settings is None:
        return None
    prior = recorded.get(settings.name)
    if prior in ARMS:
        return prior
    if settings.control_share <= 0.0:
        return None
    position = bucket(tenant, settings.name, user_id, settings.salt)
    return CONTROL if position < settings.control_share else PERSONALIZED


__all__ = ["ARMS", "CONTROL", "PERSONALIZED", "assign_arm", "bucket"]
