"""User ids at the HTTP edge: where each entry point finds one, and one 400 for a bad one.

The rule itself is ``domain.identity.user_id_problem``; this module applies it to the places
ids arrive, so chat, responses, messages, the self-model API and outcomes accept exactly the
same ids and refuse the rest with the same ``400 invalid_request_error`` (code
``invalid_user_id``, ``param`` naming the field). A chat naming an invalid user is refused
rather than forwarded unpersonalized: the app asked for that user, and silently serving
someone anonymous would hide its bug and lose what the user says.

API paths: ``/v1/self-models/{user_id}/...`` takes any valid id percent-encoded, slashes
included (``team%2Falice``). Servers decode ``%2F`` before routing, which would make
``team/alice`` two path segments; ``UserPathRouting`` routes on the raw path instead and
hands the route the id with only ``%`` and ``/`` still encoded, which ``path_user_id``
decodes. Every route under the prefix must take its id through ``path_user_id``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, unquote_to_bytes

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from selfmodel.domain.identity import user_id_problem
from selfmodel.errors import InvalidRequest

__all__ = ["HEADER", "UserPathRouting", "chat_user_id", "checked_user_id", "header_user_id",
           "openai_user_id", "path_user_id"]

HEADER = "x-selfmodel-user"
_PREFIX = "/v1/self-models/"
_RAW_PREFIX = _PREFIX.encode()


def checked_user_id(value: object, param: str = "user_id") -> str:
    """``value`` when it is a valid user id, else the one 400 every entry point gives."""
    problem = user_id_problem(value)
    if problem is not None:
        raise InvalidRequest(f"Invalid value for '{param}': the user id {problem}. A user id "
                             "is 1 to 256 characters without control characters or "
                             "surrounding whitespace.", param=param, code="invalid_user_id")
    assert isinstance(value, str)
    return value


def header_user_id(request: Request) -> str | None:
    """The ``x-selfmodel-user`` header as UTF-8 (Starlette reads headers as Latin-1, which
    would turn ``josé`` into another id than the same text sent in a JSON body)."""
    raw = request.headers.get(HEADER)
    if not raw:
        return None
    try:
        value = raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise InvalidRequest(f"Invalid value for '{HEADER}': the header is not valid UTF-8.",
                             param=HEADER, code="invalid_user_id") from None
    return checked_user_id(value, HEADER)


def chat_user_id(request: Request, fields: tuple[tuple[str, Any], ...]) -> str | None:
    """The first of ``fields`` ((param, value) in precedence order) that names a user, else
    the header; None when nothing does. An empty string names no one, as OpenAI treats it."""
    for param, value in fields:
        if value is None or value == "":
            continue
        return checked_user_id(value, param)
    return header_user_id(request)


def openai_user_id(body: dict[str, Any], request: Request) -> str | None:
    """OpenAI's surfaces (chat, Responses): ``user``, else ``safety_identifier``, else the
    ``x-selfmodel-user`` header."""
    return chat_user_id(request, (("user", body.get("user")),
                                  ("safety_identifier", body.get("safety_identifier"))))


def path_user_id(encoded: str) -> str:
    """The user id of an API path, as ``UserPathRouting`` passed it (percent-encoded)."""
    return checked_user_id(unquote(encoded, errors="surrogateescape"))


class UserPathRouting:
    """Routes ``/v1/self-models/<id>/...`` on the raw path, the id kept percent-encoded.

    Only paths under the prefix are touched. The scope's ``path`` is changed in place: the
    router notes the matched endpoint in the same scope, which the request metrics read.
    The id is decoded from the raw bytes (invalid UTF-8 survives as surrogates, which the
    rule then refuses as control characters); only ``%`` and ``/`` are encoded again, so
    ``/`` inside it no longer splits the path and an id without either reaches the route
    exactly as it is. Without ``raw_path`` (servers need not send it) the decoded path
    is used, and an id with ``/`` simply does not route.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(_PREFIX):
            scope["path"] = _routed_path(scope)
        await self.app(scope, receive, send)


def _routed_path(scope: Scope) -> str:
    raw = scope.get("raw_path")
    if isinstance(raw, bytes) and raw.startswith(_RAW_PREFIX):
        segment, slash, rest = raw[len(_RAW_PREFIX):].partition(b"/")
        user = unquote_to_bytes(segment).decode("utf-8", "surrogateescape")
        tail = unquote_to_bytes(rest).decode("utf-8", "surrogateescape") if slash else ""
    else:
        path: str = scope["path"]
        user, slash_text, tail = path[len(_PREFIX):].partition("/")
        slash = slash_text.encode()
    encoded = user.replace("%", "%25").replace("/", "%2F")
    return _PREFIX + encoded + ("/" + tail if slash else "")
