"""The litellm path: providers whose API is not OpenAI's (Anthropic, Bedrock, Gemini, ...).

This is the only module that imports litellm, and only when a deployment first needs it:
importing litellm costs seconds and memory that an OpenAI-only gateway should not pay.
litellm's own retries are off (``num_retries=0``); the router's loop is the only one.
Answers are OpenAI-shaped JSON (non-stream) and ``data: <chunk>\\n\\n`` events (stream), so
the routes treat both paths alike. litellm's exceptions become our error tree by their status.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncGenerator, Callable
from types import ModuleType
from typing import Any

from pydantic_core import to_json

from selfmodel.errors import GatewayError, UpstreamError, UpstreamTimeout
from selfmodel.providers.answers import Reply, Stream
from selfmodel.providers.targets import Target
from selfmodel.providers.upstream_errors import error_for_status, parse_retry_after

log = logging.getLogger("selfmodel.providers")

# Body keys the call itself sets; every other key of the request reaches litellm as sent.
_OWN_KEYS = frozenset({"model", "messages", "stream", "input"})
# litellm_params keys that configure our router, not litellm.
_ROUTER_KEYS = frozenset({"max_retries", "stream_timeout", "timeout"})


def load_litellm() -> ModuleType:
    """Import litellm on first use, reading its price map locally (no network)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


class LiteLLMPath:
    """``preload``: some deployment needs litellm, so import it at startup, on a thread.

    Importing litellm takes seconds; done lazily inside the first request it would block the
    event loop (every other request with it) and eat that request's first-byte timeout.
    """

    def __init__(self, loader: Callable[[], ModuleType] = load_litellm, *,
                 preload: bool = False) -> None:
        self._loader = loader
        self._preload = preload
        self._litellm: ModuleType | None = None

    async def start(self) -> None:
        if self._preload and self._litellm is None:
            self._litellm = await asyncio.to_thread(self._loader)

    async def close(self) -> None:
        """Close litellm's cached HTTP clients: they belong to this event loop, and a cached
        client bound to a closed loop would fail every later call (a new app, a test)."""
        if self._litellm is None:
            return
        await self._litellm.close_litellm_async_clients()
        self._litellm.in_memory_llm_clients_cache.flush_cache()

    @property
    def litellm(self) -> ModuleType:
        if self._litellm is None:
            self._litellm = self._loader()
        return self._litellm

    async def complete(self, target: Target, body: dict[str, Any]) -> Reply:
        kwargs = self._kwargs(target, body, stream=False)
        try:
            response = await self.litellm.acompletion(**kwargs)
        except Exception as exc:
            raise translate(exc, target) from exc
        return Reply(to_json(response.model_dump()), target)

    async def embed(self, target: Target, body: dict[str, Any]) -> Reply:
        kwargs = self._kwargs(target, body, stream=None)
        kwargs["input"] = body.get("input")
        try:
            response = await self.litellm.aembedding(**kwargs)
        except Exception as exc:
            raise translate(exc, target) from exc
        return Reply(to_json(response.model_dump()), target)

    async def stream(self, target: Target, body: dict[str, Any]) -> Stream:
        """Start the stream and wait for its first chunk (the last moment to fall back)."""
        wrapper: Any = None
        try:
            async with asyncio.timeout(target.first_byte_timeout):
                wrapper = await self.litellm.acompletion(**self._kwargs(target, body, stream=True))
                first = await anext(aiter(wrapper))
        except BaseException as exc:
            if wrapper is not None:
                wrapper.close()
            if isinstance(exc, StopAsyncIteration):
                raise UpstreamError(f"The provider for model '{target.alias}' sent an empty "
                                    "stream.") from exc
            if isinstance(exc, Exception):
                raise translate(exc, target) from exc
            raise
        deadline = asyncio.get_running_loop().time() + target.request_timeout
        return Stream(target, _event(first), _rest(wrapper, target, deadline), wrapper.close)

    def _kwargs(self, target: Target, body: dict[str, Any], *, stream: bool | None
                ) -> dict[str, Any]:
        params = target.params
        kwargs = {k: v for k, v in body.items() if k not in _OWN_KEYS}
        kwargs.update({k: v for k, v in params.extra_params().items() if k not in _ROUTER_KEYS})
        kwargs.update(model=target.model, num_retries=0, timeout=target.request_timeout)
        if stream is not None:
            kwargs.update(messages=body.get("messages"), stream=stream)
        if params.api_base:
            kwargs["api_base"] = params.api_base
        if params.api_key is not None:
            kwargs["api_key"] = params.api_key.get_secret_value()
        if params.api_version:
            kwargs["api_version"] = params.api_version
        return kwargs


def _event(chunk: Any) -> bytes:
    return b"data: " + to_json(chunk.model_dump(exclude_none=True)) + b"\n\n"


async def _rest(
    wrapper: Any, target: Target, deadline: float
) -> AsyncGenerator[bytes, None]:
    """The events after the first, each within the idle timeout, all before the deadline."""
    loop = asyncio.get_running_loop()
    iterator = aiter(wrapper)
    try:
        while True:
            try:
                async with asyncio.timeout_at(min(loop.time() + target.idle_timeout, deadline)):
                    chunk = await anext(iterator)
            except StopAsyncIteration:
                return
            except Exception as exc:
                raise translate(exc, target) from exc
            yield _event(chunk)
    finally:
        wrapper.close()


def translate(exc: Exception, target: Target) -> GatewayError:
    """A litellm (or asyncio) exception as our error, by its status code, never by its text."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(f"The provider for model '{target.alias}' timed out.")
    status = getattr(exc, "status_code", None)
    log.debug("provider call for %s (%s) failed: %r", target.alias, target.label, exc)
    if not isinstance(status, int):
        log.warning("provider call for %s (%s) failed: %r", target.alias, target.label, exc)
        return UpstreamError(f"The provider for model '{target.alias}' failed.")
    if status == 408:
        return UpstreamTimeout(f"The provider for model '{target.alias}' timed out.")
    headers = _headers(exc)
    error = error_for_status(status, target.alias, {"message": _message(exc)}, headers)
    if status >= 500:
        error.retry_after = parse_retry_after(headers)
    return error


def _headers(exc: Exception) -> dict[str, str]:
    """Retry hints from the provider's response, if litellm kept it."""
    headers: dict[str, str] = {}
    response = getattr(exc, "response", None)
    for source in (getattr(response, "headers", None), getattr(exc, "litellm_response_headers",
                                                               None)):
        if source is not None:
            try:
                headers.update({str(k).lower(): str(v) for k, v in dict(source).items()})
            except (TypeError, ValueError):
                continue
    return headers


def _message(exc: Exception) -> str:
    """litellm prefixes messages with its class name (``litellm.BadRequestError: ...``)."""
    message = str(getattr(exc, "message", "") or exc)
    if message.startswith("litellm.") and ": " in message:
        message = message.split(": ", 1)[1]
    return message
