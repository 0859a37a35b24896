"""Every error a client can see, as the openai SDK parses it, and whether the provider was called.

RELIABILITY.md 10, 12, 13, 17, 18: retries honour Retry-After, a 4xx is one call, exhausted
retries say ``x-should-retry: false``, fallback before the first byte, a circuit breaker,
oversized and malformed bodies never reach the provider.
"""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion

from selfmodel.app import create_app
from tests.support.clients import keep
from tests.support.gateway import Running, gateway_config, running
from tests.support.servers import free_port, serve
from tests.support.upstream import error, hang, ok

MESSAGES = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def gw(sqlite_url: str) -> Iterator[Running]:
    with running(sqlite_url, max_body_bytes=2048, max_messages=5) as r:
        yield r


def client(gw: Running, **options: Any) -> openai.OpenAI:
    return keep(openai.OpenAI(base_url=gw.url, api_key="sk-local",
                              **{"max_retries": 0, **options}))


def post(gw: Running, content: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(gw.url + "/chat/completions", content=content,
                      headers={"content-type": "application/json", **(headers or {})})


# -- bad input: 400 / 413 / 404, the provider never called --------------------------------


def test_malformed_json_is_400(gw: Running) -> None:
    response = post(gw, b'{"model": "gpt-4o-mini", "messages": [')
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "not valid JSON" in response.json()["error"]["message"]
    assert response.headers["x-selfmodel-request-id"].startswith("req_")
    assert gw.upstream.requests == []


@pytest.mark.parametrize(("body", "param", "words"), [
    ({"model": "gpt-4o-mini"}, "messages", "Missing required parameter"),
    ({"messages": MESSAGES}, "model", "Missing required parameter"),
    ({"model": 3, "messages": MESSAGES}, "model", "expected a non-empty string"),
    ({"model": "gpt-4o-mini", "messages": []}, "messages", "non-empty array"),
    ({"model": "gpt-4o-mini", "messages": "hi"}, "messages", "non-empty array"),
    ({"model": "gpt-4o-mini", "messages": [{"role": "wizard", "content": "x"}]},
     "messages[0].role", "Supported values"),
    ({"model": "gpt-4o-mini", "messages": [{"content": "x"}]}, "messages[0].role", "Missing"),
    ({"model": "gpt-4o-mini", "messages": [MESSAGES[0], "x"]}, "messages[1]", "expected an object"),
    ({"model": "gpt-4o-mini", "messages": MESSAGES, "n": "2"}, "n", "integer"),
    ({"model": "gpt-4o-mini", "messages": MESSAGES, "n": 0}, "n", "integer"),
    ({"model": "gpt-4o-mini", "messages": MESSAGES, "stream": "yes"}, "stream", "boolean"),
    ({"model": "gpt-4o-mini", "messages": MESSAGES * 6}, "messages", "Too many messages"),
])
def test_schema_errors_are_400_naming_the_field(gw: Running, body: dict[str, Any], param: str,
                                                words: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(gw).post("/chat/completions", body=body, cast_to=ChatCompletion)
    assert caught.value.status_code == 400
    assert caught.value.param == param
    assert caught.value.type == "invalid_request_error"
    assert words in caught.value.message
    assert gw.upstream.requests == []


def test_a_json_array_body_is_400(gw: Running) -> None:
    response = post(gw, b"[1, 2]")
    assert response.status_code == 400 and "JSON object" in response.json()["error"]["message"]


def test_oversized_body_with_content_length_is_413(gw: Running) -> None:
    big = [{"role": "user", "content": "x" * 5000}]
    with pytest.raises(openai.APIStatusError) as caught:
        client(gw).chat.completions.create(model="gpt-4o-mini", messages=big)
    assert caught.value.status_code == 413
    assert caught.value.type == "invalid_request_error"
    assert "larger than the limit of 2048 bytes" in caught.value.message
    assert gw.upstream.requests == []


def test_oversized_chunked_body_without_content_length_is_413(gw: Running) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}]}'

    response = httpx.post(gw.url + "/chat/completions", content=chunks(),
                          headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert gw.upstream.requests == []


def test_unknown_model_is_404(gw: Running) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client(gw).chat.completions.create(model="gpt-5-ultra", messages=MESSAGES)
    assert caught.value.code == "model_not_found"
    assert caught.value.param == "model"
    assert "gpt-5-ultra" in caught.value.message
    assert gw.upstream.requests == []


# -- tenants: 401 and the per-tenant allow-list --------------------------------------------


@pytest.fixture
def tenants_gw(sqlite_url: str) -> Iterator[Running]:
    tenants = [
        {"name": "acme", "api_keys": ["sha256:" + hashlib.sha256(b"sk-acme").hexdigest()]},
        {"name": "small", "api_keys": ["sk-small"], "models": ["echo"]},
    ]
    with running(sqlite_url, tenants=tenants) as r:
        yield r


def test_missing_or_wrong_key_is_401(tenants_gw: Running) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        openai.OpenAI(base_url=tenants_gw.url, api_key="sk-wrong", max_retries=0
                      ).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert caught.value.status_code == 401
    assert caught.value.type == "authentication_error"
    assert message_of(caught.value) == "Incorrect API key provided."
    missing = httpx.post(tenants_gw.url + "/chat/completions",
                         json={"model": "gpt-4o-mini", "messages": MESSAGES})
    assert missing.status_code == 401
    assert "No API key was given" in missing.json()["error"]["message"]
    assert tenants_gw.upstream.requests == []


def test_every_openai_route_refuses_without_a_key(tenants_gw: Running) -> None:
    for method, path in (("POST", "/chat/completions"), ("GET", "/models"),
                         ("POST", "/embeddings")):
        response = httpx.request(method, tenants_gw.url + path, content=b"{}")
        assert response.status_code == 401, path


def test_a_model_outside_the_tenants_list_is_404(tenants_gw: Running) -> None:
    small = keep(openai.OpenAI(base_url=tenants_gw.url, api_key="sk-small", max_retries=0))
    with pytest.raises(openai.NotFoundError):
        small.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert [m.id for m in small.models.list()] == ["echo"]
    acme = keep(openai.OpenAI(base_url=tenants_gw.url, api_key="sk-acme", max_retries=0))
    assert acme.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).choices
    assert len(tenants_gw.upstream.requests) == 1


# -- provider errors: retries, Retry-After, pass-through -----------------------------------


def test_429_then_503_then_200_is_three_calls_and_a_200(gw: Running) -> None:
    gw.upstream.then(error(429, "slow down", retry_after="0"), error(503), ok("finally"))
    answer = client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert answer.choices[0].message.content == "finally"
    assert len(gw.upstream.requests) == 3


def test_retry_after_is_waited_for(gw: Running) -> None:
    gw.upstream.then(error(429, retry_after="1"), ok())
    started = time.monotonic()
    client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert time.monotonic() - started >= 0.9
    assert len(gw.upstream.requests) == 2


@pytest.mark.parametrize("status", [429, 500, 503])
def test_exhausted_retries_give_the_last_error_and_x_should_retry_false(
        gw: Running, status: int) -> None:
    gw.upstream.then(*[error(status, "busy", retry_after="0")] * 3)
    with pytest.raises(openai.APIStatusError) as caught:
        client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert caught.value.status_code == (429 if status == 429 else 502)
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert len(gw.upstream.requests) == 3


def test_the_sdk_does_not_multiply_our_retries(gw: Running) -> None:
    gw.upstream.then(*[error(503)] * 3)
    with pytest.raises(openai.APIStatusError):
        client(gw, max_retries=2).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(gw.upstream.requests) == 3


def test_5xx_message_names_no_host(gw: Running) -> None:
    gw.upstream.then(*[error(500, "boom at internal-db-7.corp:5432")] * 3)
    with pytest.raises(openai.APIStatusError) as caught:
        client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert caught.value.status_code == 502
    assert caught.value.type == "api_error"
    assert "internal-db" not in caught.value.message and "127.0.0.1" not in caught.value.message


def test_a_retry_after_too_long_passes_the_429_on(gw: Running) -> None:
    gw.upstream.then(error(429, "come back later", retry_after="3600"))
    with pytest.raises(openai.RateLimitError) as caught:
        client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert caught.value.response.headers["retry-after"] == "3600"
    assert message_of(caught.value) == "come back later"
    assert len(gw.upstream.requests) == 1


@pytest.mark.parametrize(("status", "exc"), [
    (400, openai.BadRequestError),
    (401, openai.AuthenticationError),
    (404, openai.NotFoundError),
])
def test_provider_4xx_is_one_call_with_its_status_and_message(
        gw: Running, status: int, exc: type[openai.APIStatusError]) -> None:
    gw.upstream.then(error(status, f"provider says {status}"))
    with pytest.raises(exc) as caught:
        client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert caught.value.status_code == status
    assert message_of(caught.value) == f"provider says {status}"
    assert len(gw.upstream.requests) == 1


def test_provider_4xx_on_a_stream_is_an_http_error(gw: Running) -> None:
    gw.upstream.then(error(400, "bad tools"))
    with pytest.raises(openai.BadRequestError) as caught:
        client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    assert message_of(caught.value) == "bad tools"
    assert len(gw.upstream.requests) == 1


def test_unreachable_provider_is_502(sqlite_url: str) -> None:
    dead = f"http://127.0.0.1:{_closed_port()}/v1"
    config = gateway_config(sqlite_url, [("gpt-4o-mini", "openai/gpt-4o-mini", dead)])
    with serve(create_app(config, run_workers=False)) as gateway:
        sdk = keep(openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0))
        with pytest.raises(openai.APIStatusError) as caught:
            sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert caught.value.status_code == 502
    assert "Could not connect" in caught.value.message
    assert "127.0.0.1" not in caught.value.message


def test_non_stream_timeout_is_504_and_closes_the_provider_connection(sqlite_url: str) -> None:
    with running(sqlite_url, request_timeout=0.5) as gw:
        gw.upstream.then(hang())
        started = time.monotonic()
        with pytest.raises(openai.APIStatusError) as caught:
            client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert caught.value.status_code == 504
        assert caught.value.type == "timeout_error"
        assert time.monotonic() - started < 3
        assert gw.upstream.wait_closed(5)
        assert len(gw.upstream.requests) == 1


# -- fallback and circuit breaker ----------------------------------------------------------


def test_fallback_to_the_second_deployment_names_it(sqlite_url: str) -> None:
    with running(sqlite_url, upstreams=2) as gw:
        gw.upstreams[0].then(*[error(503)] * 3)
        raw = client(gw).chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=MESSAGES)
        assert raw.parse().choices[0].message.content == "Hello from upstream"
        assert raw.headers["x-selfmodel-deployment"] == "openai/gpt-4o-mini#2"
        assert len(gw.upstreams[0].requests) == 3
        assert gw.upstreams[1].last.body == gw.upstreams[0].last.body


def test_stream_falls_back_before_its_first_byte(sqlite_url: str) -> None:
    with running(sqlite_url, upstreams=2, num_retries=0) as gw:
        gw.upstreams[0].then(error(500))
        stream = client(gw).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert len(gw.upstreams[0].requests) == 1 and len(gw.upstreams[1].requests) == 1


def test_circuit_opens_then_probes(sqlite_url: str) -> None:
    with running(sqlite_url, upstreams=2, num_retries=0, circuit_failures=2,
                 circuit_cooldown=1.0) as gw:
        primary, secondary = gw.upstreams
        primary.then(*[error(500)] * 2)
        for _ in range(2):  # two failures open the primary's circuit
            client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        for _ in range(3):  # open: no traffic to the primary
            client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert len(primary.requests) == 2 and len(secondary.requests) == 5
        time.sleep(1.1)  # cooldown over: one probe, which succeeds and closes the circuit
        for _ in range(2):
            client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert len(primary.requests) == 4 and len(secondary.requests) == 5


def test_with_every_circuit_open_it_tries_anyway(sqlite_url: str) -> None:
    with running(sqlite_url, num_retries=0, circuit_failures=1, circuit_cooldown=60) as gw:
        gw.upstream.then(error(500))
        with pytest.raises(openai.APIStatusError):
            client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        answer = client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert answer.choices[0].message.content == "Hello from upstream"
        assert len(gw.upstream.requests) == 2


def _closed_port() -> int:
    port = free_port()
    with socket.socket() as probe:  # make sure nothing listens there
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    return port


def message_of(exc: openai.APIStatusError) -> str:
    """The error message as the gateway sent it (the SDK prefixes its own text)."""
    assert isinstance(exc.body, dict)
    return str(exc.body["message"])


def test_a_client_leaving_mid_body_is_no_gateway_error(
        gw: Running, caplog: pytest.LogCaptureFixture) -> None:
    with socket.create_connection(("127.0.0.1", gw.gateway.port)) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
                     b"content-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"mo")
    time.sleep(0.3)
    assert client(gw).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).choices
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(gw.upstream.requests) == 1
