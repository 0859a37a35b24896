"""The offline default extractor: hand-written rules over the user's own words.

It reads ``observation.content`` only. The assistant's answers (``assistant``,
``previous_assistant``) never become claims: they only tell whether there is an answer the
user can be reacting to, which turns "too long" into a correction. Silence is the default:
a neutral message, a question, a hypothetical or a statement about someone else yields
nothing, because a wrong belief is worse than none.
"""

from __future__ import annotations

from selfmodel.domain.models import (
    Belief,
    BeliefStatus,
    Claim,
    Extraction,
    Kind,
    Observation,
    ObservationType,
    SelfModel,
    Source,
)
from selfmodel.domain.safety import instruction_reason
from selfmodel.metrics import Metrics
from selfmodel.observer.extractors.facts import FACT_RULES
from selfmodel.observer.extractors.feedback import read_feedback
from selfmodel.observer.extractors.likes import likes
from selfmodel.observer.extractors.scope import one_off
from selfmodel.observer.extractors.style import (
    DOMAIN,
    StyleHit,
    generic_correction,
    style_hits,
)
from selfmodel.observer.extractors.text import Sentence, clauses, sentences

MAX_CLAIMS = 12


class RulesExtractor:
    """Rules for self-statements, preferences, style requests, corrections and feedback."""

    name = "rules"

    def __init__(self, metrics: Metrics | None = None) -> None:
        self._metrics = metrics

    async def extract(self, observation: Observation, model: SelfModel | None) -> Extraction:
        extraction = extract_rules(observation, model)
        if self._metrics is not None:
            self._metrics.extractor_calls.labels(extractor="rules", result="ok").inc()
        return extraction


def extract_rules(observation: Observation, model: SelfModel | None) -> Extraction:
    """What the user's words in ``observation`` say about them (see module docstring)."""
    reacting = _reacting(observation)
    extraction = Extraction()
    claims: list[Claim] = []
    slots: list[str] = []
    generic = False
    message = sentences(observation.content, observation.previous_assistant)
    for sentence in message:
        if sentence.hypothetical:
            continue
        generic = generic or (reacting and generic_correction(sentence))
        claims += _style_claims(sentence, message, reacting, slots)
        if not sentence.question:
            claims += _statement_claims(sentence)
    extraction.correction = (bool(slots) or generic
                             or observation.type is ObservationType.CORRECTION)
    extraction.corrected_slots = [] if generic else list(dict.fromkeys(slots))
    extraction.feedback = read_feedback(
        observation.content,
        whole_message_only=observation.type is not ObservationType.FEEDBACK,
    )
    extraction.claims = _finish(claims, model, extraction.refused)
    return extraction


def _reacting(observation: Observation) -> bool:
    """Is there an answer the user may be reacting to (so "too long" means something)?"""
    return bool(observation.previous_assistant.strip() or observation.applied_belief_ids
                or observation.type is ObservationType.CORRECTION)


def _style_claims(sentence: Sentence, message: list[Sentence], reacting: bool,
                  slots: list[str]) -> list[Claim]:
    """Style requests and corrections; a request scoped to one task is not a preference
    (extractors/scope.py), a correction of the answer just given always counts.

    Whether a request is scoped to one task is asked only of a sentence that makes one: it
    costs more than finding the request, and most sentences make none."""
    hits = style_hits(sentence)
    task_only = bool(hits) and one_off(sentence, message)
    out = []
    for hit in hits:
        if hit.needs_context and not reacting:
            continue
        correcting = hit.complaint and reacting
        if task_only and not correcting:
            continue
        if correcting:
            slots.append(hit.slot)
        out.append(_style_claim(hit, sentence, correcting))
    return out


def _style_claim(hit: StyleHit, sentence: Sentence, correcting: bool) -> Claim:
    return Claim(kind=Kind.PREFERENCE, domain=DOMAIN, key=hit.key, value=hit.value,
                 statement=hit.statement, quote=sentence.quote(),
                 source=Source.CORRECTION if correcting else Source.EXPLICIT)


def _statement_claims(sentence: Sentence) -> list[Claim]:
    out: list[Claim] = []
    for clause in clauses(sentence):
        found: list[Claim] = []
        for rule in FACT_RULES:
            found = rule(clause)
            if found:
                break
        found = found or likes(clause)
        out += [c.model_copy(update={"quote": sentence.quote()}) for c in found]
    return out


def _finish(claims: list[Claim], model: SelfModel | None, refused: list[str]) -> list[Claim]:
    """One claim per slot and value (a correction wins), negations only against held beliefs,
    nothing that reads as an instruction, at most MAX_CLAIMS."""
    by_slot: dict[tuple[str, str, str, int], Claim] = {}
    for claim in claims:
        ident = (claim.domain, claim.key, claim.value, claim.polarity)
        if ident not in by_slot or claim.source is Source.CORRECTION:
            by_slot[ident] = claim
    kept: list[Claim] = []
    for claim in _last_value_per_style_slot(list(by_slot.values())):
        reason = instruction_reason(f"{claim.statement} {claim.value}")
        if reason:
            refused.append(f"{claim.domain}/{claim.key}: {reason}")
        elif claim.polarity > 0 or _believed(model, claim):
            kept.append(claim)
    return kept[:MAX_CLAIMS] + _contradictions(kept, model)[: max(0, MAX_CLAIMS - len(kept))]


def _last_value_per_style_slot(claims: list[Claim]) -> list[Claim]:
    """Two values for one style slot in one message: the later one is what the user wants."""
    last = {c.key: c for c in claims if c.domain == DOMAIN}
    return [c for c in claims if c.domain != DOMAIN or last[c.key] is c]


def _believed(model: SelfModel | None, claim: Claim) -> bool:
    return any(b.domain == claim.domain and b.key == claim.key and b.value == claim.value
               for b in _active(model))


def _active(model: SelfModel | None) -> list[Belief]:
    if model is None:
        return []
    return [b for b in model.beliefs if b.status is BeliefStatus.ACTIVE]


def _contradictions(claims: list[Claim], model: SelfModel | None) -> list[Claim]:
    """'I hate X' said by a user believed to like (or use) X: evidence against that too."""
    out = []
    for claim in claims:
        keys = _opposite_keys(claim)
        out += [Claim(kind=b.kind, domain=b.domain, key=b.key, value=b.value,
                      statement=b.statement, polarity=-1, source=claim.source, quote=claim.quote)
                for b in _active(model) if b.key in keys]
    return out


def _opposite_keys(claim: Claim) -> tuple[str, ...]:
    kind_key, _, obj = claim.key.partition(":")
    if claim.polarity < 0 or kind_key not in ("likes", "dislikes"):
        return ()
    if kind_key == "likes":
        return (f"dislikes:{obj}",)
    return (f"likes:{obj}", f"uses:{obj}")
