"""Build the observation of one proxied exchange, ready for the durable queue.

The id is derived from the tenant and request id, so a capture that is retried (a client
retry that reuses the request id, a finally block that runs after a partial write) enqueues
the same observation, which the store applies once. Everything text is redacted before it
leaves this function and bounded in size, so the queue, the observation log and any evidence
quote never hold an e-mail address, a card number or a pasted megabyte.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from selfmodel.domain.models import Observation, ObservationType
from selfmodel.domain.privacy import redact

MAX_FIELD_BYTES = 8 * 1024
_MARK = " [...] "


def observation_id(tenant: str, request_id: str) -> str:
    """Deterministic: the same exchange always yields the same observation id."""
    digest = hashlib.sha256(f"{tenant}\x00{request_id}".encode()).hexdigest()
    return f"obs_{digest[:32]}"


def bound(text: str, limit: int = MAX_FIELD_BYTES) -> str:
    """At most ``limit`` UTF-8 bytes: the head and the tail, with a marker in between (what
    users say about themselves tends to open or close a long message)."""
    data = text.encode()
    if len(data) <= limit:
        return text
    keep = limit - len(_MARK.encode())
    head = data[: keep * 3 // 4].decode(errors="ignore")
    tail = data[len(data) - keep // 4:].decode(errors="ignore")
    return head + _MARK + tail


def clean(text: str, limit: int = MAX_FIELD_BYTES) -> str:
    """Redacted, then bounded (redacting first: a cut never leaves half an e-mail behind)."""
    return bound(redact(text), limit)


def build_observation(
    *,
    tenant: str,
    user_id: str,
    request_id: str,
    model: str | None,
    surface: str,
    user_turns: str | Sequence[str],
    previous_assistant: str,
    assistant: str,
    applied_belief_ids: Sequence[str],
    truncated: bool,
    arm: str | None,
    tokens: int,
    at: float,
) -> Observation:
    """The observation of one exchange: the user's new turn(s), the answer, what was applied."""
    turns = user_turns if isinstance(user_turns, str) else "\n\n".join(t for t in user_turns if t)
    return Observation(
        id=observation_id(tenant, request_id),
        tenant=tenant,
        user_id=user_id,
        type=ObservationType.INTERACTION,
        content=clean(turns),
        at=at,
        source="gateway",
        assistant=clean(assistant),
        model=model,
        request_id=request_id,
        applied_belief_ids=list(dict.fromkeys(applied_belief_ids)),
        previous_assistant=clean(previous_assistant),
        truncated=truncated,
        surface=surface,
        arm=arm,
        tokens=max(0, int(tokens)),
    )
