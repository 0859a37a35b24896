"""Requests addressed to the assistant about how to answer, and corrections of the last answer.

Recognised by the form of the sentence, then matched to a communication slot by meaning
(observer/extractors/slots.py):

- an imperative ("Use a casual tone", "Don't use bullet points", "Be more detailed"), also
  after "please" or "can you";
- a wish of the user's about answers ("I'd like more depth", "I prefer bullet points");
- a fragment ("No summaries at the end, please", "Shorter please", "In French");
- a sentence about the answers themselves ("Your answers should be shorter");
- a complaint about the answer just given ("This is too shallow", "Not detailed enough"),
  which names the slot by what it has too much of and asks for the opposite.

Negation (a "neg" dependent, "no"/"without"/"less"/"fewer", or a verb of stopping) asks for
the slot's opposite value. A request is a lasting preference unless it is scoped to a piece of
work: the same clause or message asks for something else (a question, "write a poem..."),
and nothing marks it as general ("always", "from now on", "answers" in the plural, "I
prefer"). A correction of the answer just given always counts.

A request about answering that no slot names ("Be blunt with me", "Stop apologizing") is kept
in the user's words ("Asks the assistant to be blunt") when its form can be about nothing but
the answering: "be" with an adjective, a refusal of a verb with no object, or a verb of
speaking with no object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from selfmodel.language import add_entities, embed
from selfmodel.observer.extractors import slots
from selfmodel.observer.extractors.inflection import adjective_lemmas
from selfmodel.observer.extractors.slots import SlotValue

# Verbs that ask to stop doing something (a closed class: the request's polarity).
_STOPPING = frozenset({"stop", "avoid", "skip", "drop", "quit", "cut", "lose", "ditch",
                       "remove", "omit", "eliminate", "minimize", "minimise", "reduce"})
_SWITCH = frozenset({"switch", "change", "go", "revert", "return", "move"})
_NEGATORS = frozenset({"no", "without", "less", "fewer", "never", "not", "n't"})
_WISH = frozenset({"like", "prefer", "want", "love", "need", "appreciate", "rather"})
_ANSWERS = frozenset({"answer", "response", "reply", "explanation", "output", "summary"})
_GENERAL_ADVERBS = frozenset({"always", "generally", "usually", "never", "normally"})
_FILLER = frozenset({"please", "pls", "plz", "kindly", "me", "you", "your", "can", "could",
                     "would", "will", "just", "also", "now", "then", "again", "instead", "ok",
                     "okay", "so", "i", "'d", "'m"})
_DEICTIC_SUBJECTS = frozenset({"this", "that", "it", "these", "those"})
# Verbs that carry no slot of their own: the complement names it ("keep it short", "go deeper").
_LIGHT = frozenset({"be", "keep", "stay", "sound", "make", "go", "get"})
# Set phrases that address the assistant without asking anything of its answers ("never
# mind", "don't worry", "don't bother").
_PHATIC = frozenset({"mind", "worry", "bother", "panic", "hesitate", "thank"})
# Verbs of speaking: an imperative of one with no object is about how to answer ("talk to me
# like a friend", "write plainly").
_SPEAKING = frozenset({"talk", "speak", "write", "answer", "respond", "reply", "explain",
                       "address", "communicate"})
WRONG_MATCH = 0.45
_WRONG = "wrong, incorrect, inaccurate, mistaken, not right"


@dataclass(frozen=True)
class Request:
    """A communication slot value asked for in one clause."""

    value: SlotValue
    head: Any  # the clause's head token (a claim about the same clause is not made twice)
    complaint: bool  # a reaction to the answer: a correction when there is one
    needs_context: bool  # meaningless without an answer to react to ("too long")
    general: bool  # marked as lasting
    task: bool  # the clause also asks for a piece of work


def requests(doc: Any) -> list[Request]:
    """Every request about how to answer in ``doc``."""
    out: list[Request] = []
    for sentence in doc.sents:
        root = sentence.root
        fragment = _fragment(sentence) or _too(sentence) or _before_please(sentence)
        if fragment is not None:
            out.append(fragment)
            continue
        for head in _clause_heads(sentence):
            found = (_complaint(head) or _wish(head) or _about_answers(head)
                     or _imperative(head, allow_conj=head.i != root.i and head.dep_ == "conj"))
            if found is not None:
                out.append(found)
    return out


def _clause_heads(sentence: Any) -> list[Any]:
    """The root and the clauses joined to it ("I'd like more depth, this is too shallow"),
    an imperative put before a statement ("Use lots of emojis, I like them": the parser
    hangs it under the statement), and what "feel free to" permits ("Feel free to be
    technical" asks for technical answers)."""
    root = sentence.root
    heads = [root, *(t for t in sentence if t.head.i == root.i and t.i != root.i
                     and t.dep_ in ("conj", "ccomp", "parataxis") and t.pos_ in ("VERB", "AUX"))]
    heads += [t for t in sentence if t.head.i == root.i and t.dep_ == "advcl" and t.i < root.i
              and t.tag_ == "VB" and not any(c.dep_ == "mark" for c in t.children)]
    for head in list(heads):
        if head.lemma_.lower() == "feel":
            heads += [x for c in head.children if c.dep_ == "acomp" and c.lower_ == "free"
                      for x in c.children if x.dep_ == "xcomp" and x.tag_ == "VB"]
    return heads


def _phrase(tokens: Sequence[Any]) -> tuple[str, bool]:
    """The request's words for matching (comparatives as their base: "shorter" -> "short"),
    and whether they negate it."""
    words, negated = [], False
    contrast: set[int] = set()  # "full sentences, not lists": the part after "not" is out
    for neg in tokens:
        if neg.dep_ == "neg" and neg.head.pos_ in ("NOUN", "PROPN"):
            contrast.add(neg.i)
            contrast.update(t.i for c in neg.head.children if c.i > neg.i
                            and c.dep_ in ("appos", "conj") for t in c.subtree)
    for token in tokens:
        if token.i in contrast:
            continue
        low = token.lower_
        if low in _NEGATORS or token.dep_ == "neg" or token.lemma_.lower() in _STOPPING:
            negated = True
            continue
        if low in _FILLER or token.is_punct or token.pos_ == "INTJ":
            continue
        if token.tag_ in ("JJR", "RBR") and low not in ("more", "less"):
            words.append(_base(token))
        else:
            words.append(token.text)
    return " ".join(words).lower(), negated


def _base(token: Any) -> str:
    """A comparative's base ("shorter" -> "short", "deeper" -> "deep"; spaCy's lemma of an
    adverb comparative can be another word: "deeper" -> "deeply")."""
    found = adjective_lemmas(token.lower_)
    return found[0] if found else str(token.lemma_)


def _value(tokens: Sequence[Any], extra_negation: bool = False) -> SlotValue | None:
    language = _language(tokens)
    if language is not None:
        return language
    text, negated = _phrase(tokens)
    if not text:
        return None
    negated = negated != extra_negation
    found = slots.match(text, negated)
    if found is None and negated:  # "don't give me walls of text": what is unwanted
        found = slots.complaint(text)
    return found


def _language(tokens: Sequence[Any]) -> SlotValue | None:
    """'in French', 'answer in Spanish': a language the named entities find after 'in'
    (entities are added to the doc only when a capitalized word follows 'in')."""
    candidates = [t for t in tokens if t.dep_ == "pobj" and t.text[:1].isupper() and (
        t.head.lower_ == "in" or (t.head.lower_ == "to" and _switching(t.head.head)))
        and not any(c.dep_ == "amod" for c in t.children)]  # "plain English": a register
    if not candidates:
        return None
    doc = candidates[0].doc
    if not doc.has_annotation("ENT_IOB"):
        add_entities(doc)
    for token in candidates:
        if doc[token.i].ent_type_ in ("LANGUAGE", "NORP"):
            return slots.language(token.text)
    return None


def _switching(token: Any) -> bool:
    """'switch (back) to English', 'change to French': "to" naming what replaces something."""
    verb = token.head if token.lower_ == "back" else token
    return verb.lemma_.lower() in _SWITCH


def _asides(root: Any) -> set[int]:
    """Words of the request that are not about the slot: its subject, a clause beside it
    ("when you answer"), its scope ("in general", "from now on") and "with me"."""
    out: set[int] = set()
    for child in root.children:
        if child.dep_ in ("advcl", "nsubj"):
            out.update(t.i for t in child.subtree)
    for token in root.subtree:
        words = {t.lower_ for t in token.subtree}
        scope = token.lower_ in ("in", "from") and words & {"general", "now"}
        with_me = token.dep_ == "prep" and words == {token.lower_, "me"}
        if scope or with_me:
            out.update(t.i for t in token.subtree)
    return out


def _general(tokens: Sequence[Any]) -> bool:
    for token in tokens:
        if token.lower_ in _GENERAL_ADVERBS:
            return True
        if token.lemma_.lower() in _ANSWERS and token.tag_ == "NNS":
            return True
        if token.lower_ == "now" and token.head.lower_ == "from":
            return True
        if token.lower_ == "forward" and token.head.lemma_ == "go":
            return True
        if token.lower_ == "general" and token.head.lower_ == "in":
            return True
    return False


def _imperative(root: Any, allow_conj: bool = False) -> Request | None:
    """'Use a casual tone', 'Don't use lists', 'Can you be more brief?'."""
    subjects = [c for c in root.children if c.dep_ in ("nsubj", "nsubjpass")]
    bare = root.tag_ == "VBP" and not subjects and not any(
        c.dep_ in ("aux", "auxpass", "expl") for c in root.children) and root.i == min(
        (t.i for t in root.sent if not (t.is_punct or t.pos_ in ("ADV", "INTJ"))),
        default=root.i)  # "Always include sources": a verb with no subject opening its clause
    if root.pos_ not in ("VERB", "AUX") or (root.tag_ != "VB" and not allow_conj and not bare):
        return None
    if subjects and subjects[0].lower_ != "you":
        return None
    if subjects and not any(c.tag_ == "MD" for c in root.children):
        return None
    stopping = root.lemma_.lower() in _STOPPING
    aside = _asides(root) | _about_the_world(root)
    tokens = [t for t in root.subtree if t.i not in aside]
    if not tokens:
        return None
    if stopping or root.lemma_ in _LIGHT:
        tokens = [t for t in tokens if t.i != root.i]  # the verb carries no slot
    value = _contrasted(root, tokens, stopping) or _value(tokens, extra_negation=stopping)
    if value is None and root.lemma_ in _LIGHT:  # "keep things short and sweet": the
        value = next((found for found in (  # complement names the slot
            _value([t], extra_negation=stopping) for t in tokens
            if t.pos_ in ("ADJ", "ADV") and t.dep_ != "neg") if found is not None), None)
    if value is None and not any(c.dep_ == "dobj" for c in root.children):
        value = _value([root])  # "cite where your facts come from": the verb names it
    if value is None:
        return _unlisted(root, tokens)
    negated = stopping or any(c.dep_ == "neg" for c in root.children)
    comparative = any(t.tag_ in ("JJR", "RBR") or t.lower_ in ("more", "less") for t in tokens)
    # A request put as a question ("Could you give me a step-by-step guide?") or with an
    # object of its own ("Rewrite this paragraph in a formal tone") is about this piece of work.
    task = (not stopping and _work_object(root, value)) or root.sent.text.rstrip().endswith(
        "?") or _scoped(root)
    complaint = negated or comparative or value.key == "reply_language"
    return Request(value, root, complaint=complaint and not task,
                   needs_context=False, general=_general(tokens), task=task)


def _about_the_world(root: Any) -> set[int]:
    """'Make sure we're up to code', 'make sure everything is ready': a clause under the
    request with a subject of its own that is neither the assistant, the answer nor a word
    pointing at it is about the user's world, not about how to answer; its words name no
    slot ("code" there is a building code, not code in the answer)."""
    out: set[int] = set()
    for clause in root.subtree:
        if clause.dep_ not in ("ccomp", "advcl") or clause.pos_ not in ("VERB", "AUX"):
            continue
        subject = next((c for c in clause.children if c.dep_ in ("nsubj", "nsubjpass")), None)
        if subject is None or subject.lower_ in ("you", *_DEICTIC_SUBJECTS) or (
                subject.lemma_.lower() in _ANSWERS):
            continue
        out.update(t.i for t in clause.subtree)
    return out


def _scoped(root: Any) -> bool:
    """'For this email, use a formal tone': the request is scoped to one piece of work."""
    return any(c.dep_ == "prep" and c.lower_ == "for" and any(
        d.dep_ == "det" and d.lower_ in ("this", "that", "these", "those")
        for o in c.children for d in o.children) for c in root.children)


def _contrasted(root: Any, tokens: Sequence[Any], stopping: bool) -> SlotValue | None:
    """'Skip the headings, just plain paragraphs': a refusal's objects, one by one; an object
    after the first is the alternative asked for, not refused."""
    objects = [c for c in root.children if c.dep_ in ("dobj", "appos", "conj")
               and c.pos_ in ("NOUN", "PROPN")]
    if len(objects) < 2:
        return None
    kept = {t.i for t in tokens}
    for n, obj in enumerate(objects):
        words = [t for t in obj.subtree if t.i in kept]
        found = _value(words, extra_negation=stopping and n == 0)
        if found is not None:
            return found
    return None


def _unlisted(root: Any, tokens: Sequence[Any]) -> Request | None:
    """A request about answering that no slot names ("Be blunt with me", "Stop apologizing",
    "Please don't ramble", "Talk to me like a friend"): kept in the user's words as what
    they ask of the assistant. Only forms that can be about nothing but the answering: "be"
    with an adjective, a refusal of a verb with no object, or a verb of speaking with no
    object; a question, or an imperative with an object (a task), is not one."""
    if root.tag_ != "VB" or root.sent.text.rstrip().endswith("?") or _scoped(root):
        return None
    if root.lemma_.lower() in _PHATIC or (root.lemma_.lower() in _LIGHT
                                          and root.lemma_.lower() != "be"):
        return None  # "never mind"; "don't get me wrong": a light verb's idiom
    if any(c.dep_ in ("nsubj", "nsubjpass", "dobj", "dative", "ccomp") and c.lower_ not in (
            "me", "myself") for c in root.children):
        return None  # an object of its own (other than the user) makes it a task
    negated = root.lemma_.lower() in _STOPPING or any(c.dep_ == "neg" for c in root.children)
    lemma = root.lemma_.lower()
    if lemma in _STOPPING:  # "stop apologizing": the refused verb is the gerund after it
        if not any(c.dep_ in ("xcomp", "dobj") and c.tag_ == "VBG" for c in root.children):
            return None
    elif lemma == "be":
        if not any(c.dep_ == "acomp" and c.pos_ == "ADJ" for c in root.children):
            return None
    elif not (negated and root.pos_ == "VERB") and lemma not in _SPEAKING:
        return None
    if any(t.lower_ in ("it", "this", "that", "them", "these", "those") for t in tokens):
        return None  # "don't worry about it": about something said, not about answering
    words = [t for t in tokens if not (t.is_punct or t.pos_ == "INTJ" or (
        t.dep_ in ("neg", "aux") and t.head.i == root.i) or t.lower_ in (
        "please", "me", "myself") or (
        t.dep_ == "prep" and all(c.lower_ in ("me", "myself") for c in t.children)))]
    if lemma in _STOPPING:
        words = [t for t in words if t.i != root.i]
    text = " ".join(t.text.lower() if t.i != root.i else t.lemma_.lower() for t in words)
    if lemma in _STOPPING:
        text = " ".join(t.lemma_.lower() if t.tag_ == "VBG" and t.dep_ in ("xcomp", "dobj")
                        else t.text.lower() for t in words)
    if not text or len(text.split()) > 8:
        return None
    if lemma == "be" and not negated:
        text = "be " + text if not text.startswith("be ") else text
    statement = f"Asks the assistant {'not ' if negated else ''}to {text}"
    value = SlotValue(f"asks:{'not_' if negated else ''}{_slug(text)}", text, statement, "",
                      None)
    return Request(value, root, complaint=False, needs_context=False, general=True,
                   task=False)


def _slug(text: str) -> str:
    return "_".join("".join(ch if ch.isalnum() else " " for ch in text).split())[:60]


def _work_object(root: Any, value: SlotValue) -> bool:
    """Does the imperative's object ask for a piece of work ("explain quantum computing",
    "rewrite this paragraph in a formal tone"), rather than name the slot itself ("use a
    casual tone")?"""
    for child in root.children:
        if child.dep_ != "dobj" or child.pos_ == "PRON":
            continue
        if child.tag_ == "NNS" and not any(c.dep_ in ("det", "poss", "compound", "prep")
                                           for c in child.children):
            continue  # "put things in a table", "keep things short": things in general
        text, _ = _phrase(list(child.subtree))
        found = slots.match(text) if text else None
        if text and (found is None or found.key != value.key):
            return True
        if child.lower_ != child.lemma_.lower() or child.tag_ == "NNS":
            continue
        if any(c.dep_ == "det" and c.lower_ in ("this", "that") for c in child.children):
            return True  # "this paragraph": one thing to work on ("the summary": any)
    return False


def _wish(root: Any) -> Request | None:
    """'I'd like more depth', 'I prefer bullet points', 'I want answers in French'."""
    if root.lemma_.lower() not in _WISH:
        return None
    subjects = [c for c in root.children if c.dep_ == "nsubj"]
    if not subjects or subjects[0].lower_ != "i":
        return None
    objects = [c for c in root.children if c.dep_ in ("dobj", "xcomp", "ccomp")]
    if not objects:
        return None
    tokens = [t for o in objects for t in o.subtree]
    negated = any(c.dep_ == "neg" for c in root.children)
    value = _value(tokens, extra_negation=negated)
    if value is None:  # "tables for comparisons": the noun and its modifiers alone
        head = [t for o in objects for t in o.subtree
                if t.i == o.i or (t.head.i == o.i and t.dep_ in ("amod", "compound"))]
        value = _value(head, extra_negation=negated)
    if value is None:
        return None
    comparative = any(t.tag_ in ("JJR", "RBR") for t in tokens)  # "I wanted more detail"
    return Request(value, root, complaint=comparative, needs_context=False, general=True,
                   task=False)


def _about_answers(root: Any) -> Request | None:
    """'Your answers should be shorter', 'Responses in English please'."""
    subjects = [c for c in root.children if c.dep_ in ("nsubj", "nsubjpass")]
    if not subjects or subjects[0].lemma_.lower() not in _ANSWERS:
        return None
    subject = {t.i for t in subjects[0].subtree}
    tokens = [t for t in root.subtree if t.i not in subject]
    value = _value(tokens)
    if value is None:
        return None
    return Request(value, root, complaint=False, needs_context=False, general=True, task=False)


def _fragment(sentence: Any) -> Request | None:
    """'No summaries at the end, please', 'Shorter please', 'Bullet points.'"""
    root = sentence.root
    if (root.pos_ in ("VERB", "AUX") and root.lower_ != "please" and not _noun_read_as_verb(root)) \
            or sentence.text.rstrip().endswith("?"):
        return None
    tokens = list(sentence)
    if len([t for t in tokens if t.is_alpha]) > 8:
        return None
    value = _value(tokens)
    if value is None:
        return None
    negated = _phrase(tokens)[1]
    comparative = root.tag_ in ("JJR", "RBR") or any(t.lower_ in ("more", "less")
                                                      for t in tokens)
    return Request(value, root, complaint=negated or comparative or value.key == "reply_language",
                   needs_context=comparative and not negated, general=False, task=False)


def _noun_read_as_verb(root: Any) -> bool:
    """'No emojis please': a plural noun the tagger read as a verb in "-s". A finite verb in
    the third person has a subject; one without any is a noun in a fragment."""
    return root.tag_ == "VBZ" and not any(
        c.dep_ in ("nsubj", "nsubjpass", "expl", "aux") for c in root.children)


def _too(sentence: Any) -> Request | None:
    """'too short, give me details': an adjective under "too" with no subject of its own."""
    for token in sentence:
        too = any(c.lower_ == "too" for c in token.children)
        if token.pos_ in ("ADJ", "ADV") and too and not any(
                c.dep_ == "nsubj" for c in token.children) and token.head.lemma_ != "be":
            value = slots.complaint(token.lemma_)
            if value is not None:
                return Request(value, token, complaint=True, needs_context=True, general=False,
                               task=False)
    return None


def _before_please(sentence: Any) -> Request | None:
    """'Actually, bullet points please, it's easier to scan': a fragment ending in "please"
    inside a longer sentence."""
    for token in sentence:
        if token.lower_ == "please" and token.i > sentence.start:
            start = sentence.start
            for earlier in sentence.doc[sentence.start:token.i]:
                if earlier.is_punct:
                    start = earlier.i + 1  # the fragment starts after the last comma
            if start < token.i and (start > sentence.start or token.i + 1 < sentence.end):
                return _fragment(sentence.doc[start:token.i + 1])
    return None


def _complaint(root: Any) -> Request | None:
    """'This is too shallow', 'It's way too long', 'Not detailed enough'."""
    if root.lemma_ != "be":
        return None
    subjects = [c for c in root.children if c.dep_ == "nsubj"]
    if not subjects or not (subjects[0].lower_ in _DEICTIC_SUBJECTS
                            or subjects[0].lemma_.lower() in _ANSWERS):
        return None
    complement = next((c for c in root.children if c.dep_ == "acomp"), None)
    if complement is None:
        return None
    advs = {c.lower_ for c in complement.children if c.dep_ == "advmod"}
    if "too" in advs:
        value = slots.complaint(complement.lemma_)
    elif "enough" in advs and any(c.dep_ == "neg" for c in root.children):
        value = slots.match(complement.lemma_)
    else:
        return None
    if value is None:
        return None
    # "Your answers are too long": about the answers in general, with or without one to
    # react to; "this is too long" needs the answer it points at.
    general = subjects[0].lemma_.lower() in _ANSWERS and subjects[0].tag_ == "NNS"
    return Request(value, root, complaint=True, needs_context=not general, general=general,
                   task=False)


def generic_correction(doc: Any) -> bool:
    """'That's wrong', 'No, I meant...', 'Not what I asked', 'You misunderstood'."""
    for sentence in doc.sents:
        root = sentence.root
        subjects = [c for c in root.children if c.dep_ in ("nsubj", "nsubjpass")]
        subject = subjects[0].lower_ if subjects else ""
        if root.lemma_ == "mean" and subject == "i" and root.tag_ == "VBD":
            return True
        if subject == "you" and root.lemma_ in ("misunderstand", "miss", "misread", "get"):
            return True
        if root.lemma_ == "be" and (subject in _DEICTIC_SUBJECTS
                                    or (subjects and subjects[0].lemma_ in _ANSWERS)):
            if any(c.dep_ == "neg" for c in root.children) and any(
                    t.lower_ == "what" for t in root.subtree):
                return True  # "that's not what I asked"
            complement = next((c for c in root.children if c.dep_ in ("acomp", "attr")), None)
            if complement is not None and _wrong(complement.text):
                return True
    return False


def _wrong(word: str) -> bool:
    vectors = embed([word, _WRONG])
    return bool(np.dot(vectors[0], vectors[1]) >= WRONG_MATCH)
