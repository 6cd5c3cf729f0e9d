"""The fake server's Azure and Vertex AI wires, checked by the official SDKs: ``openai.AzureOpenAI``,
``anthropic.AnthropicVertex`` and ``google-genai`` with ``vertexai=True``. Each must be accepted by the fake's
validation and parse its answers, streams included; if an SDK needs what the fake does not send, fix the fake.
"""

from __future__ import annotations

import datetime

import anthropic
import openai
import pytest

from cloud_fakes import TokenServer, service_account_info
from volley.testing import FakeServer

USER = [{"role": "user", "content": "hello brave new world"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]
CLAUDE = "claude-sonnet-4-5@20250929"


@pytest.fixture
def azure(fake: FakeServer) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        api_key="azure-key", api_version="2024-10-21", azure_endpoint=fake.url, max_retries=0, timeout=5
    )


# ------------------------------------------------------------------------------------------ Azure OpenAI


def test_azure_openai_with_an_api_key(fake: FakeServer, azure: openai.AzureOpenAI):
    r = azure.chat.completions.create(model="gpt4o-prod", messages=USER)
    assert r.choices[0].message.content == "echo: hello brave new world"
    assert r.model == "gpt4o-prod"
    assert r.model_extra["prompt_filter_results"][0]["content_filter_results"]["jailbreak"]["detected"] is False
    assert r.choices[0].model_extra["content_filter_results"]["hate"]["severity"] == "safe"
    rec = fake.requests[-1]
    assert rec.path == "/openai/deployments/gpt4o-prod/chat/completions"
    assert rec.query == {"api-version": "2024-10-21"}
    assert rec.headers["api-key"] == "azure-key" and "authorization" not in rec.headers


def test_azure_openai_stream_with_usage(azure: openai.AzureOpenAI):
    chunks = list(
        azure.chat.completions.create(
            model="gpt4o-prod", messages=USER, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[0].choices == [] and chunks[0].model_extra["prompt_filter_results"]  # Azure's leading chunk
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: hello brave new world"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5


def test_azure_openai_tool_calls(fake: FakeServer, azure: openai.AzureOpenAI):
    fake.script("weather-dep", tool_call={"name": "get_weather", "arguments": {"city": "Oslo"}})
    r = azure.chat.completions.create(model="weather-dep", messages=USER, tools=TOOLS)
    assert r.choices[0].finish_reason == "tool_calls"
    assert r.choices[0].message.tool_calls[0].function.arguments == '{"city":"Oslo"}'
    stream = azure.chat.completions.create(model="weather-dep", messages=USER, tools=TOOLS, stream=True)
    args = "".join(c.choices[0].delta.tool_calls[0].function.arguments or ""
                   for c in stream if c.choices and c.choices[0].delta.tool_calls)  # fmt: skip
    assert args == '{"city":"Oslo"}'


def test_azure_openai_with_an_entra_id_token_provider(fake: FakeServer):
    tokens = iter(["entra-1", "entra-2"])
    client = openai.AzureOpenAI(
        azure_ad_token_provider=lambda: next(tokens), api_version="2024-10-21", azure_endpoint=fake.url, max_retries=0
    )
    for _ in range(2):
        client.chat.completions.create(model="gpt4o-prod", messages=USER)
    assert [r.headers["authorization"] for r in fake.requests] == ["Bearer entra-1", "Bearer entra-2"]


def test_azure_openai_content_filter(azure: openai.AzureOpenAI):
    with pytest.raises(openai.BadRequestError) as info:
        azure.chat.completions.create(model="gpt4o-prod", messages=[{"role": "user", "content": "x [content_filter]"}])
    assert info.value.code == "content_filter"
    assert info.value.body["innererror"]["code"] == "ResponsibleAIPolicyViolation"
    r = azure.chat.completions.create(model="gpt4o-prod", messages=[{"role": "user", "content": "a b [filtered] c"}])
    assert r.choices[0].finish_reason == "content_filter"
    assert r.choices[0].model_extra["content_filter_results"]["violence"]["filtered"] is True
    assert "[filtered]" not in (r.choices[0].message.content or "")


def test_azure_openai_refusals(fake: FakeServer):
    wrong = FakeServer(api_key="the-key").start_in_thread()
    try:
        client = openai.AzureOpenAI(api_key="not-the-key", api_version="2024-10-21", azure_endpoint=wrong.url,
                                    max_retries=0)  # fmt: skip
        with pytest.raises(openai.AuthenticationError) as info:
            client.chat.completions.create(model="d", messages=USER)
        assert info.value.body["code"] == "401"
    finally:
        wrong.stop()
    no_version = openai.OpenAI(base_url=fake.url + "/openai/deployments/d", api_key="k", max_retries=0,
                               default_headers={"api-key": "k"})  # fmt: skip
    with pytest.raises(openai.NotFoundError, match="Resource not found"):
        no_version.chat.completions.create(model="d", messages=USER)


def test_azure_openai_v1_api_with_the_openai_client(fake: FakeServer):
    client = openai.OpenAI(base_url=fake.url + "/openai/v1/", api_key="azure-key", max_retries=0)
    r = client.chat.completions.create(model="gpt4o-prod", messages=USER)
    assert r.choices[0].message.content == "echo: hello brave new world"
    assert r.model_extra["prompt_filter_results"]
    assert fake.requests[-1].path == "/openai/v1/chat/completions"


# ------------------------------------------------------------------------------------------ Claude on Vertex


@pytest.fixture
def vertex_claude(fake: FakeServer) -> anthropic.AnthropicVertex:
    return anthropic.AnthropicVertex(region="us-east5", project_id="my-proj", access_token="ya29.test",
                                     base_url=fake.url + "/v1", max_retries=0, timeout=5)  # fmt: skip


def test_anthropic_vertex_raw_predict(fake: FakeServer, vertex_claude: anthropic.AnthropicVertex):
    m = vertex_claude.messages.create(model=CLAUDE, max_tokens=100, messages=USER)
    assert m.content[0].text == "echo: hello brave new world"
    assert m.stop_reason == "end_turn"
    rec = fake.requests[-1]
    assert rec.path == f"/v1/projects/my-proj/locations/us-east5/publishers/anthropic/models/{CLAUDE}:rawPredict"
    assert rec.headers["authorization"] == "Bearer ya29.test"
    assert "model" not in rec.json and rec.json["anthropic_version"]


def test_anthropic_vertex_stream_raw_predict(fake: FakeServer, vertex_claude: anthropic.AnthropicVertex):
    with vertex_claude.messages.stream(model=CLAUDE, max_tokens=100, messages=USER) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "echo: hello brave new world"
    assert final.usage.output_tokens == 5
    assert fake.requests[-1].path.endswith(":streamRawPredict")


def test_anthropic_vertex_tool_use(fake: FakeServer, vertex_claude: anthropic.AnthropicVertex):
    fake.script(CLAUDE, tool_call={"name": "get_weather", "arguments": {"city": "Oslo"}})
    tools = [{"name": "get_weather", "description": "w", "input_schema": {"type": "object", "properties": {}}}]
    m = vertex_claude.messages.create(model=CLAUDE, max_tokens=100, messages=USER, tools=tools)
    assert m.stop_reason == "tool_use" and m.content[-1].input == {"city": "Oslo"}


def test_anthropic_vertex_without_a_token_is_refused(fake: FakeServer):
    import httpx

    raw = httpx.post(
        fake.url + f"/v1/projects/p/locations/us-east5/publishers/anthropic/models/{CLAUDE}:rawPredict",
        json={"anthropic_version": "vertex-2023-10-16", "max_tokens": 5, "messages": USER},
    )
    assert raw.status_code == 401 and raw.json()["error"]["status"] == "UNAUTHENTICATED"


# ------------------------------------------------------------------------------------------ Gemini on Vertex


def genai_client(fake: FakeServer, credentials: object):
    from google import genai

    return genai.Client(vertexai=True, project="my-proj", location="us-central1", credentials=credentials,
                        http_options={"base_url": fake.url})  # fmt: skip


def test_google_genai_vertex_with_a_test_token(fake: FakeServer):
    from google.oauth2.credentials import Credentials

    expiry = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + datetime.timedelta(hours=1)
    client = genai_client(fake, Credentials(token="ya29.test", expiry=expiry))
    r = client.models.generate_content(model="gemini-2.5-flash", contents="hello brave new world")
    assert r.text == "echo: hello brave new world"
    assert r.usage_metadata.candidates_token_count == 5
    assert r.create_time is not None
    rec = fake.requests[-1]
    assert rec.path == "/v1beta1/projects/my-proj/locations/us-central1/publishers/google/models/gemini-2.5-flash" \
                       ":generateContent"  # fmt: skip
    assert rec.headers["authorization"] == "Bearer ya29.test"
    text = "".join(
        c.text or ""
        for c in client.models.generate_content_stream(model="gemini-2.5-flash", contents="hello brave new world")
    )
    assert text == "echo: hello brave new world"
    assert fake.requests[-1].query == {"alt": "sse"}


def test_google_genai_vertex_with_a_service_account_refreshed_offline(fake: FakeServer):
    from google.oauth2 import service_account

    with TokenServer() as tokens:
        creds = service_account.Credentials.from_service_account_info(
            service_account_info(tokens), scopes=["https://www.googleapis.com/auth/cloud-platform"]
        )
        client = genai_client(fake, creds)
        fake.script("gemini-2.5-pro", tool_call={"name": "get_weather", "arguments": {"city": "Oslo"}})
        r = client.models.generate_content(model="gemini-2.5-pro", contents="weather?")
    assert r.function_calls[0].name == "get_weather" and r.function_calls[0].args == {"city": "Oslo"}
    assert fake.requests[-1].headers["authorization"] == "Bearer ya29.fake-1"  # signed by google-auth, verified
    assert len(tokens.grants) == 1
