"""The gateway under test, served on loopback in front of a fake provider.

``gateway_config`` writes a config whose aliases point at fake upstreams; ``running`` serves
the fake provider(s) and the gateway (``create_app``) with uvicorn, and yields both URLs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from selfmodel.app import create_app
from selfmodel.config import Config
from tests.support.servers import ServedApp, serve
from tests.support.upstream import FakeUpstream

FAST_SERVER = {
    "retry_backoff": 0.01,
    "circuit_cooldown": 30.0,
    "request_timeout": 5.0,
    "first_byte_timeout": 5.0,
    "idle_timeout": 5.0,
    "connect_timeout": 2.0,
}


@dataclass
class Running:
    gateway: ServedApp
    upstreams: list[FakeUpstream]
    app: Any

    @property
    def url(self) -> str:
        return self.gateway.url + "/v1"

    @property
    def upstream(self) -> FakeUpstream:
        return self.upstreams[0]


def gateway_config(
    store_url: str,
    deployments: list[tuple[str, str, str | None]],
    *,
    tenants: list[dict[str, Any]] | None = None,
    **server: Any,
) -> Config:
    """``deployments``: (alias, litellm model, api_base) in fallback order."""
    model_list = [
        {"model_name": alias, "litellm_params": {"model": model, "api_base": base,
                                                 "api_key": "sk-upstream"}}
        for alias, model, base in deployments
    ]
    model_list.append({"model_name": "echo", "litellm_params": {"model": "selfmodel/echo"}})
    return Config.model_validate({
        "model_list": model_list,
        "store": {"url": store_url},
        "tenants": tenants or [],
        "server": {**FAST_SERVER, **server},
    })


@contextmanager
def running(store_url: str, upstreams: int = 1, *, aliases: tuple[str, ...] = ("gpt-4o-mini",),
            tenants: list[dict[str, Any]] | None = None, run_workers: bool = False,
            **server: Any) -> Iterator[Running]:
    """Fake provider(s) plus the gateway; alias ``gpt-4o-mini`` falls back across them.
    ``run_workers``: the gateway's in-process observation workers learn from its chats."""
    with ExitStack() as stack:
        fakes = [FakeUpstream() for _ in range(upstreams)]
        served = [stack.enter_context(serve(fake)) for fake in fakes]
        deployments = [(alias, "openai/gpt-4o-mini", s.url + "/v1")
                       for alias in aliases for s in served]
        config = gateway_config(store_url, deployments, tenants=tenants, **server)
        app = create_app(config, run_workers=run_workers)
        gateway = stack.enter_context(serve(app))
        yield Running(gateway, fakes, app)
