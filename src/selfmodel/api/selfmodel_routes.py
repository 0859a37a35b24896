"""The self-model API: create, observe, query; correct, export, erase; consent; decisions.

Every route authenticates first (``directory.authenticate``) and then works only inside the
caller's tenant: a user id of another tenant is simply not found (404), never an error that
would tell the caller the user exists elsewhere. Store failures answer 503 (the API, unlike
chat, cannot degrade). DESIGN.md section 5 is the contract.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from selfmodel.api.bodies import parse_object, read_body
from selfmodel.api.schemas import (
    ConsentIn,
    CreateIn,
    ObservationIn,
    PatchIn,
    belief_json,
    check_id,
    decision_json,
    model_json,
    observation_json,
    validated,
)
from selfmodel.api.user_ids import checked_user_id, path_user_id
from selfmodel.config import Policy, Tenant
from selfmodel.domain.confidence import confidence
from selfmodel.domain.models import Belief, BeliefStatus, Observation, SelfModel
from selfmodel.domain.privacy import redact
from selfmodel.domain.timefmt import iso
from selfmodel.domain.update import (
    BeliefNotFound,
    RefusedText,
    check_text,
    confirm_belief,
    delete_belief,
    edit_belief,
    reject_belief,
)
from selfmodel.errors import InvalidRequest, NotFound, PermissionDenied, StoreUnavailable
from selfmodel.observer.apply import apply_observation_detailed, is_structured, needs_extractor
from selfmodel.personalize.semantic import Embedder, with_vectors
from selfmodel.services import Services
from selfmodel.store.base import Mutation, StoreError

log = logging.getLogger("selfmodel.api.selfmodel")
router = APIRouter()

MAX_BODY = 128 * 1024
PREFIX = "/v1/self-models"


# -- plumbing (store_failures, mutate_belief and check_edit_text serve the console too) --

def _caller(request: Request) -> tuple[Services, Tenant]:
    """The app's services and the caller's tenant; 401 before anything else is looked at."""
    services: Services = request.app.state.services
    return services, services.directory.authenticate(request.headers)


@contextmanager
def store_failures(services: Services, operation: str) -> Iterator[None]:
    """Store failures become 503 with a message a person can act on (the API's routes and
    the console's actions alike)."""
    try:
        yield
    except (StoreError, OSError) as exc:
        services.metrics.store_errors.labels(operation=operation).inc()
        log.warning("store failure in %s: %s", operation, exc)
        raise StoreUnavailable("The self-model store is unavailable right now; nothing was "
                               "lost on our side. Try again shortly.") from exc


async def _body(request: Request) -> dict[str, Any]:
    return parse_object(await read_body(request, MAX_BODY))


def _unknown_user(user_id: str) -> NotFound:
    return NotFound(f"No self-model for user {user_id!r}. Create it first with "
                    f"POST {PREFIX}.", param="user_id")


async def _model(services: Services, tenant: Tenant, user_id: str) -> SelfModel:
    with store_failures(services, "get_model"):
        model = await services.store.get_model(tenant.name, user_id)
    if model is None:
        raise _unknown_user(user_id)
    return model


# -- create, query ---------------------------------------------------------------------------

@router.post(PREFIX)
async def create_self_model(request: Request) -> JSONResponse:
    """Idempotent create: 201 the first time, 200 with the existing model after."""
    services, tenant = _caller(request)
    data = validated(CreateIn, await _body(request))
    user_id = checked_user_id(data.user_id)
    with store_failures(services, "create_model"):
        existing = await services.store.get_model(tenant.name, user_id)
        model = existing or await services.store.create_model(
            tenant.name, user_id, data.context_dict())
    now = time.time()
    return JSONResponse(model_json(model, _visible(model, now), now),
                        status_code=200 if existing else 201)


@router.get(PREFIX + "/{user_id}")
async def get_self_model(user_id: str, request: Request) -> JSONResponse:
    """The model; ``?context=``, ``?min_confidence=``, ``?include=rejected`` filter beliefs."""
    services, tenant = _caller(request)
    user_id = path_user_id(user_id)
    model = await _model(services, tenant, user_id)
    now = time.time()
    query = request.query_params
    beliefs = _visible(model, now, context=query.get("context"),
                       min_confidence=_min_confidence(query.get("min_confidence")),
                       include=query.get("include", ""))
    return JSONResponse(model_json(model, beliefs, now))


def _min_confidence(raw: str | None) -> float:
    if raw is None:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise InvalidRequest("Invalid value for 'min_confidence': expected a number from 0 "
                             "to 1.", param="min_confidence")
    return value


def _visible(model: SelfModel, now: float, *, context: str | None = None,
             min_confidence: float = 0.0, include: str = "") -> list[Belief]:
    """Active beliefs (all statuses with ``include=rejected`` or ``all``) that apply in
    ``context`` (beliefs without a context apply everywhere) at ``min_confidence`` or more."""
    wanted = {part.strip() for part in include.split(",")}
    every = bool(wanted & {"rejected", "superseded", "all"})
    return [b for b in model.beliefs
            if (every or b.status == BeliefStatus.ACTIVE)
            and (context is None or b.context in (None, context))
            and confidence(b, now) >= min_confidence]


# -- observe --------------------------------------------------------------------------------

@router.post(PREFIX + "/{user_id}/observations")
async def post_observation(user_id: str, request: Request) -> JSONResponse:
    """Queue an observation durably (202); with ``?wait=true`` also apply it now (200)."""
    began = time.time()  # an erasure from now on drops this observation (issue 20, item 4)
    services, tenant = _caller(request)
    user_id = path_user_id(user_id)
    data = validated(ObservationIn, await _body(request))
    data.check_pair()
    wait = _flag(request.query_params.get("wait"), "wait")
    await _model(services, tenant, user_id)
    await _require_consent(services, tenant, user_id)
    observation = _observation(tenant, user_id, data)
    if is_structured(observation):
        _check_structured_text(observation, tenant.policy)
    observation.began_at = began
    with store_failures(services, "enqueue"):
        await services.store.enqueue(observation)
    extractor = services.extractor
    if wait and (extractor is not None or not needs_extractor(observation)):
        applied = await _apply_now(services, tenant, observation, extractor)
        if applied is not None:
            return JSONResponse(applied)
    return JSONResponse({"object": "observation", "id": observation.id, "status": "queued"},
                        status_code=202)


def _check_structured_text(observation: Observation, policy: Policy) -> None:
    """A structured observation's text is belief text as it stands: the guard that would
    refuse its claim at apply time answers 400 now, so the app learns it was not stored.
    (Free text is the extractor's to read; what it draws from it is guarded when applied.)"""
    fields = {"key": observation.key, "value": observation.value,
              "domain": observation.domain, "context": observation.context,
              "evidence": observation.evidence}
    if observation.evidence is None:
        fields["content"] = observation.content
    for field, text in fields.items():
        if text:
            _refuse_field(field, text, policy)


def _refuse_field(field: str, text: str, policy: Policy) -> None:
    try:
        check_text(text, policy.never_store)
    except RefusedText as exc:
        raise InvalidRequest(f"Invalid value for '{field}': {exc}; it was not stored.",
                             param=field, code="refused") from None


def _flag(raw: str | None, name: str) -> bool:
    if raw is None or raw.lower() in ("", "0", "false", "no"):
        return False
    if raw.lower() in ("1", "true", "yes"):
        return True
    raise InvalidRequest(f"Invalid value for '{name}': expected true or false.", param=name)


async def _require_consent(services: Services, tenant: Tenant, user_id: str) -> None:
    with store_failures(services, "get_consent"):
        consent = await services.store.get_consent(tenant.name, user_id)
    if not tenant.policy.consent_allows(consent):
        raise PermissionDenied(
            f"User {user_id!r} has not consented to being observed. Record their opt-in "
            f"with PUT {PREFIX}/{{user_id}}/consent {{\"granted\": true}} first.",
            code="consent_required")


def _observation(tenant: Tenant, user_id: str, data: ObservationIn) -> Observation:
    """The queued form: PII redacted before anything is stored."""
    return Observation(
        id="obs_" + uuid.uuid4().hex, tenant=tenant.name, user_id=user_id, type=data.type,
        content=redact(data.content), context=data.context, at=time.time(), source="api",
        key=data.key, value=data.value, kind=data.kind, domain=data.domain,
        evidence=redact(data.evidence) if data.evidence else None,
    )


async def _apply_now(services: Services, tenant: Tenant, observation: Observation,
                     extractor: Any) -> dict[str, Any] | None:
    """Apply inline; None when it could not be (the queued copy will be applied later)."""
    try:
        result = await apply_observation_detailed(
            services.store, extractor, observation, policy=tenant.policy,
            metrics=services.metrics, embedders=services.embedders)
    except Exception:  # the observation is durably queued: the worker retries it
        log.exception("inline apply of %s failed; left to the workers", observation.id)
        return None
    if result.model is None:
        raise _unknown_user(observation.user_id)
    now = time.time()
    return {"object": "observation", "id": observation.id, "status": "applied",
            "refused": result.refused,
            "model": model_json(result.model, _visible(result.model, now), now)}


# -- correct ----------------------------------------------------------------------------------

@router.patch(PREFIX + "/{user_id}/beliefs/{belief_id}")
async def patch_belief(user_id: str, belief_id: str, request: Request) -> JSONResponse:
    """The user confirms, rejects or edits one belief; answers with the belief now holding."""
    services, tenant = _caller(request)
    user_id = path_user_id(user_id)
    data = validated(PatchIn, await _body(request))
    model, held = await apply_belief_change(services, tenant, user_id, belief_id, data)
    belief = model.belief(held)
    if belief is None:  # deleted by a concurrent request right after this edit
        raise NotFound(f"User {user_id!r} has no belief {held!r}.", param="belief_id")
    return JSONResponse(belief_json(belief, time.time()))


async def apply_belief_change(services: Services, tenant: Tenant, user_id: str,
                              belief_id: str, data: PatchIn) -> tuple[SelfModel, str]:
    """A confirm, reject or edit, checked and written (PATCH and the console alike): the
    model after it and the id of the belief now holding. An edited statement gets its
    vector from the tenant's provider model when it names one, as a learned one does."""
    data.check_edit()
    check_edit_text(data, tenant.policy)
    embedder = services.embedders.for_tenant(tenant)
    if embedder is not None and data.statement:  # its vector, fetched now
        await embedder.fetch([data.statement], services.embedders.write_timeout, backlog=True)
    mutate, held = belief_change(data, belief_id, tenant.policy, embedder)
    model = await mutate_belief(services, tenant, user_id, belief_id, mutate)
    return model, held[0]


def belief_change(data: PatchIn, belief_id: str, policy: Policy,
                  embedder: Embedder | None = None) -> tuple[Mutation, list[str]]:
    """The pure change a user's confirm, reject or edit makes (PATCH and the console), and
    a list whose one item is, once it has run, the id of the belief now holding (an edit to
    a new value makes a new belief). ``embedder``: the tenant's provider embedder with the
    edited statement fetched (None: the built-in model)."""
    at, action_id, held = time.time(), "act_" + uuid.uuid4().hex, [belief_id]

    def mutate(model: SelfModel) -> SelfModel:
        if data.action == "confirm":
            return confirm_belief(model, belief_id, at=at, action_id=action_id)
        if data.action == "reject":
            return reject_belief(model, belief_id, at=at, action_id=action_id)
        model, held[0] = edit_belief(model, belief_id, at=at, action_id=action_id,
                                     value=data.value, statement=data.statement,
                                     never_store=policy.never_store)
        return with_vectors(model, embedder)  # the edited statement's vector (no I/O)

    return mutate, held


def check_edit_text(data: PatchIn, policy: Policy) -> None:
    """An edit's new value or statement, refused (400) as any belief text would be."""
    for field in ("value", "statement"):
        text = getattr(data, field)
        if text is not None:
            _refuse_field(field, text, policy)


async def mutate_belief(services: Services, tenant: Tenant, user_id: str, belief_id: str,
                  fn: Mutation) -> SelfModel:
    """A user action on an existing model (PATCH, DELETE and the console); 404 for an
    unknown user or belief, 503 when the store fails."""
    try:
        with store_failures(services, "mutate_model"):
            model = await services.store.mutate_model(tenant.name, user_id, fn, create=False)
    except BeliefNotFound:
        raise NotFound(f"User {user_id!r} has no belief {belief_id!r}.",
                       param="belief_id") from None
    if model is None:
        raise _unknown_user(user_id)
    return model


@router.delete(PREFIX + "/{user_id}/beliefs/{belief_id}", status_code=204)
async def delete_one_belief(user_id: str, belief_id: str, request: Request) -> Response:
    """Forget one belief and its evidence."""
    services, tenant = _caller(request)
    user_id = path_user_id(user_id)
    await mutate_belief(services, tenant, user_id, belief_id,
                  lambda model: delete_belief(model, belief_id))
    return Response(status_code=204)


# -- export, erase, consent -------------------------------------------------------------------

@router.get(PREFIX + "/{user_id}/export")
async def export_self_model(user_id: str, request: Request) -> JSONResponse:
    """Everything stored about the user, machine-readable (the right of access)."""
    services, tenant = _caller(request)
    user_id = path_user_id(user_id)
    store, name = services.store, tenant.name
    with store_failures(services, "export"):
        model = await store.get_model(name, user_id)
        consent = await store.get_consent(name, user_id)
        observations = await store.list_observations(name, user_id)
        decisions = [d for d in await store.list_decisions(name) if d.user_id == user_id]
        outcomes = [o for o in await store.list_outcomes(name) if o[0] == user_id]
    if model is None and consent is None and not (observations or decisions or outcomes):
        raise _unknown_user(user_id)
    now = time.time()
    return JSONResponse({
        "object": "self_model.export", "user_id": user_id, "exported_at": iso(now),
        "consent": consent,
        "model": model_json(model, model.beliefs, now) if model else None,
        "stored_model": model.model_dump(mode="json") if model else None,
        "observations": [observation_json(o) for o in observations],
        "decisions": [decision_json(d) for d in decisions],
        "outcomes": [{"name": n, "value": v, "at": iso(at)} for _, n, v, at in outcomes],
    })


@router.delete(PREFIX + "/{user_id}", status_code=204)
async def erase_self_model(user_id: str, request: Request) -> Response:
    """Erase beliefs, observations, decision records and consent of the user (204)."""
    services, tenant = _caller(request)
    user_id = path_user_id(user_id)
    with store_failures(services, "delete_model"):
        existed = await services.store.delete_model(tenant.name, user_id)
    if not existed:
        raise _unknown_user(user_id)
    return Response(status_code=204)


@router.put(PREFIX + "/{user_id}/consent")
async def put_consent(user_id: str, request: Request) -> JSONResponse:
    """Record the user's opt-in (``granted: true``) or its withdrawal, effective at once."""
    services, tenant = _caller(request)
    user_id = path_user_id(user_id)
    data = validated(ConsentIn, await _body(request))
    with store_failures(services, "set_consent"):
        await services.store.set_consent(tenant.name, user_id, data.granted)
    return JSONResponse({"object": "consent", "user_id": user_id, "granted": data.granted,
                         "policy": tenant.policy.consent})


# -- explanation --------------------------------------------------------------------------------

@router.get("/v1/decisions/{request_id}")
async def get_decision(request_id: str, request: Request) -> JSONResponse:
    """Which beliefs went into one request, and the exact personalization sent."""
    services, tenant = _caller(request)
    request_id = check_id(request_id, "request_id")
    with store_failures(services, "get_decision"):
        record = await services.store.get_decision(tenant.name, request_id)
    if record is None:
        raise NotFound(f"No decision record for request {request_id!r} (unknown, expired, "
                       "or erased).", param="request_id")
    return JSONResponse(decision_json(record))
