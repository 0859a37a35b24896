"""The console's read-only reports: decisions, templates rendered side by side, insights."""

from __future__ import annotations

import time

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from selfmodel.api.schemas import check_id
from selfmodel.console import actions, pages
from selfmodel.console.explain import explain
from selfmodel.console.insights_view import insights_view
from selfmodel.console.preview import preview
from selfmodel.console.routing import (
    ConsoleRoute,
    console_of,
    link,
    operator,
    operator_form,
)
from selfmodel.errors import NotFound, StoreUnavailable
from selfmodel.store.base import StoreError

router = APIRouter(route_class=ConsoleRoute)
DECISIONS_SHOWN = 50


@router.get("/console/decisions")
async def decisions(request: Request) -> Response:
    """``?u=``: a user's recent requests; ``?r=``: one request explained."""
    who = operator(request)
    services = console_of(request).services
    request_id = request.query_params.get("r", "").strip()
    if request_id:
        return await _decision(request, check_id(request_id, "request_id"))
    raw_user = request.query_params.get("u")
    records = []
    user_id = None
    if raw_user:
        user_id = actions.user_id_of(raw_user)
        records = await actions.user_decisions(services, who.tenant, user_id, DECISIONS_SHOWN)
    return pages.page("decisions.html", who=who, user_id=user_id, records=records, link=link,
                      now=time.time())


async def _decision(request: Request, request_id: str) -> Response:
    who = operator(request)
    services = console_of(request).services
    record = await actions.decision(services, who.tenant, request_id)
    if record is None:
        raise NotFound(f"No decision record for request {request_id!r} in this tenant "
                       "(unknown, expired, or erased).")
    model = None
    if record.user_id is not None:
        model = await actions.model(services, who.tenant, record.user_id)
    view = explain(record, model, who.tenant.policy)
    return pages.page("decision.html", who=who, view=view, record=record, link=link,
                      policy=who.tenant.policy)


@router.get("/console/templates")
async def templates(request: Request) -> Response:
    query = request.query_params
    return await _templates(request, query.get("u"), query.get("cold") == "on",
                            query.get("text", ""), None)


@router.post("/console/templates")
async def render_draft(request: Request) -> Response:
    _, fields = await operator_form(request)
    return await _templates(request, fields.get("u"), fields.get("cold") == "on",
                            fields.get("text", ""), fields.get("draft"))


async def _templates(request: Request, raw_user: str | None, cold: bool, text: str,
                     draft: str | None) -> Response:
    who = operator(request)
    services = console_of(request).services
    user_id = actions.user_id_of(raw_user) if raw_user else None
    model = None
    if user_id and not cold:
        model = await actions.model(services, who.tenant, user_id)
        if model is None:
            raise NotFound(f"No self-model for user {user_id!r} in this tenant.")
    view = preview(services, who.tenant, user_id or "sample-user", model, text[:4000], draft)
    return pages.page("templates.html", who=who, view=view, user_id=user_id or "", cold=cold,
                      text=text, link=link)


@router.get("/console/insights")
async def insights(request: Request) -> Response:
    who = operator(request)
    services = console_of(request).services
    try:
        view = await insights_view(services, who.tenant, time.time())
    except StoreError as exc:
        raise StoreUnavailable("The self-model store is unavailable; try again.") from exc
    return pages.page("insights.html", who=who, view=view, link=link)
