"""``POST /v1/messages`` to a deployment: forwarded natively to Anthropic, translated elsewhere.

``anthropic/`` deployments get the body as sent at ``<api_base>/v1/messages`` (Anthropic's
own API, ``x-api-key`` and ``anthropic-version`` headers, the client's ``anthropic-beta``
passed on) through the direct path's pooled session, and the answer's bytes come back
untouched. Every other deployment (OpenAI-compatible, litellm's providers, the echo model)
is called through chat completions and its answer rebuilt as an Anthropic message.
Either way the call runs inside the router's one retry / fallback / circuit loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pydantic_core import to_json

from selfmodel.personalize import tokens
from selfmodel.providers.answers import Reply, Stream
from selfmodel.providers.chat_answer import read_chat
from selfmodel.providers.chat_stream import translated
from selfmodel.providers.messages_reply import MessagesEvents, message_json
from selfmodel.providers.messages_request import chat_request
from selfmodel.providers.router import Backend, Router
from selfmodel.providers.targets import Target

_COUNT = "/count_tokens"
_PASSED_HEADERS = ("anthropic-version", "anthropic-beta")


async def complete(router: Router, alias: str, body: dict[str, Any],
                   client_headers: Mapping[str, str]) -> Reply:
    """A non-stream answer as an Anthropic message."""
    async def call(backend: Backend, target: Target) -> Reply:
        if is_native(target):
            return await router.backend("direct").complete(native(target, client_headers), body)
        reply = await backend.complete(target, chat_request(body, target.alias))
        return Reply(message_json(body, read_chat(reply.body, target.alias)), reply.target)

    return await router.run(alias, call)


async def stream(router: Router, alias: str, body: dict[str, Any],
                 client_headers: Mapping[str, str]) -> Stream:
    """An opened stream of Messages API events whose first chunk has arrived."""
    async def call(backend: Backend, target: Target) -> Stream:
        if is_native(target):
            return await router.backend("direct").stream(native(target, client_headers), body)
        chat = await backend.stream(target, chat_request(body, target.alias))
        return translated(chat, MessagesEvents(body))

    return await router.run(alias, call)


async def count_tokens(router: Router, alias: str, body: dict[str, Any],
                       client_headers: Mapping[str, str]) -> Reply:
    """``{"input_tokens": N}`` for a Messages request: Anthropic's own count for its
    deployments, else counted here with the gateway's tokenizer (cl100k_base: exact for
    OpenAI's models, close for others; no provider has a count endpoint in chat's API)."""
    async def call(backend: Backend, target: Target) -> Reply:
        if is_native(target):
            counting = native(target, client_headers)
            counting = replace(counting, chat_url=counting.chat_url + _COUNT)
            return await router.backend("direct").complete(counting, body)
        return Reply(to_json({"input_tokens": local_count(body)}), target)

    return await router.run(alias, call)


def local_count(body: dict[str, Any]) -> int:
    """Tokens of the system prompt, every message's text and tool definitions, plus the
    few tokens each message's framing costs (OpenAI's published rule: 3 per message, 3 to
    prime the answer)."""
    pieces = [_text_of(body.get("system"))]
    messages = [m for m in body.get("messages") or () if isinstance(m, dict)]
    pieces += [_text_of(m.get("content")) for m in messages]
    if body.get("tools"):
        pieces.append(to_json(body["tools"]).decode())
    return sum(tokens.count(p) for p in pieces if p) + 3 * len(messages) + 3


def _text_of(content: Any) -> str:
    """A string, or the text of a list of content blocks (text, tool input and results)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            parts.append(block["text"])
        elif "input" in block or "content" in block:
            parts.append(to_json(block.get("input") or block.get("content")).decode())
    return "\n".join(parts)


def is_native(target: Target) -> bool:
    return target.kind == "litellm" and target.params.provider == "anthropic"


def native(target: Target, client_headers: Mapping[str, str]) -> Target:
    """The deployment as the direct path's pass-through sees it: Anthropic's URL and headers
    (resolved once when the targets were built), with the client's ``anthropic-version``
    and ``anthropic-beta`` passed on.

    The model loses its ``anthropic/`` prefix; the rest (timeouts, the circuit breaker of
    this deployment) is the deployment's own.
    """
    headers = dict(target.messages_headers)
    headers.update({k: v for k in _PASSED_HEADERS if (v := client_headers.get(k))})
    return replace(target, model=target.params.model.split("/", 1)[1], headers=headers,
                   chat_url=target.messages_url)
