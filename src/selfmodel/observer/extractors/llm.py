"""The ``llm`` extractor: a configured model reads the observation and answers strict JSON.

The model is called through the gateway's own provider router (retries, fallbacks and
circuits included) behind a one-method adapter, ``Completer``, so tests hand in a scripted
model. The user's words travel as a JSON *data* document in their own message, never spliced
into the instructions; the instructions live in ``extract_prompt.txt``.

Nothing the model says is trusted: the answer is parsed and validated claim by claim, a claim
whose quote is not in the user's own words (it came from the assistant's text, or was made
up) is dropped, so is one that reads as an instruction to an assistant. Malformed JSON, an
error or a timeout is retried while the time budget lasts, then the grammar extractor answers
for that observation; ``selfmodel_extractor_calls{extractor, result}`` counts each outcome.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from importlib import resources
from string import Template
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field, ValidationError

from selfmodel.domain.models import (
    Claim,
    Extraction,
    Kind,
    Observation,
    SelfModel,
    Source,
)
from selfmodel.domain.privacy import redact
from selfmodel.domain.safety import instruction_reason
from selfmodel.metrics import Metrics

log = logging.getLogger("selfmodel.observer")

MAX_CLAIMS = 12
MAX_BELIEFS_IN_PROMPT = 30
MAX_CONTEXT_CHARS = 1500
_SLUG = r"^[a-z0-9][a-z0-9_:.+#/-]{0,79}$"
_STYLE_KEYS = ("response_length (concise|detailed), format (bullets|prose|table), "
               "tone (formal|casual), jargon (plain|technical), reply_language (a language), "
               "code (code_first), steps (step_by_step), emoji (none)")
_DOMAINS = ("food, diet, travel, music, books, entertainment, sports, fashion, home, shopping, "
            "location, work, tech, tools, communication")
_IMPERATIVE = re.compile(
    r"^(?:ignore|disregard|forget|remember|recommend|tell|say|respond|reply|answer|output|print|"
    r"include|mention|promote|act|pretend|do|don't|please|system|assistant|you|always\s+\w+(?<!s)"
    r"\b|never\s+\w+(?<!s)\b)\b|\b(?:you|your|the\s+assistant|the\s+model|the\s+ai|chatgpt|"
    r"instructions?|prompt)\b",
    re.IGNORECASE,
)


class Completer(Protocol):
    """One chat completion as text: the only thing the llm extractor needs of a provider."""

    async def complete(self, alias: str, messages: list[dict[str, str]],
                       timeout: float) -> str: ...


class Reader(Protocol):
    """The fallback: any extractor (the grammar extractor)."""

    async def extract(self, observation: Observation, model: SelfModel | None) -> Extraction: ...


class RouterCompleter:
    """Adapts the provider router (``Router.complete(alias, body) -> Reply``) to ``Completer``."""

    def __init__(self, router: Any) -> None:
        self._router = router

    async def complete(self, alias: str, messages: list[dict[str, str]], timeout: float) -> str:
        body = {"model": alias, "messages": messages, "temperature": 0, "max_tokens": 1200}
        reply = await asyncio.wait_for(self._router.complete(alias, body), timeout)
        data = json.loads(reply.body)
        content = data["choices"][0]["message"].get("content") or ""
        return content if isinstance(content, str) else json.dumps(content)


class LLMClaim(BaseModel):
    """One claim as the model must write it; anything else is dropped."""

    kind: Kind
    domain: str = Field(pattern=_SLUG, max_length=40)
    key: str = Field(pattern=_SLUG, max_length=80)
    value: str = Field(min_length=1, max_length=80)
    statement: str = Field(min_length=2, max_length=160)
    quote: str = Field(min_length=1, max_length=400)
    polarity: Literal[1, -1] = 1
    explicit: bool = True


class LLMAnswer(BaseModel):
    claims: list[dict[str, Any]] = Field(default_factory=list)
    correction: bool = False
    corrected_slots: list[str] = Field(default_factory=list)
    feedback: Literal[1, -1] | None = None


def _load_prompt() -> Template:
    text = resources.files(__package__).joinpath("extract_prompt.txt").read_text("utf-8")
    return Template(text)


def system_prompt() -> str:
    """The instructions, rendered from the template file (no user data in them)."""
    schema = json.dumps({"claims": [LLMClaim.model_json_schema()], "correction": "boolean",
                         "corrected_slots": ["domain/key"], "feedback": "1 | -1 | null"})
    return _load_prompt().substitute(schema=schema, style_keys=_STYLE_KEYS, domains=_DOMAINS)


def build_messages(observation: Observation, model: SelfModel | None) -> list[dict[str, str]]:
    """Instructions as the system message; the observation as a JSON data document."""
    beliefs = [{"domain": b.domain, "key": b.key, "value": b.value, "statement": b.statement}
               for b in (model.beliefs if model else [])][:MAX_BELIEFS_IN_PROMPT]
    data = {
        "observation_type": observation.type.value,
        "user_message": observation.content,
        "previous_answer": observation.previous_assistant[:MAX_CONTEXT_CHARS],
        "current_beliefs": beliefs,
    }
    return [{"role": "system", "content": system_prompt()},
            {"role": "user", "content": json.dumps(data, ensure_ascii=False)}]


def parse_answer(text: str) -> LLMAnswer | None:
    """The model's JSON object (code fences and chatter around it tolerated), or None."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        return LLMAnswer.model_validate(json.loads(text[start:end + 1]))
    except (ValueError, ValidationError):
        return None


class LLMExtractor:
    """Extraction by a configured model; the grammar extractor is the fallback."""

    name = "llm"

    def __init__(self, completer: Completer, alias: str, *, timeout: float,
                 fallback: Reader, metrics: Metrics | None = None, tries: int = 2) -> None:
        self._completer = completer
        self._alias = alias
        self._timeout = timeout
        self._fallback = fallback
        self._metrics = metrics
        self._tries = max(1, tries)

    async def extract(self, observation: Observation, model: SelfModel | None) -> Extraction:
        messages = build_messages(observation, model)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        for _ in range(self._tries):
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            answer, result = await self._ask(messages, remaining)
            self._count(result)
            if answer is not None:
                return to_extraction(answer, observation)
        self._count("fallback")
        return await self._fallback.extract(observation, model)

    async def _ask(self, messages: list[dict[str, str]],
                   timeout: float) -> tuple[LLMAnswer | None, str]:
        try:
            text = await asyncio.wait_for(
                self._completer.complete(self._alias, messages, timeout), timeout)
        except TimeoutError:
            return None, "timeout"
        except Exception as exc:  # any provider failure: the grammar extractor still answers
            log.warning("llm extractor call failed: %s", type(exc).__name__)
            return None, "error"
        answer = parse_answer(text)
        return answer, "ok" if answer is not None else "malformed"

    def _count(self, result: str) -> None:
        if self._metrics is not None:
            self._metrics.extractor_calls.labels(extractor="llm", result=result).inc()


def to_extraction(answer: LLMAnswer, observation: Observation) -> Extraction:
    """Keep only valid claims grounded in the user's own words; say what was refused."""
    extraction = Extraction(correction=answer.correction, feedback=answer.feedback)
    extraction.corrected_slots = [s for s in answer.corrected_slots
                                  if re.fullmatch(r"[a-z0-9_-]+/[a-z0-9_:.+#/-]+", s)][:8]
    corrected = set(extraction.corrected_slots)
    user_words = _squash(observation.content)
    for raw in answer.claims[:MAX_CLAIMS]:
        claim = _valid_claim(raw, user_words, extraction.refused)
        if claim is None:
            continue
        slot = f"{claim.domain}/{claim.key}"
        source = (Source.CORRECTION if answer.correction and slot in corrected
                  else Source.EXPLICIT if claim.explicit else Source.INFERRED)
        extraction.claims.append(Claim(
            kind=claim.kind, domain=claim.domain, key=claim.key, value=claim.value.strip(),
            statement=claim.statement.strip(), polarity=claim.polarity, source=source,
            quote=redact(claim.quote.strip())))
    return extraction


def _valid_claim(raw: dict[str, Any], user_words: str, refused: list[str]) -> LLMClaim | None:
    try:
        claim = LLMClaim.model_validate(raw)
    except ValidationError:
        refused.append("invalid claim from the model")
        return None
    quote = _squash(claim.quote)
    if len(quote) < 2 or quote not in user_words:
        refused.append(f"{claim.domain}/{claim.key}: quote is not in the user's words")
        return None
    text = f"{claim.statement} {claim.value}"
    reason = instruction_reason(text) or instruction_reason(claim.quote)
    if reason is None and _IMPERATIVE.search(claim.statement):
        reason = "reads as an instruction to the assistant"
    if reason:
        refused.append(f"{claim.domain}/{claim.key}: {reason}")
        return None
    return claim


def _squash(text: str) -> str:
    """Case, punctuation and whitespace folded, so a faithful quote matches its source."""
    text = re.sub(r"[^\w\s]", "", text.lower().replace("\u2019", "'"))
    return " ".join(text.split())
