"""What every console route shares: its state, HTML errors, form parsing, CSRF checks.

``ConsoleRoute`` turns the two ways a console request can stop early into pages instead of
the JSON API's errors: ``SignInRequired`` (no valid session: to the sign-in page) and any
``GatewayError`` raised by the shared API code (a bad edit, an unknown user, the store down:
an error page with the API's message, escaped like everything else).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from selfmodel.config import ConsoleSettings
from selfmodel.console import pages
from selfmodel.console.auth import Operator, Sessions, SignInLimiter, same_origin
from selfmodel.console.signing import Signer
from selfmodel.errors import GatewayError, InvalidRequest, PayloadTooLarge, PermissionDenied
from selfmodel.services import Services

log = logging.getLogger("selfmodel.console")
MAX_FORM = 64 * 1024


@dataclass
class Console:
    """The console's parts, built once per app by ``selfmodel.console.install``."""

    services: Services
    settings: ConsoleSettings
    signer: Signer
    sessions: Sessions
    limiter: SignInLimiter


class SignInRequired(Exception):
    """No valid operator session."""


class ConsoleRoute(APIRoute):
    """An APIRoute whose early stops are pages (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                return pages.redirect("/console/sign-in")
            except GatewayError as exc:
                back = getattr(request.state, "back", None)
                return pages.page("error.html", status=exc.status, message=exc.message,
                                  back=back, who=getattr(request.state, "who", None))

        return route


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def operator(request: Request) -> Operator:
    """The signed-in operator, or ``SignInRequired``."""
    who = console_of(request).sessions.read(request)
    if who is None:
        raise SignInRequired
    request.state.who = who
    return who


async def form(request: Request) -> dict[str, str]:
    """A url-encoded form body (at most 64 KiB), one value per field (the first)."""
    if not same_origin(request):
        raise PermissionDenied("This form was sent from another site.")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise InvalidRequest("Expected a form (application/x-www-form-urlencoded).")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise PayloadTooLarge("The form is too large.")
    fields: dict[str, str] = {}
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        fields.setdefault(key, value)
    return fields


async def operator_form(request: Request) -> tuple[Operator, dict[str, str]]:
    """The operator and their form, its CSRF token checked."""
    who = operator(request)
    fields = await form(request)
    if not console_of(request).signer.check_mac("csrf", fields.get("csrf", ""), who.sid):
        raise PermissionDenied("This form has expired; reload the page and try again.")
    return who, fields


def link(path: str, **query: str | None) -> str:
    """A console URL with its query escaped (user ids may hold any character)."""
    params = {k: v for k, v in query.items() if v is not None}
    return f"{path}?{urlencode(params)}" if params else path
