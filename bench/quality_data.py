"""The public evaluation data, read in place (its licenses forbid copying it into the repo).

PrefEval and BIPIA live in ``../shared/eval`` (see its README); this module only reads them
through the path it is given. The project's own hand-written fixtures (small talk, correction
scripts, everyday disclosures, natural conversations) live in ``tests/data/`` and are read
from there.

Topics are split in two halves, fixed here once: the rules and the ranking were tuned while
looking at the ``TUNE`` half only, so the ``HELD_OUT`` half shows whether a gain generalizes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "data"
DEFAULT_EVAL_DIR = ROOT.parent / "shared" / "eval"

TOPICS = (
    "entertain_music_book", "entertain_shows", "entertain_sports", "lifestyle_dietary",
    "professional_work_location_style", "shop_fashion", "shop_home", "travel_hotel",
    "travel_restaurant", "travel_transportation",
)
# Every other topic in alphabetical order: each half has entertainment, life, shopping, travel.
TUNE = TOPICS[0::2]
HELD_OUT = TOPICS[1::2]


@dataclass(frozen=True)
class Preference:
    """One PrefEval record: the gold preference and the later question."""

    topic: str
    index: int
    preference: str
    question: str


@dataclass(frozen=True)
class Conversation:
    """One implicit PrefEval record: (user, assistant) turns that reveal ``preference``."""

    topic: str
    index: int
    preference: str
    turns: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Disclosure:
    """One hand-written everyday self-disclosure and what a stored belief must carry."""

    area: str
    message: str
    gold: tuple[str, ...]  # acceptable statements: any one matched is enough


@dataclass(frozen=True)
class Noise:
    """A hand-written message that must store nothing (another person, a hypothetical...)."""

    kind: str
    message: str


@dataclass(frozen=True)
class Natural:
    """A held-out conversation in which the user mentions facts about themselves in passing:
    ``turns`` as (role, text), ``facts`` each a tuple of acceptable statements."""

    name: str
    turns: tuple[tuple[str, str], ...]
    facts: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Attack:
    """One BIPIA injected instruction."""

    source: str  # text or code
    category: str
    text: str


def explicit(eval_dir: Path) -> list[Preference]:
    out = []
    for topic in TOPICS:
        records = _read(eval_dir / "prefeval" / "explicit_preference" / f"{topic}.json")
        out += [Preference(topic, i, r["preference"], r["question"])
                for i, r in enumerate(records)]
    return out


def implicit(eval_dir: Path) -> list[Conversation]:
    out = []
    for topic in TOPICS:
        records = _read(eval_dir / "prefeval" / "implicit_preference" / f"{topic}.json")
        for i, record in enumerate(records):
            turns = record["conversation"]
            ordered = [turns[k] for k in sorted(turns, key=int)]
            pairs = tuple((t.get("user", ""), t.get("assistant", "")) for t in ordered)
            out.append(Conversation(topic, i, record["preference"], pairs))
    return out


def attacks(eval_dir: Path) -> list[Attack]:
    """Every BIPIA attack string, text and code, train and test files alike."""
    out = []
    for path in sorted((eval_dir / "bipia-attacks").glob("*_attack_*.json")):
        source = path.name.split("_", 1)[0]
        for category, items in _read(path).items():
            out += [Attack(source, category, text) for text in items]
    return out


def small_talk() -> list[str]:
    """The hand-written small-talk fixture: one message a line, ``#`` lines are comments."""
    lines = (FIXTURES / "quality_smalltalk.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def everyday() -> tuple[list[Disclosure], list[Noise]]:
    """tests/data/everyday_disclosures.json: the disclosures and the noise messages."""
    raw = _read(FIXTURES / "everyday_disclosures.json")
    items = [Disclosure(i["area"], i["message"], tuple(i["gold"])) for i in raw["items"]]
    return items, [Noise(n["kind"], n["message"]) for n in raw["noise"]]


def natural() -> list[Natural]:
    """tests/data/natural_conversations.json (held out: nobody tunes on it)."""
    raw = _read(FIXTURES / "natural_conversations.json")
    return [Natural(c["name"], tuple((t["role"], t["content"]) for t in c["turns"]),
                    tuple(tuple(f) for f in c["facts"])) for c in raw["conversations"]]


def correction_scripts() -> list[dict[str, object]]:
    scripts: list[dict[str, object]] = _read(FIXTURES / "quality_corrections.json")["scripts"]
    return scripts


def _read(path: Path) -> dict:  # type: ignore[type-arg]
    if not path.exists():
        raise SystemExit(f"missing evaluation file {path} (pass --eval-dir; see "
                         "../shared/eval/README.md)")
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
