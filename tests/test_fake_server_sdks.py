"""Fidelity of the fake server: the official SDKs must parse every kind of answer it gives.

If an SDK needs a field the fake does not send, the fake is wrong: fix the server, not the test.
"""

from __future__ import annotations

import json

import anthropic
import cohere
import openai
import pytest
from cohere.core.api_error import ApiError as CohereApiError

from volley.testing import FakeServer

# cohere's SDK still reads pydantic's deprecated ``__fields__``
pytestmark = pytest.mark.filterwarnings("ignore:The `__fields__` attribute is deprecated")

USER = [{"role": "user", "content": "hello brave new world"}]
WEATHER = {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}
OPENAI_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather of a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
ANTHROPIC_TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather of a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]


@pytest.fixture
def oai(fake: FakeServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.openai_base, api_key="sk-test", max_retries=0, timeout=5)


@pytest.fixture
def ant(fake: FakeServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.url, api_key="sk-ant-test", max_retries=0, timeout=5)


@pytest.fixture
def co(fake: FakeServer) -> cohere.ClientV2:
    return cohere.ClientV2(api_key="co-test", base_url=fake.url, timeout=5)


NO_RETRY = {"max_retries": 0}


# ----------------------------------------------------------------------------------------------- OpenAI


def test_openai_text(oai: openai.OpenAI, fake: FakeServer) -> None:
    system = {"role": "system", "content": "be brief"}
    r = oai.chat.completions.create(model="gpt-4o-mini", messages=[system, *USER])
    assert r.object == "chat.completion"
    assert r.model == "gpt-4o-mini"
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == "echo: hello brave new world"
    assert r.choices[0].finish_reason == "stop"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (6, 5, 11)
    rec = fake.requests[-1]
    assert (rec.provider, rec.path, rec.model) == ("openai", "/v1/chat/completions", "gpt-4o-mini")
    assert rec.headers["authorization"] == "Bearer sk-test"
    assert rec.json["messages"][0] == system


def test_openai_content_parts_and_rate_limit_headers(oai: openai.OpenAI, fake: FakeServer) -> None:
    fake.script("gpt-4o-mini", rpm=10_000, tpm=2_000_000, window=60)
    parts = [{"type": "text", "text": "part one"}, {"type": "text", "text": " part two"}]
    raw = oai.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": parts}]
    )
    assert raw.parse().choices[0].message.content == "echo: part one part two"
    h = raw.headers
    assert h["x-ratelimit-limit-requests"] == "10000"
    assert int(h["x-ratelimit-remaining-requests"]) < 10000
    assert h["x-ratelimit-reset-requests"].endswith("s")
    assert int(h["x-ratelimit-limit-tokens"]) > int(h["x-ratelimit-remaining-tokens"])
    assert h["x-ratelimit-reset-tokens"]


def test_openai_stream_with_usage_chunk(oai: openai.OpenAI) -> None:
    chunks = list(
        oai.chat.completions.create(
            model="gpt-4o-mini", messages=USER, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: hello brave new world"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) >= 3  # word-sized deltas
    assert chunks[0].choices[0].delta.role == "assistant"
    finish = chunks[-2]
    assert finish.choices[0].finish_reason == "stop"
    assert finish.choices[0].delta.content is None and finish.choices[0].delta.tool_calls is None
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 5
    assert all(c.usage is None for c in chunks[:-1])


def test_openai_stream_without_usage(oai: openai.OpenAI) -> None:
    chunks = list(oai.chat.completions.create(model="m", messages=USER, stream=True))
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


def test_openai_tool_call(oai: openai.OpenAI, fake: FakeServer) -> None:
    fake.script("gpt-4o", tool_call=WEATHER)
    r = oai.chat.completions.create(model="gpt-4o", messages=USER, tools=OPENAI_TOOLS)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == WEATHER["arguments"]


def test_openai_stream_tool_calls_parallel_with_helper(oai: openai.OpenAI, fake: FakeServer) -> None:
    second = {"name": "get_weather", "arguments": {"city": "Oslo"}}
    fake.script("gpt-4o", tool_call=[WEATHER, second])
    with oai.chat.completions.stream(model="gpt-4o", messages=USER, tools=OPENAI_TOOLS) as stream:
        events = [e.type for e in stream]
        final = stream.get_final_completion()
    assert "tool_calls.function.arguments.done" in events
    calls = final.choices[0].message.tool_calls
    assert [json.loads(c.function.arguments) for c in calls] == [WEATHER["arguments"], second["arguments"]]
    assert len({c.id for c in calls}) == 2
    assert final.choices[0].finish_reason == "tool_calls"


def test_openai_raw_stream_first_tool_delta_has_empty_arguments(oai: openai.OpenAI, fake: FakeServer) -> None:
    fake.script("gpt-4o", tool_call=WEATHER)
    chunks = list(oai.chat.completions.create(model="gpt-4o", messages=USER, tools=OPENAI_TOOLS, stream=True))
    deltas = [c.choices[0].delta.tool_calls[0] for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert deltas[0].id and deltas[0].function.name == "get_weather" and deltas[0].function.arguments == ""
    assert json.loads("".join(d.function.arguments for d in deltas)) == WEATHER["arguments"]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_openai_max_tokens_and_stop(oai: openai.OpenAI) -> None:
    r = oai.chat.completions.create(model="m", messages=USER, max_tokens=2)
    assert (r.choices[0].message.content, r.choices[0].finish_reason) == ("echo: hello", "length")
    assert r.usage.completion_tokens == 2
    r = oai.chat.completions.create(model="m", messages=USER, max_completion_tokens=3)
    assert (r.choices[0].message.content, r.choices[0].finish_reason) == ("echo: hello brave", "length")
    r = oai.chat.completions.create(model="m", messages=USER, stop=[" new", "zzz"])
    assert (r.choices[0].message.content, r.choices[0].finish_reason) == ("echo: hello brave", "stop")


def test_openai_errors(oai: openai.OpenAI, fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fake, "api_key", "sk-right")
    with pytest.raises(openai.AuthenticationError) as e401:
        oai.chat.completions.create(model="m", messages=USER)
    assert e401.value.status_code == 401 and e401.value.code == "invalid_api_key"
    monkeypatch.setattr(fake, "api_key", None)

    fake.script("m", failures=[404, 429, 500, 503])
    with pytest.raises(openai.NotFoundError) as e404:
        oai.chat.completions.create(model="m", messages=USER)
    assert e404.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.RateLimitError) as e429:
        oai.chat.completions.create(model="m", messages=USER)
    assert e429.value.response.headers["retry-after"] == "1"
    assert e429.value.code == "rate_limit_exceeded"
    with pytest.raises(openai.InternalServerError) as e500:
        oai.chat.completions.create(model="m", messages=USER)
    assert e500.value.status_code == 500 and e500.value.type == "server_error"
    with pytest.raises(openai.InternalServerError):
        oai.chat.completions.create(model="m", messages=USER)
    assert oai.chat.completions.create(model="m", messages=USER).choices[0].message.content  # list consumed


def test_openai_missing_key_is_401(fake: FakeServer) -> None:
    client = openai.OpenAI(base_url=fake.openai_base, api_key="x", max_retries=0, default_headers={"Authorization": ""})
    with pytest.raises(openai.AuthenticationError, match="didn't provide an API key"):
        client.chat.completions.create(model="m", messages=USER)


def test_openai_rpm_limit_gives_429_with_retry_after(oai: openai.OpenAI, fake: FakeServer) -> None:
    fake.script("limited", rpm=120, window=30)  # 60 requests per 30 s window
    for _ in range(60):
        oai.chat.completions.create(model="limited", messages=USER)
    with pytest.raises(openai.RateLimitError) as exc:
        oai.chat.completions.create(model="limited", messages=USER)
    h = exc.value.response.headers
    assert 1 <= int(h["retry-after"]) <= 30
    assert h["x-ratelimit-remaining-requests"] == "0" and h["x-ratelimit-limit-requests"] == "120"
    assert oai.chat.completions.create(model="other", messages=USER).choices  # limits are per model


def test_openai_connection_failures(oai: openai.OpenAI, fake: FakeServer) -> None:
    fake.script("m", failures=["drop", "html", "drop_after_headers"])
    with pytest.raises(openai.APIConnectionError):
        oai.chat.completions.create(model="m", messages=USER)
    with pytest.raises(openai.InternalServerError) as exc:
        oai.chat.completions.create(model="m", messages=USER)
    assert exc.value.status_code == 502 and "<h1>502 Bad Gateway</h1>" in exc.value.response.text
    with pytest.raises(openai.APIConnectionError):
        oai.chat.completions.create(model="m", messages=USER)


def test_openai_stream_error_event(oai: openai.OpenAI, fake: FakeServer) -> None:
    fake.script("m", failures=["stream_error"])
    got = []
    with pytest.raises(openai.APIError, match="Overloaded"):
        for c in oai.chat.completions.create(model="m", messages=USER, stream=True):
            got.append(c)
    assert got and got[0].choices[0].delta.role == "assistant"


async def test_openai_async_text_and_stream(fake: FakeServer) -> None:
    client = openai.AsyncOpenAI(base_url=fake.openai_base, api_key="sk-test", max_retries=0, timeout=5)
    r = await client.chat.completions.create(model="m", messages=USER)
    assert r.choices[0].message.content == "echo: hello brave new world"
    stream = await client.chat.completions.create(
        model="m", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: hello brave new world"
    assert chunks[-1].usage.total_tokens == 9
    await client.close()


# -------------------------------------------------------------------------------------------- Anthropic


def test_anthropic_text(ant: anthropic.Anthropic, fake: FakeServer) -> None:
    m = ant.messages.create(model="claude-haiku", max_tokens=100, system="be brief", messages=USER)
    assert m.type == "message" and m.role == "assistant" and m.model == "claude-haiku"
    assert m.content[0].type == "text" and m.content[0].text == "echo: hello brave new world"
    assert (m.stop_reason, m.stop_sequence) == ("end_turn", None)
    assert (m.usage.input_tokens, m.usage.output_tokens) == (6, 5)
    rec = fake.requests[-1]
    assert rec.provider == "anthropic" and rec.headers["anthropic-version"]
    # older SDKs send x-api-key, newer ones Authorization: Bearer; the fake takes both
    assert rec.headers.get("x-api-key") == "sk-ant-test" or rec.headers["authorization"] == "Bearer sk-ant-test"


def test_anthropic_rate_limit_headers(ant: anthropic.Anthropic, fake: FakeServer) -> None:
    fake.script("claude-haiku", rpm=4000, window=60)
    raw = ant.messages.with_raw_response.create(model="claude-haiku", max_tokens=10, messages=USER)
    h = raw.headers
    assert int(h["anthropic-ratelimit-requests-limit"]) > int(h["anthropic-ratelimit-requests-remaining"])
    assert h["anthropic-ratelimit-requests-reset"].endswith("Z") and h["request-id"]


def test_anthropic_stream_final_message(ant: anthropic.Anthropic) -> None:
    with ant.messages.stream(model="claude-haiku", max_tokens=100, messages=USER) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "echo: hello brave new world"
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (4, 5)


def test_anthropic_raw_stream_event_order(ant: anthropic.Anthropic) -> None:
    events = [e.type for e in ant.messages.create(model="c", max_tokens=100, messages=USER, stream=True)]
    assert events[0] == "message_start" and events[1] == "content_block_start"
    assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert events.count("content_block_delta") >= 3


def test_anthropic_tool_use(ant: anthropic.Anthropic, fake: FakeServer) -> None:
    fake.script("claude-sonnet", tool_call=WEATHER)
    m = ant.messages.create(model="claude-sonnet", max_tokens=100, messages=USER, tools=ANTHROPIC_TOOLS)
    assert m.stop_reason == "tool_use"
    (block,) = m.content
    assert block.type == "tool_use" and block.id.startswith("toolu_")
    assert (block.name, block.input) == ("get_weather", WEATHER["arguments"])

    fake.script("claude-sonnet", tool_call=WEATHER, content="Let me check.")
    with ant.messages.stream(model="claude-sonnet", max_tokens=100, messages=USER, tools=ANTHROPIC_TOOLS) as s:
        final = s.get_final_message()
    assert [b.type for b in final.content] == ["text", "tool_use"]
    assert final.content[0].text == "Let me check."
    assert final.content[1].input == WEATHER["arguments"]
    assert final.stop_reason == "tool_use"


def test_anthropic_max_tokens_and_stop_sequence(ant: anthropic.Anthropic) -> None:
    m = ant.messages.create(model="c", max_tokens=3, messages=USER)
    assert (m.content[0].text, m.stop_reason, m.usage.output_tokens) == ("echo: hello brave", "max_tokens", 3)
    m = ant.messages.create(model="c", max_tokens=50, messages=USER, stop_sequences=["brave"])
    assert (m.content[0].text, m.stop_reason, m.stop_sequence) == ("echo: hello ", "stop_sequence", "brave")
    with ant.messages.stream(model="c", max_tokens=2, messages=USER) as s:
        final = s.get_final_message()
    assert (final.content[0].text, final.stop_reason) == ("echo: hello", "max_tokens")


def test_anthropic_errors(ant: anthropic.Anthropic, fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fake, "api_key", "sk-ant-right")
    with pytest.raises(anthropic.AuthenticationError) as e401:
        ant.messages.create(model="c", max_tokens=10, messages=USER)
    assert e401.value.body["error"]["type"] == "authentication_error"
    monkeypatch.setattr(fake, "api_key", None)

    fake.script("c", failures=[404, 429, 500, 529])
    with pytest.raises(anthropic.NotFoundError) as e404:
        ant.messages.create(model="c", max_tokens=10, messages=USER)
    assert e404.value.body == {"type": "error", "error": {"type": "not_found_error", "message": "Not found"},
                               "request_id": "req_fake"}  # fmt: skip
    with pytest.raises(anthropic.RateLimitError) as e429:
        ant.messages.create(model="c", max_tokens=10, messages=USER)
    assert e429.value.response.headers["retry-after"] == "1"
    with pytest.raises(anthropic.InternalServerError):
        ant.messages.create(model="c", max_tokens=10, messages=USER)
    with pytest.raises(anthropic.APIStatusError) as e529:
        ant.messages.create(model="c", max_tokens=10, messages=USER)
    assert e529.value.status_code == 529 and e529.value.body["error"]["type"] == "overloaded_error"


def test_anthropic_requires_max_tokens_and_version(fake: FakeServer) -> None:
    client = anthropic.Anthropic(base_url=fake.url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
        client.post("/v1/messages", body={"model": "c", "messages": USER}, cast_to=anthropic.types.Message)
    with pytest.raises(anthropic.BadRequestError, match="anthropic-version"):
        client.messages.create(
            model="c", max_tokens=5, messages=USER, extra_headers={"anthropic-version": anthropic.omit}
        )


def test_anthropic_stream_error_event(ant: anthropic.Anthropic, fake: FakeServer) -> None:
    fake.script("c", failures=["stream_error"])
    with (
        pytest.raises(anthropic.APIStatusError, match="overloaded_error"),
        ant.messages.stream(model="c", max_tokens=100, messages=USER) as s,
    ):
        s.get_final_message()


# ----------------------------------------------------------------------------------------------- Cohere


def test_cohere_text(co: cohere.ClientV2, fake: FakeServer) -> None:
    r = co.chat(model="command-r", messages=[{"role": "system", "content": "be brief"}, *USER])
    assert r.finish_reason == "COMPLETE"
    assert r.message.role == "assistant" and r.message.content[0].text == "echo: hello brave new world"
    assert (r.usage.tokens.input_tokens, r.usage.tokens.output_tokens) == (6, 5)
    assert r.usage.billed_units.output_tokens == 5
    rec = fake.requests[-1]
    assert (rec.provider, rec.path) == ("cohere", "/v2/chat")
    assert rec.headers["authorization"] == "Bearer co-test"


def test_cohere_stream(co: cohere.ClientV2) -> None:
    events = list(co.chat_stream(model="command-r", messages=USER))
    types = [e.type for e in events]
    assert types[:2] == ["message-start", "content-start"] and types[-2:] == ["content-end", "message-end"]
    text = "".join(e.delta.message.content.text for e in events if e.type == "content-delta")
    assert text == "echo: hello brave new world"
    assert events[-1].delta.finish_reason == "COMPLETE"
    assert events[-1].delta.usage.billed_units.output_tokens == 5


def test_cohere_tool_call(co: cohere.ClientV2, fake: FakeServer) -> None:
    fake.script("command-r", tool_call=WEATHER)
    r = co.chat(model="command-r", messages=USER, tools=OPENAI_TOOLS)
    assert r.finish_reason == "TOOL_CALL"
    assert r.message.content is None and r.message.tool_plan
    (call,) = r.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == WEATHER["arguments"]

    events = list(co.chat_stream(model="command-r", messages=USER, tools=OPENAI_TOOLS))
    types = [e.type for e in events]
    assert {"tool-plan-delta", "tool-call-start", "tool-call-delta", "tool-call-end"} <= set(types)
    start = next(e for e in events if e.type == "tool-call-start")
    assert start.delta.message.tool_calls.function.name == "get_weather"
    args = "".join(e.delta.message.tool_calls.function.arguments for e in events if e.type == "tool-call-delta")
    assert json.loads(args) == WEATHER["arguments"]
    assert events[-1].delta.finish_reason == "TOOL_CALL"


def test_cohere_max_tokens(co: cohere.ClientV2) -> None:
    r = co.chat(model="command-r", messages=USER, max_tokens=2)
    assert (r.message.content[0].text, r.finish_reason) == ("echo: hello", "MAX_TOKENS")
    r = co.chat(model="command-r", messages=USER, stop_sequences=["new"])
    assert (r.message.content[0].text, r.finish_reason) == ("echo: hello brave ", "STOP_SEQUENCE")


def test_cohere_errors(co: cohere.ClientV2, fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fake, "api_key", "co-right")
    with pytest.raises(cohere.UnauthorizedError) as e401:
        co.chat(model="c", messages=USER, request_options=NO_RETRY)
    assert e401.value.body == {"message": "invalid api token"}
    monkeypatch.setattr(fake, "api_key", None)

    fake.script("c", failures=[404, 429, 500])
    with pytest.raises(cohere.NotFoundError):
        co.chat(model="c", messages=USER, request_options=NO_RETRY)
    with pytest.raises(cohere.TooManyRequestsError) as e429:
        co.chat(model="c", messages=USER, request_options=NO_RETRY)
    assert e429.value.headers["retry-after"] == "1" and e429.value.body == {"message": "Rate limit exceeded"}
    with pytest.raises(cohere.InternalServerError):
        co.chat(model="c", messages=USER, request_options=NO_RETRY)


def test_cohere_stream_error_ends_with_error_finish(co: cohere.ClientV2, fake: FakeServer) -> None:
    fake.script("c", failures=["stream_error"])
    events = list(co.chat_stream(model="c", messages=USER))
    assert events[-1].type == "message-end"
    assert events[-1].delta.finish_reason == "ERROR" and events[-1].delta.error == "Overloaded"


def test_cohere_sdk_error_base_class() -> None:
    assert issubclass(cohere.TooManyRequestsError, CohereApiError)


def test_no_rate_limit_headers_without_limits(oai: openai.OpenAI) -> None:
    raw = oai.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER)
    assert "x-ratelimit-limit-requests" not in raw.headers and raw.headers["x-request-id"]
