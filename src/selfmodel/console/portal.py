"""A user's own page: what the app believes about them and why, and their controls.

``POST /v1/self-models/{user_id}/portal-link`` (tenant API key) answers ``{url,
expires_at}``: a link whose token is an HMAC over tenant, user and expiry. Opening it shows
the page and sets a cookie holding the same token (HttpOnly, SameSite=Strict, path
/console/me), so the page's own forms and reloads work without the token in the address
bar. The token names one user of one tenant; every route here acts on exactly that user
and nothing else of the tenant is reachable (the operator pages need an operator session).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from selfmodel.api.bodies import parse_object, read_body
from selfmodel.api.user_ids import path_user_id
from selfmodel.config import Tenant
from selfmodel.console import actions, pages
from selfmodel.console.auth import clear_cookie, cookie_name, set_cookie
from selfmodel.console.beliefs import overview, source_text
from selfmodel.console.operator import download
from selfmodel.console.routing import ConsoleRoute, console_of, form, link
from selfmodel.domain.timefmt import iso
from selfmodel.errors import InvalidRequest, NotFound, PermissionDenied

PURPOSE = "portal"
COOKIE = "sm_portal"
PATH = "/console/me"
MIN_SECONDS, MAX_SECONDS = 60.0, 30 * 86_400.0

api_router = APIRouter()
router = APIRouter(route_class=ConsoleRoute)
NOTICES = {
    "confirm": "Thank you: we will keep using this.",
    "reject": "Understood: we will no longer use this.",
    "edit": "Corrected: we will use your wording from now on.",
    "forget": "Removed, with everything it was based on.",
    "consent-on": "We will learn from your conversations again.",
    "consent-off": "We have stopped learning about you and stopped using what we know.",
    "erased": "Everything we stored about you has been erased.",
}


# -- the link -------------------------------------------------------------------------------

@api_router.post("/v1/self-models/{user_id}/portal-link")
async def portal_link(user_id: str, request: Request) -> JSONResponse:
    """A signed link to the user's own page, valid ``expires_in`` seconds (default
    ``console.portal_link_hours``)."""
    console = console_of(request)
    tenant = console.services.directory.authenticate(request.headers)
    user_id = path_user_id(user_id)  # the API's user id rule; '/' arrives encoded
    body = await _optional_body(request)
    seconds = _lifetime(body.get("expires_in"), console.settings.portal_link_hours * 3600)
    if await actions.model(console.services, tenant, user_id) is None:
        raise NotFound(f"No self-model for user {user_id!r}. Create it first with "
                       "POST /v1/self-models.", param="user_id")
    expires_at = time.time() + seconds
    token = console.signer.sign(PURPOSE, {"t": tenant.name, "u": user_id}, expires_at)
    base = (console.settings.public_url or str(request.base_url)).rstrip("/")
    return JSONResponse({"object": "portal_link", "user_id": user_id,
                         "url": f"{base}{link(PATH, t=token)}", "expires_at": iso(expires_at)})


async def _optional_body(request: Request) -> dict[str, Any]:
    raw = await read_body(request, 4096)
    return parse_object(raw) if raw.strip() else {}


def _lifetime(raw: object, default: float) -> float:
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not (
            MIN_SECONDS <= raw <= MAX_SECONDS):
        raise InvalidRequest(f"Invalid value for 'expires_in': expected seconds from "
                             f"{MIN_SECONDS:.0f} to {MAX_SECONDS:.0f}.", param="expires_in")
    return float(raw)


# -- the page -------------------------------------------------------------------------------

def _holder(request: Request, token: str | None = None) -> tuple[Tenant, str, str]:
    """(tenant, user id, token) of a valid link token (given, or from the cookie)."""
    console = console_of(request)
    token = token or request.cookies.get(cookie_name(request, COOKIE)) or ""
    payload = console.signer.verify(PURPOSE, token, time.time())
    tenant = console.services.directory.tenants.get(str(payload.get("t"))) if payload else None
    if payload is None or tenant is None or not isinstance(payload.get("u"), str):
        raise PermissionDenied("This link has expired or is not complete. Ask the app for a "
                               "new one.")
    return tenant, payload["u"], token


async def _holder_form(request: Request) -> tuple[Tenant, str, dict[str, str]]:
    tenant, user_id, token = _holder(request)
    fields = await form(request)
    if not console_of(request).signer.check_mac("csrf-portal", fields.get("csrf", ""), token):
        raise PermissionDenied("This page has expired; reload it and try again.")
    return tenant, user_id, fields


@router.get(PATH)
async def my_page(request: Request) -> Response:
    given = request.query_params.get("t")
    tenant, user_id, token = _holder(request, given)
    console = console_of(request)
    model = await actions.model(console.services, tenant, user_id)
    consent = await actions.consent(console.services, tenant, user_id)
    now = time.time()
    view = overview(model, tenant.policy.min_confidence, now, include_retired=False) \
        if model else None
    response = pages.page("me.html", view=view, consent=consent, user_id=user_id,
                          csrf=console.signer.mac("csrf-portal", token), now=now,
                          notice=NOTICES.get(request.query_params.get("done", "")),
                          source_text=source_text, who=None)
    if given:
        expires = float(console.signer.verify(PURPOSE, token, now)["exp"])  # type: ignore[index]
        set_cookie(response, request, COOKIE, token, max(int(expires - now), 1), path=PATH)
    return response


@router.get(PATH + "/belief")
async def my_belief_page(request: Request) -> Response:
    """The form to correct one belief in the user's own words."""
    tenant, user_id, token = _holder(request)
    model = await actions.model(console_of(request).services, tenant, user_id)
    held = model.belief(request.query_params.get("b", "")) if model else None
    if held is None:
        raise NotFound("We hold no such belief about you (it may have been removed).")
    return pages.page("me_belief.html", who=None, b=held,
                      csrf=console_of(request).signer.mac("csrf-portal", token))


@router.post(PATH + "/belief")
async def my_belief(request: Request) -> Response:
    """A button ``op=<action>:<belief id>``, or the correction form's fields."""
    tenant, user_id, fields = await _holder_form(request)
    action = fields.get("action", "")
    if "op" in fields:
        action, _, fields["belief"] = fields["op"].partition(":")
    if action not in ("confirm", "reject", "edit", "forget"):
        raise InvalidRequest("Unknown action.")
    await actions.change_belief(console_of(request).services, tenant, user_id,
                                fields.get("belief", ""), action,
                                statement=fields.get("statement"))
    return pages.redirect(link(PATH, done=action))


@router.post(PATH + "/consent")
async def my_consent(request: Request) -> Response:
    tenant, user_id, fields = await _holder_form(request)
    granted = fields.get("granted") == "true"
    await actions.set_consent(console_of(request).services, tenant, user_id, granted)
    return pages.redirect(link(PATH, done="consent-on" if granted else "consent-off"))


@router.get(PATH + "/export")
async def my_export(request: Request) -> Response:
    tenant, user_id, _ = _holder(request)
    document = await actions.export(console_of(request).services, tenant, user_id)
    if document is None:
        raise NotFound("Nothing is stored about you.")
    return download(document)


@router.get(PATH + "/erase")
async def my_erase_page(request: Request) -> Response:
    _, _, token = _holder(request)
    return pages.page("me_erase.html", who=None,
                      csrf=console_of(request).signer.mac("csrf-portal", token))


@router.post(PATH + "/erase")
async def my_erase(request: Request) -> Response:
    tenant, user_id, fields = await _holder_form(request)
    if fields.get("confirm") != "erase":
        return pages.redirect(PATH)
    await actions.erase(console_of(request).services, tenant, user_id)
    response = pages.page("me_gone.html", who=None)
    clear_cookie(response, request, COOKIE, path=PATH)
    return response
