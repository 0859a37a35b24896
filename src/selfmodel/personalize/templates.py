"""Tenant templates: sandboxed Jinja2, compiled once, broken ones reported and never fatal.

Templates are written by the operator, but what they print comes from users, so:

- they run in ``ImmutableSandboxedEnvironment``: no attribute starting with ``_``, no
  mutation of the data, so ``{{ cycler.__init__.__globals__ }}`` fails instead of reaching
  Python's internals. ``StrictUndefined`` turns that refusal (and a misspelled variable)
  into an error rather than an empty string;
- autoescape is off (the output is a prompt, not HTML), and every user-derived value is
  neutralized before the template sees it: control and invisible characters removed, lines
  joined, ``<``/``>`` replaced by look-alikes that close no tag, double quotes by single
  ones; the ``quote`` filter then wraps a value in double quotes. A statement can therefore
  neither close ``<user_profile>`` nor end its own quoted item. Jinja never evaluates data,
  so ``{{ 7*7 }}`` in a belief prints as written.

Every template is loaded, compiled and test-rendered with sample data at startup (and on
reload). One that fails is listed by ``problems`` in plain words and its tenant's requests go
out unpersonalized; the gateway keeps serving.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from selfmodel.config import Config

DEFAULT_TEMPLATE = "default.j2"
MAX_FIELD_CHARS = 500  # a belief statement longer than this is cut (with an ellipsis)
MAX_OUTPUT_CHARS = 20_000  # a template printing more than this is treated as broken output
_RANDOM = ("random", "lipsum")  # Jinja's filter and global that draw random values
_LOOKALIKE = str.maketrans({"<": "\u2039", ">": "\u203a", '"': "'", "`": "'"})


def neutralize(text: object) -> str:
    """``text`` as one printable line that cannot close a tag or a quoted item."""
    return _neutralized(str(text))


@lru_cache(maxsize=16384)
def _neutralized(text: str) -> str:
    """Cached: the same belief statements are rendered on request after request."""
    if text.isascii() and text.isprintable():
        cleaned = text  # the common case: nothing to drop or replace character by character
    else:
        cleaned = "".join(
            " " if char in "\t\n\r\u2028\u2029" else char
            for char in text
            if char in "\t\n\r\u2028\u2029" or unicodedata.category(char)[0] != "C"
        )
    line = " ".join(cleaned.translate(_LOOKALIKE).split())
    if len(line) > MAX_FIELD_CHARS:
        line = line[: MAX_FIELD_CHARS - 1].rstrip() + "\u2026"
    return line


def quote(text: object) -> str:
    """The ``quote`` filter: a neutralized value in double quotes."""
    return f'"{neutralize(text)}"'


@dataclass(frozen=True)
class Compiled:
    """A template ready to render, with what the decision record says about it."""

    name: str
    version: str  # sha256 of the source
    template: jinja2.Template
    pure: bool = True  # the same variables always give the same text (no random draws)

    def render(self, context: dict[str, Any]) -> str:
        text = self.template.render(context).strip()
        if len(text) > MAX_OUTPUT_CHARS:
            raise ValueError(f"rendered {len(text)} characters (limit {MAX_OUTPUT_CHARS})")
        return text


@dataclass
class Templates:
    """Every template a config names, compiled, and the problems of those that failed."""

    compiled: dict[str, Compiled] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, config: Config) -> Templates:
        folder = config.resolve_path(config.templates_dir)
        env = make_environment(folder)
        loaded = cls()
        names = {DEFAULT_TEMPLATE} | {t.template for t in config.tenants if t.template}
        for name in sorted(names):
            loaded._add(env, folder, name, _users_of(config, name))
        return loaded

    def get(self, name: str) -> tuple[Compiled | None, str | None]:
        """The compiled template, or None and why it cannot be used."""
        if name in self.compiled:
            return self.compiled[name], None
        return None, self.broken.get(name, f"template {name} was not loaded")

    def problems(self) -> list[str]:
        return [self.broken[name] for name in sorted(self.broken)]

    def _add(self, env: jinja2.Environment, folder: Path, name: str, users: str) -> None:
        try:
            source = read_source(folder, name)
            template = env.from_string(source)
            compiled = Compiled(name, hashlib.sha256(source.encode()).hexdigest(), template,
                                pure=not any(word in source for word in _RANDOM))
            for case, sample in SAMPLES.items():
                try:
                    compiled.render(sample)
                except Exception as exc:
                    raise SampleFailed(case, exc) from exc
        except Exception as exc:  # any failure means: this tenant goes out unpersonalized
            self.broken[name] = f"template {name} ({users}) cannot be used: {describe(exc)}"
            return
        self.compiled[name] = compiled


def make_environment(folder: Path) -> jinja2.Environment:
    """The sandbox every template runs in; includes resolve in the folder, then the package."""
    search = [str(folder), str(packaged_folder())]
    env = ImmutableSandboxedEnvironment(
        loader=jinja2.FileSystemLoader(search),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,
        keep_trailing_newline=False,
    )
    env.filters["quote"] = quote
    env.filters["neutralize"] = neutralize
    return env


def packaged_folder() -> Path:
    """Where the installed package keeps its default template."""
    return Path(str(resources.files("selfmodel") / "templates"))


def read_source(folder: Path, name: str) -> str:
    """A template's source: from ``templates_dir``, or the packaged default."""
    path = folder / name
    if path.is_file():
        return path.read_text(encoding="utf-8")
    if name == DEFAULT_TEMPLATE:
        return (packaged_folder() / DEFAULT_TEMPLATE).read_text(encoding="utf-8")
    raise FileNotFoundError(f"no file {path}")


class SampleFailed(Exception):
    """A template failed to render one of the ``SAMPLES`` (``case`` says which)."""

    def __init__(self, case: str, error: Exception) -> None:
        super().__init__(case)
        self.case, self.error = case, error


def describe(exc: Exception) -> str:
    """A failure in plain words, with the template's line, and for a render failure the
    sample it rendered (so "alignment_score is None at cold start" is visible)."""
    if isinstance(exc, SampleFailed):
        line = template_line(exc.error)
        where = f" on line {line}" if line else ""
        return f"{describe(exc.error)}{where}, rendering {exc.case}"
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"syntax error on line {exc.lineno}: {exc.message}"
    if isinstance(exc, jinja2.exceptions.SecurityError):
        return f"refused by the sandbox: {exc}"
    if isinstance(exc, jinja2.UndefinedError):
        return f"refers to something that does not exist: {exc.message}"
    if isinstance(exc, OSError):
        return f"cannot be read: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"


def template_line(exc: BaseException) -> int | None:
    """The template line a render error was raised at: Jinja rewrites tracebacks so that
    frames of template code carry the template's own file name and line."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _users_of(config: Config, name: str) -> str:
    tenants = [
        t.name for t in config.effective_tenants() if (t.template or DEFAULT_TEMPLATE) == name
    ]
    return "tenants: " + ", ".join(tenants) if tenants else "no tenant uses it"


class _NeutralBelief(dict[str, Any]):
    """A belief's template variables whose strings ``belief_variables`` neutralized.

    Private on purpose: ``context`` trusts this type to be neutralized already, so nothing
    outside ``belief_variables`` may make one.
    """


def belief_variables(
    *, statement: str, kind: str, domain: str, key: str, value: str, confidence: float
) -> dict[str, Any]:
    """One belief as a template sees it: its text neutralized, its confidence rounded."""
    variables = _NeutralBelief(_neutral_fields(statement, kind, domain, key, value))
    variables["confidence"] = round(confidence, 2)
    return variables


@lru_cache(maxsize=16384)
def _neutral_fields(statement: str, kind: str, domain: str, key: str, value: str) -> dict[str, str]:
    """A belief's text fields, neutralized, cached by those same fields (so an edited
    statement gets its own entry): they come back on request after request, and
    neutralizing five fields of every belief was a visible share of rendering. Callers copy
    the result; it is never changed in place."""
    return {"statement": neutralize(statement), "kind": neutralize(kind),
            "domain": neutralize(domain), "key": neutralize(key), "value": neutralize(value)}


def context(
    *,
    beliefs: list[dict[str, Any]],
    defaults: list[str],
    cold_start: bool,
    user_id: str,
    tenant: str,
    alignment_score: float | None,
    app_system_prompt: str = "",
) -> dict[str, Any]:
    """The variables a template sees; every user-derived string neutralized.

    A belief made by ``belief_variables`` is neutralized already and passes as it is; any
    other mapping has each of its strings neutralized here.
    """
    return {
        "beliefs": [
            b if type(b) is _NeutralBelief else
            {k: (neutralize(v) if isinstance(v, str) else v) for k, v in b.items()}
            for b in beliefs
        ],
        "defaults": [neutralize(d) for d in defaults],
        "cold_start": cold_start,
        "user_id": neutralize(user_id),
        "tenant": tenant,
        "alignment_score": alignment_score,
        "app_system_prompt": app_system_prompt,
    }


_SAMPLE_BELIEF = {
    "statement": "Prefers concise answers",
    "kind": "preference",
    "domain": "communication",
    "key": "response_length",
    "value": "concise",
    "confidence": 0.8,
}
# Every template must render both: a known user, and a cold start, where there are no
# beliefs and ``alignment_score`` is None (no answer observed yet).
SAMPLES = {
    "a user with one belief (alignment_score 0.5)": context(
        beliefs=[_SAMPLE_BELIEF], defaults=[], cold_start=False, user_id="sample",
        tenant="sample", alignment_score=0.5),
    "a cold start (no beliefs, alignment_score None)": context(
        beliefs=[], defaults=["Prefers clear, direct answers"], cold_start=True,
        user_id="sample", tenant="sample", alignment_score=None),
}
