"""The gateway on loopback for the Responses and Messages surface tests.

``surface_gateway`` serves the gateway with the deployments a test names (native ones aimed
at a fake upstream, litellm ones at respx) and a pipeline that personalizes every request with
``BLOCK`` and records what ``prepare`` and ``finish`` were told. ``poll`` waits, bounded, for
something the worker does off the request path.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import httpx
from prometheus_client.parser import text_string_to_metric_families

from selfmodel.app import create_app
from selfmodel.pipeline import Prepared
from tests.support.gateway import gateway_config
from tests.support.servers import ServedApp, serve

BLOCK = "About this user: prefers concise answers."
T = TypeVar("T")


@dataclass
class Finished:
    prepared: Prepared
    kwargs: dict[str, Any]


@dataclass
class PersonalizingPipeline:
    """Wraps the app's pipeline: adds ``BLOCK`` to every request, records both calls."""

    inner: Any
    prepared: list[dict[str, Any]] = field(default_factory=list)
    finished: list[Finished] = field(default_factory=list)

    async def prepare(self, **kwargs: Any) -> Prepared:
        self.prepared.append(kwargs)
        prepared: Prepared = await self.inner.prepare(**kwargs)
        prepared.system_text = BLOCK
        return prepared

    async def finish(self, prepared: Prepared, **kwargs: Any) -> None:
        await asyncio.sleep(0.05)  # a store write takes a moment: the terminal event must wait
        self.finished.append(Finished(prepared, kwargs))


@dataclass
class SurfaceGateway:
    served: ServedApp
    app: Any
    pipeline: PersonalizingPipeline | None

    @property
    def url(self) -> str:
        return self.served.url

    @property
    def recorded(self) -> PersonalizingPipeline:
        assert self.pipeline is not None, "served with the real pipeline"
        return self.pipeline


@contextmanager
def surface_gateway(store_url: str, deployments: list[tuple[str, str, str | None]], *,
                    personalize: bool = True, run_workers: bool = False,
                    **settings: Any) -> Iterator[SurfaceGateway]:
    """The gateway with ``deployments`` (alias, litellm model, api_base) and ``echo``."""
    config = gateway_config(store_url, deployments, **settings)
    app = create_app(config, run_workers=run_workers)
    services = app.state.services
    pipeline = None
    if personalize:
        pipeline = PersonalizingPipeline(services.pipeline)
        app.state.services = replace(services, pipeline=pipeline)
    with serve(app) as served:
        yield SurfaceGateway(served, app, pipeline)


def finished_when_terminal_arrives(gw: SurfaceGateway, path: str, body: dict[str, Any],
                                   terminal: bytes) -> int:
    """How many exchanges were recorded when the stream's terminal event reached the client:
    read raw, as it arrives, so no client-side parsing delay can hide the order."""
    seen = b""
    with httpx.stream("POST", gw.url + path, json=body) as response:
        for chunk in response.iter_raw():
            seen += chunk
            if terminal in seen:
                return len(gw.recorded.finished)
    raise AssertionError(f"the stream ended without {terminal!r}")


def requests_counted(gw: SurfaceGateway, **labels: str) -> float:
    """``selfmodel_requests_total`` for exactly these labels, as /metrics exports it."""
    text = httpx.get(gw.url + "/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "selfmodel_requests_total" and sample.labels == labels:
                return float(sample.value)
    return 0.0


def poll(probe: Callable[[], T | None], timeout: float = 60.0) -> T:
    """``probe()``'s first non-None value, asked every 50 ms until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing after {timeout} s")
        time.sleep(0.05)


def sse_events(raw: bytes) -> list[tuple[str | None, Any]]:
    """The events of an SSE body as ``(event type, parsed data)``, read as a client would."""
    events: list[tuple[str | None, Any]] = []
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        kind, data = None, []
        for line in block.split(b"\n"):
            if line.startswith(b"event:"):
                kind = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                data.append(line[5:].strip())
        if data:
            events.append((kind, json.loads(b"\n".join(data))))
    return events
