"""The router: the one retry / fallback / circuit-breaker loop, for every path and operation.

For an alias, the deployments are tried in config order, skipping those whose circuit is
open (if every one is open, all are tried anyway). Each deployment gets ``1 + retries``
attempts on a retryable error (429, 5xx, unreachable), waiting as the provider's Retry-After
says (up to ``server.max_retry_after``) or with jittered exponential backoff; a timeout or a
Retry-After too long to wait moves on to the next deployment at once. A 4xx other than 429 is
the caller's to fix: it is raised after exactly one call. When everything is spent the last
error is raised with ``x-should-retry: false``, so the openai SDK does not multiply our retries.

Streams fall back only until their first chunk has arrived (``Backend.stream`` returns after
it); what happens after that is the stream's own business.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Protocol, TypeVar

from selfmodel.config import Config, ServerSettings
from selfmodel.errors import GatewayError, ModelNotFound, RateLimited, UpstreamTimeout
from selfmodel.metrics import Metrics
from selfmodel.observability import current as current_trace
from selfmodel.providers.answers import Reply, Stream
from selfmodel.providers.echo import EchoModel
from selfmodel.providers.litellm_path import LiteLLMPath
from selfmodel.providers.openai_direct import OpenAIDirect
from selfmodel.providers.targets import Kind, Target, build_targets
from selfmodel.providers.upstream_errors import RETRYABLE

log = logging.getLogger("selfmodel.providers")

T = TypeVar("T")
_MAX_BACKOFF = 8.0


class Backend(Protocol):
    """One way of calling a deployment. Errors are raised as ``GatewayError`` subclasses."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def complete(self, target: Target, body: dict[str, Any]) -> Reply: ...

    async def stream(self, target: Target, body: dict[str, Any]) -> Stream: ...

    async def embed(self, target: Target, body: dict[str, Any]) -> Reply: ...


Call = Callable[[Backend, Target], Awaitable[T]]


class Router:
    """Built once per app; ``start``/``close`` open and close the shared HTTP session."""

    def __init__(self, config: Config, metrics: Metrics | None = None,
                 backends: dict[Kind, Backend] | None = None) -> None:
        self._server: ServerSettings = config.server
        self._targets = build_targets(config)
        self._metrics = metrics
        self._backends: dict[Kind, Backend] = backends or {
            "direct": OpenAIDirect(config.server.max_upstream_bytes),
            "litellm": LiteLLMPath(preload=self._uses("litellm")),
            "echo": EchoModel(),
        }

    def _uses(self, kind: Kind) -> bool:
        return any(t.kind == kind for group in self._targets.values() for t in group)

    async def start(self) -> None:
        for backend in self._backends.values():
            await backend.start()

    async def close(self) -> None:
        for backend in self._backends.values():
            await backend.close()

    def knows(self, alias: str) -> bool:
        return alias in self._targets

    def aliases(self) -> list[str]:
        return list(self._targets)

    def targets(self, alias: str) -> list[Target]:
        return list(self._targets.get(alias, ()))

    async def complete(self, alias: str, body: dict[str, Any]) -> Reply:
        """A non-stream chat completion; ``body["model"]`` is replaced per deployment."""
        return await self._run(alias, lambda backend, t: backend.complete(t, body))

    async def stream(self, alias: str, body: dict[str, Any]) -> Stream:
        """An opened chat stream whose first chunk has arrived."""
        return await self._run(alias, lambda backend, t: backend.stream(t, body))

    async def embed(self, alias: str, body: dict[str, Any]) -> Reply:
        return await self._run(alias, lambda backend, t: backend.embed(t, body))

    async def run(self, alias: str, call: Call[T]) -> T:
        """Any other operation (the Responses and Messages surfaces) through the same loop:
        ``call(backend, target)`` gets each deployment tried and its chat backend."""
        return await self._run(alias, call)

    def backend(self, kind: Kind) -> Backend:
        """The backend of one path (surfaces forward natively through ``direct``'s session)."""
        return self._backends[kind]

    async def _run(self, alias: str, call: Call[T]) -> T:
        """``_attempts``, its time noted as the provider's share of the request (metrics)."""
        trace = current_trace()
        if trace is None:  # not inside a request (the llm extractor in a worker)
            return await self._attempts(alias, call)
        started = trace.provider_begin()
        try:
            return await self._attempts(alias, call)
        finally:
            trace.provider_end(started)

    async def _attempts(self, alias: str, call: Call[T]) -> T:
        targets = self._targets.get(alias)
        if not targets:
            raise ModelNotFound(f"The model '{alias}' does not exist.", param="model")
        last: GatewayError | None = None
        for target in self._order(targets):
            backend = self._backends[target.kind]
            for attempt in range(target.retries + 1):
                if attempt and target.circuit.is_open:
                    break
                try:
                    result = await call(backend, target)
                except RETRYABLE as exc:
                    last = exc
                    target.circuit.failed()
                    self._count(alias, exc)
                    delay = self._delay(exc, attempt)
                    if delay is None or attempt == target.retries:
                        break
                    log.warning("retrying %s (%s) in %.2fs: %s", alias, target.label, delay,
                                exc.message)
                    await asyncio.sleep(delay)
                    continue
                except GatewayError as exc:
                    target.circuit.succeeded()  # it answered: the deployment is up
                    self._count(alias, exc)
                    raise
                except asyncio.CancelledError:
                    target.circuit.abandoned()
                    raise
                target.circuit.succeeded()
                return result
        assert last is not None  # every target was tried at least once
        raise self._exhausted(last)

    @staticmethod
    def _order(targets: list[Target]) -> Iterator[Target]:
        """Deployments whose circuit lets this request through; all of them if none does.

        Lazy, so a half-open circuit is only claimed for its probe when it is reached. A lone
        deployment is always tried (with every circuit open, we try anyway).
        """
        if len(targets) == 1:
            yield targets[0]
            return
        admitted = False
        for target in targets:
            if target.circuit.admit():
                admitted = True
                yield target
        if not admitted:
            yield from targets

    def _delay(self, error: GatewayError, attempt: int) -> float | None:
        """Seconds before the next attempt on the same deployment; None: move on."""
        if isinstance(error, UpstreamTimeout):
            return None
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= self._server.max_retry_after else None
        base = self._server.retry_backoff * (2.0**attempt)
        return min(_MAX_BACKOFF, base * (0.5 + random.random() / 2))

    def _exhausted(self, error: GatewayError) -> GatewayError:
        too_long = isinstance(error, RateLimited) and (
            error.retry_after is not None and error.retry_after > self._server.max_retry_after
        )
        if not too_long:
            error.headers["x-should-retry"] = "false"
        return error

    def _count(self, alias: str, error: GatewayError) -> None:
        if self._metrics is not None:
            self._metrics.provider_errors.labels(model=alias, type=error.type).inc()
