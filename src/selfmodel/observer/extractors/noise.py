"""What a first-person clause says that is not lasting about the user, read from its parse.

- a question ("should I buy...?"), also when the clause is the complement of one ("do you
  think I should...?", "is it normal that I..."): asks, does not tell;
- a hypothetical: a clause under "if / unless / when...", with a modal ("I would buy a
  boat", "I might try") or a hedge ("maybe", "perhaps"), or sharing one with the verb it is
  joined to ("I could paint it or even hire someone"); a clause posed by a verb of
  supposition ("imagine I'm...", "let's say I have..."); a clause that sets the scene of
  another ("...when I'm on the bus"); a wish about answering ("I'd like more depth") is
  read as a request instead (requests.py);
- a story: past tense ("I went to Rome"), and "used to"; but not life history, which the
  past tells for good ("I studied economics", "I grew up on a farm", "I was diagnosed with
  ADHD", "I never finished high school"): a past not dated to one occasion (nor to the
  last few days: "I just graduated" is news of the moment) whose core (verb, particle,
  first argument) is closer in meaning to a life's course than to one occasion, with a
  verb that does not lean to one occasion ("went to Paris" is a trip) (``life_history``);
- a plan or a task: future ("I will", "I'm going to", "I'm about to"), the progressive ("I'm
  looking for a hotel"), a wish for this task ("I want / need / hope...", "I would love to
  hear..."), a step of a procedure ("then I..."), or a time or purpose pointing at one
  occasion ("this weekend", "tomorrow", "for this trip", "now");
  the moment itself ("right now", "at the moment", "for now") or a span shorter than a day
  ("on hold for an hour");
- a passing mood: a state that is a feeling ("I'm tired today", "I'm so excited", "in the
  mood for...").

A request about answering scoped to the item at hand ("for this email, ...", "just this
once, ...") is not a lasting preference either (``one_off``).

Lasting is the default for the present simple and the perfect of states ("I've been a
vegetarian for ten years"), which is how English states habits and facts.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from selfmodel.language import embed
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
# Verbs that pose a proposition without claiming it (a closed class, like the conditions):
# "imagine I'm a pirate", "suppose I own a bakery", "let's say I have $10,000".
_SUPPOSE = frozenset({"imagine", "suppose", "pretend", "assume", "say", "picture", "presume"})
# "When / while I'm on the bus": the scene of another clause, not a fact of its own.
_SCENE = frozenset({"when", "whenever", "while", "where", "wherever"})
# Links through which a clause is part of the one above it: a question or a supposition
# over the head covers it.
_EMBEDDING = frozenset({"ccomp", "xcomp", "conj"})
# Verbs of agreeing: a view of what someone else said (a closed class).
_AGREE = frozenset({"agree", "disagree", "concur"})
# Units of a span too short for a lasting state ("on hold for an hour").
_SHORT_SPANS = frozenset({"second", "minute", "hour"})
# Nouns of a span of time, which make "for ..." a duration ("for ten years", "for most of my
# career") rather than a beneficiary ("for my neighbour").
_PERIODS = frozenset({"second", "minute", "hour", "day", "night", "week", "weekend", "month",
                      "year", "decade", "century", "while", "time", "age", "life", "lifetime",
                      "career", "childhood"})
# Nouns that name this very moment ("at the moment", "for the time being").
_MOMENT = frozenset({"moment", "present", "minute", "being"})


def interrogative(verb: Any, subject: Any) -> bool:
    """'Should I buy...?', 'Do I need...?', 'What do I...': a question about the user; also
    a clause that is the complement of a question ('Do you think I should...?', 'How would
    you suggest I...?', 'Is it normal that I...?')."""
    sentence = verb.sent
    if not sentence.text.rstrip().endswith("?"):
        return False
    if _asks(verb, subject):
        return True
    return any(_asks(head, _subject(head)) for head in _governors(verb))


def _asks(verb: Any, subject: Any | None) -> bool:
    """Is ``verb`` the head of a question: an auxiliary or a wh-word before its subject?"""
    if subject is None:
        return False
    before = [c for c in verb.children if c.i < subject.i and c.dep_ in ("aux", "auxpass")]
    if before or (verb.pos_ == "AUX" and verb.i < subject.i):
        return True
    return any(t.tag_ in _WH for t in verb.subtree if t.i < subject.i)


def _subject(verb: Any) -> Any | None:
    return next((c for c in verb.children if c.dep_ in ("nsubj", "nsubjpass", "expl")), None)


def _governors(verb: Any) -> list[Any]:
    """The verbs ``verb`` is embedded under as a complement or a conjunct, nearest first. A
    complement comes after its verb: a clause before it ("I'm a nurse, so what should I
    pack?") is one said beside the question, which the parser hangs on it."""
    out, token = [], verb
    while token.dep_ in _EMBEDDING and token.i > token.head.i:
        token = token.head
        out.append(token)
    return out


def posed(verb: Any) -> bool:
    """'Imagine I'm a pirate', 'Suppose I own a bakery', 'Let's say I have $10,000': the
    clause is under a verb of supposition said as a request (no subject, or "let's")."""
    for head in _governors(verb):
        if head.lemma_.lower() not in _SUPPOSE:
            continue
        subject = _subject(head)
        if subject is None or subject.lower_ in ("'s", "us") or head.head.lemma_ == "let":
            return True
    return False


def _shares_modal(verb: Any) -> Any | None:
    """'I could paint it or even hire someone': a bare verb joined to another, with no
    subject or auxiliary of its own, shares that verb's modal; the verb it shares it with."""
    if verb.dep_ != "conj" or verb.head.i == verb.i:
        return None
    if verb.tag_ != "VB" and verb.lower_ != verb.lemma_.lower():
        return None  # "...and set up a tour": a base form the tagger read as a past
    if any(c.dep_ in ("nsubj", "nsubjpass", "aux", "auxpass") for c in verb.children):
        return None
    return verb.head


def _hedged(verb: Any) -> bool:
    """A modal of possibility with a hedge ("maybe I could...", "perhaps I might..."): what
    the clause embeds is not asserted either."""
    return any(c.tag_ == "MD" and c.lower_ in _POSSIBILITY for c in verb.children) and any(
        c.dep_ == "advmod" and c.lower_ in _HEDGES for c in verb.children)


def _scene(verb: Any) -> bool:
    """'...when I'm on the bus', '...while I'm at work': a clause setting the scene of
    another (the parser marks "when" as an adverb of the clause, not as its marker)."""
    return verb.dep_ == "advcl" and any(
        c.dep_ in ("advmod", "mark") and c.lower_ in _SCENE and c.i < verb.i
        for c in verb.children)


def hypothetical(verb: Any) -> bool:
    """Under a condition, posed by a supposition, setting a scene, or with a modal that is
    not a wish (its own, or the one it shares with the verb it is joined to)."""
    if posed(verb) or _scene(verb):
        return True
    if any(_hedged(head) for head in _governors(verb)):
        return True  # "Maybe I could show how I decorate my cakes"
    shared = _shares_modal(verb)
    if shared is not None and (hypothetical(shared) or _future(shared)):
        return True
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
    return _future(verb)


def _future(verb: Any) -> bool:
    """'I will book': a plan; 'I will not eat meat', 'I must avoid nuts': a rule kept."""
    modals = [c.lower_ for c in verb.children if c.tag_ == "MD"]
    refusal = any(c.dep_ == "neg" for c in verb.children)
    return any(m in _FUTURE for m in modals) and not refusal


# What a life's course is, against one occasion: two descriptions of the classes (not
# collected phrasings), compared with the core of a past clause by static embeddings.
_LIFE = ("life history: where I was born and grew up, how I was raised, what I studied at "
         "school, college or university, my degree, a diagnosis of a condition, military "
         "service, my career")
_OCCASION = ("one occasion: went somewhere, bought something, watched a show, ate a meal, "
             "visited someone, made a call, a trip, an errand, an outing")
# Calibrated on hand-written phrases: life history scores +0.12..+0.34, one-off outings and
# errands -0.30..+0.02.
LIFE_MARGIN = 0.1


# The verb alone ("went", "bought" against "studied", "was born") must not lean to one
# occasion (hand-written verbs: one-off -0.39..-0.08, life course -0.01..+0.37); a verb
# that leans clearly to a life's course carries a place or a thing that does not.
VERB_FLOOR = -0.05
VERB_STRONG = 0.2


@lru_cache(maxsize=4096)
def _lean(phrase: str) -> float:
    """How much closer ``phrase`` is to a life's course than to one occasion."""
    life, once, vector = embed([_LIFE, _OCCASION, phrase])
    return float(np.dot(vector, life) - np.dot(vector, once))


def _life_course(core: str, verb_phrase: str) -> bool:
    """'studied economics', 'was raised in town' yes; 'went to Paris' (a verb of one
    occasion with a place that leans the other way) no."""
    verb, whole = _lean(verb_phrase), _lean(core)
    return (whole >= LIFE_MARGIN and verb > VERB_FLOOR) or (
        verb >= VERB_STRONG and whole > VERB_FLOOR)


def _verb_phrase(verb: Any) -> str:
    words = [t for t in verb.children if t.dep_ in ("aux", "auxpass", "prt")] + [verb]
    return " ".join(t.text for t in sorted(words, key=lambda t: t.i))


def _core(verb: Any) -> str:
    """'was diagnosed with ADHD', 'grew up on farm', 'studied economics': the verb with its
    auxiliaries, particle, first object or prepositional object, without modifiers."""
    words = [t for t in verb.children if t.dep_ in ("aux", "auxpass", "neg", "prt")] + [verb]
    argument = next((c for c in verb.children if c.dep_ in ("dobj", "attr", "prep")), None)
    if argument is not None:
        words.append(argument)
        if argument.dep_ == "prep":
            inner = next((c for c in argument.children if c.dep_ in ("pobj", "prep")), None)
            if inner is not None:
                words.append(inner)
                if inner.dep_ == "prep":  # "dropped out of college"
                    words += [c for c in inner.children if c.dep_ == "pobj"][:1]
    return " ".join(t.text for t in sorted(words, key=lambda t: t.i))


def life_history(verb: Any) -> bool:
    """A past that tells the user's life rather than one occasion: not dated ("yesterday",
    "last week", "on Sunday", "ago", "just", "recently") and, by meaning, about a life's
    course (``_LIFE``): "I never finished high school", not "I never had much time for it"."""
    if _dated(verb) or occasion(verb):
        return False
    return _life_course(_core(verb), _verb_phrase(verb))


def _dated(verb: Any) -> bool:
    """A time that points at one occasion: 'yesterday', 'once', 'last week', 'two days ago',
    'on Sunday' (a day or a date under "on"), or at the last few days ('just', 'recently');
    "last year" or "years ago" leaves room for a life's course."""
    for t in verb.subtree:
        if t.lower_ in ("yesterday", "once", "just", "recently", "lately"):
            return True
        if (t.lower_ == "last" and t.dep_ in ("amod", "det")) or t.lower_ == "ago":
            span = t.head if t.lower_ == "last" else next(
                (c for c in t.children if c.dep_ == "npadvmod"), t.head)
            if span.lemma_.lower() not in _LONG_SPANS:
                return True  # "last night", "two days ago"; not "last year", "years ago"
        if t.dep_ == "pobj" and t.head.lower_ == "on" and t.ent_type_ in ("DATE", "TIME"):
            return True
        if t.dep_ == "pobj" and t.head.lower_ == "on" and t.pos_ == "PROPN" and \
                t.text.rstrip("s") in _WEEKDAYS:
            return True
    return False


# Spans long enough that a past dated by them can still be the user's life ("I was
# diagnosed two years ago", "I graduated last year"); shorter ones date one occasion.
_LONG_SPANS = frozenset({"year", "decade", "century", "month", "semester", "term", "spring",
                         "summer", "autumn", "fall", "winter"})
_WEEKDAYS = frozenset({"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
                       "Sunday"})


def story(verb: Any) -> bool:
    """Past narrative ('I went', 'I used to'), which says what was, not what is; life
    history told in the past is not one (``life_history``)."""
    if verb.lemma_.lower() == "use" and verb.tag_ == "VBD" and any(
            c.dep_ == "xcomp" for c in verb.children):
        return True
    past = verb.tag_ == "VBD" or (verb.tag_ == "VBN" and any(
        c.dep_ in ("aux", "auxpass") and c.tag_ == "VBD" for c in verb.children))
    if past and life_history(verb):
        return False
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
        durative = any(c.dep_ == "prep" and (c.lower_ == "since" or (
            c.lower_ == "for" and any(t.lemma_.lower() in _PERIODS for t in c.subtree)))
            for c in verb.children)  # "for ten years", not "for my neighbour"
        habitual = any(c.dep_ in ("advmod", "neg") and c.lower_ in ("always", "never", "long")
                       for c in verb.children)
        return not (verb.lemma_ == "be" or durative or habitual)
    return False


def plan_or_task(verb: Any) -> bool:
    """Future, progressive, "about to", a wish for the task at hand, one occasion in time,
    a stance on something else ("I'm sure that..."), or a passing state ("in the mood")."""
    lemma = verb.lemma_.lower()
    auxes = [c for c in verb.children if c.dep_ in ("aux", "auxpass")]
    if verb.tag_ == "VBG" and any(a.lemma_ == "be" for a in auxes):
        return True
    if lemma in _TASK_VERBS:
        return True
    if lemma in ("go", "be") and any(c.dep_ == "xcomp" or (
            c.lower_ == "about" and any(x.dep_ == "xcomp" for x in c.children))
            for c in verb.children):
        return True  # "I'm going to...", "I'm about to start..."
    if stance(verb):
        return True
    if any(c.dep_ == "advmod" and c.lower_ in _SEQUENCE for c in verb.children):
        return True  # "then I trace it in Illustrator": a step of a procedure or a story
    return occasion(verb) or in_a_passing_state(verb)


def stance(verb: Any) -> bool:
    """'I'm sure the kids would love it', 'I'm glad you asked': an adjective over a clause
    of its own is the user's view of that clause, not a trait of theirs; so is agreeing or
    disagreeing ("I agree with your point"), which is about what someone else said;
    having an idea or a plan ("I have an idea", "...in mind"), which is about the task at
    hand; and "I can't wait to...", which is eagerness."""
    lemma = verb.lemma_.lower()
    if lemma in _AGREE:
        return True
    objects = [c for c in verb.children if c.dep_ == "dobj" and c.pos_ == "NOUN"]
    if lemma in ("have", "get") and objects and (
            any(meaning.idea(o.lemma_) for o in objects)
            or any(_in_mind(t) for t in (verb, *objects))):
        return True  # "I have an idea", "I have a few names in mind"
    if lemma == "wait" and any(c.dep_ == "neg" for c in verb.children):
        return True  # "I can't wait to see it": eagerness, not an ability
    return lemma == "be" and any(
        c.dep_ == "acomp" and any(x.dep_ == "ccomp" and any(
            s.dep_ in ("nsubj", "nsubjpass") for s in x.children) for x in c.children)
        for c in verb.children)


def _in_mind(token: Any) -> bool:
    return any(p.dep_ == "prep" and p.lower_ == "in" and any(o.lemma_ == "mind" for o in p.children)
               for p in token.children)


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
        if _the_moment(token) and not _chapter_of_life(verb):
            return True  # "I'm hungry right now", "I'm at the airport at the moment"
        if token.lemma_.lower() in _SHORT_SPANS and _after_for(token):
            return True  # "on hold for an hour": an episode, not a state
        if token.dep_ == "det" and token.lower_ in ("this", "these", "next", "upcoming") \
                and token.head.dep_ == "pobj" and not _a_class(token.head) \
                and not (token.lower_ in ("this", "these") and recurring(verb)):
            return True  # "for this trip"; not "for these kinds of events", nor "I usually
            # pack light for these trips" (one kind of occasion, met again and again)
        if token.dep_ == "amod" and token.lower_ in ("upcoming", "next") and token.head.dep_ in (
                "pobj", "dobj"):
            return True
    return False


def at_the_moment(verb: Any) -> bool:
    """A request dated to this very moment ("I'm on the train right now, so keep it brief"):
    unlike ``occasion``, "next time" and "from now on" look ahead and stay lasting."""
    return any(_the_moment(token) for token in verb.subtree)


# Adverbs of frequency (a closed class) that quantify over occasions: a clause that has one
# is a habit, whichever occasions its phrases point at. ("only" is not one: "I only need it
# for this trip".)
RECURRING = frozenset({"always", "usually", "often", "rarely", "seldom", "never", "sometimes",
                       "regularly", "mostly", "generally", "normally", "typically",
                       "occasionally", "frequently"})


def recurring(verb: Any) -> bool:
    """Does a frequency adverb modify ``verb`` or the verbs it completes ("I usually prefer
    to pack light": "usually" is on "prefer", the clause's head)?"""
    token = verb
    for _ in range(4):
        if any(c.dep_ == "advmod" and c.lower_ in RECURRING for c in token.children):
            return True
        if token.dep_ not in ("xcomp", "conj", "ccomp") or token.head.i == token.i:
            return False
        token = token.head
    return False


def _a_class(noun: Any) -> bool:
    """'these kinds of events', 'this type of trip': a noun with an "of" phrase after a
    demonstrative names a class of things, not the one at hand (as in ``one_off``)."""
    return any(c.dep_ == "prep" and c.lower_ == "of" for c in noun.children)


def _after_for(token: Any) -> bool:
    """Does a span word follow "for" / "since" within its phrase ("for 12 hours straight")?
    Read on the words, not the tree: the parser often hangs the count on something else."""
    doc = token.doc
    for j in range(token.i - 1, max(token.sent.start, token.i - 5) - 1, -1):
        if doc[j].lower_ in ("for", "since"):
            return True
        if doc[j].pos_ in ("VERB", "AUX", "ADP", "PUNCT"):
            return False
    return False


def _the_moment(token: Any) -> bool:
    """'right now', 'just now', 'for now', 'at the moment', 'for the time being'."""
    if token.lower_ == "now":
        return token.head.lower_ == "for" or any(c.dep_ == "advmod" for c in token.children)
    return token.dep_ == "pobj" and token.lemma_.lower() in _MOMENT and token.head.lower_ in (
        "at", "for") and any(c.lower_ == "the" for c in token.children)


def _chapter_of_life(verb: Any) -> bool:
    """'I'm between jobs right now', 'I'm a student at the moment', 'I'm in Porto for
    now': being something, or in a situation named without a determiner, is the current
    chapter of the user's life, which the moment adverb dates but does not end. A state
    adjective ("hungry") or a definite whereabouts ("at the airport", "on the train") with
    it is the here and now."""
    subject = _subject(verb)
    if verb.lemma_ != "be" or subject is None or subject.lower_ != "i":
        return False  # "Money is my biggest worry right now": a worry of the moment
    for child in verb.children:
        if child.dep_ == "attr" and child.pos_ in ("NOUN", "PROPN"):
            return True
        if child.dep_ == "prep":
            objects = [o for o in child.children if o.dep_ == "pobj"]
            if objects and not any(c.dep_ in ("det", "poss") for o in objects
                                   for c in o.children):
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


def in_a_passing_state(verb: Any) -> bool:
    """'I'm in the mood for pizza': "be in" a state that is a feeling."""
    if verb.lemma_ != "be":
        return False
    return any(o.dep_ == "pobj" and o.pos_ == "NOUN" and meaning.passing(o.lemma_)
               for p in verb.children if p.dep_ == "prep" and p.lower_ == "in"
               for o in p.children)


def one_off(head: Any) -> bool:
    """A request about answering scoped to the item at hand: 'For this email, keep the tone
    warm', 'Just this once, skip the summary', 'In this answer, leave out the code'. A
    scope pointing at one thing ("this", "that" on a singular noun, "once") under the
    request's verb; "next time" and "from now on" look ahead, so they stay lasting."""
    for child in head.children:
        if child.dep_ == "prep" and child.lower_ in ("for", "in", "on"):
            for obj in child.children:
                if obj.dep_ == "pobj" and obj.tag_ == "NN" and any(
                        c.dep_ == "det" and c.lower_ in ("this", "that") for c in obj.children
                ) and not any(c.dep_ == "prep" and c.lower_ == "of" for c in obj.children):
                    return True  # not "for this kind of question": a class of items
        if child.dep_ in ("advmod", "npadvmod") and child.lower_ == "once":
            return True
        if child.dep_ == "npadvmod" and any(c.dep_ == "det" and c.lower_ == "this"
                                            for c in child.children):
            return True  # "this time"
    return False


def someone_else(possessed: Any) -> bool:
    """'my wife is vegan': the facts of the person named, not of the user."""
    return possessed.pos_ == "PROPN" or meaning.person(possessed.lemma_)
