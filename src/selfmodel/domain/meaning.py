"""When two statements mean the same thing: vector codec, cosine and the merge decision.

Pure functions of text and vectors (no model, no I/O): the vectors are computed before the
domain is called (``personalize.semantic``), so the update rules stay deterministic and
replayable.

A belief's vector is kept in its document as ``int8`` bytes in base64 (344 characters for
256 dimensions): each component scaled by the vector's largest one. Cosines are computed
after decoding and renormalizing, so the scale need not be stored; the rounding moves a
cosine by less than 0.005, far below any decision made on it, and the document carries half
what float16 would.

Two statements mean the same (``same_meaning``) when

- their *polarity* agrees: the parity of negators ("not", "never", "n't", "without", ...)
  and of the few verbs that say the opposite of liking ("dislike", "hate", "avoid", ...).
  Static embeddings place "likes jazz" and "dislikes jazz" close (cosine 0.87), so the
  vectors alone must never decide across a polarity difference; and
- their vectors are close: at ``NEAR`` when both name the same things (equal content words,
  only the wording around them differs: "Prefers bullet points" / "Please use bullet
  points", 0.84; "Prefers short answers" / "Wants short responses", 0.57), else at ``SAME``
  (the things named differ too, and only a very close pair is trusted: "Likes jazz" /
  "Likes jazz and rock" is 0.88, "Prefers concise answers" / "Prefers detailed answers"
  0.68, and each must stay two beliefs).

The cosines quoted are those of the built-in model (``personalize.semantic``). The
thresholds were set on hand-written pairs and checked on the PrefEval preferences of the
tuning topics: of the pairs of distinct preferences of one topic, those above ``SAME`` are
rewordings ("I do not like spicy food." / "I strongly dislike spicy food.", 1.00; "I avoid
eating at chain restaurants when traveling." / "I strongly dislike eating at chain
restaurants.", 0.93). A double negative ("dislikes seafood and will not eat it") reads as
the opposite polarity: such a pair stays two beliefs, the safe side. So does a pair whose
numbers differ ("Uses Python 2" / "Uses Python 3": a static embedding barely tells digits
apart), a pair in which one names everything the other does and more ("likes jazz" / "likes
jazz and rock"), and any pair with a statement that sets one thing against another ("Prefers
prose over bullet points" against "Prefers bullet points", 0.9 apart from the word "prose",
or against "Prefers bullet points over prose", the same words): only the same wording merges
those.
"""

from __future__ import annotations

import base64
import re
from functools import lru_cache

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]

NEAR = 0.55  # cosine enough when both statements name the same things (equal content words)
SAME = 0.90  # cosine enough otherwise

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


_NEGATORS = _word_set("not no never without none nor neither nothing cannot nobody nowhere")
_OPPOSITE = _word_set(
    """dislike dislikes disliked hate hates hated avoid avoids avoided avoiding detest
    detests despise despises loathe loathes refuse refuses stop stops"""
)
# Words that set one thing against another: whichever way round, the same words.
_CONTRAST = _word_set("over instead rather than versus vs unlike except")
# Words that frame a statement about a person without naming what it is about.
_FRAME = _word_set(
    """a an the i i'm im me my mine you your please is are am be being was were do does did
    doing have has had to of for in on at with and or but as by it its this that these those
    like likes liked love loves enjoy enjoys prefer prefers preferred preference want wants
    wanted would could should will can use uses using always usually often really very much
    more most some any just also than so them they their user person someone answers answer
    responses response replies reply"""
)


def encode(vector: Vector) -> str:
    """A unit vector as base64 ``int8`` (see the module docstring); "" for a zero vector."""
    peak = float(np.max(np.abs(vector))) if vector.size else 0.0
    if peak == 0.0:
        return ""
    quantized = np.rint(vector / peak * 127.0).astype(np.int8)
    return base64.b64encode(quantized.tobytes()).decode("ascii")


@lru_cache(maxsize=65536)
def decode(text: str) -> Vector:
    """The unit vector ``encode`` wrote (cached: a belief's vector is decoded once, then
    every request and every merge decision reuses it; 1 KB each, 64 MB at most)."""
    raw = np.frombuffer(base64.b64decode(text), dtype=np.int8).astype(np.float32)
    norm = float(np.linalg.norm(raw))
    out: Vector = raw / norm if norm > 0 else raw
    out.setflags(write=False)
    return out


def cosine(a: Vector, b: Vector) -> float:
    return float(a @ b)


def tokens(text: str) -> list[str]:
    """Lower-cased words, "n't" split off as a negator ("don't" -> "do", "not")."""
    out: list[str] = []
    for word in _WORD.findall(text.lower().replace("\u2019", "'")):
        if word.endswith("n't"):
            out += [word[:-3], "not"]
        else:
            out.append(word)
    return out


@lru_cache(maxsize=16384)
def polarity(text: str) -> int:
    """+1, or -1 when the statement says no (an odd count of negators and opposite verbs)."""
    flips = sum(1 for w in tokens(text) if w in _NEGATORS or w in _OPPOSITE)
    return -1 if flips % 2 else 1


@lru_cache(maxsize=16384)
def content(text: str) -> frozenset[str]:
    """What a statement names: its words less the frame, negators and opposite verbs, a final
    plural "s" dropped (so "bullet point" meets "bullet points")."""
    skip = _FRAME | _NEGATORS | _OPPOSITE
    out = set()
    for word in tokens(text):
        if word in skip or (len(word) < 2 and not word.isdigit()):
            continue
        out.add(word[:-1] if len(word) > 3 and word.endswith("s") and
                not word.endswith("ss") else word)
    return frozenset(out)


def same_meaning(text_a: str, vector_a: Vector | None, text_b: str,
                 vector_b: Vector | None) -> bool:
    """Whether two statements say the same about the user (see the module docstring).
    Without both vectors only equal wording counts.

    With both, the cosine is checked first: below ``NEAR`` nothing else can make a match (the
    same wording has the same vector), which is the answer for almost every pair, so a claim
    is compared with a large model at the cost of one dot product a belief."""
    if vector_a is None or vector_b is None:
        return _wording(text_a) == _wording(text_b)
    closeness = cosine(vector_a, vector_b)
    if closeness < NEAR:
        return False
    if _wording(text_a) == _wording(text_b):
        return True
    if polarity(text_a) != polarity(text_b):
        return False
    if _contrasts(text_a) or _contrasts(text_b):
        return False  # "prose over bullet points": the same words can say either way round
    a, b = content(text_a), content(text_b)
    if _numbered(a) != _numbered(b):
        return False  # "topic 3" and "topic 5", "Python 2" and "Python 3": vectors barely differ
    if a and a == b:
        return closeness >= NEAR
    if a <= b or b <= a:
        return False  # one names more: "likes jazz" is not "likes jazz and rock"
    return closeness >= SAME


@lru_cache(maxsize=16384)
def _contrasts(text: str) -> bool:
    return any(w in _CONTRAST for w in tokens(text))


def _numbered(words: frozenset[str]) -> frozenset[str]:
    return frozenset(w for w in words if any(c.isdigit() for c in w))


def _wording(text: str) -> str:
    return " ".join(text.lower().split())
