"""First-person statements read from the dependency parse: who the user is, what they have,
can, usually do, like and dislike.

A clause is a statement about the user when its subject is "I" (its own, or the subject of
the clause it is joined to: "I'm allergic to wool and avoid woolen clothes"), when it is the
relative clause of "As someone who...", or when it is "my X is Y" about a thing (not a person)
of the user's. What the clause does not make lasting (a question, a hypothetical, a story, a
plan, a mood: observer/extractors/noise.py) is skipped.

The slot comes from the grammar: the relation (``likes``, ``dislikes``, ``is``, ``has``,
``can``, ``cannot``, or a habit's own verb: ``uses:vim``) and the object's words, in the
life domain the statement is closest to by meaning. Durable facts that change get a slot
named for what they are about, so a later statement of it replaces them: ``role``,
``diet``, ``location``, a skill level under its subject (``python: beginner``), an allergy
under what it is to (``peanuts: allergic``), ``budget``; a past move ("I moved to Lisbon")
says where the user lives now. A negated state ("I'm not vegetarian") is evidence against
the same slot (kept by the extractor only when the user holds that belief); a negated like
or habit ("I don't eat meat", "I never fly") is a dislike of its own, and counts against a
held habit with the same object (observer/extractors/grammar.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from selfmodel.domain.models import Claim, Kind
from selfmodel.observer.extractors import meaning, noise
from selfmodel.observer.extractors.inflection import inflect
from selfmodel.observer.extractors.render import clause_tokens, resolve, third_person

# The verbs of liking and disliking: a closed grammatical class (verbs of emotion taking an
# object), which decides the slot's relation, not whether there is a statement.
_LIKE = frozenset({"like", "love", "enjoy", "prefer", "adore", "favor", "favour", "appreciate",
                   "cherish", "relish", "fancy", "value", "prioritize", "prioritise"})
_DISLIKE = frozenset({"hate", "dislike", "detest", "despise", "loathe", "abhor", "avoid",
                      "shun", "resent"})
_ENDURE = frozenset({"stand", "tolerate", "bear"})  # a dislike when negated: "can't stand"
_FAN = frozenset({"fan", "lover", "enthusiast", "devotee", "admirer", "fond", "keen",
                  "passionate", "into", "interested"})
_STOP = frozenset({"a", "an", "the", "my", "some", "any", "all", "really", "very", "more"})
MAX_OBJECT_WORDS = 5
# Levels of skill: "I'm a beginner in Python", "I'm new to photography" -> the subject's slot,
# so "I'm not a beginner in Python" or "I'm an expert in Python" speaks to the same one.
_LEVELS = {"beginner": "beginner", "novice": "beginner", "new": "beginner",
           "newbie": "beginner", "intermediate": "intermediate", "expert": "expert",
           "advanced": "expert", "experienced": "expert", "proficient": "expert",
           "fluent": "expert", "professional": "expert"}
# A condition toward something: "I'm allergic to peanuts" -> the slot of peanuts.
_CONDITIONS = frozenset({"allergic", "intolerant", "sensitive"})
# Moving somewhere says where the user lives now, however long ago it happened.
_MOVE = frozenset({"move", "relocate"})
_CLAUSE_DEPS = frozenset({"ROOT", "conj", "ccomp", "advcl", "parataxis"})


@dataclass(frozen=True)
class Reading:
    """What a clause is read against: the noun phrases a pronoun may point to (the user's
    own words) and the answer the user is replying to."""

    chunks: Sequence[Any]
    answer: str = ""


@dataclass(frozen=True)
class Clause:
    """A clause about the user: its head, the subject it shares, and the words it is read from."""

    verb: Any
    subject: Any | None  # None: "As someone who...", where the user is implied


def clauses(doc: Any) -> Iterator[Clause]:
    """Every clause in ``doc`` whose subject is the user."""
    for token in doc:
        subject = _first_person_subject(token)
        if subject is not None and token.dep_ != "relcl":  # "things I can do": a modifier
            yield Clause(token, subject)
        elif _as_someone_who(token):
            yield Clause(token, None)


def _first_person_subject(token: Any) -> Any | None:
    if token.pos_ not in ("VERB", "AUX") or token.dep_ in ("aux", "auxpass"):
        return None
    own = [c for c in token.children if c.dep_ in ("nsubj", "nsubjpass")]
    if own:
        return own[0] if own[0].lower_ == "i" else None
    head = token
    if token.tag_ == "VB" and not any(c.tag_ == "MD" for c in token.head.children) and not any(
            t.dep_ == "cc" for t in token.doc[token.head.i:token.i]):
        return None  # "I'm vegan, write to me at...": an imperative, not a shared subject
    while head.dep_ == "conj" and head.head.i != head.i:  # "I'm vegan and avoid honey"
        head = head.head
        subjects = [c for c in head.children if c.dep_ in ("nsubj", "nsubjpass")]
        if subjects:
            return subjects[0] if subjects[0].lower_ == "i" and head.i != token.i else None
    return None


def _as_someone_who(token: Any) -> bool:
    """'As someone who prefers X, ...': the relative clause describes the speaker."""
    if token.dep_ != "relcl":
        return False
    who = [c for c in token.children if c.dep_ == "nsubj" and c.lower_ in ("who", "that")]
    antecedent = token.head
    return bool(who) and antecedent.dep_ == "pobj" and antecedent.head.lower_ == "as" and \
        antecedent.lower_ in ("someone", "somebody", "person", "one")


def claims(doc: Any, reading: Reading, skip: set[int] | None = None) -> list[Claim]:
    """The claims the user's first-person clauses in ``doc`` make (module docstring); clauses
    headed at ``skip`` were already read as something else (a request about answering)."""
    out: list[Claim] = []
    for clause in clauses(doc):
        if skip and clause.verb.i in skip:
            continue
        claim = read(clause, reading)
        if claim is not None:
            out.append(claim)
    out += _possessions(doc, reading)
    return out


def lasting(clause: Clause) -> bool:
    verb = clause.verb
    if clause.subject is not None and noise.interrogative(verb, clause.subject):
        return False
    if verb.lemma_.lower() == "want" and any(c.dep_ == "neg" for c in verb.children):
        return not (noise.hypothetical(verb) or noise.story(verb))  # "I don't want X": a rule
    return not (noise.hypothetical(verb) or noise.story(verb) or noise.plan_or_task(verb))


def read(clause: Clause, reading: Reading) -> Claim | None:
    """The claim one clause makes, or None (not lasting, nothing to say, or unreadable)."""
    verb = clause.verb
    moved = _moved_to(clause, reading)
    if moved is not None:
        return moved
    if not lasting(clause):
        return None
    negated = any(c.dep_ == "neg" for c in verb.children)
    lemma = verb.lemma_.lower()
    tokens = clause_tokens(verb)
    if len(tokens) < 2:
        return None
    if lemma == "be":
        return _state(clause, tokens, negated, reading)
    obj = _object(verb)
    if obj is None:
        obj = _prep_object(verb)
    if obj is None:
        return None
    modal = [c.lower_ for c in verb.children if c.tag_ == "MD"]
    if lemma in _ENDURE:
        if not negated:
            return None
        return _make("dislikes", obj, tokens, reading, Kind.PREFERENCE)
    if lemma in _LIKE or lemma in _DISLIKE:
        dislike = (lemma in _DISLIKE) != negated
        relation = "dislikes" if dislike else "likes"
        return _make(relation, obj, tokens, reading, Kind.PREFERENCE)
    if modal and modal[0] in ("ca", "can", "cannot"):
        relation = "cannot" if negated else "can"
        return _make(relation, obj, tokens, reading, Kind.CONTEXT, verb=lemma)
    if lemma == "have":
        if negated:
            return None
        return _make("has", obj, tokens, reading, Kind.CONTEXT)
    relation = "dislikes" if negated else "does"
    return _make(relation, obj, tokens, reading,
                 Kind.PREFERENCE if negated else Kind.CONTEXT, verb=lemma)


def _object(verb: Any) -> Any | None:
    for child in verb.children:
        if child.dep_ in ("dobj", "xcomp", "attr", "acomp", "oprd"):
            return child
    for child in verb.children:  # "I'm pescatarian now, I eat fish": a clause of its own
        if child.dep_ == "ccomp" and not any(
                c.dep_ in ("nsubj", "nsubjpass") for c in child.children):
            return child
    for child in verb.children:  # "I love topic6": a name the parser took for an adverbial
        if child.dep_ == "npadvmod" and child.pos_ in ("NOUN", "PROPN") and child.i > verb.i:
            return child
    return None


def _prep_object(verb: Any) -> Any | None:
    for child in verb.children:
        if child.dep_ == "prep":
            objects = [c for c in child.children if c.dep_ in ("pobj", "pcomp")]
            if objects:
                return objects[0]
    return None


def _state(clause: Clause, tokens: list[Any], negated: bool,
           reading: Reading) -> Claim | None:
    """'I'm X', 'I'm allergic to X', 'I'm a fan of X', 'I'm from X'."""
    verb = clause.verb
    complement = next((c for c in verb.children if c.dep_ in ("attr", "acomp", "oprd")), None)
    if complement is None:
        prep = next((c for c in verb.children if c.dep_ == "prep"), None)
        if prep is None:
            return None
        pobj = next((c for c in prep.children if c.dep_ == "pobj"), None)
        if pobj is None:
            return None
        if prep.lower_ in _FAN:  # "I'm (not) into team sports"
            return _make("dislikes" if negated else "likes", pobj, tokens, reading,
                         Kind.PREFERENCE)
        return _make("is", pobj, tokens, reading, Kind.CONTEXT, negated=negated,
                     verb=prep.lower_)
    only = any(t.lower_ in ("only", "exclusively") for t in complement.children)
    if complement.lemma_.lower() == "interested" and not (negated or only):
        return None  # "I'm particularly interested in X": the topic at hand, not a taste
    if complement.lemma_.lower() in _FAN or _fan_of(complement):
        target = _fan_target(complement)
        if target is None:
            return None
        return _make("dislikes" if negated else "likes", target, tokens, reading,
                     Kind.PREFERENCE)
    if noise.passing_state(complement):
        return None
    return _make("is", complement, tokens, reading, Kind.CONTEXT, negated=negated)


def _moved_to(clause: Clause, reading: Reading) -> Claim | None:
    """'I moved to Lisbon last month': a past move says where the user lives now."""
    verb = clause.verb
    if verb.lemma_.lower() not in _MOVE or any(c.dep_ == "neg" for c in verb.children):
        return None
    if clause.subject is not None and noise.interrogative(verb, clause.subject):
        return None
    if noise.hypothetical(verb) or verb.tag_ == "VBG":  # "if I moved", "I'm moving": a plan
        return None
    place = next((o for p in verb.children if p.dep_ == "prep" and p.lower_ == "to"
                  for o in p.children if o.dep_ == "pobj" and o.pos_ == "PROPN"), None)
    if place is None:
        return None
    value = _object_text(place, reading)
    if not value:
        return None
    return Claim(kind=Kind.CONTEXT, domain="location", key="location", value=value.lower(),
                 statement=f"Lives in {value}", quote=place.sent.text[:300])


def _stable_slot(relation: str, obj: Any, verb: str) -> tuple[str, str, str] | None:
    """The (domain, key, value) of a durable fact whose slot is its subject, not its words:
    a skill level in a subject, a condition toward something, "on a tight budget"."""
    if relation != "is":
        return None
    lemma = obj.lemma_.lower()
    subject = next((o for p in obj.children if p.dep_ == "prep" and p.lower_ in (
        "in", "to", "at", "with", "of") for o in p.children if o.dep_ in ("pobj", "pcomp")), None)
    if lemma in _LEVELS and subject is not None:
        return "expertise", _slug_text(_phrase(subject)), _LEVELS[lemma]
    if lemma in _CONDITIONS and subject is not None:
        return "health", _slug_text(_phrase(subject)), lemma
    if verb in ("on", "in") and obj.pos_ == "NOUN" and lemma in meaning.DOMAINS:
        quality = [c.lower_ for c in obj.children if c.dep_ == "amod"]
        if quality:  # "on a tight budget" -> budget: tight
            return lemma, lemma, " ".join(quality)
    return None


def _phrase(token: Any) -> str:
    return " ".join(t.text for t in token.subtree
                    if not t.is_punct and t.lower_ not in _STOP)


def _occupation(obj: Any) -> bool:
    """'I'm a teacher': a noun naming what someone works as (by meaning, not a list)."""
    if obj.pos_ != "NOUN" or obj.lemma_.lower() in _LEVELS:
        return False
    if not any(c.dep_ == "det" and c.lower_ in ("a", "an") for c in obj.children):
        return False
    return meaning.domain(f"works as a {obj.lemma_.lower()}") == "work"


def _fan_of(complement: Any) -> bool:
    return any(c.lemma_.lower() in _FAN for c in complement.subtree if c.i <= complement.i)


def _fan_target(complement: Any) -> Any | None:
    for token in complement.subtree:
        if token.dep_ in ("pobj", "pcomp"):
            return token
    return None


def _possessions(doc: Any, reading: Reading) -> list[Claim]:
    """'My favourite cuisine is Thai' -> 'Has Thai as their favourite cuisine'."""
    out = []
    for token in doc:
        if token.lemma_ != "be" or token.dep_ not in _CLAUSE_DEPS:
            continue
        if noise.hypothetical(token):
            continue
        subject = next((c for c in token.children if c.dep_ in ("nsubj", "csubj")), None)
        value = next((c for c in token.children if c.dep_ in ("attr", "acomp")), None)
        if subject is None or value is None or token.sent.text.rstrip().endswith("?"):
            continue
        mine = [c for c in subject.children if c.dep_ == "poss" and c.lower_ == "my"]
        if not mine and any(c.dep_ == "poss" and c.lower_ == "my" for c in value.children):
            subject, value = value, subject  # "safety is my top priority"
            mine = [c for c in subject.children if c.dep_ == "poss"]
        if not mine or noise.someone_else(subject) or noise.story(token) or noise.occasion(token):
            continue
        adjective = value.pos_ == "ADJ" and not value.text[:1].isupper()  # not "Ethiopian"
        if adjective or value.pos_ not in ("NOUN", "PROPN", "ADJ", "VERB") or any(
                c.dep_ == "neg" for c in token.children):
            continue
        what = " ".join(t.text for t in subject.subtree if t.dep_ != "poss")
        value_words = resolve([t for t in value.subtree if not t.is_punct], reading.chunks)
        if value_words is None:
            continue
        value_text = "".join(value_words).strip()
        statement = f"Has {value_text} as their {what}"
        out.append(Claim(kind=Kind.CONTEXT, domain=meaning.domain(statement),
                         key=f"{_slug_text(what)}", value=value_text.lower(),
                         statement=statement))
    return out


def _make(relation: str, obj: Any, tokens: list[Any], reading: Reading, kind: Kind,
          *, negated: bool = False, verb: str = "") -> Claim | None:
    words = resolve(tokens, reading.chunks)
    if words is None:
        return None
    statement = third_person(tokens, words)
    value = _object_text(obj, reading)
    if not value or _about_the_answer(obj, reading.answer):
        return None
    domain = meaning.domain(statement)
    shown = verb
    if verb and relation == "does":  # "buys:books": a base verb would read as an order
        shown = next(iter(inflect(verb, "VBZ")), verb)
    lead = f"{verb} " if verb and relation in ("can", "cannot") else ""
    key = f"{relation}:{_slug_text(lead + value)}"
    if relation == "does" and shown:  # a habit's verb is its relation: "uses:vim"
        key = f"{_slug_text(shown)}:{_slug_text(value)}"
    stable = _stable_slot(relation, obj, verb)
    if stable is not None:
        domain, key, value = stable
    elif domain == "diet" and relation == "is":
        key = "diet"
    elif relation == "is" and obj.pos_ == "NOUN" and (domain == "work" or _occupation(obj)):
        domain, key = "work", "role"
    elif relation == "does" and verb == "work" and _role(tokens):
        key, value = "role", _role(tokens)
    elif obj.pos_ == "PROPN" and relation in ("is", "does") and (
            domain == "location" or verb in ("live", "from")):
        domain, key = "location", "origin" if verb == "from" else "location"
    if domain == "expertise":
        kind = Kind.EXPERTISE
    polarity: Literal[1, -1] = -1 if negated else 1
    return Claim(kind=kind, domain=domain, key=key, value=value.lower(), statement=statement,
                 polarity=polarity, quote=obj.sent.text[:300])


def _about_the_answer(obj: Any, answer: str) -> bool:
    """'I like the idea of X', 'I love that suggestion', 'I'm interested in the workshop
    concept': a reaction to what the assistant proposed, not a preference of the user's own.
    A definite noun phrase whose head is a proposal, or whose words come from the answer."""
    head = obj if obj.pos_ in ("NOUN", "PROPN") else next(
        (t for t in obj.subtree if t.dep_ in ("dobj", "pobj")), obj)
    definite = any(c.dep_ in ("det", "poss") and c.lower_ in ("the", "that", "this", "these",
                                                              "those", "your")
                   for c in head.children)
    if not definite:
        return False
    if meaning.proposal(head.lemma_):
        return True
    words = [t.lemma_.lower() for t in head.subtree if t.is_alpha and not t.is_stop]
    lowered = answer.lower()
    return bool(words) and sum(w in lowered for w in words) * 2 >= len(words)


def _role(tokens: list[Any]) -> str:
    for token in tokens:
        if token.dep_ == "pobj" and token.head.lower_ == "as":
            return " ".join(t.text for t in token.subtree if t.dep_ != "det").lower()
    return ""


def _object_text(obj: Any, reading: Reading) -> str:
    """The object's words for the slot: its head phrase without determiners, at most
    MAX_OBJECT_WORDS, pronouns resolved."""
    dated = {t.i for c in obj.children if c.dep_ == "prep" and c.lower_ in ("for", "since")
             for t in c.subtree}  # "a vegetarian for ten years": the value is "vegetarian"
    clauses = {t.i for c in obj.subtree if c.dep_ in ("relcl", "advcl", "acl") or (
        c.dep_ == "conj" and c.pos_ == "VERB") for t in c.subtree}
    tokens = [t for t in obj.subtree
              if not t.is_punct and t.i not in dated and t.i not in clauses]
    kept = [t for t in tokens if t.lower_ not in _STOP][:MAX_OBJECT_WORDS]
    while kept and kept[-1].pos_ in ("CCONJ", "ADP", "DET", "PART", "SCONJ"):
        kept.pop()  # "watching or", "dislike for": cut at a word that needs what follows
    resolved = resolve(kept, reading.chunks)
    if resolved is None:
        return ""
    return " ".join(w.strip() for w in resolved if w.strip())


def _slug_text(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:60]
