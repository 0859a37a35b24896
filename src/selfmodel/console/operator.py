"""The operator console's pages: sign-in, users, one user, and the changes made there.

Every page works only inside the signed-in tenant: the tenant comes from the session, never
from the request, and a user id of another tenant is simply not found.
"""

from __future__ import annotations

import json
import time

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from selfmodel.console import actions, pages
from selfmodel.console.auth import is_loopback
from selfmodel.console.beliefs import overview, source_text
from selfmodel.console.routing import (
    ConsoleRoute,
    console_of,
    form,
    link,
    operator,
    operator_form,
)
from selfmodel.errors import NotFound

router = APIRouter(route_class=ConsoleRoute)
USERS_SHOWN = 50
NOTICES = {
    "confirm": "Belief confirmed.",
    "reject": "Belief rejected: it will not be applied again unless the user confirms it.",
    "edit": "Belief corrected: the next request uses the new wording.",
    "forget": "Belief forgotten, with its evidence.",
    "consent-on": "Consent recorded.",
    "consent-off": "Consent withdrawn: the user is neither observed nor personalized now.",
    "erased": "Everything about the user was erased.",
    "signed-out": "Signed out.",
}


def notice(request: Request) -> str | None:
    return NOTICES.get(request.query_params.get("done", ""))


@router.get("/console")
async def home(request: Request) -> Response:
    return pages.redirect("/console/users")


@router.get("/console/static/console.css")
async def stylesheet() -> Response:
    return pages.stylesheet()


# -- sign-in ----------------------------------------------------------------------------------

@router.get("/console/sign-in")
async def sign_in_page(request: Request) -> Response:
    sessions = console_of(request).sessions
    if sessions.read(request) is not None:
        return pages.redirect("/console/users")
    return _sign_in(request)


def _sign_in(request: Request, problem: str | None = None, status: int = 200) -> Response:
    sessions = console_of(request).sessions
    local = is_loopback(request)
    if sessions.open_mode and not local:
        status = 403  # open mode: this machine only (the page says so)
    nonce, csrf = sessions.sign_in_token(request)
    response = pages.page("sign_in.html", status=status, who=None, problem=problem,
                          notice=notice(request), open_mode=sessions.open_mode, local=local,
                          csrf=csrf)
    sessions.keep_nonce(response, request, nonce)
    return response


@router.post("/console/sign-in")
async def sign_in(request: Request) -> Response:
    console = console_of(request)
    client = request.client.host if request.client else "-"
    wait = console.limiter.attempt(client, time.time())
    if wait:
        response = _sign_in(request, f"Too many sign-in attempts. Try again in {wait:.0f} "
                            "seconds.", status=429)
        response.headers["retry-after"] = str(int(wait + 0.999))
        return response
    fields = await form(request)
    sessions = console.sessions
    if not sessions.sign_in_token_ok(request, fields.get("csrf", "")):
        return _sign_in(request, "The sign-in form expired; please try again.", status=403)
    if sessions.open_mode:
        if not is_loopback(request):
            return _sign_in(request, "Open mode: the console is served to this machine only.",
                            status=403)
        tenant, key = console.services.directory.tenants["default"], None
    else:
        key = fields.get("key", "").strip()
        found = sessions.tenant_for_key(key) if key else None
        if found is None:
            return _sign_in(request, "That API key is not valid.", status=401)
        tenant = found
    response = pages.redirect("/console/users")
    sessions.issue(response, request, tenant, key)
    return response


@router.post("/console/sign-out")
async def sign_out(request: Request) -> Response:
    who, _ = await operator_form(request)
    response = pages.redirect("/console/sign-in?done=signed-out")
    console_of(request).sessions.end(response, request, who)
    return response


# -- users --------------------------------------------------------------------------------------

@router.get("/console/users")
async def users(request: Request) -> Response:
    who = operator(request)
    services = console_of(request).services
    search = request.query_params.get("q", "")[:256]
    rows = await actions.users(services, who.tenant, search, USERS_SHOWN)
    return pages.page("users.html", who=who, rows=rows, search=search, notice=notice(request),
                      shown=USERS_SHOWN, now=time.time(), link=link)


@router.get("/console/user")
async def user(request: Request) -> Response:
    who = operator(request)
    services = console_of(request).services
    user_id = actions.user_id_of(request.query_params.get("u"))
    model = await actions.model(services, who.tenant, user_id)
    if model is None:
        raise NotFound(f"No self-model for user {user_id!r} in this tenant.")
    consent = await actions.consent(services, who.tenant, user_id)
    now = time.time()
    view = overview(model, who.tenant.policy.min_confidence, now)
    return pages.page("user.html", who=who, model=model, view=view, consent=consent,
                      policy=who.tenant.policy, notice=notice(request), link=link, now=now,
                      source_text=source_text)


@router.get("/console/belief")
async def belief(request: Request) -> Response:
    """One belief: its numbers, its whole evidence timeline, the correction form."""
    who = operator(request)
    services = console_of(request).services
    user_id = actions.user_id_of(request.query_params.get("u"))
    model = await actions.model(services, who.tenant, user_id)
    wanted = request.query_params.get("b", "")
    item = None
    if model is not None:
        view = overview(model, who.tenant.policy.min_confidence, time.time())
        item = next((i for items in view.groups.values() for i in items
                     if i.belief.id == wanted), None)
    if model is None or item is None:
        raise NotFound(f"User {user_id!r} has no belief {wanted!r} in this tenant.")
    return pages.page("belief.html", who=who, model=model, item=item, b=item.belief,
                      policy=who.tenant.policy, link=link, source_text=source_text)


@router.post("/console/user/belief")
async def change_belief(request: Request) -> Response:
    """A button ``op=<action>:<belief id>`` (the user page's one form), or ``action`` and
    ``belief`` fields (the correction form)."""
    who, fields = await operator_form(request)
    user_id = actions.user_id_of(fields.get("u"))
    request.state.back = link("/console/user", u=user_id)
    action, belief_id = fields.get("action", ""), fields.get("belief", "")
    if "op" in fields:
        action, _, belief_id = fields["op"].partition(":")
    await actions.change_belief(console_of(request).services, who.tenant, user_id,
                                belief_id, action,
                                value=fields.get("value"), statement=fields.get("statement"))
    return pages.redirect(link("/console/user", u=user_id, done=action))


@router.post("/console/user/consent")
async def consent(request: Request) -> Response:
    who, fields = await operator_form(request)
    user_id = actions.user_id_of(fields.get("u"))
    granted = fields.get("granted") == "true"
    await actions.set_consent(console_of(request).services, who.tenant, user_id, granted)
    done = "consent-on" if granted else "consent-off"
    return pages.redirect(link("/console/user", u=user_id, done=done))


@router.get("/console/user/export")
async def export(request: Request) -> Response:
    who = operator(request)
    user_id = actions.user_id_of(request.query_params.get("u"))
    document = await actions.export(console_of(request).services, who.tenant, user_id)
    if document is None:
        raise NotFound(f"Nothing is stored about user {user_id!r} in this tenant.")
    return download(document)


def download(document: dict[str, object]) -> Response:
    response = Response(json.dumps(document, indent=2), media_type="application/json")
    response.headers["content-disposition"] = 'attachment; filename="selfmodel-export.json"'
    return pages.protect(response)


@router.get("/console/user/erase")
async def erase_page(request: Request) -> Response:
    who = operator(request)
    user_id = actions.user_id_of(request.query_params.get("u"))
    return pages.page("erase.html", who=who, user_id=user_id, problem=None, link=link)


@router.post("/console/user/erase")
async def erase(request: Request) -> Response:
    who, fields = await operator_form(request)
    user_id = actions.user_id_of(fields.get("u"))
    if fields.get("confirm") != user_id:
        return pages.page("erase.html", status=400, who=who, user_id=user_id, link=link,
                          problem="The id typed does not match; nothing was erased.")
    if not await actions.erase(console_of(request).services, who.tenant, user_id):
        raise NotFound(f"Nothing is stored about user {user_id!r} in this tenant.")
    return pages.redirect("/console/users?done=erased")
