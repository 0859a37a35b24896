"""Logs: one JSON line per request on stderr, with ids and timings, never keys or content.

A real ``selfmodel serve`` process (JSON logging is set up by the CLI, as in production) is
sent requests whose bodies carry a secret-looking key and a distinctive phrase, under a
user id that is an email address, on every surface and on error paths; its whole stderr is
then read: every line parses as JSON, each request id has its line, and neither the
phrase, nor any key, nor the raw user id appears anywhere. With
``server.debug_log_content: true`` the raw user id and the injected block are logged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from selfmodel.api.middleware import user_hash
from selfmodel.app import create_app
from tests.support.gateway import gateway_config
from tests.support.processes import Process, poll, start_serve, write_config
from tests.support.servers import serve
from tests.support.upstream import FakeUpstream

pytestmark = pytest.mark.slow

TENANT_KEY = "sk-tenant-7f3a9c1e5b2d4f6a8c0e"
WRONG_KEY = "sk-wrong-0d9e8f7a6b5c4d3e2f1a"
SECRET = "sk-proj-Zq8XcV2bN4mL6kJ8hG0fD2sA4pO6iU8y"
PHRASE = "purple elephants juggle marmalade"
USER = "alice.liddell@example.com"


@pytest.fixture
def gateway(tmp_path: Path, sqlite_url: str) -> Iterator[Process]:
    with serve(FakeUpstream()) as provider:
        digest = hashlib.sha256(TENANT_KEY.encode()).hexdigest()
        config = write_config(tmp_path, {
            "model_list": [{"model_name": "gpt-4o-mini", "litellm_params": {
                "model": "openai/gpt-4o-mini", "api_base": provider.url + "/v1",
                "api_key": "sk-upstream-secret-4c2e"}}],
            "store": {"url": sqlite_url},
            "tenants": [{"name": "acme", "api_keys": [f"sha256:{digest}"]}],
        })
        process = start_serve("gateway", config, tmp_path)
        try:
            yield process
        finally:
            process.kill()


def content() -> str:
    return f"I prefer short answers. My key is {SECRET} and {PHRASE}."


def drive(gateway: Process) -> list[str]:
    """Requests on every surface and error path; the request ids the gateway answered with."""
    url = gateway.url
    with openai.OpenAI(base_url=url + "/v1", api_key=TENANT_KEY, max_retries=0) as client, \
            anthropic.Anthropic(base_url=url, api_key=TENANT_KEY, max_retries=0) as claude, \
            openai.OpenAI(base_url=url + "/v1", api_key=WRONG_KEY, max_retries=0) as stranger:
        ids = send_all(client, claude)
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="gpt-4o-mini", messages=[
                {"role": "wizard", "content": content()}], user=USER)
        with pytest.raises(openai.AuthenticationError):
            stranger.chat.completions.create(model="gpt-4o-mini", messages=user_messages())
    headers = {"Authorization": f"Bearer {TENANT_KEY}"}
    poll(lambda: httpx.get(f"{url}/v1/self-models/{USER}", headers=headers).json()
         .get("beliefs"))  # the in-process worker read the exchange (and logged nothing of it)
    return ids


def user_messages() -> Any:
    return [{"role": "user", "content": content()}]


def send_all(client: openai.OpenAI, claude: anthropic.Anthropic) -> list[str]:
    """Chat (whole and streamed), Responses and Messages, all under the same user."""
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=user_messages(), user=USER)
    ids = [raw.headers["x-selfmodel-request-id"]]
    with client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=user_messages(), user=USER, stream=True) as stream:
        ids.append(stream.headers["x-selfmodel-request-id"])
        list(stream.iter_lines())
    response = client.responses.with_raw_response.create(
        model="gpt-4o-mini", input=content(), user=USER)
    ids.append(response.headers["x-selfmodel-request-id"])
    reply = claude.messages.with_raw_response.create(
        model="gpt-4o-mini", max_tokens=50, messages=user_messages(), metadata={"user_id": USER})
    ids.append(reply.headers["x-selfmodel-request-id"])
    return ids


def test_one_json_line_per_request_without_keys_or_content(gateway: Process) -> None:
    ids = drive(gateway)
    assert gateway.stop() == 0
    text = gateway.stderr()
    for secret in (SECRET, PHRASE, TENANT_KEY, WRONG_KEY, "sk-upstream-secret-4c2e", USER,
                   "marmalade"):
        assert secret not in text, secret
    lines = gateway.json_lines()  # every line is JSON, uvicorn's own included
    requests = [line for line in lines if line["msg"] == "request"]
    by_id = {line["request_id"]: line for line in requests}
    for request_id in ids:
        assert request_id in text
        line = by_id[request_id]
        assert line["tenant"] == "acme" and line["model"] == "gpt-4o-mini"
        assert line["status"] == 200 and line["level"] == "info"
        assert line["user"] == user_hash("acme", USER)
        assert line["duration_ms"] >= line["gateway_ms"] >= 0
        assert line["provider_ms"] > 0
    assert {by_id[i]["route"] for i in ids} == {"chat", "responses", "messages"}
    assert "ttft_ms" in by_id[ids[1]]
    failed = [line for line in requests if line["status"] in (400, 401)]
    assert sorted(line["status"] for line in failed) == [400, 401]
    assert all(line["request_id"] for line in failed)
    assert any(line["route"] == "/v1/self-models/{user_id}" for line in requests)


def test_debug_log_content_adds_the_user_and_the_injected_block(
        sqlite_url: str, caplog: pytest.LogCaptureFixture) -> None:
    digest = hashlib.sha256(TENANT_KEY.encode()).hexdigest()
    tenants = [{"name": "acme", "api_keys": [f"sha256:{digest}"],
                "policy": {"defaults": ["Prefers clear, direct answers"]}}]
    config = gateway_config(sqlite_url, [], tenants=tenants, debug_log_content=True)
    caplog.set_level("INFO", logger="selfmodel.access")
    with serve(create_app(config, run_workers=False)) as served, \
            openai.OpenAI(base_url=served.url + "/v1", api_key=TENANT_KEY,
                          max_retries=0) as client:
        client.chat.completions.create(model="echo", user=USER,
                                       messages=[{"role": "user", "content": "hi"}])
    fields = [r.__dict__["fields"] for r in caplog.records if r.name == "selfmodel.access"]
    chat = next(f for f in fields if f["route"] == "chat")
    assert chat["user_id"] == USER
    assert "Prefers clear, direct answers" in chat["system_text"]
