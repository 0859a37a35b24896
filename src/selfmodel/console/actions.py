"""What the console and the users' pages change, through the JSON API's own code paths.

Each action validates its input with the API's schemas and checks (``PatchIn``,
``checked_user_id``, the edit-text guard), changes the model with the same pure functions of
``domain.update`` and goes through the store only by its protocol (``mutate_model``,
``set_consent``, ``delete_model``). A rule added to the API's edit path therefore holds
here too. Errors are the API's ``GatewayError``s; pages show their message.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from selfmodel.api import selfmodel_routes as api
from selfmodel.api.schemas import (
    PatchIn,
    decision_json,
    model_json,
    observation_json,
    validated,
)
from selfmodel.api.user_ids import checked_user_id
from selfmodel.config import Tenant
from selfmodel.domain.models import DecisionRecord, SelfModel
from selfmodel.domain.timefmt import iso
from selfmodel.domain.update import delete_belief
from selfmodel.errors import InvalidRequest
from selfmodel.services import Services
from selfmodel.store.base import UserRow

Action = Literal["confirm", "reject", "edit", "forget"]
ACTIONS = ("confirm", "reject", "edit", "forget")
EXPORT_DECISIONS = 10_000


def user_id_of(value: object) -> str:
    """A user id from a form or query, checked by the rule every entry point applies."""
    return checked_user_id(value)


async def users(services: Services, tenant: Tenant, search: str, limit: int) -> list[UserRow]:
    with api.store_failures(services, "list_users"):
        return await services.store.list_users(tenant.name, search=search, limit=limit)


async def model(services: Services, tenant: Tenant, user_id: str) -> SelfModel | None:
    with api.store_failures(services, "get_model"):
        return await services.store.get_model(tenant.name, user_id)


async def user_decisions(services: Services, tenant: Tenant, user_id: str,
                         limit: int) -> list[DecisionRecord]:
    with api.store_failures(services, "list_user_decisions"):
        return await services.store.list_user_decisions(tenant.name, user_id, limit)


async def decision(services: Services, tenant: Tenant, request_id: str) -> DecisionRecord | None:
    with api.store_failures(services, "get_decision"):
        return await services.store.get_decision(tenant.name, request_id)


async def consent(services: Services, tenant: Tenant, user_id: str) -> bool | None:
    with api.store_failures(services, "get_consent"):
        return await services.store.get_consent(tenant.name, user_id)


async def change_belief(services: Services, tenant: Tenant, user_id: str, belief_id: str,
                        action: str, value: str | None = None,
                        statement: str | None = None) -> str:
    """Confirm, reject, edit or forget one belief; returns the id of the belief now holding
    (an edit to a new value makes a new belief)."""
    if action == "forget":
        await api.mutate_belief(services, tenant, user_id, belief_id,
                          lambda current: delete_belief(current, belief_id))
        return belief_id
    if action not in ACTIONS:
        raise InvalidRequest("Unknown action.", param="action")
    data = validated(PatchIn, {"action": action, "value": value or None,
                               "statement": statement or None})
    _, held = await api.apply_belief_change(services, tenant, user_id, belief_id, data)
    return held


async def set_consent(services: Services, tenant: Tenant, user_id: str, granted: bool) -> None:
    with api.store_failures(services, "set_consent"):
        await services.store.set_consent(tenant.name, user_id, granted)


async def erase(services: Services, tenant: Tenant, user_id: str) -> bool:
    """Erase everything about the user (beliefs, observations, decisions, consent)."""
    with api.store_failures(services, "delete_model"):
        return await services.store.delete_model(tenant.name, user_id)


async def export(services: Services, tenant: Tenant, user_id: str) -> dict[str, Any] | None:
    """The user's data in the same shape as ``GET /v1/self-models/{user}/export``; None
    when nothing is stored about them."""
    store, name = services.store, tenant.name
    with api.store_failures(services, "export"):
        current = await store.get_model(name, user_id)
        granted = await store.get_consent(name, user_id)
        observations = await store.list_observations(name, user_id)
        decisions = await store.list_user_decisions(name, user_id, EXPORT_DECISIONS)
        outcomes = [o for o in await store.list_outcomes(name) if o[0] == user_id]
    if current is None and granted is None and not (observations or decisions or outcomes):
        return None
    now = time.time()
    return {
        "object": "self_model.export", "user_id": user_id, "exported_at": iso(now),
        "consent": granted,
        "model": model_json(current, current.beliefs, now) if current else None,
        "stored_model": current.model_dump(mode="json") if current else None,
        "observations": [observation_json(o) for o in observations],
        "decisions": [decision_json(d) for d in reversed(decisions)],
        "outcomes": [{"name": n, "value": v, "at": iso(at)} for _, n, v, at in outcomes],
    }
