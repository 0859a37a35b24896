"""``POST /v1/responses`` to a deployment: forwarded natively where the provider serves it.

OpenAI's own API and Azure serve the Responses API themselves: the body goes to
``<api_base>/responses`` as sent (``previous_response_id``, hosted tools and all) and the
answer's bytes come back untouched. Other OpenAI-compatible servers (vLLM, Ollama, Groq...)
mostly serve only chat completions: they are tried natively and, the first time one answers
404 or 405 for /responses, bridged from then on (``Target.responses``; a deployment's
``model_info.responses: native | bridged | auto`` forces it). Bridged deployments, litellm's
providers and the echo model are called through chat completions and their answers and
streams rebuilt as Responses ones. Either way the call runs inside the router's one retry /
fallback / circuit loop.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

from selfmodel.errors import GatewayError
from selfmodel.providers.answers import Reply, Stream
from selfmodel.providers.chat_answer import read_chat
from selfmodel.providers.chat_stream import translated
from selfmodel.providers.responses_reply import ResponsesEvents, response_json
from selfmodel.providers.responses_request import chat_request
from selfmodel.providers.router import Backend, Router
from selfmodel.providers.targets import Target

_CHAT_SUFFIX = "/chat/completions"
log = logging.getLogger("selfmodel.providers")
T = TypeVar("T")


async def complete(router: Router, alias: str, body: dict[str, Any]) -> Reply:
    """A non-stream answer as Responses API JSON."""
    return await router.run(alias, lambda backend, target: _complete(backend, target, body))


async def stream(router: Router, alias: str, body: dict[str, Any]) -> Stream:
    """An opened stream of Responses API events whose first chunk has arrived."""
    return await router.run(alias, lambda backend, target: _stream(backend, target, body))


async def _complete(backend: Backend, target: Target, body: dict[str, Any]) -> Reply:
    if target.responses_native:
        reply = await _natively(target, lambda native_target: backend.complete(native_target,
                                                                                body))
        if reply is not None:
            return reply
    reply = await backend.complete(target, chat_request(body, target.alias))
    return Reply(response_json(body, read_chat(reply.body, target.alias)), reply.target)


async def _stream(backend: Backend, target: Target, body: dict[str, Any]) -> Stream:
    if target.responses_native:
        opened = await _natively(target, lambda native_target: backend.stream(native_target,
                                                                               body))
        if opened is not None:
            return opened
    chat = await backend.stream(target, chat_request(body, target.alias))
    return translated(chat, ResponsesEvents(body))


async def _natively(target: Target, call: Callable[[Target], Awaitable[T]]) -> T | None:
    """``call`` at the provider's /responses; None when it has none and the deployment is
    ``auto`` (bridged from now on), so the caller bridges this request too."""
    try:
        return await call(native(target))
    except GatewayError as exc:
        if not (_no_endpoint(exc) and target.responses_missing()):
            raise
    log.info("%s serves no /responses: bridging through chat completions", target.label)
    return None


def _no_endpoint(exc: GatewayError) -> bool:
    """The provider's answer to a path it does not serve (404 Not Found, 405 Not Allowed)."""
    return exc.status in (404, 405)


def native(target: Target) -> Target:
    """The deployment with /responses as its endpoint, for the direct path's pass-through.

    The direct path posts to ``chat_url`` with the deployment's auth headers and timeouts; a
    view of the deployment aimed at another endpoint reuses all of it (and shares its
    circuit breaker, since it is the same deployment).
    """
    return replace(target, chat_url=responses_url(target))


def responses_url(target: Target) -> str:
    if target.params.provider == "azure":
        return f"{(target.params.api_base or '').rstrip('/')}/openai/v1/responses"
    base = target.chat_url.removesuffix(_CHAT_SUFFIX)
    return base + "/responses"
