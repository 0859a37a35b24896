"""Small judgements of meaning made by similarity to short descriptions (static embeddings).

Each judgement compares a phrase with one or a few descriptions through
``selfmodel.language.embed`` (unit vectors, so a dot product is a cosine). The thresholds were
calibrated on hand-written phrases; the descriptions say what a class is, they are not
collected phrasings.

- ``domain``: which part of life a claim is about (diet, work, travel...), for its slot;
- ``passing``: whether a state adjective is a mood ("tired", "excited") rather than a trait;
- ``person``: whether a possessed noun is a person ("my wife"), whose facts are not the user's;
- ``proposal`` / ``idea``: whether a noun is something proposed or an idea held for now;
- ``valence`` and ``importance``: whether an evaluation ("matters to me", "stresses me out",
  "boring") is for or against its object, and whether it names a value.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from selfmodel.language import embed

DOMAINS: dict[str, str] = {
    "diet": "diet and food: vegetarian, vegan, gluten-free, what I eat and drink",
    "health": "health, allergies, illness, medication, disability, fitness",
    "work": "job, profession, career, workplace, colleagues, role",
    "family": "family, children, partner, parents, pets at home",
    "location": "where I live, city, country, neighborhood, home",
    "language": "languages I speak, native language, learning a language",
    "expertise": "skill level, experience, beginner or expert in a subject",
    "tools": "software, apps, devices, programming languages, tools I use",
    "hobbies": "hobbies, sports, games, crafts, outdoor activities",
    "entertainment": "music, books, movies, television shows, podcasts",
    "travel": "travel, hotels, flights, trains, cars, restaurants when traveling",
    "shopping": "shopping, clothes, fashion, brands, furniture, home goods",
    "schedule": "schedule, time of day, routine, working hours, time zone",
    "budget": "budget, money, prices, spending, saving",
    "values": "values and beliefs: environment, ethics, sustainability, animal welfare",
}
GENERAL = "general"
DOMAIN_MATCH = 0.25
PASSING_MATCH = 0.17
PERSON_MATCH = 0.2
_PASSING = ("feeling tired, sad, happy, stressed, excited, bored, curious, nervous, "
            "overwhelmed, concerned, ready, willing, open to it today")
_PERSON = "my wife, husband, son, daughter, mother, friend, boss"
_PERSON_KINDS = ("relative", "family member", "friend", "colleague", "child", "parent")
PERSON_KIND_MATCH = 0.21
_PROPOSAL = "an idea, a suggestion, an option, a concept, a recommendation, a proposal"
PROPOSAL_MATCH = 0.2
# An evaluation's direction ("X matters to me", "X stresses me out", "I find X boring"):
# the closer of two descriptions, by at least a margin; the two ends of one scale.
_GOOD = "good, pleasant, important, valuable, helpful, enjoyable, works well, the best"
_BAD = "bad, unpleasant, stressful, annoying, painful, boring, a problem, upsetting"
_IMPORTANT = "important, matters, a priority, essential, what I care about"
VALENCE_MARGIN = 0.1
_KIND_OF_PERSON = ("a kind of person: someone who is a vegetarian, a parent, a nurse, a "
                   "beginner, a student, a fan")
_THING = "a thing, an object, an event, a result, a note, a reminder, an example, a gift"
KIND_MARGIN = 0.04
IMPORTANCE_MATCH = 0.35

_LOCK = threading.Lock()
_TABLE: tuple[list[str], npt.NDArray[np.float32]] | None = None


def _domains() -> tuple[list[str], npt.NDArray[np.float32]]:
    global _TABLE
    if _TABLE is None:
        with _LOCK:
            names = list(DOMAINS)
            _TABLE = names, embed([DOMAINS[n] for n in names])
    return _TABLE


@lru_cache(maxsize=8192)
def domain(text: str) -> str:
    """The closest life domain of ``text``, or ``general`` when none is close."""
    names, table = _domains()
    scores = table @ embed([text])[0]
    best = int(np.argmax(scores))
    return names[best] if float(scores[best]) >= DOMAIN_MATCH else GENERAL


@lru_cache(maxsize=4096)
def _similarity(text: str, description: str) -> float:
    vectors = embed([text, description])
    return float(vectors[0] @ vectors[1])


def passing(adjective: str) -> bool:
    """Is this state a passing mood rather than something lasting about the user?"""
    return _similarity(adjective, _PASSING) >= PASSING_MATCH


def person(noun: str) -> bool:
    """Is this noun a person (a relative, a friend), whose facts are their own? Close to the
    description, or close to one of the kinds of person one speaks of as "my ..." (a static
    embedding of a long description blurs single words like "brother" or "dad")."""
    if _similarity(noun, _PERSON) >= PERSON_MATCH:
        return True
    return max(_similarity(noun, kind) for kind in _PERSON_KINDS) >= PERSON_KIND_MATCH


def proposal(noun: str) -> bool:
    """Is this noun something proposed ("idea", "suggestion", "option")?"""
    return _similarity(noun, _PROPOSAL) >= PROPOSAL_MATCH


_LEANING = "a preference, a taste, a liking, a habit"


def idea(noun: str) -> bool:
    """Is this noun an idea or a plan one holds for now ("an idea", "a plan"), rather than a
    standing leaning that is also abstract ("a preference", "a tendency")?"""
    toward = _similarity(noun, _PROPOSAL)
    return toward >= PROPOSAL_MATCH and toward > _similarity(noun, _LEANING)


def valence(phrase: str) -> int:
    """+1 when ``phrase`` evaluates something as good, -1 as bad, 0 when it is unclear."""
    good, bad = _similarity(phrase, _GOOD), _similarity(phrase, _BAD)
    if abs(good - bad) < VALENCE_MARGIN:
        return 0
    return 1 if good > bad else -1


def importance(phrase: str) -> bool:
    """Does ``phrase`` say that something matters (a value held) rather than pleases?"""
    return _similarity(phrase, _IMPORTANT) >= IMPORTANCE_MATCH


def kind_of_person(noun: str) -> bool:
    """Does ``noun`` name a kind of person ("as a vegetarian") rather than a thing ("as a
    gift", "as a reminder")?"""
    return _similarity(noun, _KIND_OF_PERSON) - _similarity(noun, _THING) > KIND_MARGIN
