"""Responses and streams as LiteLLM scripts use them: ``_hidden_params``, attribute access on details,
``function_call``, messages that go back into a conversation, ``json()``, pickling, and the usage chunk."""

from __future__ import annotations

import copy
import json
import multiprocessing
import pickle

import pytest

import volley as litellm
from volley.testing import FakeServer, MockTransport

MSG = [{"role": "user", "content": "hello world"}]
KEY = "sk-resp-000000000000"
FUNCS = [{"name": "get_weather", "description": "Weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]  # fmt: skip


def kw(fake: FakeServer, **extra):
    return {"api_key": KEY, "api_base": fake.openai_base, **extra}


def test_hidden_params(fake: FakeServer):
    r = litellm.completion("gpt-4o-mini", MSG, **kw(fake))
    hidden = r._hidden_params
    assert hidden["custom_llm_provider"] == "openai" and hidden["api_base"] == fake.openai_base
    assert hidden["response_cost"] == r.cost > 0 and hidden["model_id"] is None
    assert "llm_provider-x-request-id" in hidden["additional_headers"]
    r._hidden_params["model_id"] = "mine"  # written keys are kept, as LiteLLM's Router does
    assert r._hidden_params["model_id"] == "mine"


def test_usage_details_and_logprobs_by_attribute():
    def answer(request):
        token = {
            "token": "hi",
            "logprob": -0.2,
            "bytes": [104, 105],
            "top_logprobs": [{"token": "hi", "logprob": -0.2}],
        }
        return {"choices": [{"message": {"content": "hi"}, "logprobs": {"content": [token]}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12,
                          "prompt_tokens_details": {"cached_tokens": 8},
                          "completion_tokens_details": {"reasoning_tokens": 1}}}  # fmt: skip

    r = litellm.completion("openai/gpt-4o", MSG, api_key=KEY, transport=MockTransport(answer), logprobs=True)
    assert r.usage.prompt_tokens_details.cached_tokens == 8
    assert r.usage.completion_tokens_details.reasoning_tokens == 1
    lp = r.choices[0].logprobs.content[0]
    assert (lp.token, lp.logprob, lp.top_logprobs[0].token) == ("hi", -0.2, "hi")


def test_legacy_functions_give_function_call(fake: FakeServer):
    fake.script("gpt-4o", tool_call={"name": "get_weather", "arguments": {"city": "Paris"}})
    r = litellm.completion("gpt-4o", [{"role": "user", "content": "weather in Paris?"}], functions=FUNCS,
                           function_call={"name": "get_weather"}, **kw(fake))  # fmt: skip
    fc = r.choices[0].message.function_call
    assert fc.name == "get_weather" and json.loads(fc.arguments) == {"city": "Paris"}
    assert r.choices[0].finish_reason == "function_call"
    sent = fake.requests[-1].json
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


def test_a_returned_message_goes_back_into_messages(fake: FakeServer):
    fake.script("gpt-4o", tool_call={"name": "get_weather", "arguments": {"city": "Paris"}})
    messages = [{"role": "user", "content": "weather in Paris?"}]
    first = litellm.completion("gpt-4o", messages, tools=[{"type": "function", "function": FUNCS[0]}], **kw(fake))
    messages.append(first.choices[0].message)
    call = first.choices[0].message.tool_calls[0]
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "18C"})
    fake.script("gpt-4o", content="It is 18C.")
    second = litellm.completion("gpt-4o", messages, **kw(fake))
    assert second.choices[0].message.content == "It is 18C."
    sent = fake.requests[-1].json["messages"][1]
    assert sent["role"] == "assistant" and sent["tool_calls"][0]["id"] == call.id and "parsed" not in sent


def test_json_is_a_dict_as_in_litellm(fake: FakeServer):
    r = litellm.completion("gpt-4o", MSG, **kw(fake))
    data = r.json()
    assert isinstance(data, dict) and data["choices"][0]["message"]["content"] == "echo: hello world"
    assert json.loads(r.model_dump_json())["id"] == r.id


def _content(r):
    return r.choices[0].message.content


def test_responses_pickle_deepcopy_and_cross_processes(fake: FakeServer):
    r = litellm.completion("gpt-4o", MSG, **kw(fake))
    for again in (pickle.loads(pickle.dumps(r)), copy.deepcopy(r), r.model_copy(deep=True)):
        assert _content(again) == _content(r)
        assert again.response_headers["X-Request-Id"] == r.response_headers["x-request-id"]
    assert pickle.loads(pickle.dumps(r)).cost == r.cost
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:  # what multiprocessing and joblib do with results
        assert pool.map(_content, [r]) == ["echo: hello world"]


def test_stream_usage_chunk_only_when_asked(fake: FakeServer):
    texts = []
    for chunk in litellm.completion("gpt-4o", MSG, stream=True, **kw(fake)):
        texts.append(chunk.choices[0].delta.content or "")  # LiteLLM's canonical loop: no empty chunk
    assert "".join(texts) == "echo: hello world"
    chunks = list(litellm.completion("gpt-4o", MSG, stream=True, stream_options={"include_usage": True}, **kw(fake)))
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    assert fake.requests[-1].json["stream_options"] == {"include_usage": True}


def test_stream_usage_withheld_but_kept(fake: FakeServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    stream = litellm.completion("claude-3-5-haiku-latest", MSG, stream=True, api_base=fake.url)
    chunks = list(stream)
    assert all(c.choices for c in chunks) and all(c.usage is None for c in chunks)
    assert stream.usage.completion_tokens == 3
    assert litellm.stream_chunk_builder(chunks).usage.completion_tokens == 3


async def test_custom_stream_wrapper_name(fake: FakeServer):
    sync = litellm.completion("gpt-4o", MSG, stream=True, **kw(fake))
    assert isinstance(sync, litellm.CustomStreamWrapper)
    sync.close()
    stream = await litellm.acompletion("gpt-4o", MSG, stream=True, **kw(fake))
    assert isinstance(stream, litellm.CustomStreamWrapper)
    assert [c async for c in stream][-1].choices[0].finish_reason == "stop"


def test_litellm_type_names():
    assert litellm.Choices is litellm.Choice and litellm.ModelResponseStream is litellm.StreamChunk
    assert litellm.StreamingChoices(delta=litellm.Delta(content="x")).delta.content == "x"
