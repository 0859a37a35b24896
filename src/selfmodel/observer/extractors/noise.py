"""What a first-person clause says that is not lasting about the user, read from its parse.

- a question ("should I buy...?"): asks, does not tell;
- a hypothetical: a clause under "if / unless / when...", with a modal ("I would buy a
  boat", "I might try") or a hedge ("maybe", "perhaps"); a wish about answering ("I'd like
  more depth") is read as a request instead (requests.py);
- a story: past tense ("I went to Rome"), and "used to";
- a plan or a task: future ("I will", "I'm going to", "I'm about to"), the progressive ("I'm
  looking for a hotel"), a wish for this task ("I want / need / hope...", "I would love to
  hear..."), a step of a procedure ("then I..."), or a time or purpose pointing at one
  occasion ("this weekend", "tomorrow", "for this trip", "now");
- a passing mood: a state that is a feeling ("I'm tired today", "I'm so excited").

Lasting is the default for the present simple and the perfect of states ("I've been a
vegetarian for ten years"), which is how English states habits and facts.
"""

from __future__ import annotations

from typing import Any

from selfmodel.observer.extractors import meaning
from selfmodel.observer.extractors.inflection import inflect

_CONDITIONS = frozenset({"if", "unless", "when", "whenever", "once", "until", "before", "after",
                         "while", "suppose", "supposing", "whether", "though", "although"})
_POSSIBILITY = frozenset({"would", "could", "might", "may", "should", "'d"})
_FUTURE = frozenset({"will", "shall", "'ll", "wo"})
_WISH_VERBS = frozenset({"like", "prefer", "rather", "love", "appreciate", "enjoy", "hate"})
_TASK_VERBS = frozenset({"want", "need", "hope", "plan", "intend", "wish", "wonder", "think",
                         "guess", "suppose", "look", "mean", "ask", "know",
                         "see", "say", "feel", "forget", "remember", "understand", "believe"})
_DEICTIC = frozenset({"this", "next", "tomorrow", "tonight", "today", "yesterday", "last",
                      "coming", "upcoming", "these", "now", "soon", "currently"})
_WH = frozenset({"WDT", "WP", "WP$", "WRB"})
_HEDGES = frozenset({"maybe", "perhaps", "possibly", "probably", "hopefully"})
_SEQUENCE = frozenset({"then", "afterwards", "later", "next", "first", "finally", "eventually"})


def interrogative(verb: Any, subject: Any) -> bool:
    """'Should I buy...?', 'Do I need...?', 'What do I...': a question about the user."""
    sentence = verb.sent
    if not sentence.text.rstrip().endswith("?"):
        return False
    before = [c for c in verb.children if c.i < subject.i and c.dep_ in ("aux", "auxpass")]
    if before or (verb.pos_ == "AUX" and verb.i < subject.i):
        return True
    return any(t.tag_ in _WH for t in verb.subtree if t.i < subject.i)


def hypothetical(verb: Any) -> bool:
    """Under a condition, or with a modal that is not a wish."""
    for token in (verb, *verb.ancestors):
        if any(c.dep_ == "mark" and c.lower_ in _CONDITIONS for c in token.children):
            return True
        if token.dep_ not in ("conj", "xcomp", "ccomp"):
            break
    if any(c.dep_ == "advmod" and c.lower_ in _HEDGES for c in verb.children):
        return True  # "maybe", "perhaps": not a statement of fact
    modals = [c.lower_ for c in verb.children if c.tag_ == "MD"]
    if any(m in _POSSIBILITY for m in modals):
        return True  # "I would love to hear...": a wish for this conversation
    refusal = any(c.dep_ == "neg" for c in verb.children)
    return any(m in _FUTURE for m in modals) and not refusal  # "I will book": a plan;
    # "I will not eat meat", "I must avoid nuts": a rule the user keeps


def story(verb: Any) -> bool:
    """Past narrative ('I went', 'I used to'), which says what was, not what is."""
    if verb.lemma_.lower() == "use" and verb.tag_ == "VBD" and any(
            c.dep_ == "xcomp" for c in verb.children):
        return True
    if verb.tag_ == "VBD":
        # "I only read...", "I put...": a form that is also the present reads as the present
        # unless something in the clause dates it.
        present = inflect(verb.lemma_, "VBP")
        dated = any(t.lower_ in ("ago", "yesterday", "once") or (
            t.lower_ == "last" and t.dep_ in ("amod", "det")) for t in verb.subtree)
        return not (present and present[0] == verb.lower_) or dated
    if verb.tag_ == "VBN":
        auxes = [c for c in verb.children if c.dep_ in ("aux", "auxpass")]
        if any(a.tag_ == "VBD" for a in auxes):
            return True  # "I had been", "I was told"
        durative = any(c.dep_ == "prep" and c.lower_ in ("for", "since") for c in verb.children)
        habitual = any(c.dep_ in ("advmod", "neg") and c.lower_ in ("always", "never", "long")
                       for c in verb.children)
        return not (verb.lemma_ == "be" or durative or habitual)
    return False


def plan_or_task(verb: Any) -> bool:
    """Future, progressive, a wish for the task at hand, or one occasion in time."""
    lemma = verb.lemma_.lower()
    auxes = [c for c in verb.children if c.dep_ in ("aux", "auxpass")]
    if verb.tag_ == "VBG" and any(a.lemma_ == "be" for a in auxes):
        return True
    if lemma in _TASK_VERBS:
        return True
    if lemma in ("go", "be") and any(c.dep_ == "xcomp" for c in verb.children):
        return True  # "I'm going to...", "I'm about to start..."
    if any(c.dep_ == "advmod" and c.lower_ in _SEQUENCE for c in verb.children):
        return True  # "then I trace it in Illustrator": a step of a procedure or a story
    return occasion(verb)


def occasion(verb: Any) -> bool:
    """A time or purpose that points at one occasion: 'this weekend', 'for this trip'."""
    for token in verb.subtree:
        if token.dep_ in ("det", "amod") and token.lower_ in ("this", "next", "coming") and \
                token.head.dep_ == "npadvmod":
            return True  # "this weekend", "next week"
        if token.lower_ in ("tomorrow", "tonight", "today", "yesterday"):
            return True
        if token.lower_ == "now" and token.head.lower_ != "from" and not _changed(verb):
            return True  # "I've been on the road for 12 hours now"
        if token.dep_ == "det" and token.lower_ in ("this", "these", "next", "upcoming") \
                and token.head.dep_ == "pobj":
            return True
        if token.dep_ == "amod" and token.lower_ in ("upcoming", "next") and token.head.dep_ in (
                "pobj", "dobj"):
            return True
    return False


def _changed(verb: Any) -> bool:
    """'I'm pescatarian now', 'I live in Lisbon now': "now" with the simple present marks a
    lasting state that has changed, not one occasion (unlike "for 12 hours now")."""
    return verb.tag_ in ("VBP", "VBZ") and not any(
        c.dep_ == "prep" and c.lower_ in ("for", "since") for c in verb.children)


def passing_state(complement: Any) -> bool:
    """'I'm tired', 'I'm so excited': a mood, not a trait."""
    return complement.pos_ == "ADJ" and meaning.passing(complement.lemma_)


def someone_else(possessed: Any) -> bool:
    """'my wife is vegan': the facts of the person named, not of the user."""
    return possessed.pos_ == "PROPN" or meaning.person(possessed.lemma_)
