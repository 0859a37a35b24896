"""A provider's embedding model in place of the built-in WordLlama table, per tenant.

A tenant names a ``model_list`` alias (``tenants[].embedding_model``, or the top-level
``embedding_model`` for every tenant); its beliefs' vectors and its requests' vectors then
come from that model, through the provider router (``Router.embed``: the deployments,
credentials, retries and circuit breakers chat uses; litellm's ``aembedding`` for the
providers that need translation, OpenAI's wire format for the others).

The ranking itself is synchronous (``semantic.Embedder``), and a provider is a network call,
so the two are split:

- ``fetch(texts, timeout)`` (async) asks the provider for the texts not yet known and keeps
  their unit vectors; it never raises: past ``timeout``, on any error, or during the
  cool-down after a failure, it returns having learned nothing;
- ``__call__`` / ``one`` (sync) answer from what was fetched, with a zero row for a text
  not known, which the callers read as "no vector": a belief written without one ranks by
  words alone and gets one at a later write (a text asked for and not known is kept aside,
  and the next write's ``fetch(..., backlog=True)`` asks for it too); a request without one
  ranks by words alone.

So the request path waits at most ``embedding_timeout_ms`` (and not at all while the
provider is cooling down after a failure), and a write at most
``embedding_write_timeout_ms``. ``name`` records the alias and the provider's model with
each vector: a vector of another model (the built-in one, the alias pointed elsewhere) is
never compared with this one's; it is recomputed at the belief's next write.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from selfmodel.config import Config, Tenant
from selfmodel.metrics import Metrics
from selfmodel.recent import Recent

if TYPE_CHECKING:
    from selfmodel.providers.router import Router

log = logging.getLogger("selfmodel.embeddings")

Matrix = npt.NDArray[np.float32]
Fetch = Callable[[list[str]], Awaitable[list[list[float]]]]
Note = Callable[[str, str, str], None]  # (alias, path, result): a fetch's outcome, counted
KEPT_TEXTS = 16_384  # texts whose vectors are kept (a 1,536-d vector is 6 KB: ~100 MB max)
MAX_BATCH = 256  # texts per provider call
BACKLOG = 1024  # texts asked for while the provider could not answer, fetched at next write


def router_fetch(router: Router, alias: str) -> Fetch:
    """``Fetch`` through the provider router: one OpenAI-shaped /embeddings call."""

    async def fetch(texts: list[str]) -> list[list[float]]:
        reply = await router.embed(alias, {"model": alias, "input": texts})
        return vectors_of(json.loads(reply.body), len(texts))

    return fetch


def vectors_of(data: Any, count: int) -> list[list[float]]:
    """The ``count`` embeddings of an OpenAI-shaped answer, in input order (by ``index``)."""
    rows = data.get("data") if isinstance(data, dict) else None
    if not isinstance(rows, list) or len(rows) != count:
        raise ValueError(f"expected {count} embeddings, got "
                         f"{len(rows) if isinstance(rows, list) else 'none'}")
    ordered = sorted(rows, key=lambda row: int(row.get("index", 0)))
    out = []
    for row in ordered:
        vector = row.get("embedding")
        if not isinstance(vector, list) or not vector:
            raise ValueError("an embedding is missing or not a list of numbers")
        out.append([float(x) for x in vector])
    return out


class ProviderEmbedder:
    """``semantic.Embedder`` over a provider's model (see the module docstring)."""

    def __init__(self, alias: str, model: str, fetch: Fetch, *, cooldown: float = 30.0,
                 clock: Callable[[], float] = time.monotonic, note: Note | None = None) -> None:
        self.alias = alias
        self._note = note
        self.name = f"provider:{alias}:{model}"
        self._fetch = fetch
        self._cooldown = cooldown
        self._clock = clock
        self._until = 0.0  # no call before this moment (after a failure)
        self._vectors: Recent[str, npt.NDArray[np.float32]] = Recent(KEPT_TEXTS)
        self._dim = 0
        self._backlog: dict[str, None] = {}  # ordered set of texts missed by a write

    def knows(self, text: str) -> bool:
        return self._vectors.get(text) is not None

    def cooling(self) -> bool:
        """Whether a recent failure keeps the provider from being asked."""
        return self._clock() < self._until

    async def fetch(self, texts: Sequence[str], timeout: float, *,
                    backlog: bool = False) -> bool:
        """Learn the vectors of ``texts`` not yet known (and, with ``backlog``, of the texts
        earlier writes missed); True when all of them are known after it. Never raises, and
        returns within ``timeout`` seconds."""
        wanted = [*texts, *self._backlog] if backlog else list(texts)
        missing = list(dict.fromkeys(t for t in wanted if t.strip() and not self.knows(t)))
        if backlog:
            self._backlog.clear()
        if not missing:
            return True
        path = "write" if backlog else "request"
        if self.cooling():
            self._noted(path, "cooling")
            return False
        try:
            async with asyncio.timeout(timeout):
                for start in range(0, len(missing), MAX_BATCH):
                    batch = missing[start:start + MAX_BATCH]
                    for text, row in zip(batch, await self._fetch(batch), strict=True):
                        self._keep(text, row)
        except Exception as exc:  # slow, down, or a wrong answer: lexical for now
            self._until = self._clock() + self._cooldown
            log.warning("embedding model %r unavailable (%s: %s); ranking by words for %.0f s",
                        self.alias, type(exc).__name__, exc or "timed out", self._cooldown)
            self._noted(path, "failed")
            return False
        self._noted(path, "ok")
        return True

    def _noted(self, path: str, result: str) -> None:
        if self._note is not None:
            self._note(self.alias, path, result)

    def _keep(self, text: str, row: list[float]) -> None:
        vector = np.asarray(row, dtype=np.float32)
        norm = math.sqrt(float(vector @ vector))
        if norm > 0 and np.isfinite(norm):
            self._vectors.put(text, vector / norm)
            self._dim = len(vector)

    def one(self, text: str) -> npt.NDArray[np.float32]:
        """The vector fetched for ``text``, or a zero row (not fetched: no vector)."""
        kept = self._vectors.get(text)
        return kept if kept is not None else np.zeros(max(self._dim, 1), dtype=np.float32)

    def __call__(self, texts: Sequence[str]) -> Matrix:
        """Rows for a write (claims, beliefs): a text not fetched is kept aside for the
        next write's fetch."""
        for text in texts:
            if text.strip() and not self.knows(text) and len(self._backlog) < BACKLOG:
                self._backlog[text] = None
        rows = [self.one(t) for t in texts]
        width = max((len(r) for r in rows), default=1)
        return np.stack([r if len(r) == width else np.zeros(width, np.float32) for r in rows]
                        ) if rows else np.zeros((0, width), dtype=np.float32)


class ProviderEmbedders:
    """The provider embedder of each tenant that names one (one per alias, shared), with
    the configured timeouts."""

    def __init__(self, config: Config, router: Router | None,
                 metrics: Metrics | None = None) -> None:
        self.request_timeout = config.embedding_timeout_ms / 1000
        self.write_timeout = config.embedding_write_timeout_ms / 1000
        self._by_tenant: dict[str, ProviderEmbedder] = {}  # tenant name: its embedder
        by_alias: dict[str, ProviderEmbedder] = {}  # one per alias, shared by its tenants
        for tenant in config.effective_tenants():
            alias = config.embedding_alias(tenant)
            if alias is None or router is None:
                continue
            if alias not in by_alias:
                deployments = config.deployments(alias)
                model = deployments[0].litellm_params.model if deployments else alias
                by_alias[alias] = ProviderEmbedder(
                    alias, model, router_fetch(router, alias),
                    cooldown=config.embedding_cooldown_ms / 1000,
                    note=_counter(metrics) if metrics is not None else None)
            self._by_tenant[tenant.name] = by_alias[alias]

    def __bool__(self) -> bool:
        return bool(self._by_tenant)

    def for_tenant(self, tenant: Tenant | str) -> ProviderEmbedder | None:
        """The embedder of ``tenant`` (a Tenant or its name), or None: the built-in one."""
        return self._by_tenant.get(tenant if isinstance(tenant, str) else tenant.name)


def _counter(metrics: Metrics) -> Note:
    def note(alias: str, path: str, result: str) -> None:
        metrics.embedding_fetches.labels(alias=alias, path=path, result=result).inc()

    return note
