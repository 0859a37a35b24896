"""Targets: the deployments of config.yaml's ``model_list`` as the router uses them.

A target knows which path serves it (``direct`` for providers that speak OpenAI's API,
``litellm`` for those that need translation, ``echo`` for the built-in offline model), the
model name the provider expects, its timeouts and its circuit breaker. Everything is computed
once when the router is built, so a request does no string work to find where it goes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal

from selfmodel.config import ECHO_MODEL, Config, LiteLLMParams, ModelDeployment, ServerSettings
from selfmodel.providers.circuit import Circuit

Kind = Literal["direct", "litellm", "echo"]
# How a direct deployment gets Responses API requests: ``native`` at <api_base>/responses,
# ``bridged`` as chat completions translated both ways, ``auto`` native until the provider
# answers that it has no such endpoint (404/405), then bridged for good.
Operation = Literal["native", "bridged", "auto"]
OPERATION_MODES: tuple[Operation, ...] = ("native", "bridged", "auto")

# Providers whose API is OpenAI's own wire format: forwarded byte for byte, no litellm.
_OPENAI_BASES = {
    "openai": "https://api.openai.com/v1",
    "custom_openai": None,
    "hosted_vllm": None,
}
_AZURE_API_VERSION = "2024-10-21"


@dataclass(eq=False)
class Target:
    """One deployment of an alias, ready to be called."""

    alias: str
    label: str  # names the deployment in ``x-selfmodel-deployment``; never the api_base
    kind: Kind
    model: str  # what the provider is asked for (direct: without the provider prefix)
    params: LiteLLMParams
    request_timeout: float
    connect_timeout: float
    first_byte_timeout: float
    idle_timeout: float
    retries: int
    circuit: Circuit
    chat_url: str = ""
    embeddings_url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    responses: Operation = "bridged"  # direct deployments: see ``Operation``
    # Anthropic deployments: Anthropic's own Messages API, resolved once at startup.
    messages_url: str = ""
    messages_headers: dict[str, str] = field(default_factory=dict)

    @property
    def responses_native(self) -> bool:
        """Whether Responses requests go to the provider's own /responses now."""
        return self.kind == "direct" and self.responses != "bridged"

    def responses_missing(self) -> bool:
        """The provider said it has no /responses: bridge from now on, if ``auto``."""
        if self.responses != "auto":
            return False
        self.responses = "bridged"
        return True


def build_targets(config: Config) -> dict[str, list[Target]]:
    """Every alias with its deployments in config order (the fallback order)."""
    targets: dict[str, list[Target]] = {}
    for deployment in config.model_list:
        group = targets.setdefault(deployment.model_name, [])
        group.append(_target(deployment, config.server, [t.label for t in group]))
    return targets


def kind_of(params: LiteLLMParams) -> Kind:
    if params.model == ECHO_MODEL:
        return "echo"
    if params.provider in _OPENAI_BASES or (params.provider == "azure" and params.api_base):
        return "direct"
    return "litellm"


def _target(deployment: ModelDeployment, server: ServerSettings, taken: list[str]) -> Target:
    params = deployment.litellm_params
    kind = kind_of(params)
    label = str(deployment.model_info.get("id") or params.model)
    if label in taken:
        label = f"{label}#{len(taken) + 1}"
    target = Target(
        alias=deployment.model_name,
        label=label,
        kind=kind,
        model=_upstream_model(params) if kind == "direct" else params.model,
        params=params,
        request_timeout=params.timeout or server.request_timeout,
        connect_timeout=server.connect_timeout,
        first_byte_timeout=params.stream_timeout or server.first_byte_timeout,
        idle_timeout=server.idle_timeout,
        retries=server.num_retries if params.max_retries is None else params.max_retries,
        circuit=Circuit(server.circuit_failures, server.circuit_cooldown),
    )
    if kind == "direct":
        _add_direct_endpoints(target)
        target.responses = responses_mode(deployment)
    elif params.provider == "anthropic":
        _add_anthropic_endpoints(target)
    return target


ANTHROPIC_BASE = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"


def _add_anthropic_endpoints(target: Target) -> None:
    """Anthropic's Messages URL and auth for the native pass-through, read once: from the
    deployment, else the environment variables litellm and Anthropic's SDK read."""
    params = target.params
    url = (params.api_base or os.environ.get("ANTHROPIC_API_BASE")
           or os.environ.get("ANTHROPIC_BASE_URL") or ANTHROPIC_BASE).rstrip("/")
    target.messages_url = url if url.endswith("/v1/messages") else url + "/v1/messages"
    headers = {"content-type": "application/json", "anthropic-version": ANTHROPIC_VERSION}
    extra = params.extra_params().get("extra_headers")
    if isinstance(extra, dict):
        headers.update({str(k): str(v) for k, v in extra.items()})
    key = _api_key(params, "ANTHROPIC_API_KEY")
    if key:
        headers["x-api-key"] = key
    target.messages_headers = headers


def responses_mode(deployment: ModelDeployment) -> Operation:
    """``model_info.responses`` when set; else native for OpenAI's own API and Azure (both
    serve it), auto for any other OpenAI-compatible server (vLLM, Ollama, Groq and most
    self-hosted servers serve only chat completions)."""
    chosen = deployment.model_info.get("responses")
    if chosen in OPERATION_MODES:
        return chosen  # type: ignore[no-any-return]
    params = deployment.litellm_params
    own = params.provider == "azure" or (
        params.provider == "openai"
        and (params.api_base or _OPENAI_BASES["openai"] or "").rstrip("/")
        == _OPENAI_BASES["openai"])
    return "native" if own else "auto"


def _upstream_model(params: LiteLLMParams) -> str:
    """``openai/gpt-4o-mini`` -> ``gpt-4o-mini``; a bare name is OpenAI's already."""
    return params.model.split("/", 1)[1] if "/" in params.model else params.model


def _add_direct_endpoints(target: Target) -> None:
    """URLs and auth headers for an OpenAI-compatible deployment (api_base includes /v1)."""
    params = target.params
    headers = {"Content-Type": "application/json"}
    extras = params.extra_params()
    if isinstance(extras.get("organization"), str):
        headers["OpenAI-Organization"] = extras["organization"]
    if isinstance(extras.get("extra_headers"), dict):
        headers.update({str(k): str(v) for k, v in extras["extra_headers"].items()})
    if params.provider == "azure":
        base = f"{(params.api_base or '').rstrip('/')}/openai/deployments/{target.model}"
        query = f"?api-version={params.api_version or _AZURE_API_VERSION}"
        target.chat_url = f"{base}/chat/completions{query}"
        target.embeddings_url = f"{base}/embeddings{query}"
        key = _api_key(params, "AZURE_API_KEY")
        if key:
            headers["api-key"] = key
    else:
        base = (params.api_base or _OPENAI_BASES.get(params.provider) or "").rstrip("/")
        if not base:
            base = _OPENAI_BASES["openai"] or ""
        target.chat_url = f"{base}/chat/completions"
        target.embeddings_url = f"{base}/embeddings"
        key = _api_key(params, "OPENAI_API_KEY" if params.provider == "openai" else None)
        if key:
            headers["Authorization"] = f"Bearer {key}"
    target.headers = headers


def _api_key(params: LiteLLMParams, env_name: str | None) -> str | None:
    """The deployment's key, else the provider's usual environment variable (as litellm does)."""
    if params.api_key is not None:
        return params.api_key.get_secret_value()
    return os.environ.get(env_name) if env_name else None
