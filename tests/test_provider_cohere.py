"""Cohere v2 provider: request mapping, responses, streams and errors, checked against recorded-shape fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from volley.errors import APIError, InternalServerError, UnsupportedParamsError
from volley.protocols import cohere
from volley.testing import build_request

FIXTURES = Path(__file__).parent / "fixtures" / "cohere"
MODEL = "command-a-03-2025"
BASE = "https://api.cohere.com"

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
    },
}


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def sse_events(name: str) -> list[tuple[str | None, str]]:
    """Split a raw SSE fixture into (event, data) pairs, as the transport hands them over."""
    text = (FIXTURES / name).read_text().replace("\r\n", "\n")
    out = []
    for block in text.split("\n\n"):
        event, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if data:
            out.append((event, "\n".join(data)))
    return out


def run_stream(name: str) -> tuple[cohere.StreamParser, list[dict[str, Any]]]:
    parser = cohere.StreamParser(MODEL)
    chunks = []
    for event, data in sse_events(name):
        assert not parser.finished or data == "[DONE]", "events after the end of the stream"
        chunks.extend(parser.feed(event, data))
    assert parser.finished
    for c in chunks:
        ChatCompletionChunk.model_validate(c)
    return parser, chunks


def build(messages: list[dict[str, Any]] | None = None, stream: bool = False, **params: Any):
    messages = messages or [{"role": "user", "content": "hi"}]
    return build_request("cohere", MODEL, messages, params, api_base=BASE, api_key="co-secret-key", stream=stream)


# ---------------------------------------------------------------- build_request


def test_request_basics():
    req = build()
    assert req.method == "POST"
    assert req.url == "https://api.cohere.com/v2/chat"
    assert req.headers["Authorization"] == "Bearer co-secret-key"
    assert req.headers["Content-Type"] == "application/json"
    assert req.secrets == ("co-secret-key",)
    assert req.body == {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    assert "co-secret-key" not in repr(req)


@pytest.mark.parametrize(
    "base",
    [
        "https://api.cohere.com",
        "https://api.cohere.com/",
        "https://api.cohere.com/v2",
        "https://api.cohere.com/v2/chat",
    ],
)
def test_url_from_any_base(base):
    req = build_request("cohere", MODEL, [], {}, api_base=base, api_key=None, stream=False)
    assert req.url == "https://api.cohere.com/v2/chat"
    assert "Authorization" not in req.headers
    assert req.secrets == ()


def test_stream_flag():
    assert build(stream=True).body["stream"] is True
    assert "stream" not in build(stream=False).body


def test_every_param_mapped():
    body = build(
        temperature=0.2,
        top_p=0.9,
        max_tokens=100,
        stop="END",
        seed=7,
        presence_penalty=0.1,
        frequency_penalty=0.3,
        logprobs=True,
    ).body
    assert body["temperature"] == 0.2
    assert body["p"] == 0.9 and "top_p" not in body
    assert body["max_tokens"] == 100
    assert body["stop_sequences"] == ["END"]
    assert body["seed"] == 7
    assert body["presence_penalty"] == 0.1
    assert body["frequency_penalty"] == 0.3
    assert body["logprobs"] is True


def test_param_variants():
    body = build(max_tokens=100, max_completion_tokens=50, stop=["a", "b"], logprobs=False, temperature=None).body
    assert body["max_tokens"] == 50  # max_completion_tokens is the newer name and wins
    assert body["stop_sequences"] == ["a", "b"]
    assert "logprobs" not in body and "temperature" not in body


def test_unsupported_params_are_not_declared():
    for name in ("n", "user", "logit_bias", "parallel_tool_calls", "top_logprobs"):
        assert name not in cohere.SUPPORTED_PARAMS
    assert cohere.NAME == "cohere"


def test_tools_and_tool_choice():
    body = build(tools=[WEATHER_TOOL], tool_choice="required").body
    assert body["tools"] == [WEATHER_TOOL]
    assert body["tool_choice"] == "REQUIRED"
    assert "strict_tools" not in body
    assert build(tools=[WEATHER_TOOL], tool_choice="none").body["tool_choice"] == "NONE"
    assert "tool_choice" not in build(tools=[WEATHER_TOOL], tool_choice="auto").body


def test_tool_without_parameters_and_strict():
    tool = {"type": "function", "function": {"name": "now", "strict": True}}
    body = build(tools=[tool]).body
    assert body["tools"] == [
        {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}
    ]
    assert body["strict_tools"] is True


def test_named_tool_choice():
    named = {"type": "function", "function": {"name": "get_weather"}}
    # the only tool: forcing it is the same as "required"
    assert build(tools=[WEATHER_TOOL], tool_choice=named).body["tool_choice"] == "REQUIRED"
    other = {"type": "function", "function": {"name": "other", "parameters": {}}}
    with pytest.raises(UnsupportedParamsError, match="specific function"):
        build(tools=[WEATHER_TOOL, other], tool_choice=named)


def test_response_format():
    assert build(response_format={"type": "json_object"}).body["response_format"] == {"type": "json_object"}
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": schema, "strict": True}}
    assert build(response_format=fmt).body["response_format"] == {"type": "json_object", "json_schema": schema}
    assert "response_format" not in build(response_format={"type": "text"}).body


def test_extra_body_and_headers():
    req = build(extra_body={"safety_mode": "STRICT", "k": 5}, extra_headers={"X-Client-Name": "volley"})
    assert req.body["safety_mode"] == "STRICT" and req.body["k"] == 5
    assert req.headers["X-Client-Name"] == "volley"
    assert "extra_body" not in req.body and "extra_headers" not in req.body


# ---------------------------------------------------------------- messages


def test_system_and_developer_messages():
    msgs = cohere.convert_messages(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "user", "content": "hi"},
        ]
    )
    assert msgs == [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "hi"},
    ]


def test_multi_turn_with_tool_calls_and_results():
    messages = [
        {"role": "user", "content": "Weather in Toronto and Paris?"},
        {
            "role": "assistant",
            "content": "I will look both up.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location":"Toronto"}'},
                },
                {
                    "id": "c2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": {"location": "Paris"}},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"temperature": 21}'},
        {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "18 degrees"}]},
        {"role": "assistant", "content": "Toronto is 21, Paris 18."},
        {"role": "user", "content": "Thanks"},
    ]
    out = cohere.convert_messages(messages)
    assert out[1] == {
        "role": "assistant",
        "tool_plan": "I will look both up.",
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"location":"Toronto"}'},
            },
            {"id": "c2", "type": "function", "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'}},
        ],
    }
    assert out[2] == {"role": "tool", "tool_call_id": "c1", "content": '{"temperature": 21}'}
    assert out[3] == {"role": "tool", "tool_call_id": "c2", "content": "18 degrees"}
    assert out[4] == {"role": "assistant", "content": "Toronto is 21, Paris 18."}
    assert out[5] == {"role": "user", "content": "Thanks"}


def test_assistant_tool_calls_without_text_have_no_plan():
    out = cohere.convert_messages(
        [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": ""}}],
            }
        ]
    )
    assert out == [
        {
            "role": "assistant",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}],
        }
    ]


def test_images_pass_through():
    content = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
        {"type": "image_url", "image_url": "data:image/png;base64,iVBORw0KGgo="},
    ]
    (msg,) = cohere.convert_messages([{"role": "user", "content": content}])
    assert msg == {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        ],
    }


# ---------------------------------------------------------------- parse_response


@pytest.mark.filterwarnings("ignore:.*__fields__")
def test_fixtures_match_the_cohere_sdk_types():
    """The hand-written fixtures parse with the official SDK's response types."""
    sdk = pytest.importorskip("cohere.v2.types")
    for name in ("text.json", "tool_call.json", "length.json"):
        sdk.V2ChatResponse.model_validate(load(name))


def test_parse_text():
    out = cohere.parse_response(load("text.json"), MODEL)
    ChatCompletion.model_validate(out)
    assert out["id"] == "5a50480a-cf52-46f0-af01-53d18539bd31"
    assert out["object"] == "chat.completion"
    assert out["model"] == MODEL
    assert isinstance(out["created"], int)
    (choice,) = out["choices"]
    assert choice["index"] == 0
    assert choice["finish_reason"] == "stop"
    assert choice["message"] == {
        "role": "assistant",
        "content": "The tallest mountain in Europe is Mount Elbrus, at 5,642 metres.",
    }
    # usage.tokens (what the model saw) is preferred to billed_units
    assert out["usage"] == {"prompt_tokens": 506, "completion_tokens": 17, "total_tokens": 523}


def test_parse_tool_call():
    out = cohere.parse_response(load("tool_call.json"), MODEL)
    ChatCompletion.model_validate(out)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    msg = choice["message"]
    assert msg["content"] is None
    assert msg["tool_plan"] == "I will look up the weather in Toronto and in Paris."
    assert msg["tool_calls"] == [
        {
            "id": "get_weather_x9q8kd3rmmb2",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"location":"Toronto"}'},
        },
        {
            "id": "get_weather_3tn2c5a0p4yf",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'},
        },
    ]
    assert out["usage"]["prompt_tokens"] == 1121


def test_parse_length():
    out = cohere.parse_response(load("length.json"), MODEL)
    ChatCompletion.model_validate(out)
    assert out["choices"][0]["finish_reason"] == "length"
    assert out["choices"][0]["message"]["content"].startswith("Once upon a time")


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("COMPLETE", "stop"),
        ("STOP_SEQUENCE", "stop"),
        ("MAX_TOKENS", "length"),
        ("TOOL_CALL", "tool_calls"),
        ("ERROR_TOXIC", "content_filter"),
        ("ERROR", "stop"),
        ("TIMEOUT", "stop"),
        ("SOMETHING_NEW", "stop"),
        (None, "stop"),
    ],
)
def test_finish_reasons(reason, expected):
    data = {
        "id": "x",
        "finish_reason": reason,
        "message": {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
    }
    assert cohere.parse_response(data, MODEL)["choices"][0]["finish_reason"] == expected


def test_usage_falls_back_to_billed_units_and_missing_usage():
    data = load("text.json")
    del data["usage"]["tokens"]
    assert cohere.parse_response(data, MODEL)["usage"] == {
        "prompt_tokens": 12,
        "completion_tokens": 17,
        "total_tokens": 29,
    }
    del data["usage"]
    assert cohere.parse_response(data, MODEL)["usage"] == {
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": 0,
    }


def test_thinking_and_logprobs():
    data = {
        "id": "x",
        "finish_reason": "COMPLETE",
        "message": {
            "role": "assistant",
            "content": [{"type": "thinking", "thinking": "Let me add."}, {"type": "text", "text": "4"}],
        },
        "logprobs": [{"text": "4", "token_ids": [19], "logprobs": [-0.25]}],
    }
    out = cohere.parse_response(data, MODEL)
    ChatCompletion.model_validate(out)
    assert out["choices"][0]["message"]["content"] == "4"
    assert out["choices"][0]["message"]["reasoning_content"] == "Let me add."
    assert out["choices"][0]["logprobs"]["content"][0]["token"] == "4"
    assert out["choices"][0]["logprobs"]["content"][0]["logprob"] == -0.25


def test_unexpected_shape_raises():
    with pytest.raises(APIError):
        cohere.parse_response({"nope": 1}, MODEL)


# ---------------------------------------------------------------- streams


@pytest.mark.filterwarnings("ignore:.*__fields__")
def test_stream_fixtures_match_the_cohere_sdk_types():
    pytest.importorskip("cohere")
    from cohere.core.unchecked_base_model import construct_type
    from cohere.v2.types import V2ChatStreamResponse

    for name in ("text_stream.txt", "tool_stream.txt"):
        for event, data in sse_events(name):
            if data == "[DONE]":
                continue
            parsed = construct_type(type_=V2ChatStreamResponse, object_=json.loads(data))
            assert parsed.type == event


def test_text_stream():
    _, chunks = run_stream("text_stream.txt")
    assert len({c["id"] for c in chunks}) == 1 and len({c["created"] for c in chunks}) == 1
    assert chunks[0]["id"] == "5a50480a-cf52-46f0-af01-53d18539bd31"
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == MODEL for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    expected = cohere.parse_response(load("text.json"), MODEL)
    assert text == expected["choices"][0]["message"]["content"]
    choice_chunks = [c for c in chunks if c["choices"]]
    last = choice_chunks[-1]["choices"][0]
    assert last == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert all(c["choices"][0]["finish_reason"] is None for c in choice_chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == expected["usage"]


def test_tool_stream():
    _, chunks = run_stream("tool_stream.txt")
    calls: dict[int, dict[str, Any]] = {}
    for c in chunks:
        for choice in c["choices"]:
            assert "content" not in choice["delta"] or choice["delta"]["content"] == ""  # tool plan is not content
            for tc in choice["delta"].get("tool_calls") or ():
                slot = calls.setdefault(tc["index"], {"id": "", "name": "", "arguments": ""})
                slot["id"] += tc.get("id") or ""
                slot["name"] += (tc.get("function") or {}).get("name") or ""
                slot["arguments"] += (tc.get("function") or {}).get("arguments") or ""
    expected = cohere.parse_response(load("tool_call.json"), MODEL)["choices"][0]["message"]["tool_calls"]
    assert [calls[i] for i in sorted(calls)] == [
        {"id": t["id"], "name": t["function"]["name"], "arguments": t["function"]["arguments"]} for t in expected
    ]
    finish = [c for c in chunks if c["choices"]][-1]["choices"][0]
    assert finish["finish_reason"] == "tool_calls" and finish["delta"] == {}
    assert chunks[-1]["usage"] == {"prompt_tokens": 1121, "completion_tokens": 73, "total_tokens": 1194}


def test_stream_done_marker_alone_finishes():
    parser = cohere.StreamParser(MODEL)
    assert parser.feed(None, "[DONE]") == []
    assert parser.finished


def test_stream_event_name_or_type():
    """The kind of event comes from the data's ``type``, or the SSE event name when ``type`` is absent."""
    parser = cohere.StreamParser(MODEL)
    out = parser.feed("content-delta", '{"delta":{"message":{"content":{"text":"Hi"}}}}')
    assert [c["choices"][0]["delta"] for c in out] == [{"role": "assistant", "content": ""}, {"content": "Hi"}]
    out = parser.feed(None, '{"type":"message-end","delta":{"finish_reason":"MAX_TOKENS"}}')
    assert out[-1]["choices"][0]["finish_reason"] == "length"  # no usage sent: no usage chunk
    assert parser.finished


def test_stream_error_in_message_end_raises():
    parser = cohere.StreamParser(MODEL)
    parser.feed("message-start", '{"type":"message-start","id":"x"}')
    with pytest.raises(InternalServerError, match="generation failed"):
        parser.feed(
            "message-end", '{"type":"message-end","delta":{"finish_reason":"ERROR","error":"generation failed"}}'
        )


def test_stream_malformed_json_raises():
    with pytest.raises(APIError, match="malformed JSON"):
        cohere.StreamParser(MODEL).feed("content-delta", "{not json")


# ---------------------------------------------------------------- errors


def test_error_message():
    body = (FIXTURES / "error.json").read_bytes()
    assert cohere.error_message(400, body) == "invalid request: all elements in history must have a message."
    assert cohere.error_message(401, b'{"message":"invalid api token"}') == "invalid api token"
    assert cohere.error_message(502, b"<html><title>502 Bad Gateway</title></html>") == "502 Bad Gateway"
    assert cohere.error_message(500, b"") == "empty error body"
