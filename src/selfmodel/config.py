"""Settings and config.yaml loading.

The file's shape is part of the public contract (DESIGN.md section 3): ``model_list`` is
LiteLLM's, so a LiteLLM user can bring their file. Values of the form ``os.environ/NAME`` are
read from the environment at load time. Nothing is read at import time: ``load_config`` is
called by the CLI (or a test) and the result is passed to ``create_app``.

A wrong file raises ``ConfigError`` naming the field and the line, never a traceback.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from selfmodel.errors import ConfigError

ENV_PREFIX = "os.environ/"
ECHO_MODEL = "selfmodel/echo"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LiteLLMParams(BaseModel):
    """A deployment's provider parameters, as LiteLLM names them; unknown keys pass to litellm."""

    model_config = ConfigDict(extra="allow")

    model: str
    api_base: str | None = None
    api_key: SecretStr | None = None
    api_version: str | None = None
    timeout: float | None = None
    stream_timeout: float | None = None
    max_retries: int | None = None

    @property
    def provider(self) -> str:
        """The provider prefix of ``model`` (``openai`` for ``openai/gpt-4o``)."""
        return self.model.split("/", 1)[0] if "/" in self.model else "openai"

    def extra_params(self) -> dict[str, Any]:
        """Keys litellm knows that we do not model ourselves (e.g. aws_region_name)."""
        return dict(self.model_extra or {})


class ModelDeployment(BaseModel):
    model_config = ConfigDict(extra="allow")

    model_name: str
    litellm_params: LiteLLMParams
    model_info: dict[str, Any] = Field(default_factory=dict)


class StoreSettings(_Strict):
    url: str = "sqlite:///selfmodel.db"


class ObserverSettings(_Strict):
    extractor: Literal["grammar", "rules", "llm"] = "grammar"  # "rules": grammar's old name
    model: str | None = None  # alias from model_list, for the llm extractor
    workers: int = Field(default=1, ge=0, le=64)  # in-process workers of `serve`
    max_tries: int = Field(default=5, ge=1, le=100)
    lease_seconds: float = Field(default=30.0, gt=0)
    batch_size: int = Field(default=32, ge=1, le=1000)
    # Pause after a batch that was not full, so the next one gathers what arrives meanwhile
    # (observer/worker.py): fewer store round trips per observation, at most this much later.
    batch_pause_ms: int = Field(default=50, ge=0, le=5000)
    observation_retention_days: float = Field(default=90.0, gt=0)
    llm_timeout: float = Field(default=20.0, gt=0)


class ExperimentSettings(_Strict):
    name: str = "holdout"
    control_share: float = Field(default=0.0, ge=0.0, le=1.0)
    salt: str | None = None  # defaults to tenant + experiment name


class Policy(_Strict):
    min_confidence: float = Field(default=0.6, ge=0.0, le=1.0)
    max_beliefs: int = Field(default=8, ge=0, le=100)
    token_budget: int = Field(default=400, ge=0, le=100_000)
    consent: Literal["implied", "required"] = "implied"
    never_store: list[str] = Field(default_factory=list)
    defaults: list[str] = Field(default_factory=list)

    def consent_allows(self, recorded: bool | None) -> bool:
        """Whether a user may be observed and personalized, given their recorded consent:
        under ``required`` only a recorded opt-in allows it; under ``implied`` only a recorded
        withdrawal forbids it."""
        return recorded is True or (self.consent == "implied" and recorded is not False)


class Tenant(_Strict):
    name: str
    api_keys: list[str] = Field(default_factory=list)
    template: str | None = None
    models: list[str] | None = None
    policy: Policy = Field(default_factory=Policy)
    experiment: ExperimentSettings | None = None

    @field_validator("name")
    @classmethod
    def _name_ok(cls, value: str) -> str:
        if not value or len(value) > 64 or not value.replace("-", "").replace("_", "").isalnum():
            raise ValueError("tenant names are 1-64 letters, digits, '-' or '_'")
        return value

    def key_digests(self) -> list[str]:
        """The SHA-256 hex digests of this tenant's keys; plain keys are hashed here."""
        return [key_digest(k) for k in self.api_keys]

    def allows(self, model_name: str) -> bool:
        return self.models is None or model_name in self.models


class ServerSettings(_Strict):
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_messages: int = Field(default=2048, ge=1)
    request_timeout: float = Field(default=600.0, gt=0)  # whole non-stream call
    connect_timeout: float = Field(default=10.0, gt=0)
    first_byte_timeout: float = Field(default=120.0, gt=0)  # stream: until the first chunk
    idle_timeout: float = Field(default=120.0, gt=0)  # stream: between chunks
    num_retries: int = Field(default=2, ge=0, le=10)
    max_retry_after: float = Field(default=30.0, ge=0)  # longer Retry-After is passed on
    retry_backoff: float = Field(default=0.5, ge=0)  # first retry's delay (doubles, jittered)
    circuit_failures: int = Field(default=5, ge=1)
    circuit_cooldown: float = Field(default=30.0, gt=0)
    decision_retention_days: float = Field(default=30.0, gt=0)
    graceful_timeout: float = Field(default=30.0, ge=0)
    debug_log_content: bool = False


class Config(BaseModel):
    """The whole of config.yaml."""

    model_config = ConfigDict(extra="allow")

    model_list: list[ModelDeployment] = Field(default_factory=list)
    store: StoreSettings = Field(default_factory=StoreSettings)
    observer: ObserverSettings = Field(default_factory=ObserverSettings)
    templates_dir: str = "templates"
    tenants: list[Tenant] = Field(default_factory=list)
    server: ServerSettings = Field(default_factory=ServerSettings)
    embedding_model: str | None = None  # alias used for relevance ranking, optional
    base_dir: str = "."  # directory of the config file; relative paths resolve from it

    def deployments(self, alias: str) -> list[ModelDeployment]:
        return [d for d in self.model_list if d.model_name == alias]

    def aliases(self) -> list[str]:
        return list(dict.fromkeys(d.model_name for d in self.model_list))

    def effective_tenants(self) -> list[Tenant]:
        """The configured tenants, or one open local tenant named ``default``."""
        return self.tenants or [Tenant(name="default")]

    @property
    def open_mode(self) -> bool:
        """No tenants configured: one open tenant, for local use only."""
        return not self.tenants

    def resolve_path(self, value: str) -> Path:
        path = Path(value)
        return path if path.is_absolute() else Path(self.base_dir) / path

    def store_url(self) -> str:
        """The store URL with a relative SQLite path made relative to the config file."""
        url = self.store.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/"):
            rel = url[len(prefix):]
            if rel != ":memory:":
                return prefix + str(self.resolve_path(rel).resolve())
        return url


def key_digest(key: str) -> str:
    """``sha256:<hex>`` entries are kept as given; anything else is a key to hash."""
    if key.startswith("sha256:"):
        return key[len("sha256:"):].lower()
    return hashlib.sha256(key.encode()).hexdigest()


def _resolve_env(value: Any, path: tuple[Any, ...], missing: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _resolve_env(v, (*path, k), missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_env(v, (*path, i), missing) for i, v in enumerate(value)]
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX):]
        if name not in os.environ:
            missing.append(".".join(str(p) for p in path) + f" (environment variable {name})")
            return None
        return os.environ[name]
    return value


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Follow a pydantic error location through the YAML node tree to a 1-based line."""
    line = None
    for part in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
        else:
            node = None
    if node is not None:
        line = node.start_mark.line + 1
    return line


def parse_config(text: str, *, base_dir: str = ".", source: str = "config.yaml") -> Config:
    """Parse and validate config text; raise ConfigError naming field and line."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text) if root is not None else {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of settings")
    missing: list[str] = []
    data = _resolve_env(data, (), missing)
    if missing:
        raise ConfigError(f"{source}: missing environment for: {', '.join(missing)}")
    data["base_dir"] = base_dir
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            field = ".".join(str(p) for p in loc)
            line = _line_of(root, loc)
            where = f" (line {line})" if line else ""
            problems.append(f"{field}{where}: {err['msg']}")
        raise ConfigError(f"{source}: " + "; ".join(problems)) from None
    _check_references(config, source)
    return config


def _check_references(config: Config, source: str) -> None:
    aliases = set(config.aliases())
    names = [t.name for t in config.tenants]
    if len(names) != len(set(names)):
        raise ConfigError(f"{source}: tenants: two tenants share a name")
    seen: dict[str, str] = {}
    for tenant in config.tenants:
        for digest in tenant.key_digests():
            if digest in seen:
                raise ConfigError(
                    f"{source}: tenants.{tenant.name}.api_keys: a key is also given to "
                    f"tenant {seen[digest]}"
                )
            seen[digest] = tenant.name
        for model in tenant.models or []:
            if model not in aliases:
                raise ConfigError(
                    f"{source}: tenants.{tenant.name}.models: {model!r} is not a model_name "
                    "in model_list"
                )
    if config.observer.extractor == "llm" and config.observer.model not in aliases:
        raise ConfigError(
            f"{source}: observer.model: the llm extractor needs a model_name from model_list"
        )


def load_config(path: str | os.PathLike[str] | None) -> Config:
    """Load config.yaml; with no path, the embedded defaults (echo model, SQLite, open tenant)."""
    if path is None:
        return default_config()
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror}") from exc
    return parse_config(text, base_dir=str(file.resolve().parent), source=str(file))


def default_config(base_dir: str = ".") -> Config:
    """What `selfmodel serve` runs with and no file: the offline echo model, SQLite, one tenant."""
    return Config(
        model_list=[
            ModelDeployment(model_name="echo", litellm_params=LiteLLMParams(model=ECHO_MODEL)),
            ModelDeployment(
                model_name=ECHO_MODEL, litellm_params=LiteLLMParams(model=ECHO_MODEL)
            ),
        ],
        base_dir=base_dir,
    )
