"""Settings and config.yaml loading.

The file's shape is part of the public contract (DESIGN.md section 3): ``model_list`` is
LiteLLM's, so a LiteLLM user can bring their file. Values of the form ``os.environ/NAME`` are
read from the environment at load time. Nothing is read at import time: ``load_config`` is
called by the CLI (or a test) and the result is passed to ``create_app``.

A wrong file raises ``ConfigError`` naming the field and the line, never a traceback.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from selfmodel.errors import ConfigError

ENV_PREFIX = "os.environ/"
ECHO_MODEL = "selfmodel/echo"
# Top-level sections of LiteLLM proxy's config file, so a LiteLLM user's file loads as it is:
# accepted and ignored (selfmodel has its own settings for what they configure).
LITELLM_SECTIONS = frozenset({
    "litellm_settings", "general_settings", "router_settings", "environment_variables",
    "credential_list", "include",
})
DEFAULT_CONFIG_FILE = "config.yaml"  # what `serve` and the other commands load when present


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
    # LiteLLM's free-form metadata; selfmodel reads ``id`` (the deployment's label) and
    # ``responses`` (native | bridged | auto: how Responses API requests reach it).
    model_info: dict[str, Any] = Field(default_factory=dict)

    @field_validator("model_info")
    @classmethod
    def _known_modes(cls, info: dict[str, Any]) -> dict[str, Any]:
        mode = info.get("responses")
        if mode is not None and mode not in ("native", "bridged", "auto"):
            raise ValueError(f"responses must be native, bridged or auto, not {mode!r}")
        return info


class StoreSettings(_Strict):
    url: str = "sqlite:///selfmodel.db"
    # Latency budgets (store/guard.py): past them a chat goes on unpersonalized, an exchange's
    # record goes to the spool and the self-model API answers 503.
    read_budget_ms: int = Field(default=50, ge=1, le=60_000)  # the chat path's profile read
    record_budget_ms: int = Field(default=500, ge=1, le=60_000)  # an exchange's record
    api_budget_ms: int = Field(default=1000, ge=1, le=600_000)  # each self-model API call
    # An erasure takes the user's exclusive lock, so it waits for that user's writes in
    # flight: under a burst of them it may need longer than other API calls.
    erase_budget_ms: int = Field(default=5000, ge=1, le=600_000)
    # Circuit breaker: after this many failures in a row the store is not asked for
    # ``breaker_cooldown_ms``, then one probe decides.
    breaker_failures: int = Field(default=5, ge=1, le=1000)
    breaker_cooldown_ms: int = Field(default=2000, ge=10, le=600_000)
    # Failures count towards the breaker only once the store has succeeded at nothing for
    # this long: a burst of reads over budget on a busy machine is not an outage.
    breaker_window_ms: int = Field(default=1000, ge=0, le=600_000)
    # The spool of exchange records the store could not take (store/spool.py): a JSON-lines
    # file ("" = beside a SQLite file, in memory for other stores), at most spool_max entries.
    spool_path: str = ""
    spool_max: int = Field(default=10_000, ge=0, le=10_000_000)


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
    # Where the personalization block goes: the end of the system prompt, or the start of
    # the last user turn (personalize/inject.py; the app's system prompt then stays as sent).
    placement: Literal["system", "last_user"] = "system"

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
    # A model_list alias whose embeddings rank this tenant's beliefs instead of the built-in
    # WordLlama table (personalize/provider_embedding.py); unset: the top-level
    # ``embedding_model``, and when that is unset too, the built-in one.
    embedding_model: str | None = None

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
    # A provider's non-stream answer larger than this is refused (502): it is held whole.
    max_upstream_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    # Open mode (no tenants) on a non-loopback address: refused at startup unless this is
    # set (or `serve --allow-open`), since any caller could then read and erase every user.
    allow_open: bool = False
    # When set, GET /metrics wants `Authorization: Bearer <token>` (os.environ/NAME works).
    metrics_token: SecretStr | None = None


class ConsoleSettings(_Strict):
    """The operator console at /console and the users' own pages (selfmodel.console)."""

    enabled: bool = True
    # Signs session cookies, CSRF tokens and portal links. Unset: a random secret made at
    # start (said in the log): sessions and links then end with the process and are not
    # shared between replicas, so set one (os.environ/...) for more than one replica.
    secret: SecretStr | None = None
    session_minutes: float = Field(default=480.0, gt=0, le=7 * 24 * 60)
    portal_link_hours: float = Field(default=72.0, gt=0, le=30 * 24)
    # Base of portal links (https://gateway.example.com); unset: the API request's own.
    public_url: str | None = None
    sign_in_per_minute: int = Field(default=10, ge=1, le=10_000)  # per client address


class Config(_Strict):
    """The whole of config.yaml. Unknown keys are refused at every level, the top one
    included (a typo such as ``obsever:`` must not be silently ignored); LiteLLM's own
    sections are dropped before validation (``LITELLM_SECTIONS``)."""

    model_list: list[ModelDeployment] = Field(default_factory=list)
    store: StoreSettings = Field(default_factory=StoreSettings)
    observer: ObserverSettings = Field(default_factory=ObserverSettings)
    templates_dir: str = "templates"
    tenants: list[Tenant] = Field(default_factory=list)
    server: ServerSettings = Field(default_factory=ServerSettings)
    # A model_list alias whose embeddings rank beliefs, for every tenant that names none of
    # its own (``tenants[].embedding_model``); unset: the built-in WordLlama table.
    embedding_model: str | None = None
    # How long a request waits for the provider to embed its text; past it (or after a
    # failure, for ``embedding_cooldown_ms``) the request ranks by words alone.
    embedding_timeout_ms: int = Field(default=300, ge=1, le=60_000)
    # Writes (beliefs' vectors) wait longer: they are off the request path.
    embedding_write_timeout_ms: int = Field(default=10_000, ge=1, le=600_000)
    embedding_cooldown_ms: int = Field(default=30_000, ge=0, le=3_600_000)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    base_dir: str = "."  # directory of the config file; relative paths resolve from it

    def deployments(self, alias: str) -> list[ModelDeployment]:
        return [d for d in self.model_list if d.model_name == alias]

    def aliases(self) -> list[str]:
        return list(dict.fromkeys(d.model_name for d in self.model_list))

    def embedding_alias(self, tenant: Tenant) -> str | None:
        """The model_list alias that embeds ``tenant``'s beliefs, or None for the built-in."""
        return tenant.embedding_model or self.embedding_model

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
    """Follow a pydantic error location through the YAML node tree to a 1-based line: the
    line of the key named last (``obsever:``), or of the list item."""
    line = None
    for part in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == part), None)
            line = pair[0].start_mark.line + 1 if pair else line
            node = pair[1] if pair else None
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
            line = node.start_mark.line + 1 if node is not None else line
        else:
            node = None
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
    data = {k: v for k, v in data.items() if k not in LITELLM_SECTIONS and k != "base_dir"}
    data["base_dir"] = base_dir
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(err, root) for err in exc.errors()]
        raise ConfigError(f"{source}: " + "; ".join(problems)) from None
    _check_references(config, source)
    return config


def _problem(err: Any, root: yaml.Node | None) -> str:
    """One validation error as ``field (line N): message``; an unknown key names the keys
    its level accepts, and the closest one when it looks like a typo."""
    loc = tuple(err["loc"])
    field = ".".join(str(p) for p in loc)
    line = _line_of(root, loc)
    where = f" (line {line})" if line else ""
    message = err["msg"]
    if err["type"] == "extra_forbidden" and loc:
        message = "unknown key" + _suggestion(str(loc[-1]), _known_keys(loc[:-1]))
    return f"{field}{where}: {message}"


def _known_keys(parent: tuple[Any, ...]) -> list[str]:
    """The field names the model at ``parent`` (a pydantic location) accepts."""
    model: Any = Config
    for part in parent:
        if isinstance(part, int):
            continue
        info = getattr(model, "model_fields", {}).get(part)
        annotation = getattr(info, "annotation", None)
        args = getattr(annotation, "__args__", ()) or (annotation,)
        model = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if model is None:
            return []
    return [name for name in getattr(model, "model_fields", {}) if name != "base_dir"]


def _suggestion(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (expected one of: {', '.join(known)})" if known else ""


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
    if config.embedding_model is not None and config.embedding_model not in aliases:
        raise ConfigError(
            f"{source}: embedding_model: {config.embedding_model!r} is not a model_name in "
            "model_list"
        )
    for tenant in config.tenants:
        if tenant.embedding_model is not None and tenant.embedding_model not in aliases:
            raise ConfigError(
                f"{source}: tenants.{tenant.name}.embedding_model: "
                f"{tenant.embedding_model!r} is not a model_name in model_list"
            )
    if config.observer.extractor == "llm" and config.observer.model not in aliases:
        raise ConfigError(
            f"{source}: observer.model: the llm extractor needs a model_name from model_list"
        )


def load_config(path: str | os.PathLike[str] | None) -> Config:
    """Load config.yaml; with no path, the embedded defaults (echo model, SQLite, open tenant)."""
    if path is None:
        return default_config()
    return _load_file(path)


def discover_config(path: str | os.PathLike[str] | None) -> tuple[Config, str]:
    """The config a command runs with, and where it came from: ``path`` when given, else
    ``./config.yaml`` when there is one (so editing the file in the directory you run from
    takes effect, as with most servers), else the embedded defaults."""
    if path is not None:
        return _load_file(path), str(Path(path).resolve())
    local = Path(DEFAULT_CONFIG_FILE)
    if local.is_file():
        return _load_file(local), str(local.resolve())
    return default_config(), "embedded defaults (no ./config.yaml)"


def _load_file(path: str | os.PathLike[str]) -> Config:
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
