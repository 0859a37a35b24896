"""What a provider call gives back, the same for every path (direct, litellm, echo).

A ``Reply`` is a whole non-stream answer as OpenAI-shaped JSON bytes. A ``Stream`` is an
opened SSE stream whose first chunk has already arrived: until then the router may still
fall back to another deployment; after it, the stream belongs to the client.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

from selfmodel.providers.targets import Target


@dataclass(slots=True)
class Reply:
    body: bytes  # OpenAI-shaped JSON
    target: Target


@dataclass(slots=True)
class Stream:
    """SSE bytes as the provider sent them (direct) or as we framed them (litellm, echo).

    ``rest`` raises ``UpstreamError`` / ``UpstreamTimeout`` when the provider fails mid-way.
    ``close`` drops the provider connection at once; it is safe to call more than once.
    """

    target: Target
    first: bytes
    rest: AsyncGenerator[bytes, None]
    close: Callable[[], None]
