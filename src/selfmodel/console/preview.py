"""A tenant's template rendered for one user (or a cold start), next to a draft of it.

The live side is exactly what the next request would get: the gateway's own Personalizer
selects the beliefs and renders the tenant's compiled template. The draft is compiled in the
same sandbox (``personalize.templates.make_environment``) and given the same variables, so
an operator sees the difference, and the token count of each, before the draft goes live.
Nothing is stored and the live template is not changed.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

from selfmodel.config import Tenant
from selfmodel.domain.confidence import alignment_score
from selfmodel.domain.models import SelfModel
from selfmodel.personalize import tokens
from selfmodel.personalize.engine import Personalization
from selfmodel.personalize.templates import (
    DEFAULT_TEMPLATE,
    Compiled,
    belief_variables,
    context,
    describe,
    make_environment,
    read_source,
)
from selfmodel.services import Services

MAX_DRAFT = 20_000


@dataclass(frozen=True)
class Side:
    title: str
    source: str
    text: str | None  # the block added to the system prompt; None: nothing added
    tokens: int
    problem: str | None = None


@dataclass(frozen=True)
class Preview:
    template: str
    version: str | None
    live: Side
    draft: Side | None
    applied: list[str]  # statements selected
    cold_start: bool
    note: str | None  # why the live side adds nothing, if it does not


def preview(services: Services, tenant: Tenant, user_id: str, model: SelfModel | None,
            conversation: str, draft: str | None) -> Preview:
    now = time.time()
    result = services.personalizer.personalize(tenant=tenant, user_id=user_id, model=model,
                                               conversation=conversation, now=now)
    config = services.config
    name = tenant.template or DEFAULT_TEMPLATE
    folder = config.resolve_path(config.templates_dir)
    try:
        source = read_source(folder, name)
    except OSError as exc:
        source = f"(cannot be read: {describe(exc)})"
    live = Side(f"Live: {name}", source, result.text, _count(result.text))
    other = None
    if draft is not None:
        alignment = round(alignment_score(model, now), 2) if model is not None else None
        other = _draft(folder, draft[:MAX_DRAFT], result, tenant.name, user_id, alignment)
    return Preview(name, result.template_version, live, other,
                   [b.statement for b in result.applied], result.cold_start, result.error)


def _count(text: str | None) -> int:
    return tokens.count(text) if text else 0


def _draft(folder: Path, source: str, result: Personalization, tenant: str, user_id: str,
           alignment: float | None) -> Side:
    try:
        env = make_environment(folder)
        compiled = Compiled("draft", hashlib.sha256(source.encode()).hexdigest(),
                            env.from_string(source))
        variables = [belief_variables(statement=b.statement, kind=str(b.kind),
                                      domain=b.domain, key=b.key, value=b.value,
                                      confidence=b.confidence) for b in result.applied]
        text = compiled.render(context(beliefs=variables, defaults=result.defaults,
                                       cold_start=result.cold_start, user_id=user_id,
                                       tenant=tenant, alignment_score=alignment))
    except Exception as exc:  # any failure of a draft is shown, never raised
        return Side("Draft", source, None, 0, problem=describe(exc))
    return Side("Draft", source, text or None, _count(text))
