"""The offline default extractor: the user's own words read by their grammar.

It reads ``observation.content`` only (observer/extractors/own_words.py takes out what the
user pasted rather than said). The assistant's answers never become claims: they only tell
whether there is an answer the user can be reacting to, which turns "too long" into a
correction. A message the pre-filter rules out is not parsed (prefilter.py); the others are
parsed once (``selfmodel.language.parse``) and read for requests about answering
(requests.py) and first-person statements (statements.py). A clause read as a request is
not read again as a statement: one meaning, one claim.

Silence is the default: a question, a hypothetical, a story, a plan, a mood or a statement
about someone else yields nothing (noise.py), because a wrong belief is worse than none.
Every claim's statement must pass ``well_formed`` and the injection guard before it leaves.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

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
from selfmodel.domain.privacy import redact
from selfmodel.domain.safety import instruction_reason
from selfmodel.language import parse, parse_ahead
from selfmodel.metrics import Metrics
from selfmodel.observer.extractors import noise, offload, statements
from selfmodel.observer.extractors.feedback import read_feedback
from selfmodel.observer.extractors.own_words import own_words
from selfmodel.observer.extractors.prefilter import sentences, worth_parsing
from selfmodel.observer.extractors.requests import Request, generic_correction, requests
from selfmodel.observer.extractors.slots import DOMAIN, match
from selfmodel.observer.extractors.wellformed import check_ahead, well_formed
from selfmodel.recent import Recent

MAX_CLAIMS = 12


class GrammarExtractor:
    """Requests about answering, first-person statements, corrections and feedback."""

    name = "grammar"

    def __init__(self, metrics: Metrics | None = None) -> None:
        self._metrics = metrics

    async def extract(self, observation: Observation, model: SelfModel | None) -> Extraction:
        extraction = await offload.run(self.warm, extract_grammar, observation, model)
        if self._metrics is not None:
            self._metrics.extractor_calls.labels(extractor="grammar", result="ok").inc()
        return extraction

    async def ahead(self, observations: list[Observation]) -> None:
        """Parse the texts of ``observations`` in one batch in the extraction process, before
        they are extracted one by one (the worker calls this for a user's claimed batch):
        about half the parser's CPU per message (language/parse.py ``parse_ahead``)."""
        await offload.run(self.warm, parse_ahead_of, observations)

    async def prepare(self) -> None:
        """Start the extraction process and wait until its parser is loaded (a second or
        two): the worker does this at startup, off the request path. Extraction runs in that
        process (offload.py), never on the event loop the gateway may share."""
        await offload.run(self.warm, offload.ready)

    @staticmethod
    def warm() -> None:
        """Load the parser and the embeddings (blocking: the extraction process runs it once)."""
        extract_grammar(Observation(id="obs_warm", tenant="warm", user_id="warm",
                                    content="I prefer short answers, I'm a nurse.", at=0.0), None)


def extract_grammar(observation: Observation, model: SelfModel | None) -> Extraction:
    """What the user's words in ``observation`` say about them (see module docstring)."""
    extraction = Extraction(feedback=read_feedback(
        observation.content,
        whole_message_only=observation.type is not ObservationType.FEEDBACK))
    with _READ_LOCK:
        said = _READ_AHEAD.take(_reading_key(observation))
    if said is None:
        said = _read(observation)
    extraction.correction = (bool(said.corrected) or said.generic
                             or observation.type is ObservationType.CORRECTION)
    extraction.corrected_slots = [] if said.generic else list(dict.fromkeys(said.corrected))
    extraction.claims = _finish(said.claims, model, extraction.refused)
    return extraction


@dataclass(frozen=True)
class _Said:
    """What a message says, read from its parse, before it is weighed against the user's
    model: it depends on the observation alone (``_reading_key``)."""

    claims: list[Claim]
    corrected: list[str]
    generic: bool


READ_AHEAD_MAX = 256  # messages read ahead and not yet asked for (a batch given up on)
_READ_AHEAD: Recent[tuple[str, str, str, tuple[str, ...]], _Said] = Recent(READ_AHEAD_MAX)
_READ_LOCK = threading.Lock()


def _reading_key(observation: Observation) -> tuple[str, str, str, tuple[str, ...]]:
    """Everything of ``observation`` that ``_read`` looks at."""
    return (observation.content, observation.previous_assistant, observation.type.value,
            tuple(observation.applied_belief_ids))


def _read(observation: Observation) -> _Said:
    reacting = _reacting(observation)
    corrected: list[str] = []
    generic = False
    claims: list[Claim] = []
    text, work = parse_input(observation)
    if text:
        doc = parse(text, entities=False)
        rejoined = _without_adjective_commas(text, doc)
        if rejoined != text:
            text, doc = rejoined, parse(rejoined, entities=False)
        generic = reacting and generic_correction(doc)
        found = requests(doc)
        claims += _request_claims(found, doc, reacting, corrected, work)
        heads = {r.head.i for r in found}
        reading = statements.Reading(list(doc.noun_chunks), observation.previous_assistant)
        asked = {r.value.key for r in found}
        claims += [c for c in statements.claims(doc, reading, heads)
                   if not _restates(c, asked)]
    return _Said(claims, corrected, generic)


def parse_input(observation: Observation) -> tuple[str, bool]:
    """The text of ``observation`` the parser reads ("" for none), and whether the sentences
    left out ask for work (``_worth_parsing``)."""
    if not worth_parsing(observation.content):  # nothing to read: no need to clean it either
        return "", False
    # Only an answer given before the message can have been pasted into it (the current
    # answer comes after it, and may well repeat the user's own words).
    return _worth_parsing(own_words(observation.content, observation.previous_assistant))


def parse_ahead_of(observations: list[Observation]) -> int:
    """Read ``observations`` ahead of their extraction one by one (run in the extraction
    process for a user's claimed batch): their texts parsed in one batch, each read
    (``_read``), then the statements ``_finish`` will check parsed in one more batch
    (wellformed.check_ahead), so that across the batch no parse is made one text at a time.
    What a message says does not depend on the user's model, which earlier messages of the
    batch may still change; weighing it against the model is left to ``extract_grammar``.
    Returns how many message texts were parsed."""
    todo = list({_reading_key(o): o for o in observations}.values())
    with _READ_LOCK:
        todo = [o for o in todo if _reading_key(o) not in _READ_AHEAD]
    parsed = parse_ahead(parse_input(o)[0] for o in todo)
    reads = [(_reading_key(o), _read(o)) for o in todo]
    check_ahead(c.statement for _, said in reads for c, reason in _candidates(said.claims)
                if not reason and c.polarity > 0)
    with _READ_LOCK:
        for key, said in reads:
            _READ_AHEAD.put(key, said)
    return parsed


_OBJECT_VERBS = statements._LIKE | statements._DISLIKE


def _without_adjective_commas(text: str, doc: Any) -> str:
    """``text`` without the comma between two adjectives before a liked or disliked noun
    ("I prefer warm, inviting spaces"), which the tagger reads as the end of the verb's
    complement ("prefers warm") and the next adjective as a verb of its own. A like or
    dislike verb whose complement is a bare adjective followed by a comma and a word is that
    misreading (one does not "prefer warm"); without the comma the phrase parses as one noun
    phrase. The text is unchanged when no such comma is found (then it is parsed once)."""
    cut = [token.nbor(1).idx for token in doc
           if token.dep_ == "acomp" and token.tag_ == "JJ"
           and token.head.lemma_.lower() in _OBJECT_VERBS
           and token.i + 2 < len(doc) and token.nbor(1).text == ","
           and token.nbor(2).is_alpha]
    for at in reversed(cut):
        text = text[:at] + text[at + 1:]
    return text


def _restates(claim: Claim, asked: set[str]) -> bool:
    """'Use lots of emojis, I like them': the like restates the request beside it (one
    meaning, one claim), which a later "no emojis" must be able to correct on its own."""
    relation, _, _ = claim.key.partition(":")
    if not asked or relation not in ("likes", "dislikes"):
        return False
    value = match(claim.value, negated=relation == "dislikes")
    return value is not None and value.key in asked


def _reacting(observation: Observation) -> bool:
    """Is there an answer the user may be reacting to (so "too long" means something)?"""
    return bool(observation.previous_assistant.strip() or observation.applied_belief_ids
                or observation.type is ObservationType.CORRECTION)


def _worth_parsing(text: str) -> tuple[str, bool]:
    """The sentences of ``text`` the parser must read (prefilter.py), and whether the ones it
    need not read ask for work (a question or a task with no person in it: "What's a good
    soup recipe?"), which makes a request beside them about that task only."""
    kept, work = [], False
    for sentence in sentences(text):
        if worth_parsing(sentence):
            kept.append(sentence)
        else:
            work = True
    return " ".join(kept), work


def _request_claims(found: list[Request], doc: Any, reacting: bool,
                    corrected: list[str], work: bool) -> list[Claim]:
    """Requests as claims: a complaint after an answer is a correction of its slot; a
    request scoped to one piece of work is not a preference."""
    work = work or _asks_for_work(doc, {r.head.sent.start for r in found})
    out = []
    for request in found:
        if (request.needs_context and not reacting) or noise.one_off(request.head) \
                or noise.at_the_moment(request.head):
            continue  # "too long" with nothing to react to; "for this email, ..."; "I'm on
            # the train right now, so keep it brief": scoped to the moment
        correcting = request.complaint and reacting
        if not correcting and not request.general and (request.task or work):
            continue
        if correcting:
            corrected.append(request.value.slot)
        value = request.value
        out.append(Claim(kind=Kind.PREFERENCE, domain=DOMAIN, key=value.key, value=value.value,
                         statement=value.statement, quote=request.head.sent.text[:300],
                         source=Source.CORRECTION if correcting else Source.EXPLICIT))
    return out


def _asks_for_work(doc: Any, request_sentences: set[int]) -> bool:
    """Does another sentence of the message ask a question or for a piece of work?"""
    for sentence in doc.sents:
        if sentence.start in request_sentences:
            continue
        if sentence.text.rstrip().endswith("?"):
            return True
        if any(statements.lasting(c) is False and c.subject is not None
               and noise.plan_or_task(c.verb) for c in statements.clauses(sentence.as_doc())):
            return True  # "I need it for a slide"
        root = sentence.root
        if root.tag_ == "VB" and not any(c.dep_ == "nsubj" for c in root.children):
            text = " ".join(t.text for t in sentence if not t.is_punct)
            if match(text) is None:
                return True
    return False


def _finish(claims: list[Claim], model: SelfModel | None, refused: list[str]) -> list[Claim]:
    """One claim per slot and value (a correction wins), well-formed statements only,
    negations only against held beliefs, nothing that reads as an instruction."""
    kept: list[Claim] = []
    finals = _candidates([c.model_copy(update={"quote": redact(c.quote)}) for c in claims])
    # The statements to check, parsed in one batch rather than one parse each.
    check_ahead(c.statement for c, r in finals if not r and c.polarity > 0)
    for claim, reason in finals:
        if reason:
            refused.append(f"{claim.domain}/{claim.key}: {reason}")
        elif claim.polarity > 0 and not well_formed(claim.statement):
            refused.append(f"{claim.domain}/{claim.key}: not a well-formed statement "
                           f"({claim.statement!r})")
        elif claim.polarity > 0:
            kept.append(_as_change(claim, model))
        else:
            held = _believed(model, claim)
            if held is not None:  # evidence against the belief's own slot
                kept.append(claim.model_copy(update={"domain": held.domain}))
    return kept[:MAX_CLAIMS] + _contradictions(kept, model)[: max(0, MAX_CLAIMS - len(kept))]


def _candidates(claims: list[Claim]) -> list[tuple[Claim, str | None]]:
    """One claim per slot and value (a correction wins), the last value per style slot,
    each with the reason it reads as an instruction (None for none)."""
    by_slot: dict[tuple[str, str, str, int], Claim] = {}
    for claim in claims:
        ident = (claim.domain, claim.key, claim.value, claim.polarity)
        if ident not in by_slot or claim.source is Source.CORRECTION:
            by_slot[ident] = claim
    return [(c, instruction_reason(f"{c.statement} {c.value}"))
            for c in _last_value_per_style_slot(list(by_slot.values()))]


def _last_value_per_style_slot(claims: list[Claim]) -> list[Claim]:
    """Two values for one style slot in one message: the later one is what the user wants."""
    last = {c.key: c for c in claims if c.domain == DOMAIN}
    return [c for c in claims if c.domain != DOMAIN or last[c.key] is c]


def _as_change(claim: Claim, model: SelfModel | None) -> Claim:
    """A new value stated for a one-value slot the user is believed to hold another value
    of ("I moved to Lisbon" after "I live in Berlin", "bullet points please" after "no
    lists") says the slot changed: it is a correction, which outweighs the old value's
    evidence, rather than one more statement that the old value's weight holds down.
    Keys with a relation ("likes:x") hold one value each and have no rivals."""
    if claim.source is not Source.EXPLICIT or ":" in claim.key:
        return claim
    changed = any(b.domain == claim.domain and b.key == claim.key and b.value != claim.value
                  and b.context == claim.context for b in _active(model))
    return claim.model_copy(update={"source": Source.CORRECTION}) if changed else claim


def _believed(model: SelfModel | None, claim: Claim) -> Belief | None:
    """The held belief a negated claim denies. Its domain is judged from the statement's
    words, which a negation changes ("Is not a teacher" may read as another part of life
    than "Is a teacher"), so the slot is matched by key and value, the domain preferred."""
    held = [b for b in _active(model) if b.key == claim.key and b.value == claim.value]
    return next((b for b in held if b.domain == claim.domain), held[0] if held else None)


def _active(model: SelfModel | None) -> list[Belief]:
    if model is None:
        return []
    return [b for b in model.beliefs if b.status is BeliefStatus.ACTIVE]


def _contradictions(claims: list[Claim], model: SelfModel | None) -> list[Claim]:
    """'I hate X' said by a user believed to like X: evidence against that too."""
    out = []
    for claim in claims:
        keys = _opposite_keys(claim)
        out += [Claim(kind=b.kind, domain=b.domain, key=b.key, value=b.value,
                      statement=b.statement, polarity=-1, source=claim.source, quote=claim.quote)
                for b in _active(model) if b.key in keys or _habit_with(b.key, claim)]
    return out


_NOT_HABITS = frozenset({"likes", "dislikes", "is", "has", "can", "cannot"})


def _habit_with(key: str, claim: Claim) -> bool:
    """'I don't use Vim (anymore)' (dislikes:vim) against a held habit with the same object,
    whatever its verb (uses:vim, eats:meat): a habit's key is its verb and its object."""
    relation, _, obj = claim.key.partition(":")
    held, _, held_obj = key.partition(":")
    return (claim.polarity > 0 and relation == "dislikes" and bool(obj) and held_obj == obj
            and bool(held) and held not in _NOT_HABITS)


def _opposite_keys(claim: Claim) -> tuple[str, ...]:
    relation, _, obj = claim.key.partition(":")
    if claim.polarity < 0 or relation not in ("likes", "dislikes"):
        return ()
    if relation == "likes":
        return (f"dislikes:{obj}",)
    return (f"likes:{obj}", f"has:{obj}")
