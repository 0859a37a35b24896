"""``selfmodel doctor``: is this installation able to serve, and if not, what is wrong.

Each check prints one line, ``ok``, ``warn`` or ``FAIL``, in words an operator can act on;
the exit status is 1 when any check failed. The checks are cheap and never cost money: the
config is loaded, the templates compiled, the store opened and pinged, and each provider
deployment probed without a completion (``GET <api_base>/models`` for OpenAI-compatible
deployments, a TCP connect for the rest). Secrets never reach the output: URLs are shown
without their user info and keys are only said to be present or missing.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import aiohttp

from selfmodel.config import DEFAULT_CONFIG_FILE, Config, discover_config
from selfmodel.errors import ConfigError
from selfmodel.personalize.engine import Personalizer
from selfmodel.providers.targets import Target, build_targets
from selfmodel.store import open_store
from selfmodel.store.base import Store

__all__ = ["Check", "doctor", "run_checks"]

Level = Literal["ok", "warn", "FAIL"]
_LAG_WARNING = 60.0  # seconds: an older unapplied observation means workers are behind
# Where litellm sends a provider's requests when the config names no api_base.
_DEFAULT_HOSTS = {
    "anthropic": "api.anthropic.com:443",
    "gemini": "generativelanguage.googleapis.com:443",
    "mistral": "api.mistral.ai:443",
    "groq": "api.groq.com:443",
    "cohere": "api.cohere.ai:443",
    "deepseek": "api.deepseek.com:443",
    "openai": "api.openai.com:443",
}


@dataclass(frozen=True)
class Check:
    level: Level
    subject: str
    detail: str


def doctor(config_path: str | None, *, timeout: float = 3.0) -> int:
    """Print every check; 0 when nothing failed, 1 otherwise."""
    try:
        config, source = discover_config(config_path)
    except ConfigError as exc:
        source = str(Path(config_path or DEFAULT_CONFIG_FILE).resolve())
        print(f"selfmodel doctor (config: {source})")
        checks = [Check("FAIL", "config", str(exc))]
    else:
        print(f"selfmodel doctor (config: {source})")
        checks = asyncio.run(run_checks(config, timeout=timeout))
    for check in checks:
        print(f"  {check.level:<4}  {check.subject}: {check.detail}")
    failed = sum(1 for c in checks if c.level == "FAIL")
    print(f"{failed} problem(s) found." if failed else "Everything checked is fine.")
    return 1 if failed else 0


async def run_checks(config: Config, *, timeout: float = 3.0) -> list[Check]:
    """Config, templates, store, then every deployment (probed concurrently)."""
    checks = [*config_checks(config), *template_checks(config)]
    checks += await store_checks(config, timeout)
    probes = [probe(target, timeout) for group in build_targets(config).values()
              for target in group]
    checks += await asyncio.gather(*probes)
    return checks


# -- config and templates --------------------------------------------------------------------


def config_checks(config: Config) -> list[Check]:
    aliases = config.aliases()
    tenants = [t.name for t in config.tenants]
    checks = [Check("ok", "config", f"{len(aliases)} model(s) ({', '.join(aliases) or 'none'});"
                    f" tenants: {', '.join(tenants) or 'none (one open local tenant)'}")]
    if not aliases:
        checks.append(Check("FAIL", "config", "model_list is empty: no request can be served"))
    if config.open_mode:
        checks.append(Check("warn", "config", "no tenants are configured, so anyone who can "
                            "reach the port may use the gateway (fine on your own machine)"))
    return checks


def template_checks(config: Config) -> list[Check]:
    try:
        problems = Personalizer(config).problems()
    except Exception as exc:
        return [Check("FAIL", "templates", f"cannot be loaded: {describe(exc)}")]
    if problems:
        return [Check("FAIL", "templates", f"{p} (requests of that tenant go out "
                      "unpersonalized)") for p in problems]
    folder = config.resolve_path(config.templates_dir)
    where = f"from {folder}" if folder.is_dir() else f"({folder} does not exist: the packaged " \
        "default.j2 serves every tenant)"
    return [Check("ok", "templates", f"every template compiles {where}")]


# -- store -----------------------------------------------------------------------------------


async def store_checks(config: Config, timeout: float) -> list[Check]:
    url = config.store_url()
    shown = safe_url(url)
    missing = _missing_sqlite_file(url)
    if missing is not None:
        return [missing]
    schema: list[Check] = []
    if url.startswith(("postgresql://", "postgres://")):
        schema = await _postgres_schema_check(url, timeout)
        if schema[0].level == "FAIL":
            return schema
    store = open_store(url)
    try:
        await asyncio.wait_for(store.start(), timeout)
        if not await asyncio.wait_for(store.ping(), timeout):
            return [Check("FAIL", "store", f"{shown} does not answer")]
        stats = await asyncio.wait_for(store.queue_stats(), timeout)
    except Exception as exc:
        return [Check("FAIL", "store", f"cannot reach {shown}: {describe(exc)}")]
    finally:
        await _close_quietly(store)
    oldest = f", the oldest {stats.oldest_age:.0f} s old" if stats.depth else ""
    checks = [Check("ok", "store", f"{shown} answers; {stats.depth} observation(s) queued"
                    f"{oldest}, {stats.dead} dead letter(s)"), *schema]
    if stats.dead:
        checks.append(Check("warn", "store", f"{stats.dead} observation(s) failed too often and "
                            "sit in the dead-letter list"))
    if stats.depth and stats.oldest_age > _LAG_WARNING:
        checks.append(Check("warn", "store", f"the oldest unapplied observation is "
                            f"{stats.oldest_age:.0f} s old: are workers running?"))
    return checks


async def _postgres_schema_check(url: str, timeout: float) -> list[Check]:
    """The schema's version against the one this code needs (``selfmodel migrate`` fixes)."""
    from selfmodel.store._pg_schema import SCHEMA_VERSION, outdated
    from selfmodel.store.postgres import database_version

    try:
        version = await asyncio.wait_for(database_version(url), timeout)
    except Exception as exc:
        return [Check("FAIL", "store", f"cannot reach {safe_url(url)}: {describe(exc)}")]
    problem = outdated(version)
    if problem is not None:
        return [Check("FAIL", "store", problem)]
    return [Check("ok", "store", f"PostgreSQL schema at version {version} (this selfmodel "
                  f"needs {SCHEMA_VERSION})")]


def _missing_sqlite_file(url: str) -> Check | None:
    """A SQLite file not created yet is fine if its folder is writable (no file is made)."""
    if not url.startswith("sqlite:///") or url.endswith(":memory:"):
        return None
    path = Path(url[len("sqlite:///"):])
    if path.exists():
        return None
    folder = path.parent
    if folder.is_dir() and os.access(folder, os.W_OK):
        return Check("ok", "store", f"{path} does not exist yet; it will be created in "
                     f"{folder} (writable) at first start")
    return Check("FAIL", "store", f"{path} does not exist and {folder} is not a writable folder")


async def _close_quietly(store: Store) -> None:
    try:
        await store.close()
    except Exception:  # the close of a store that never opened says nothing useful
        return


# -- providers -------------------------------------------------------------------------------


async def probe(target: Target, timeout: float) -> Check:
    """One deployment: reachable, and for OpenAI-compatible ones, is the key accepted."""
    subject = f"model {target.alias} ({target.label})"
    if target.kind == "echo":
        return Check("ok", subject, "built-in offline model, nothing to reach")
    if target.kind == "direct" and target.params.provider != "azure":
        return await _probe_models(target, subject, timeout)
    return await _probe_tcp(target, subject, timeout)


async def _probe_models(target: Target, subject: str, timeout: float) -> Check:
    if "Authorization" not in target.headers and target.params.provider == "openai":
        return Check("FAIL", subject, "no API key: set litellm_params.api_key (for example "
                     "os.environ/OPENAI_API_KEY)")
    url = target.chat_url.rsplit("/chat/completions", 1)[0] + "/models"
    headers = {k: v for k, v in target.headers.items() if k.lower() != "content-type"}
    started = time.perf_counter()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http, \
                http.get(url, headers=headers, allow_redirects=False) as response:
            status = response.status
    except TimeoutError:
        return Check("FAIL", subject, f"{safe_url(url)} did not answer within {timeout:g} s")
    except aiohttp.ClientError as exc:
        return Check("FAIL", subject, f"cannot reach {safe_url(url)}: {describe(exc)}")
    ms = (time.perf_counter() - started) * 1000
    return _models_verdict(subject, safe_url(url), status, ms)


def _models_verdict(subject: str, url: str, status: int, ms: float) -> Check:
    if status in (401, 403):
        return Check("FAIL", subject, f"{url} refused the API key (HTTP {status})")
    if status >= 500:
        return Check("FAIL", subject, f"{url} is failing (HTTP {status})")
    note = "" if status < 400 else " (no model list there, but the server answers)"
    return Check("ok", subject, f"reachable: {url} answered HTTP {status} in {ms:.0f} ms{note}")


async def _probe_tcp(target: Target, subject: str, timeout: float) -> Check:
    address = endpoint_of(target)
    if address is None:
        return Check("warn", subject, f"not checked: no api_base, and no known endpoint for "
                     f"provider '{target.params.provider}'")
    host, port = address
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError) as exc:
        return Check("FAIL", subject, f"cannot connect to {host}:{port}: {describe(exc)}")
    writer.close()
    await writer.wait_closed()
    return Check("ok", subject, f"{host}:{port} accepts connections")


def endpoint_of(target: Target) -> tuple[str, int] | None:
    """(host, port) of the deployment's api_base, or of the provider's usual endpoint."""
    base = target.params.api_base
    if base:
        parts = urlsplit(base if "//" in base else "https://" + base)
        if parts.hostname:
            return parts.hostname, parts.port or (80 if parts.scheme == "http" else 443)
    known = _DEFAULT_HOSTS.get(target.params.provider)
    if known is None:
        return None
    host, _, port = known.rpartition(":")
    return host, int(port)


# -- words -----------------------------------------------------------------------------------


def safe_url(url: str) -> str:
    """The URL without user info (``redis://:password@host`` keeps its password to itself)."""
    parts = urlsplit(url)
    if not parts.netloc or "@" not in parts.netloc:
        return url.split("?", 1)[0]
    host = parts.netloc.rsplit("@", 1)[1]
    return f"{parts.scheme}://{host}{parts.path}"


def describe(exc: BaseException) -> str:
    """The first line of an error in plain words (the type when it has no message)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return describe(exc.os_error)
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is it running, and are the host and port right?)"
    if isinstance(exc, socket.gaierror):
        return "the host name does not resolve"
    first = (str(exc).strip().splitlines() or [""])[0]
    return first[:200] or type(exc).__name__
