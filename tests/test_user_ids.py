"""One user id rule at every entry point: what can be written can be read, exported, erased.

The gateway runs on loopback in front of the fake provider; the clients are the real openai
and anthropic SDKs for the chat surfaces and httpx for the self-model API (ids in paths are
percent-encoded, as any HTTP client does with ``quote(id, safe="")``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import anthropic
import httpx
import openai
import pytest

from selfmodel.domain.identity import user_id_problem
from tests.support.clients import keep
from tests.support.gateway import Running, running

ACCEPTED = [
    "team/alice",
    "alice@example.com",
    "josé",
    "50%off",
    "a b?c=d#e",
    "org/team/../bob",
    "..a",
    "用户-42",
    "x" * 256,
]
REFUSED = [
    "x" * 10_240,
    "x" * 257,
    "a\r\nX-Injected: 1",
    "a\x00b",
    "a\u2028b",
    " alice",
    "alice\t",
    "..",
    ".",
]
CHAT = [{"role": "user", "content": "hello"}]


@pytest.fixture
def gateway(sqlite_url: str) -> Iterator[Running]:
    """The fake provider and the gateway, with its in-process worker (chat creates users)."""
    with running(sqlite_url, run_workers=True) as gw:
        yield gw


def until_found(http: httpx.Client, url: str, timeout: float = 10.0) -> httpx.Response:
    """GET ``url`` until it is no longer 404 (the worker applies the chat off the path)."""
    deadline = time.monotonic() + timeout
    while True:
        response = http.get(url)
        if response.status_code != 404 or time.monotonic() > deadline:
            return response
        time.sleep(0.02)


def api(gw: Running) -> httpx.Client:
    return keep(httpx.Client(base_url=gw.gateway.url, timeout=10))


def sdk(gw: Running) -> openai.OpenAI:
    return keep(openai.OpenAI(base_url=gw.url, api_key="unused", max_retries=0))


def path(user: str, suffix: str = "") -> str:
    """The API path of ``user``, percent-encoded (dots too when the id is only dots, or the
    client would resolve the segment away before sending it)."""
    encoded = quote(user, safe="")
    if set(user) == {"."}:
        encoded = encoded.replace(".", "%2E")
    return f"/v1/self-models/{encoded}{suffix}"


def test_the_rule_is_one_function() -> None:
    for user in ACCEPTED:
        assert user_id_problem(user) is None, user
    for user in REFUSED:
        assert user_id_problem(user) is not None, repr(user)


@pytest.mark.parametrize("user", ACCEPTED)
def test_an_id_written_by_chat_can_be_read_exported_and_erased(gateway: Running,
                                                               user: str) -> None:
    answer = sdk(gateway).chat.completions.create(model="gpt-4o-mini", messages=CHAT,  # type: ignore[arg-type]
                                                  user=user)
    assert answer.choices[0].message.content == "Hello from upstream"
    http = api(gateway)
    read = until_found(http, path(user))
    assert read.status_code == 200, read.text
    assert read.json()["user_id"] == user
    exported = http.get(path(user, "/export"))
    assert exported.status_code == 200
    assert exported.json()["user_id"] == user
    assert [d["request_id"] for d in exported.json()["decisions"]]  # the chat's record
    assert http.delete(path(user)).status_code == 204
    assert http.get(path(user)).status_code == 404


@pytest.mark.parametrize("user", ["team/alice", "alice@example.com", "50%off", "a b+c"])
def test_every_api_route_takes_an_encoded_id(gateway: Running, user: str) -> None:
    http = api(gateway)
    assert http.post("/v1/self-models", json={"user_id": user}).status_code == 201
    consent = http.put(path(user, "/consent"), json={"granted": True})
    assert consent.status_code == 200 and consent.json()["user_id"] == user
    observed = http.post(path(user, "/observations") + "?wait=true",
                         json={"type": "preference", "content": "short answers",
                               "key": "response_length", "value": "concise",
                               "domain": "communication"})
    assert observed.status_code == 200, observed.text
    belief = observed.json()["model"]["beliefs"][0]
    patched = http.patch(path(user, f"/beliefs/{belief['id']}"), json={"action": "confirm"})
    assert patched.status_code == 200
    assert http.delete(path(user, f"/beliefs/{belief['id']}")).status_code == 204
    outcome = http.post("/v1/outcomes", json={"user_id": user, "name": "done", "value": 1})
    assert outcome.status_code == 202
    link = http.post(path(user, "/portal-link"))  # the console's route, same rule
    assert link.status_code == 200 and link.json()["user_id"] == user, link.text
    exported = http.get(path(user, "/export")).json()
    assert exported["user_id"] == user and exported["outcomes"][0]["name"] == "done"
    assert http.delete(path(user)).status_code == 204


def test_an_id_ending_like_a_route_is_still_one_user(gateway: Running) -> None:
    """``bob/export`` encoded is the user ``bob/export``, not the export of ``bob``."""
    http = api(gateway)
    http.post("/v1/self-models", json={"user_id": "bob"})
    http.post("/v1/self-models", json={"user_id": "bob/export"})
    assert http.get(path("bob/export")).json()["object"] == "self_model"
    assert http.get(path("bob", "/export")).json()["object"] == "self_model.export"


def _bad_request(call: Any) -> Any:
    with pytest.raises(openai.BadRequestError) as caught:
        call()
    return caught.value


@pytest.mark.parametrize("user", REFUSED)
def test_chat_refuses_what_the_api_could_not_read(gateway: Running, user: str) -> None:
    client = sdk(gateway)
    calls = len(gateway.upstream.requests)
    for field in ("user", "safety_identifier"):
        error = _bad_request(lambda f=field: client.chat.completions.create(  # type: ignore[misc]
            model="gpt-4o-mini", messages=CHAT, extra_body={f: user}))
        assert error.status_code == 400
        assert error.body["param"] == field and error.body["code"] == "invalid_user_id"
    error = _bad_request(lambda: client.responses.create(model="gpt-4o-mini", input="hi",
                                                         user=user))
    assert error.body["param"] == "user"
    messages = keep(anthropic.Anthropic(base_url=gateway.gateway.url, api_key="unused",
                                        max_retries=0))
    with pytest.raises(anthropic.BadRequestError) as refused:
        messages.messages.create(model="gpt-4o-mini", max_tokens=10, messages=CHAT,  # type: ignore[arg-type]
                                 metadata={"user_id": user})
    assert "metadata.user_id" in refused.value.message
    assert len(gateway.upstream.requests) == calls  # refused before any provider call


@pytest.mark.parametrize("user", REFUSED)
def test_the_api_and_outcomes_refuse_the_same_ids(gateway: Running, user: str) -> None:
    http = api(gateway)
    answers = [
        (http.post("/v1/self-models", json={"user_id": user}), "user_id"),
        (http.post("/v1/outcomes", json={"user_id": user, "name": "n", "value": 1}), "user_id"),
        (http.get(path(user)), "user_id"),
        (http.get(path(user, "/export")), "user_id"),
        (http.delete(path(user)), "user_id"),
        (http.put(path(user, "/consent"), json={"granted": True}), "user_id"),
        (http.post(path(user, "/portal-link")), "user_id"),
    ]
    for response, param in answers:
        assert response.status_code == 400, (response.request.url, response.text)
        error = response.json()["error"]
        assert error["param"] == param and error["code"] == "invalid_user_id"


def test_the_header_takes_the_same_ids_as_utf8(gateway: Running) -> None:
    client = sdk(gateway)
    client.chat.completions.create(model="gpt-4o-mini", messages=CHAT,  # type: ignore[arg-type]
                                   extra_headers={"x-selfmodel-user": "team/alice"})
    raw = httpx.post(gateway.url + "/chat/completions", timeout=10,
                     json={"model": "gpt-4o-mini", "messages": CHAT},
                     headers={"x-selfmodel-user": "josé".encode()})  # type: ignore[dict-item]
    assert raw.status_code == 200
    http = api(gateway)
    assert until_found(http, path("team/alice")).status_code == 200
    assert until_found(http, path("josé")).status_code == 200
    for bad in ("x" * 300, ".."):
        error = _bad_request(lambda b=bad: client.chat.completions.create(  # type: ignore[misc]
            model="gpt-4o-mini", messages=CHAT, extra_headers={"x-selfmodel-user": b}))
        assert error.body["param"] == "x-selfmodel-user"
    latin1 = httpx.post(gateway.url + "/chat/completions", timeout=10,
                        json={"model": "gpt-4o-mini", "messages": CHAT},
                        headers={"x-selfmodel-user": b"jos\xe9"})  # type: ignore[dict-item]
    assert latin1.status_code == 400
    assert latin1.json()["error"]["param"] == "x-selfmodel-user"
