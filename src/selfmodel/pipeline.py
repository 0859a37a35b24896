"""The per-request personalization pipeline, shared by every surface (chat, responses, messages).

``prepare`` runs before the provider call: who is the user, may we personalize (opt-out,
consent, experiment arm), which beliefs apply, and what text goes into the system prompt.
``finish`` runs after the answer was delivered: it writes the decision record and enqueues
the observation in one durable step, shielded from cancellation, so nothing accepted is lost.

A store failure never fails the chat: ``prepare`` degrades to an unpersonalized request.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from selfmodel.config import Tenant
from selfmodel.domain.models import DecisionRecord


@dataclass
class Prepared:
    """What ``prepare`` decided for one request."""

    request_id: str
    tenant: Tenant
    user_id: str | None
    surface: str
    model: str
    system_text: str | None = None  # the personalization block to add; None: add nothing
    observe: bool = False  # whether ``finish`` should enqueue an observation
    decision: DecisionRecord | None = None
    arm: str | None = None
    started: float = field(default_factory=time.perf_counter)


def new_request_id() -> str:
    return "req_" + uuid.uuid4().hex


class Pipeline:
    """PLACEHOLDER until the delivery and observation work is wired in: forwards unpersonalized."""

    def __init__(self, services: object) -> None:
        self.services = services

    async def prepare(
        self,
        *,
        tenant: Tenant,
        surface: str,
        model: str,
        user_id: str | None,
        opt_out: bool,
        conversation: str,
        request_id: str | None = None,
    ) -> Prepared:
        """Decide personalization for one request. ``conversation`` is the request's recent
        text (for relevance ranking)."""
        return Prepared(
            request_id=request_id or new_request_id(),
            tenant=tenant,
            user_id=user_id,
            surface=surface,
            model=model,
        )

    async def finish(
        self,
        prepared: Prepared,
        *,
        user_turns: str,
        previous_assistant: str,
        assistant: str,
        truncated: bool = False,
        tokens: int = 0,
    ) -> None:
        """Record the decision and enqueue the observation of a delivered exchange."""
        return None
