"""What one request did, noted by the parts that know it and read once when the response ended.

Authentication knows the tenant, the route knows the model alias, the router knows how long
the provider kept us waiting; none of them sees the others or the ASGI middleware that turns
this into metrics and the request's log line (``api/middleware.py``; the pipeline's decision
reaches it in the request's state). A ``ContextVar`` carries the ``Trace`` between them, so no
parameter is threaded through every call. Tasks started inside a request (a stream's relay,
a shielded write) copy the context and so write to the same ``Trace``.

Outside a request (observation workers, tests calling the pipeline directly) there is no
trace and every ``note_*`` is a no-op. Each note is one context lookup and one attribute
store: this runs on the hot path.
"""

from __future__ import annotations

import time
from contextvars import ContextVar, Token

__all__ = ["Trace", "begin", "current", "end", "note_model", "note_stream_error",
           "note_tenant"]


class Trace:
    """One request's facts. Labels hold configured names only (never what a caller sent)."""

    __slots__ = ("first_chunk", "last_chunk", "model", "provider_seconds",
                 "provider_started", "status", "stream_error", "tenant")

    def __init__(self) -> None:
        self.tenant: str | None = None
        self.model: str | None = None
        self.status = 0
        self.provider_started = 0.0  # perf_counter when the first provider call began
        self.provider_seconds = 0.0  # time spent inside provider calls (retries included)
        self.first_chunk = 0.0  # perf_counter of the first streamed body message
        self.last_chunk = 0.0  # and of the last one before the closing message
        self.stream_error: str | None = None  # type of a provider failure after the first byte

    def provider_begin(self) -> float:
        started = time.perf_counter()
        if not self.provider_started:
            self.provider_started = started
        return started

    def provider_end(self, started: float) -> None:
        self.provider_seconds += time.perf_counter() - started

    def provider_span(self) -> float:
        """Seconds the provider accounts for. A stream belongs to the provider from the call
        until its last chunk was relayed; a whole answer, for the calls themselves."""
        if self.last_chunk and self.provider_started:
            return max(self.provider_seconds, self.last_chunk - self.provider_started)
        return self.provider_seconds


_CURRENT: ContextVar[Trace | None] = ContextVar("selfmodel_trace", default=None)


def begin() -> tuple[Trace, Token[Trace | None]]:
    """A fresh trace for the request about to run (the middleware's call)."""
    trace = Trace()
    return trace, _CURRENT.set(trace)


def end(token: Token[Trace | None]) -> None:
    _CURRENT.reset(token)


def current() -> Trace | None:
    return _CURRENT.get()


def note_tenant(name: str) -> None:
    trace = _CURRENT.get()
    if trace is not None:
        trace.tenant = name


def note_model(alias: str) -> None:
    """A model alias that is configured and allowed (an unknown name never becomes a label)."""
    trace = _CURRENT.get()
    if trace is not None:
        trace.model = alias


def note_stream_error(error_type: str) -> None:
    """A provider that failed mid-stream (the router counts failures before the first byte;
    after it, only the relay sees them)."""
    trace = _CURRENT.get()
    if trace is not None:
        trace.stream_error = error_type
