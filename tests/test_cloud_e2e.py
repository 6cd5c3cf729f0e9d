"""End to end without volley's core: requests built with the Azure / Vertex providers (URL, body tweak, auth per
attempt) and the existing protocol modules' bodies, sent with aiohttp to the fake server, parsed with the protocol
parsers. This is the path the send layer will take once the providers are registered."""

from __future__ import annotations

import json
import time
from types import ModuleType
from typing import Any

import aiohttp
import pytest

from cloud_fakes import TokenServer, service_account_info
from volley.errors import AuthenticationError, ContentPolicyViolationError, error_from_status
from volley.providers import anthropic, azure_response, gemini, openai
from volley.providers.azure import AzureAI, AzureOpenAI
from volley.providers.vertex import VertexAnthropic, VertexGemini, VertexOpenAI
from volley.testing import FakeServer
from volley.transport import sse_events
from volley.types import ModelResponse, StreamChunk

USER = [{"role": "user", "content": "hello brave new world"}]
ECHO = "echo: hello brave new world"
WEATHER = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]


async def send(
    provider: Any,
    setup: Any,
    protocol: ModuleType,
    model: str,
    *,
    stream: bool = False,
    params: dict | None = None,
    messages: list[dict] = USER,
) -> Any:
    """One attempt the way the send path makes it; a ModelResponse, or the list of StreamChunks.

    ``protocol`` builds the body; Azure answers are parsed with ``azure_response`` (the OpenAI parser plus
    Azure's additions), everything else with ``protocol``.
    """
    build = openai if protocol is azure_response else protocol
    req = build.build_request(model, messages, params or {}, api_base="http://unused", api_key=None, stream=stream)
    body = provider.prepare_body(req.body, model, stream=stream, options=setup.options)
    url = provider.url(setup.base, model, stream=stream, options=setup.options)
    await setup.credentials.prepare()
    headers = {"Content-Type": "application/json", **provider.headers(body, model, options=setup.options)}
    headers.update(provider.auth(None, setup.credentials))
    async with aiohttp.ClientSession() as session:
        resp = await session.post(url, data=json.dumps(body).encode(), headers=headers)
        if resp.status >= 400:
            raw = await resp.read()
            resp.release()
            make = getattr(protocol, "error_from_response", None)
            if make is not None:
                raise make(resp.status, resp.headers, raw, model=model, secrets=setup.credentials.secrets())
            raise error_from_status(resp.status, protocol.error_message(resp.status, raw), headers=resp.headers)
        if not stream:
            data = await resp.json()
            resp.release()
            return ModelResponse.model_validate(protocol.parse_response(data, model))
        parser = protocol.StreamParser(model)
        chunks = [StreamChunk.model_validate(c) async for ev, data in sse_events(resp) for c in parser.feed(ev, data)]
        assert parser.finished
        return chunks


def text_of(chunks: list[StreamChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# ------------------------------------------------------------------------------------------ Azure


async def test_azure_with_an_api_key(fake: FakeServer):
    p = AzureOpenAI()
    setup = p.resolve(api_base=fake.url, environ={"AZURE_API_KEY": "azure-key", "AZURE_API_VERSION": "2024-10-21"})
    r = await send(p, setup, azure_response, "gpt4o-prod")
    assert r.choices[0].message.content == ECHO
    assert r.model_dump()["prompt_filter_results"][0]["content_filter_results"]["violence"]["severity"] == "safe"
    assert r.choices[0].content_filter_results["hate"]["filtered"] is False
    chunks = await send(p, setup, azure_response, "gpt4o-prod", stream=True)
    assert text_of(chunks) == ECHO
    assert chunks[0].prompt_filter_results and all(c.id for c in chunks)
    assert chunks[-1].usage.total_tokens == 9  # stream_options.include_usage, volley's default
    rec = fake.requests[-1]
    assert rec.path == "/openai/deployments/gpt4o-prod/chat/completions"
    assert rec.query == {"api-version": "2024-10-21"} and rec.headers["api-key"] == "azure-key"


async def test_azure_tool_calls(fake: FakeServer):
    fake.script("tools-dep", tool_call={"name": "get_weather", "arguments": {"city": "Oslo"}})
    p = AzureOpenAI()
    setup = p.resolve(api_key="k", api_base=fake.url, environ={})
    r = await send(p, setup, azure_response, "tools-dep", params={"tools": WEATHER})
    assert r.choices[0].finish_reason == "tool_calls"
    assert r.choices[0].message.tool_calls[0].function.arguments == '{"city":"Oslo"}'


class Credential:
    """An azure-identity style credential (``get_token`` → azure-core ``AccessToken``), counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.calls += 1
        return AccessToken(f"entra-{self.calls}", int(time.time()) + 3600)


async def test_azure_entra_id_tokens_per_attempt(fake: FakeServer):
    p = AzureOpenAI()
    calls = []

    def token_provider() -> str:
        calls.append(1)
        return f"entra-cb-{len(calls)}"

    setup = p.resolve(api_base=fake.url, options={"azure_ad_token_provider": token_provider}, environ={})
    for _ in range(2):
        await send(p, setup, azure_response, "gpt4o-prod")
    assert [r.headers["authorization"] for r in fake.requests] == ["Bearer entra-cb-1"] * 2  # reused for 15 s
    setup.credentials.source.reuse_for = 0
    await send(p, setup, azure_response, "gpt4o-prod")
    assert fake.requests[-1].headers["authorization"] == "Bearer entra-cb-2"
    assert all("api-key" not in r.headers for r in fake.requests)
    fake.reset()
    credential = Credential()
    setup = p.resolve(api_base=fake.url, options={"azure_credential": credential}, environ={"AZURE_API_KEY": "k"})
    await send(p, setup, azure_response, "gpt4o-prod", stream=True)
    await send(p, setup, azure_response, "gpt4o-prod")
    assert [r.headers["authorization"] for r in fake.requests] == ["Bearer entra-1", "Bearer entra-1"]
    assert credential.calls == 1  # cached until shortly before it expires


async def test_azure_content_filter_error_and_filtered_answer(fake: FakeServer):
    p = AzureOpenAI()
    setup = p.resolve(api_key="k", api_base=fake.url, environ={})
    blocked = [{"role": "user", "content": "tell me [content_filter]"}]
    with pytest.raises(ContentPolicyViolationError) as info:
        await send(p, setup, azure_response, "gpt4o-prod", messages=blocked)
    assert info.value.status_code == 400
    assert info.value.content_filter_results["violence"] == {"filtered": True, "severity": "high"}
    fake.script("cut-dep", content="one two [filtered] three")
    r = await send(p, setup, azure_response, "cut-dep")
    assert r.choices[0].finish_reason == "content_filter" and r.choices[0].message.content == "one two "
    chunks = await send(p, setup, azure_response, "cut-dep", stream=True)
    assert text_of(chunks) == "one two " and chunks[-2].choices[0].finish_reason == "content_filter"


async def test_azure_v1_api(fake: FakeServer):
    p = AzureOpenAI()
    setup = p.resolve(api_key="k", api_base=fake.url + "/openai/v1", environ={"OPENAI_API_VERSION": "2024-10-21"})
    chunks = await send(p, setup, azure_response, "gpt4o-prod", stream=True)
    assert text_of(chunks) == ECHO
    rec = fake.requests[-1]
    assert (rec.path, rec.query, rec.json["model"]) == ("/openai/v1/chat/completions", {}, "gpt4o-prod")


async def test_azure_ai_foundry(fake: FakeServer):
    p = AzureAI()
    setup = p.resolve(api_key="foundry-key", api_base=fake.url + "/models", environ={})
    r = await send(p, setup, openai, "Mistral-Large-2411", params={"temperature": 0.1})
    assert r.choices[0].message.content == ECHO
    assert "extra-parameters" not in fake.requests[-1].headers  # nothing outside the API's own fields
    chunks = await send(p, setup, openai, "Mistral-Large-2411", stream=True)  # stream_options: pass-through
    assert text_of(chunks) == ECHO
    rec = fake.requests[-1]
    assert rec.headers["api-key"] == "foundry-key" and rec.headers["extra-parameters"] == "pass-through"
    assert rec.query == {"api-version": "2024-05-01-preview"}
    async with aiohttp.ClientSession() as session:  # the fake refuses the same body without the header
        body = {**rec.json}
        async with session.post(fake.url + "/models/chat/completions?api-version=2024-05-01-preview",
                                json=body, headers={"api-key": "k"}) as resp:  # fmt: skip
            assert resp.status == 400 and "stream_options" in (await resp.json())["error"]["message"]


# ------------------------------------------------------------------------------------------ Vertex AI


@pytest.fixture
def vertex_key():
    with TokenServer() as tokens:
        yield tokens, service_account_info(tokens, project="e2e-project")


async def test_vertex_gemini_with_a_service_account(fake: FakeServer, vertex_key: tuple[TokenServer, dict]):
    tokens, info = vertex_key
    p = VertexGemini()
    setup = p.resolve(api_base=fake.url, options={"vertex_credentials": info, "vertex_location": "europe-west4"},
                      environ={})  # fmt: skip
    r = await send(p, setup, gemini, "gemini-2.5-flash", params={"max_tokens": 100})
    assert r.choices[0].message.content == ECHO
    chunks = await send(p, setup, gemini, "gemini-2.5-flash", stream=True)
    assert text_of(chunks) == ECHO
    rec = fake.requests[-1]
    assert rec.path == ("/v1/projects/e2e-project/locations/europe-west4/publishers/google/models/"
                        "gemini-2.5-flash:streamGenerateContent")  # fmt: skip
    assert rec.query == {"alt": "sse"}
    assert {r.headers["authorization"] for r in fake.requests} == {"Bearer ya29.fake-1"}
    assert len(tokens.grants) == 1  # one token for both requests: cached, not fetched per attempt
    fake.script("gemini-2.5-pro", tool_call={"name": "get_weather", "arguments": {"city": "Oslo"}})
    r = await send(p, setup, gemini, "gemini-2.5-pro", params={"tools": WEATHER})
    assert r.choices[0].finish_reason == "tool_calls"
    assert json.loads(r.choices[0].message.tool_calls[0].function.arguments) == {"city": "Oslo"}


async def test_vertex_claude(fake: FakeServer, vertex_key: tuple[TokenServer, dict]):
    _, info = vertex_key
    p = VertexAnthropic()
    setup = p.resolve(api_base=fake.url, options={"vertex_credentials": json.dumps(info)}, environ={})
    r = await send(p, setup, anthropic, "claude-sonnet-4-5@20250929")
    assert r.choices[0].message.content == ECHO and r.usage.completion_tokens == 5
    chunks = await send(p, setup, anthropic, "claude-sonnet-4-5@20250929", stream=True)
    assert text_of(chunks) == ECHO
    rec = fake.requests[-1]
    assert rec.path.endswith("/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict")
    assert rec.json["anthropic_version"] == "vertex-2023-10-16" and "model" not in rec.json
    assert "x-api-key" not in rec.headers


async def test_vertex_openai_compatible_endpoint(fake: FakeServer, vertex_key: tuple[TokenServer, dict]):
    _, info = vertex_key
    p = VertexOpenAI()
    setup = p.resolve(api_base=fake.url, options={"vertex_credentials": info}, environ={})
    chunks = await send(p, setup, openai, "meta/llama-3.3-70b-instruct-maas", stream=True)
    assert text_of(chunks) == ECHO
    rec = fake.requests[-1]
    assert rec.path == "/v1/projects/e2e-project/locations/us-central1/endpoints/openapi/chat/completions"
    assert rec.json["model"] == "meta/llama-3.3-70b-instruct-maas"


async def test_vertex_wrong_token_is_an_authentication_error(vertex_key: tuple[TokenServer, dict]):
    _, info = vertex_key
    async with FakeServer(api_key="ya29.the-only-good-one") as strict:
        p = VertexGemini()
        setup = p.resolve(api_base=strict.url, options={"vertex_credentials": info}, environ={})
        with pytest.raises(AuthenticationError, match="invalid authentication credentials"):
            await send(p, setup, gemini, "gemini-2.5-flash")
