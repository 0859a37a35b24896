"""The built-in offline model through the openai SDK: no provider, no key."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from selfmodel.app import create_app
from selfmodel.config import default_config
from tests.support.clients import keep
from tests.support.servers import ServedApp, serve

MESSAGES = [
    {"role": "user", "content": "Summarize my notes"},
    {"role": "system", "content": "You are a helpful assistant."},
]


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[ServedApp]:
    with serve(create_app(default_config(str(tmp_path)), run_workers=False)) as served:
        yield served


def client(gateway: ServedApp) -> openai.OpenAI:
    return keep(openai.OpenAI(base_url=gateway.url + "/v1", api_key="anything",
                              max_retries=0))


def test_echo_non_stream_shows_the_system_prompt_first(gateway: ServedApp) -> None:
    answer = client(gateway).chat.completions.create(model="selfmodel/echo", messages=MESSAGES,
                                                      user="alice")
    text = answer.choices[0].message.content or ""
    assert text.index("You are a helpful assistant.") < text.index("Summarize my notes")
    assert "[system]" in text and "[user]" in text
    assert answer.model == "selfmodel/echo"
    assert answer.usage is not None and answer.usage.total_tokens > 0


def test_echo_stream_reassembles_to_the_same_text(gateway: ServedApp) -> None:
    whole = client(gateway).chat.completions.create(model="echo", messages=MESSAGES)
    stream = client(gateway).chat.completions.create(
        model="echo", messages=MESSAGES, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_echo_n_and_multimodal_parts(gateway: ServedApp) -> None:
    messages = [{"role": "user", "content": [
        {"type": "text", "text": "Look"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]
    answer = client(gateway).chat.completions.create(
        model="echo", messages=messages, n=2)
    assert len(answer.choices) == 2
    assert "Look" in (answer.choices[1].message.content or "")
    assert "[image_url]" in (answer.choices[0].message.content or "")


def test_echo_models_and_embeddings(gateway: ServedApp) -> None:
    assert {m.id for m in client(gateway).models.list()} == {"echo", "selfmodel/echo"}
    result = client(gateway).embeddings.create(model="echo", input="hello")
    assert len(result.data[0].embedding) == 8


def test_an_openai_only_gateway_never_imports_litellm(tmp_path: Path) -> None:
    script = (
        "import asyncio, sys\n"
        "import httpx\n"
        "from selfmodel.app import create_app\n"
        "from selfmodel.config import default_config\n"
        "async def main():\n"
        f"    app = create_app(default_config({str(tmp_path)!r}), run_workers=False)\n"
        "    async with app.router.lifespan_context(app):\n"
        "        transport = httpx.ASGITransport(app=app)\n"
        "        async with httpx.AsyncClient(transport=transport, base_url='http://t') as c:\n"
        "            r = await c.post('/v1/chat/completions', json={'model': 'echo',\n"
        "                             'messages': [{'role': 'user', 'content': 'hi'}]})\n"
        "            assert r.status_code == 200, r.text\n"
        "asyncio.run(main())\n"
        "print('litellm' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
