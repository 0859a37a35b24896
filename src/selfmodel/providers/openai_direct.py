"""The direct path: OpenAI-compatible deployments, forwarded with one shared aiohttp session.

The body is serialized once (the alias swapped for the deployment's model name) and the
answer's bytes go back untouched: no per-chunk decode and re-encode. Measured here, an
aiohttp pass-through serves about 1,500 requests/s on a core where httpx managed 440 with a
bad p99, which is why this path exists at all instead of going through litellm.

Timeouts: ``connect`` for the TCP/TLS handshake, ``request`` for a whole non-stream answer,
``first_byte`` for a stream's headers and first chunk, ``idle`` between chunks, and the
request timeout again as a cap on a whole stream (a trickle never runs forever).

What comes back with a 2xx is checked before anyone calls it a success (content type, JSON
that parses, SSE lines, a size cap): providers/answer_checks.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp
from pydantic_core import to_json

from selfmodel.errors import GatewayError, UpstreamError, UpstreamTimeout
from selfmodel.providers.answer_checks import SSELines, check_stream_type, read_json_answer
from selfmodel.providers.answers import Reply, Stream
from selfmodel.providers.targets import Target
from selfmodel.providers.upstream_errors import error_from_payload

_POOL_LIMIT = 1024
MAX_ANSWER_BYTES = 16 * 1024 * 1024  # server.max_upstream_bytes' default


class OpenAIDirect:
    """The pooled session lives from ``start`` to ``close`` (the app's lifespan)."""

    def __init__(self, max_answer_bytes: int = MAX_ANSWER_BYTES) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._max_bytes = max_answer_bytes
        self._timeouts: dict[tuple[float, float | None], aiohttp.ClientTimeout] = {}

    async def start(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=_POOL_LIMIT, ttl_dns_cache=300,
                                             keepalive_timeout=30)
            self._session = aiohttp.ClientSession(connector=connector)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def complete(self, target: Target, body: dict[str, Any]) -> Reply:
        return await self._post_whole(target, target.chat_url, body, self._max_bytes)

    async def embed(self, target: Target, body: dict[str, Any]) -> Reply:
        """Not size-capped: a large batch of vectors is legitimately tens of megabytes."""
        return await self._post_whole(target, target.embeddings_url, body, None)

    async def stream(self, target: Target, body: dict[str, Any]) -> Stream:
        """Open the stream and wait for its first chunk (the last moment to fall back)."""
        session = self._require_session()
        data = _encode(target, body)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + target.request_timeout
        response: aiohttp.ClientResponse | None = None
        try:
            async with asyncio.timeout(target.first_byte_timeout):
                response = await session.post(target.chat_url, data=data, headers=target.headers,
                                              timeout=self._timeout(target.connect_timeout, None))
                if response.status >= 400:
                    payload = await response.read()
                    raise error_from_payload(response.status, target.alias, payload,
                                             response.headers)
                check_stream_type(response, target.alias)
                first = await response.content.readany()
        except BaseException as exc:
            if response is not None:
                response.close()
            if isinstance(exc, TimeoutError | aiohttp.ClientError):
                raise _translate(exc, target, " before sending anything") from exc
            raise
        if not first:
            response.close()
            raise UpstreamError(f"The provider for model '{target.alias}' sent an empty stream.")
        lines = SSELines(target.alias)
        try:
            lines.feed(first)
        except UpstreamError:
            response.close()
            raise
        return Stream(target, first, _rest(response, target, deadline, lines), response.close)

    async def _post_whole(self, target: Target, url: str, body: dict[str, Any],
                          max_bytes: int | None) -> Reply:
        session = self._require_session()
        timeout = self._timeout(target.connect_timeout, target.request_timeout)
        try:
            async with session.post(url, data=_encode(target, body), headers=target.headers,
                                    timeout=timeout) as response:
                if response.status >= 400:
                    raise error_from_payload(response.status, target.alias,
                                             await response.read(), response.headers)
                payload = await read_json_answer(response, target.alias, max_bytes)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _translate(exc, target, "") from exc
        return Reply(payload, target)

    def _timeout(self, connect: float, total: float | None) -> aiohttp.ClientTimeout:
        """ClientTimeout objects are immutable; one per distinct setting, built once."""
        key = (connect, total)
        timeout = self._timeouts.get(key)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(total=total, sock_connect=connect)
            self._timeouts[key] = timeout
        return timeout

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("the router was not started (app lifespan not run)")
        return self._session


def _encode(target: Target, body: dict[str, Any]) -> bytes:
    """New bytes with the deployment's model name; the caller's body is left as it was (a
    fallback to another deployment must not see the first one's model)."""
    return to_json({**body, "model": target.model})


async def _rest(response: aiohttp.ClientResponse, target: Target, deadline: float,
                lines: SSELines) -> AsyncGenerator[bytes, None]:
    """The chunks after the first, each within the idle timeout, all before the deadline,
    each checked to be server-sent events before it is passed on."""
    content = response.content
    watchdog = Watchdog(content, target.idle_timeout, deadline)
    finished = False
    try:
        while True:
            try:
                chunk = await content.readany()
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise _translate(exc, target, " in the middle of the stream") from exc
            if not chunk:
                lines.end()
                finished = True
                return
            watchdog.last = watchdog.loop.time()
            lines.feed(chunk)
            yield chunk
    finally:
        watchdog.cancel()
        if finished:
            response.release()
        else:
            response.close()


class Watchdog:
    """The idle and whole-stream timeouts of one stream, with one timer at a time.

    A timer per chunk (``asyncio.timeout`` around each read) costs a heap push and a cancel
    for every chunk; here a chunk only stores the time, and the timer, when it fires, looks
    whether the stream was really idle and otherwise sets itself again. Expiry fails the
    pending read with ``TimeoutError`` through the reader itself.
    """

    __slots__ = ("_deadline", "_handle", "_idle", "_reader", "last", "loop")

    def __init__(self, reader: aiohttp.StreamReader, idle: float, deadline: float) -> None:
        self.loop = asyncio.get_running_loop()
        self._reader = reader
        self._idle = idle
        self._deadline = deadline
        self.last = self.loop.time()
        self._handle = self.loop.call_at(min(self.last + idle, deadline), self._check)

    def _check(self) -> None:
        due = min(self.last + self._idle, self._deadline)
        if self.loop.time() >= due:
            self._reader.set_exception(TimeoutError())
        else:
            self._handle = self.loop.call_at(due, self._check)

    def cancel(self) -> None:
        self._handle.cancel()


def _translate(exc: TimeoutError | aiohttp.ClientError, target: Target,
               when: str) -> GatewayError:
    """aiohttp's and asyncio's errors as ours, without hosts or library details."""
    alias = target.alias
    if isinstance(exc, aiohttp.ConnectionTimeoutError | aiohttp.ClientConnectorError):
        return UpstreamError(f"Could not connect to the provider for model '{alias}'.")
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(f"The provider for model '{alias}' timed out{when}.")
    return UpstreamError(f"The connection to the provider for model '{alias}' failed{when}.")
