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

Other families read by their form: the present progressive of an open-ended activity ("I'm
learning Japanese"; not of a bounded one, "I'm writing a cover letter", which is a task); a
perfect with a long duration ("I've been vegan for five years"); "I've got"; a participle
state ("I'm left-handed", "I'm based in Lyon"); a bare verb framed by ability, frequency or
negation ("I can't swim", "I don't drive"); "my X <predicate>" beyond "is" ("my blood pressure
runs high"); the user as the one who judges ("X matters to me", "X stresses me out", "I find
X boring"), its direction by meaning.valence; a side phrase beside a question ("As a
vegetarian, what can I cook?", "Being diabetic, ..."); "we" for the household's having and
living.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from selfmodel.domain.models import Claim, Kind
from selfmodel.language import add_entities
from selfmodel.observer.extractors import meaning, noise
from selfmodel.observer.extractors.inflection import inflect
from selfmodel.observer.extractors.render import (
    clause_tokens,
    noun_phrase,
    resolve,
    third_person,
    uncapitalized,
)
from selfmodel.observer.extractors.slots import DOMAIN
from selfmodel.observer.extractors.slots import match as slot_match

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
# The user as a subject: "I", and "we" for the household the user speaks for ("we have a
# newborn", "we use Slack at work").
_SELF = frozenset({"i", "we"})
# What "we" says of the user's household: having and living somewhere ("we have a newborn");
# "we use" is as often a team at work as a household; "we are" is let through and ``read``
# keeps only what it says of the household (its family, home or budget).
_HOUSEHOLD = frozenset({"have", "get", "own", "live", "move", "relocate", "be"})
# Adverbs of frequency (a closed class): they make a bare verb a habit ("I rarely eat out").
_FREQUENCY = frozenset({"always", "usually", "often", "rarely", "seldom", "never", "sometimes",
                        "regularly", "mostly", "generally", "normally", "typically",
                        "occasionally", "daily", "frequently", "hardly", "only"})
# Units of time long enough that "for five years" or "for months" marks a lasting state.
_LONG_UNITS = frozenset({"month", "year", "decade", "life", "lifetime", "while"})


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
        if own[0].lower_ == "we" and token.lemma_.lower() not in _HOUSEHOLD:
            return None  # "we" doing something is often a team or a plan, not the user
        if own[0].lower_ in _SELF:
            return own[0]
        # "My wife and I are vegan": the user is one of a conjoined subject, and what is
        # said of the pair is said of them
        return next((c for c in own[0].children if c.dep_ == "conj" and c.lower_ == "i"), None)
    head = token
    if token.tag_ == "VB" and not any(c.tag_ == "MD" for c in token.head.children) and not any(
            t.dep_ == "cc" for t in token.doc[token.head.i:token.i]):
        return None  # "I'm vegan, write to me at...": an imperative, not a shared subject
    while head.dep_ == "conj" and head.head.i != head.i:  # "I'm vegan and avoid honey"
        head = head.head
        subjects = [c for c in head.children if c.dep_ in ("nsubj", "nsubjpass")]
        if subjects:
            return subjects[0] if subjects[0].lower_ in _SELF and head.i != token.i else None
    return None


def _as_someone_who(token: Any) -> bool:
    """'As someone who prefers X, ...': the relative clause describes the speaker, and so
    does a verb joined to it that has no subject of its own ("As someone who's vegan and
    doesn't eat honey, ...")."""
    while token.dep_ == "conj" and token.head.i != token.i and not any(
            c.dep_ in ("nsubj", "nsubjpass") for c in token.children):
        token = token.head
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
    said: set[int] = set()
    for clause in clauses(doc):
        if skip and clause.verb.i in skip:
            continue
        claim = read(clause, reading)
        if claim is not None:
            out.append(claim)
            said.add(clause.verb.i)
    out += _possessions(doc, reading)
    out += _judgements(doc, reading)
    # "As an art lover, I prefer...": the side phrase gives the reason for the statement
    # beside it, which is the claim; it is one of its own only beside a question or a task.
    out += [c for head, c in _depictives(doc, reading) if head not in said]
    return out


def lasting(clause: Clause) -> bool:
    verb = clause.verb
    if clause.subject is not None and noise.interrogative(verb, clause.subject):
        return False
    if verb.lemma_.lower() == "want" and any(c.dep_ == "neg" for c in verb.children):
        return not (noise.hypothetical(verb) or noise.story(verb))  # "I don't want X": a rule
    if noise.hypothetical(verb):
        return False
    if _long_standing(verb) or _ongoing(verb) or _simple_habit(verb):
        return True
    if _state_for_the_year(verb) and not noise.story(verb):
        return True
    return not (noise.story(verb) or noise.plan_or_task(verb))


def _state_for_the_year(verb: Any) -> bool:
    """'We're on a tight budget this year': a present state dated by the current year holds
    for months, unlike "this week" or "this afternoon" (one occasion)."""
    if verb.lemma_.lower() != "be" or verb.tag_ not in ("VBP", "VBZ"):
        return False
    return any(c.dep_ == "npadvmod" and c.lemma_.lower() in ("year", "decade") and any(
        d.lower_ == "this" for d in c.children) for c in verb.children)


def _simple_habit(verb: Any) -> bool:
    """'I go running twice a week' (not "I'm going to"), 'I've got two dogs' (a present
    possession, not a story): forms the plan and story tests would read as one occasion."""
    lemma = verb.lemma_.lower()
    if lemma == "go" and verb.tag_ in ("VBP", "VBZ"):
        return any(c.dep_ == "xcomp" and c.tag_ == "VBG" for c in verb.children) \
            and not noise.occasion(verb)
    return lemma == "get" and verb.tag_ in ("VBD", "VBN") and not noise.occasion(verb) and any(
        c.dep_ == "aux" and c.lemma_ == "have" and c.tag_ in ("VBP", "VBZ")
        for c in verb.children) and any(c.dep_ == "dobj" for c in verb.children)


def _long_standing(verb: Any) -> bool:
    """'I've been vegan for five years now', 'I've been writing Python since 2015': the
    perfect with a long duration states what has held for a long time and still holds."""
    perfect = any(c.dep_ == "aux" and c.lemma_ == "have" and c.tag_ in ("VBP", "VBZ")
                  for c in verb.children)
    if not perfect or verb.lemma_.lower() in noise._TASK_VERBS:
        return False
    heads = [verb, *(c for c in verb.children if c.dep_ in ("attr", "acomp"))]
    for prep in (c for h in heads for c in h.children):
        if prep.dep_ != "prep" or prep.lower_ not in ("for", "since"):
            continue
        if prep.lower_ == "since":
            return True
        if any(o.lemma_.lower() in _LONG_UNITS for o in prep.children if o.dep_ == "pobj"):
            return True
    return False


def _ongoing(verb: Any) -> bool:
    """'I'm learning Japanese', 'I'm paying off student loans', 'I'm recovering from knee
    surgery': the present progressive of an open-ended activity is the user's situation,
    while that of a bounded one ("I'm writing a cover letter", "I'm working on a new logo
    for a client", "I'm trying to find...") is the task at hand. Bounded: an object that is
    one particular thing (a singular noun with a determiner or a possessive), an aim (a
    verb after it), a verb of seeking or planning, or a time that points at one occasion.
    The perfect progressive ("I've been working on...") tells what has filled the last
    while, not a lasting fact, unless a long duration says so (``_long_standing``)."""
    if verb.tag_ != "VBG" or not any(c.dep_ == "aux" and c.lemma_ == "be" and c.tag_ in (
            "VBP", "VBZ") for c in verb.children):
        return False
    if verb.lemma_.lower() in noise._TASK_VERBS or verb.lemma_.lower() in ("go", "get"):
        return False
    if any(c.dep_ in ("xcomp", "ccomp", "mark") or c.tag_ == "VBG" for c in verb.children):
        return False
    if not any(c.dep_ == "dobj" or (c.dep_ == "prep" and c.lower_ == "from")
               for c in verb.children):
        return False  # "I'm leaning towards...", "I'm working with...": the matter at hand;
        # not "I'm recovering from knee surgery", which says where it comes from
    return not (noise.occasion(verb) or _bounded(verb))


def _bounded(verb: Any) -> bool:
    """Does the clause work toward one particular thing ("a cover letter", "their latest
    project", "this trip")? Plurals and mass nouns without a determiner are open-ended."""
    for token in verb.subtree:
        if token.dep_ not in ("dobj", "attr", "pobj"):
            continue
        if token.dep_ == "dobj" and _a_person(token):
            continue  # "I'm raising my grandchildren": the people it is for, not a product
        if any(c.dep_ == "poss" or (c.dep_ == "det" and token.tag_ == "NN")
               for c in token.children):
            return True
    return False


def read(clause: Clause, reading: Reading) -> Claim | None:
    """The claim one clause makes, or None (not lasting, nothing to say, or unreadable)."""
    claim = _read(clause, reading)
    if claim is not None and clause.subject is not None and clause.subject.lower_ == "we" \
            and claim.domain not in ("family", "location", "budget"):
        return None  # "we have 50 workers on site": the user's workplace, not household
        # (a household's family, home and money are the user's own)
    return claim


def _read(clause: Clause, reading: Reading) -> Claim | None:
    verb = clause.verb
    moved = _moved_to(clause, reading)
    if moved is not None:
        return moved
    if _passive_state(verb):  # "I'm left-handed", "I'm based in Lyon"
        return _participle_state(verb, reading)
    if _rather(verb):  # "I'd rather pay more for quality": a preference, not a hypothetical
        return _preferred(verb, reading)
    if not lasting(clause):
        return None
    negated = _negated(verb)
    lemma = verb.lemma_.lower()
    tokens = clause_tokens(verb)
    if lemma == "get" and _perfect(verb):  # "I've got two dogs": possession, "Has two dogs"
        lemma = "have"
        tokens = [t for t in tokens if t.i != verb.i]
    if len(tokens) < 2 and not (tokens and _bare_habit(verb)):
        return None
    if lemma == "be":
        return _state(clause, tokens, negated, reading)
    obj = _object(verb)
    if obj is None:
        obj = _prep_object(verb)
    modal = [c.lower_ for c in verb.children if c.tag_ == "MD"]
    if obj is None:
        return _intransitive(verb, tokens, reading, negated, modal)
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
        if negated:  # "I don't have any pets": a fact of its own, not a dislike
            return _make("has_no", obj, tokens, reading, Kind.CONTEXT)
        return _make("has", obj, tokens, reading, Kind.CONTEXT)
    relation = "dislikes" if negated else "does"
    return _make(relation, obj, tokens, reading,
                 Kind.PREFERENCE if negated else Kind.CONTEXT, verb=lemma)


def _rather(verb: Any) -> bool:
    """'I'd rather X (than Y)': the modal of preference, unless under a condition."""
    if not any(c.tag_ == "MD" and c.lower_ in ("'d", "would") for c in verb.children):
        return False
    if not any(c.dep_ == "advmod" and c.lower_ in ("rather", "sooner") for c in verb.children):
        return False
    conditions = noise._CONDITIONS
    conditioned = any(c.dep_ == "mark" and c.lower_ in conditions
                      for t in (verb, *verb.ancestors) for c in t.children)
    conditioned = conditioned or any(  # "If it rains, I'd rather stay home"
        c.dep_ == "advcl" and any(m.dep_ == "mark" and m.lower_ in conditions
                                  for m in c.children) for c in verb.children)
    return not conditioned and not verb.sent.text.rstrip().endswith("?")


def _preferred(verb: Any, reading: Reading) -> Claim | None:
    """'I'd rather pay more for quality' -> 'Prefers to pay more for quality'; 'I'd rather
    not eat out' -> 'Prefers not to eat out'."""
    negated = _negated(verb)
    tokens = [t for t in clause_tokens(verb) if t.tag_ != "MD" and t.dep_ != "neg"
              and t.lower_ not in ("rather", "sooner")]
    if len(tokens) < 2 or tokens[0].i != verb.i:
        return None
    words = resolve(tokens, reading.chunks)
    if words is None:
        return None
    words[0] = str(verb.lemma_).lower() + str(verb.whitespace_)
    text = " ".join("".join(words).split())
    statement = f"Prefers {'not ' if negated else ''}to {text}"
    relation = "dislikes" if negated else "likes"
    return Claim(kind=Kind.PREFERENCE, domain=meaning.domain(statement),
                 key=f"{relation}:{_slug_text(text)}", value=text.lower(), statement=statement,
                 quote=verb.sent.text[:300])


def _negated(verb: Any) -> bool:
    return any(c.dep_ == "neg" for c in verb.children)


def _perfect(verb: Any) -> bool:
    return any(c.dep_ == "aux" and c.lemma_ == "have" for c in verb.children)


def _passive_state(verb: Any) -> bool:
    """'I'm left-handed', 'I'm based in Lyon', 'I'm obsessed with sourdough': a participle
    after a present "am / are" with no agent describes a state of the user, not an event."""
    if verb.tag_ != "VBN" or any(c.dep_ == "agent" for c in verb.children):
        return False
    return any(c.dep_ == "auxpass" and c.lemma_ == "be" and c.tag_ in ("VBP", "VBZ")
               for c in verb.children) and not noise.hypothetical(verb) and not noise.occasion(
                   verb) and not verb.sent.text.rstrip().endswith("?")


def _participle_state(verb: Any, reading: Reading) -> Claim | None:
    """'I'm left-handed' -> is:left_handed; 'I'm based in Lyon' -> where the user lives (a
    place the named entities call one); 'I'm obsessed with X' -> the state and its object."""
    tokens = clause_tokens(verb)
    negated = _negated(verb)
    complement = next((c for c in verb.children if c.dep_ in ("oprd", "acomp")), None)
    place = _place(verb)
    if place is not None and not negated:
        value = _object_text(place, reading)
        if value:
            return Claim(kind=Kind.CONTEXT, domain="location", key="location",
                         value=value.lower(), statement=f"Lives in {value}",
                         quote=verb.sent.text[:300])
    if complement is not None:
        span = verb.doc[verb.i:complement.i + 1]
        value = span.text.lower()
        words = resolve(tokens, reading.chunks)
        if words is None:
            return None
        statement = third_person(tokens, words)
        return Claim(kind=Kind.CONTEXT, domain=meaning.domain(statement),
                     key=f"is:{_slug_text(value)}", value=value, statement=statement,
                     polarity=-1 if negated else 1, quote=verb.sent.text[:300])
    obj = _prep_object(verb)
    if obj is None:  # "I'm married" and "I'm confused" look alike: not read
        return None
    return _make("is", obj, tokens, reading, Kind.CONTEXT, negated=negated,
                 verb=verb.lemma_.lower())


def _place(verb: Any) -> Any | None:
    """The place after "in" that the named entities call a city, a region or a country."""
    for prep in verb.children:
        if prep.dep_ != "prep" or prep.lower_ != "in":
            continue
        for obj in prep.children:
            if obj.dep_ == "pobj" and obj.pos_ == "PROPN":
                doc = obj.doc
                if not doc.has_annotation("ENT_IOB"):
                    add_entities(doc)
                if doc[obj.i].ent_type_ in ("GPE", "LOC"):
                    return obj
    return None


def _bare_habit(verb: Any) -> bool:
    """'I can't swim', 'I rarely eat out', 'I don't drive': a verb with no object that still
    says something lasting, because an ability, a frequency or a negation frames it."""
    framed = any(c.tag_ == "MD" and c.lower_ in ("ca", "can", "cannot") for c in verb.children)
    framed = framed or _negated(verb) or any(
        c.dep_ == "advmod" and c.lower_ in _FREQUENCY for c in verb.children)
    framed = framed or any(c.dep_ == "npadvmod" and any(
        d.lower_ in ("every", "each", "twice", "once", "a") for d in c.children)
        for c in verb.children)  # "every morning", "twice a week"
    return framed and verb.pos_ == "VERB"


def _intransitive(verb: Any, tokens: list[Any], reading: Reading, negated: bool,
                  modal: list[str]) -> Claim | None:
    """A bare verb framed as an ability, a habit or a refusal: the verb is the value."""
    if not _bare_habit(verb):
        return None
    particle = [c.lower_ for c in verb.children if c.dep_ == "prt"]
    lemma = verb.lemma_.lower()
    value = " ".join([lemma, *particle])
    words = resolve(tokens, reading.chunks)
    if words is None:
        return None
    statement = third_person(tokens, words)
    if modal and modal[0] in ("ca", "can", "cannot"):
        relation = "cannot" if negated else "can"
        key, kind = f"{relation}:{_slug_text(value)}", Kind.CONTEXT
    elif negated:
        key, kind = f"dislikes:{_slug_text(value)}", Kind.PREFERENCE
    else:
        shown = next(iter(inflect(lemma, "VBZ")), lemma)
        key, kind = _slug_text(" ".join([shown, *particle])), Kind.CONTEXT
    return Claim(kind=kind, domain=meaning.domain(statement), key=key, value=value,
                 statement=statement, quote=verb.sent.text[:300])


def _object(verb: Any) -> Any | None:
    for child in verb.children:
        if child.dep_ in ("dobj", "xcomp", "attr", "acomp", "oprd"):
            return child
    for child in verb.children:  # "I'm pescatarian now, I eat fish": a clause of its own
        if child.dep_ == "ccomp" and not any(
                c.dep_ in ("nsubj", "nsubjpass") for c in child.children):
            return child
    for child in verb.children:  # "I love topic6": a name the parser took for an adverbial
        if child.dep_ == "npadvmod" and child.pos_ in ("NOUN", "PROPN") and child.i > verb.i \
                and not _dated(child):
            return child
    return None


def _dated(token: Any) -> bool:
    """'last year', 'this month', 'two years ago': an adverbial pointed at by a deictic word
    or counted back by "ago" is a date, never what the clause is about ("four days a week"
    is how much, and stays readable)."""
    return any((c.dep_ in ("det", "amod") and c.lower_ in noise._DEICTIC) or c.lower_ == "ago"
               for c in token.children)


def _prep_object(verb: Any) -> Any | None:
    """The object of the verb's first preposition; stacked prepositions ("dropped out of
    college", "moved away from home") are followed down to the object of the last one."""
    for child in verb.children:
        prep: Any | None = child
        while prep is not None and prep.dep_ == "prep":
            objects = [c for c in prep.children if c.dep_ in ("pobj", "pcomp")]
            if objects:
                return objects[0]
            prep = next((c for c in prep.children if c.dep_ == "prep"), None)
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
    clauses = {t.i for c in token.subtree if c.dep_ in ("relcl", "acl", "advcl")
               for t in c.subtree}
    return " ".join(t.text for t in token.subtree
                    if not t.is_punct and t.lower_ not in _STOP and t.i not in clauses)


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
    """'My X <predicate>' about a thing of the user's (not a person, whose facts are theirs):
    'My favourite cuisine is Thai' -> 'Has Thai as their favourite cuisine'; 'my main hobby is
    birdwatching'; 'my job is in customer support' -> 'Has a job in customer support'; 'my
    blood pressure runs high' -> 'Has blood pressure that runs high'."""
    out = []
    for token in doc:
        if token.dep_ not in _CLAUSE_DEPS or token.pos_ not in ("VERB", "AUX"):
            continue
        if noise.hypothetical(token) or token.sent.text.rstrip().endswith("?"):
            continue
        subject = next((c for c in token.children if c.dep_ in ("nsubj", "csubj")), None)
        if subject is None:
            continue
        claim = _possession(token, subject, reading)
        if claim is not None:
            out.append(claim)
    return out


def _depictives(doc: Any, reading: Reading) -> list[tuple[int, Claim]]:
    """What a sentence says of its subject on the side, before it: 'As a vegetarian, what
    can I cook?' -> 'Is a vegetarian'; 'Being diabetic, I need...' -> 'Is diabetic'. The
    main clause may be a question or a task; the phrase still describes the user."""
    out = []
    for token in doc:
        head = token.head
        subject = next((c for c in head.children if c.dep_ in ("nsubj", "nsubjpass")), None)
        if subject is None or subject.lower_ not in _SELF or token.i > subject.i:
            continue
        described = None
        if token.dep_ == "prep" and token.lower_ == "as":
            noun = next((c for c in token.children if c.dep_ == "pobj"), None)
            if noun is not None and noun.pos_ == "NOUN" and any(
                    c.dep_ == "det" and c.lower_ in ("a", "an") for c in noun.children) \
                    and meaning.kind_of_person(noun.lemma_):
                described = noun
        elif token.dep_ == "advcl" and token.lower_ == "being" and not any(
                c.dep_ in ("nsubj", "mark") for c in token.children):
            described = next((c for c in token.children if c.dep_ in ("acomp", "attr")), None)
        if described is None or noise.hypothetical(head):
            continue
        words = [t for t in described.subtree if not t.is_punct]
        claim = _make("is", described, words, reading, Kind.CONTEXT,
                      statement=f"Is {' '.join(uncapitalized(t) for t in words)}")
        if claim is not None:
            out.append((head.i, claim))
    return out


def _judgements(doc: Any, reading: Reading) -> list[Claim]:
    """The user as the one who experiences or judges something: 'Sustainability matters to
    me', 'Crowded places stress me out', 'Dairy makes me sick', 'X works best for me',
    'Horror movies aren't my thing', 'I find museums boring'. The evaluation's direction
    (meaning.valence, a negation flips it) makes a like, a dislike or a value held."""
    out = []
    for token in doc:
        if token.dep_ not in _CLAUSE_DEPS or token.pos_ not in ("VERB", "AUX"):
            continue
        if noise.hypothetical(token) or token.sent.text.rstrip().endswith("?") or \
                noise.story(token) or noise.occasion(token) or token.tag_ == "VBG":
            continue
        found = _judged(token)
        if found is None:
            continue
        thing, predicate = found
        important = meaning.importance(predicate)
        valence = meaning.valence(predicate) or int(important)
        if valence == 0 or (valence < 0 and _negated(token)):
            continue  # "money isn't an issue for me": not a like of money
        direction = -valence if _negated(token) else valence
        if _a_person(thing):
            continue
        claim = _judgement(thing, direction, important, reading)
        if claim is not None:
            out.append(claim)
    return out


def _a_person(noun: Any) -> bool:
    """A person's name or a word for a person ("my boss"); a capitalised word that opens the
    sentence ("Honesty matters to me") is judged by its meaning, not its capital."""
    if noun.pos_ == "PROPN" and not noun.is_sent_start:
        return True
    return meaning.person(noun.lemma_)


def _judged(verb: Any) -> tuple[Any, str] | None:
    """(what is judged, the words that judge it) when ``verb``'s clause has the user as its
    experiencer: "me" as its object, "to / for me", "my thing", or "I find X Y"."""
    subject = next((c for c in verb.children if c.dep_ == "nsubj"), None)
    if verb.lemma_ == "find" and subject is not None and subject.lower_ in _SELF:
        inner = next((c for c in verb.children if c.dep_ in ("ccomp", "xcomp", "oprd")), None)
        thing = None if inner is None else next(
            (c for c in inner.children if c.dep_ == "nsubj"), None)
        if inner is None or thing is None or thing.pos_ not in ("NOUN", "PROPN"):
            return None
        return thing, inner.text
    if subject is None or subject.pos_ not in ("NOUN", "PROPN") or subject.lower_ in _SELF:
        return None
    if any(c.dep_ == "poss" for c in subject.children):
        return None  # "my brother matters to me": a person or a thing of the user's
    me = [t for t in verb.subtree if t.lower_ == "me" and (
        t.head.i == verb.i or t.head.head.i == verb.i or t.head.dep_ in ("prep", "ccomp"))]
    mine = [c for c in verb.children if c.dep_ == "attr" and any(
        p.dep_ == "poss" and p.lower_ == "my" for p in c.children)]
    if mine and _negated(verb):  # "Horror movies aren't my thing"
        return subject, "good"
    verb_words = {verb.i} if verb.lemma_ == "be" else set()
    if not me:
        return None
    skip = {t.i for t in subject.subtree} | {t.i for t in me} | verb_words
    words = [t.text for t in verb.subtree if (t.i not in skip and not t.is_punct
             and t.dep_ not in ("neg", "advmod", "prep", "det")) or t.dep_ == "prt"]
    return subject, " ".join(words)


def _judgement(thing: Any, direction: int, important: bool, reading: Reading) -> Claim | None:
    value = _object_text(thing, reading)
    if not value:
        return None
    shown = " ".join(uncapitalized(t) for t in thing.subtree if not t.is_punct)
    if direction > 0:
        request = slot_match(shown)
        if request is not None:
            return Claim(kind=Kind.PREFERENCE, domain=DOMAIN, key=request.key,
                         value=request.value, statement=request.statement,
                         quote=thing.sent.text[:300])
    relation = "cares" if important and direction > 0 else (
        "likes" if direction > 0 else "dislikes")
    verb = {"cares": "Cares about", "likes": "Likes", "dislikes": "Dislikes"}[relation]
    statement = f"{verb} {shown}"
    return Claim(kind=Kind.PREFERENCE, domain=meaning.domain(statement),
                 key=f"{relation}:{_slug_text(value)}", value=value.lower(),
                 statement=statement, quote=thing.sent.text[:300])


def _possession(token: Any, subject: Any, reading: Reading) -> Claim | None:
    be = token.lemma_ == "be"
    gerund = token.tag_ == "VBG" and all(c.dep_ in ("aux", "nsubj", "punct")
                                         for c in token.children) and any(
        c.dep_ == "aux" and c.lemma_ == "be" and c.tag_ in ("VBZ", "VBP")
        for c in token.children) and subject.lower_ not in _SELF and any(
        c.dep_ == "poss" for c in subject.children)  # "my hobby is birdwatching": a bare
    # gerund is the name of an activity, not what the subject is doing ("my company is
    # considering switching")
    value = token if gerund else next(
        (c for c in token.children if c.dep_ in ("attr", "acomp")), None)
    mine = [c for c in subject.children if c.dep_ == "poss" and c.lower_ == "my"]
    if be and not mine and value is not None and any(
            c.dep_ == "poss" and c.lower_ == "my" for c in value.children):
        subject, value = value, subject  # "safety is my top priority"
        mine = [c for c in subject.children if c.dep_ == "poss"]
    if not mine or noise.someone_else(subject) or noise.story(token) or noise.occasion(token):
        return None
    if _negated(token):
        return None
    what = " ".join(t.text for t in subject.subtree if t.dep_ != "poss")
    if not (be or gerund):
        return _possession_does(token, subject, what, reading)
    if value is None:
        prep = next((c for c in token.children if c.dep_ == "prep"), None)
        if prep is None or not be:
            return None
        return _possession_with(subject, what, list(prep.subtree), reading)
    adjective = value.pos_ == "ADJ" and not value.text[:1].isupper()  # not "Ethiopian"
    if adjective or value.pos_ not in ("NOUN", "PROPN", "ADJ", "VERB"):
        return None
    shown = [t for t in noun_phrase(value) if not t.is_punct and not (
        (gerund and t.i <= subject.i) or (t.dep_ == "aux" and t.head.i == value.i))]
    value_words = resolve(shown, reading.chunks)
    if value_words is None:
        return None
    value_text = "".join(value_words).strip()
    statement = f"Has {value_text} as their {what}"
    return Claim(kind=Kind.CONTEXT, domain=meaning.domain(statement), key=_slug_text(what),
                 value=value_text.lower(), statement=statement, quote=token.sent.text[:300])


def _possession_with(subject: Any, what: str, rest: list[Any],
                     reading: Reading) -> Claim | None:
    """'my job is in customer support' -> 'Has a job in customer support'."""
    words = resolve([t for t in rest if not t.is_punct], reading.chunks)
    if words is None or len(rest) < 2:
        return None
    tail = "".join(words).strip()
    statement = f"Has {_article(subject)}{what} {tail}"
    return Claim(kind=Kind.CONTEXT, domain=meaning.domain(statement), key=_slug_text(what),
                 value=tail.lower(), statement=statement, quote=subject.sent.text[:300])


def _possession_does(verb: Any, subject: Any, what: str, reading: Reading) -> Claim | None:
    """'my blood pressure runs high' -> 'Has blood pressure that runs high': a lasting fact
    about a thing of the user's, in the simple present."""
    if verb.tag_ not in ("VBZ", "VBP") or any(
            c.dep_ in ("aux", "auxpass", "xcomp", "ccomp") or c.tag_ == "MD"
            for c in verb.children) or verb.lemma_.lower() in noise._TASK_VERBS:
        return None  # "my laptop keeps crashing", "my doctor says...": not a lasting fact
    tokens = clause_tokens(verb)
    if len(tokens) < 2:
        return None
    words = resolve(tokens, reading.chunks)
    if words is None:
        return None
    rest = " ".join("".join(words).split())
    statement = f"Has {_article(subject)}{what} that {rest}"
    return Claim(kind=Kind.CONTEXT, domain=meaning.domain(statement), key=_slug_text(what),
                 value=rest.lower(), statement=statement, quote=verb.sent.text[:300])


def _article(noun: Any) -> str:
    """'a ' before a singular count noun ("a job", "a horse"), nothing before a plural."""
    if noun.tag_ != "NN":
        return ""
    first = next((t for t in noun.subtree if t.dep_ != "poss"), noun)
    return "an " if first.lower_[:1] in "aeiou" else "a "


def _make(relation: str, obj: Any, tokens: list[Any], reading: Reading, kind: Kind,
          *, negated: bool = False, verb: str = "", statement: str = "") -> Claim | None:
    words = resolve(tokens, reading.chunks)
    if words is None:
        return None
    statement = statement or third_person(tokens, words)
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
        domain, key, value = "work", "role", _role(tokens)
    elif relation == "does" and verb == "work" and obj.dep_ == "pobj" and (
            obj.head.lower_ in ("at", "for") or (obj.head.lower_ == "in"
                                                 and obj.pos_ != "PROPN")):
        # "I work at a bakery" (where), "I work in marketing" (the field)
        domain = "work"
        key = "field" if obj.head.lower_ == "in" else "workplace"
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
    tokens = [t for t in noun_phrase(obj)
              if not t.is_punct and t.i not in dated and t.i not in clauses
              and not (t.head.i == obj.i and t.i > obj.i and t.dep_ == "advmod")
              and not (t.tag_ in ("WRB", "WP") and t.i < obj.i)]
    kept = [t for t in tokens if t.lower_ not in _STOP][:MAX_OBJECT_WORDS]
    while kept and kept[-1].pos_ in ("CCONJ", "ADP", "DET", "PART", "SCONJ"):
        kept.pop()  # "watching or", "dislike for": cut at a word that needs what follows
    resolved = resolve(kept, reading.chunks)
    if resolved is None:
        return ""
    return " ".join(w.strip() for w in resolved if w.strip())


def _slug_text(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:60]
