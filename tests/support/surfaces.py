"""The gateway on loopback for the Responses and Messages surface tests.

``surface_gateway`` serves the gateway with the deployments a test names (native ones aimed
at a fake upstream, litellm ones at respx) and a pipeline that personalizes every request with
``BLOCK`` and records what ``prepare`` and ``finish`` were told. ``poll`` waits, bounded, for
something the worker does off the request path.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

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
        pipeline = services.pipeline = PersonalizingPipeline(services.pipeline)
    with serve(app) as served:
        yield SurfaceGateway(served, app, pipeline)


def poll(probe: Callable[[], T | None], timeout: float = 10.0) -> T:
    """``probe()``'s first non-None value, asked every 50 ms until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing after {timeout} s")
        time.sleep(0.05)
