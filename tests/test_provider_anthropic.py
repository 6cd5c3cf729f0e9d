"""Anthropic Messages API mapping: request building, responses, SSE streams, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from volley import errors
from volley.protocols import anthropic as an
from volley.testing import build_request

FIXTURES = Path(__file__).parent / "fixtures" / "anthropic"
BASE = "https://api.anthropic.com"
MODEL = "claude-sonnet-4-5"
USER = [{"role": "user", "content": "hi"}]


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def sse_events(name: str) -> list[tuple[str | None, str]]:
    """Split a raw SSE fixture into (event, data) pairs."""
    out: list[tuple[str | None, str]] = []
    for block in (FIXTURES / name).read_text().split("\n\n"):
        event, data = None, []
        for line in block.splitlines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if data:
            out.append((event, "\n".join(data)))
    return out


def run_stream(name: str) -> tuple[list[dict[str, Any]], an.StreamParser]:
    parser = an.StreamParser(MODEL)
    chunks = [c for event, data in sse_events(name) for c in parser.feed(event, data)]
    return chunks, parser


def body(messages: list[dict[str, Any]] | None = None, stream: bool = False, **params: Any) -> dict[str, Any]:
    req = build_request(
        "anthropic", MODEL, messages or USER, params, api_base=BASE, api_key="sk-ant-test", stream=stream
    )
    assert req.body is not None
    return req.body


# ---------------------------------------------------------------- build_request


def test_request_basics() -> None:
    req = build_request("anthropic", MODEL, USER, {}, api_base=BASE + "/", api_key="sk-ant-test", stream=False)
    assert req.url == "https://api.anthropic.com/v1/messages"
    assert req.method == "POST"
    assert req.headers["x-api-key"] == "sk-ant-test"
    assert req.headers["anthropic-version"] == "2023-06-01"
    assert req.headers["Content-Type"] == "application/json"
    assert req.secrets == ("sk-ant-test",)
    assert "sk-ant-test" not in repr(req)
    assert req.body == {"model": MODEL, "messages": USER, "max_tokens": 4096}


@pytest.mark.parametrize(
    "base",
    [
        "http://localhost:8080",
        "http://localhost:8080/",
        "http://localhost:8080/v1",
        "http://localhost:8080/v1/messages",
    ],
)
def test_request_url_variants(base: str) -> None:
    req = build_request("anthropic", MODEL, USER, {}, api_base=base, api_key=None, stream=False)
    assert req.url == "http://localhost:8080/v1/messages"
    assert "x-api-key" not in req.headers
    assert req.secrets == ()


def test_request_extra_headers_and_body() -> None:
    params = {
        "extra_headers": {"anthropic-beta": "x-1", "anthropic-version": "2099-01-01"},
        "extra_body": {"top_k": 5},
    }
    req = build_request("anthropic", MODEL, USER, params, api_base=BASE, api_key="k", stream=False)
    assert req.headers["anthropic-beta"] == "x-1"
    assert req.headers["anthropic-version"] == "2099-01-01"
    assert req.body is not None
    assert req.body["top_k"] == 5
    assert "extra_body" not in req.body and "extra_headers" not in req.body


def test_request_max_tokens() -> None:
    assert body(max_tokens=100)["max_tokens"] == 100
    assert body(max_completion_tokens=200)["max_tokens"] == 200
    assert body(max_tokens=None)["max_tokens"] == 4096


def test_request_sampling_stop_user_stream() -> None:
    b = body(temperature=0.2, top_p=0.9, stop="END", user="u-42", stream=True)
    assert b["temperature"] == 0.2
    assert b["top_p"] == 0.9
    assert b["stop_sequences"] == ["END"]
    assert b["metadata"] == {"user_id": "u-42"}
    assert b["stream"] is True
    assert body(stop=["a", "b"])["stop_sequences"] == ["a", "b"]
    assert "stream" not in body()
    assert "stream_options" not in body(stream=True, stream_options={"include_usage": True})


def test_supported_params() -> None:
    for p in ("temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "user", "tools"):
        assert p in an.SUPPORTED_PARAMS
    for p in ("tool_choice", "parallel_tool_calls", "response_format"):
        assert p in an.SUPPORTED_PARAMS
    for p in ("n", "seed", "presence_penalty", "frequency_penalty", "logprobs", "logit_bias", "top_logprobs"):
        assert p not in an.SUPPORTED_PARAMS


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}


def test_request_tools() -> None:
    bare = {"type": "function", "function": {"name": "now"}}
    native = {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}
    b = body(tools=[WEATHER, bare, native])
    assert b["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather",
            "input_schema": WEATHER["function"]["parameters"],
        },
        {"name": "now", "input_schema": {"type": "object", "properties": {}}},
        native,
    ]
    assert "tool_choice" not in b


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("required", {"type": "any"}),
        ("none", {"type": "none"}),
        ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
    ],
)
def test_request_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    assert body(tools=[WEATHER], tool_choice=choice)["tool_choice"] == expected


def test_request_parallel_tool_calls() -> None:
    assert body(tools=[WEATHER], parallel_tool_calls=False)["tool_choice"] == {
        "type": "auto",
        "disable_parallel_tool_use": True,
    }
    assert body(tools=[WEATHER], tool_choice="required", parallel_tool_calls=False)["tool_choice"] == {
        "type": "any",
        "disable_parallel_tool_use": True,
    }
    assert body(tools=[WEATHER], tool_choice="none", parallel_tool_calls=False)["tool_choice"] == {"type": "none"}
    assert "tool_choice" not in body(tools=[WEATHER], parallel_tool_calls=True)
    assert "tool_choice" not in body(parallel_tool_calls=False)  # no tools: nothing to say


def test_request_response_format_json_schema() -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    rf = {"type": "json_schema", "json_schema": {"name": "person", "schema": schema, "strict": True}}
    b = body(response_format=rf)
    assert b["tools"] == [
        {"name": "json_response", "description": b["tools"][0]["description"], "input_schema": schema}
    ]
    assert b["tool_choice"] == {"type": "tool", "name": "json_response"}


def test_request_response_format_json_object_and_text() -> None:
    b = body(response_format={"type": "json_object"})
    assert b["tools"][0]["name"] == "json_response"
    assert b["tools"][0]["input_schema"]["type"] == "object"
    assert b["tool_choice"] == {"type": "tool", "name": "json_response"}
    assert "tools" not in body(response_format={"type": "text"})


def test_request_response_format_with_user_tools_keeps_choice() -> None:
    b = body(tools=[WEATHER], tool_choice="auto", response_format={"type": "json_object"})
    assert [t["name"] for t in b["tools"]] == ["get_weather", "json_response"]
    assert b["tool_choice"] == {"type": "auto"}


# ---------------------------------------------------------------- messages


def test_system_and_developer_lifted() -> None:
    b = body(
        [
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "user", "content": "hi"},
        ]
    )
    assert b["system"] == "You are terse.\n\nAnswer in French."
    assert b["messages"] == [{"role": "user", "content": "hi"}]
    assert "system" not in body()


def test_multi_turn_with_tool_calls_and_results() -> None:
    messages = [
        {"role": "user", "content": "Weather in SF and Paris?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location":"SF"}'},
                },
                {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": ""}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "15C"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "20C"}]},
        {"role": "user", "content": "Thanks. Which is warmer?"},
        {"role": "assistant", "content": "Paris."},
    ]
    assert body(messages)["messages"] == [
        {"role": "user", "content": "Weather in SF and Paris?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"location": "SF"}},
                {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "15C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "call_2",
                    "content": [{"type": "text", "text": "20C"}],
                },
                {"type": "text", "text": "Thanks. Which is warmer?"},
            ],
        },
        {"role": "assistant", "content": "Paris."},
    ]


def test_assistant_tool_calls_without_content() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    msgs = body([*USER, {"role": "assistant", "content": None, "tool_calls": [call]}])["messages"]
    assert msgs[1] == {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "c", "name": "f", "input": {"a": 1}}],
    }


def test_consecutive_same_role_merged() -> None:
    msgs = body(
        [
            {"role": "user", "content": "one"},
            {"role": "user", "content": [{"type": "text", "text": "two"}]},
            {"role": "assistant", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "three"},
        ]
    )["messages"]
    assert msgs == [
        {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "user", "content": "three"},
    ]


def test_tool_results_sorted_first_and_empty_messages_dropped() -> None:
    msgs = body(
        [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": "", "tool_calls": []},
            {"role": "tool", "tool_call_id": "x", "content": "done"},
        ]
    )["messages"]
    assert msgs == [
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "x", "content": "done"},
                {"type": "text", "text": "go"},
            ],
        }
    ]


def test_images() -> None:
    content = [
        {"type": "text", "text": "What is in these?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "high"}},
        {"type": "image_url", "image_url": "https://example.com/dog.webp"},
        {"type": "image_url", "image_url": {"url": "data:application/pdf;base64,JVBERi0="}},
    ]
    msgs = body([{"role": "user", "content": content}])["messages"]
    assert msgs[0]["content"] == [
        {"type": "text", "text": "What is in these?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/dog.webp"}},
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
        },
    ]


def test_cache_control_and_native_blocks_kept() -> None:
    native = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "doc"}}
    content = [{"type": "text", "text": "big context", "cache_control": {"type": "ephemeral"}}, native]
    msgs = body([{"role": "user", "content": content}])["messages"]
    assert msgs[0]["content"] == [
        {"type": "text", "text": "big context", "cache_control": {"type": "ephemeral"}},
        native,
    ]


# ---------------------------------------------------------------- parse_response


def check(out: dict[str, Any]) -> ChatCompletion:
    parsed = ChatCompletion.model_validate(out)
    assert out["object"] == "chat.completion"
    assert isinstance(out["created"], int)
    assert out["choices"][0]["finish_reason"] in ("stop", "length", "tool_calls", "content_filter")
    return parsed


def test_parse_text() -> None:
    out = an.parse_response(load("text_response.json"), MODEL)
    check(out)
    assert out["id"] == "msg_01XFDUDYJgAACzvnptvVoYEL"
    assert out["model"] == "claude-sonnet-4-5-20250929"
    msg = out["choices"][0]["message"]
    assert msg == {"role": "assistant", "content": "Hello! How can I help you today?"}
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["usage"] == {"prompt_tokens": 12, "completion_tokens": 11, "total_tokens": 23}


def test_parse_tool_use() -> None:
    out = an.parse_response(load("tool_use_response.json"), MODEL)
    check(out)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "I'll check the current weather in San Francisco for you."
    (call,) = choice["message"]["tool_calls"]
    assert call["id"] == "toolu_01A09q90qw90lq917835lq9"
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"location": "San Francisco, CA", "unit": "celsius"}


def test_parse_tool_use_only_has_none_content() -> None:
    data = load("tool_use_response.json")
    data["content"] = data["content"][1:]
    out = an.parse_response(data, MODEL)
    check(out)
    assert out["choices"][0]["message"]["content"] is None


def test_parse_max_tokens_with_cache_usage() -> None:
    data = load("max_tokens_response.json")
    del data["model"]
    out = an.parse_response(data, MODEL)
    check(out)
    assert out["model"] == MODEL
    assert out["choices"][0]["finish_reason"] == "length"
    assert "tool_calls" not in out["choices"][0]["message"]
    u = out["usage"]
    assert (u["prompt_tokens"], u["completion_tokens"], u["total_tokens"]) == (2168, 10, 2178)
    assert u["prompt_tokens_details"] == {"cached_tokens": 2048}


def test_parse_json_response_tool_becomes_content() -> None:
    out = an.parse_response(load("json_tool_response.json"), MODEL)
    check(out)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert "tool_calls" not in choice["message"]
    assert json.loads(choice["message"]["content"]) == {"name": "Ada Lovelace", "born": 1815}


def test_parse_thinking() -> None:
    out = an.parse_response(load("thinking_response.json"), MODEL)
    check(out)
    msg = out["choices"][0]["message"]
    assert msg["content"] == "27 * 453 = 12,231"
    assert msg["reasoning_content"].startswith("27 * 453")


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        (None, "stop"),
        ("something_new", "stop"),
    ],
)
def test_parse_finish_reasons(reason: str | None, finish: str) -> None:
    data = {**load("text_response.json"), "stop_reason": reason}
    assert an.parse_response(data, MODEL)["choices"][0]["finish_reason"] == finish


def test_parse_empty_content() -> None:
    data = {**load("text_response.json"), "content": []}
    out = an.parse_response(data, MODEL)
    check(out)
    assert out["choices"][0]["message"]["content"] == ""


def test_parse_bad_shape_and_error_body() -> None:
    with pytest.raises(errors.APIError) as exc:
        an.parse_response({"unexpected": True}, MODEL)
    assert exc.value.status_code == 502
    with pytest.raises(errors.InternalServerError) as exc2:
        an.parse_response(load("error_overloaded.json"), MODEL)
    assert exc2.value.status_code == 529


# ---------------------------------------------------------------- streaming


def check_chunks(chunks: list[dict[str, Any]]) -> None:
    assert chunks
    ids = {c["id"] for c in chunks}
    created = {c["created"] for c in chunks}
    assert len(ids) == 1 and len(created) == 1
    for c in chunks:
        ChatCompletionChunk.model_validate(c)
        assert c["object"] == "chat.completion.chunk"


def assemble(chunks: list[dict[str, Any]]) -> tuple[str, dict[int, dict[str, str]], str | None]:
    text, calls, finish = "", {}, None
    for c in chunks:
        for choice in c["choices"]:
            delta = choice["delta"]
            text += delta.get("content") or ""
            for tc in delta.get("tool_calls") or ():
                slot = calls.setdefault(tc["index"], {"id": "", "name": "", "arguments": ""})
                slot["id"] += tc.get("id") or ""
                fn = tc.get("function") or {}
                slot["name"] += fn.get("name") or ""
                slot["arguments"] += fn.get("arguments") or ""
            finish = choice["finish_reason"] or finish
    return text, calls, finish


def test_stream_text_matches_response() -> None:
    chunks, parser = run_stream("text_stream.txt")
    check_chunks(chunks)
    assert parser.finished
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[0]["id"] == "msg_01XFDUDYJgAACzvnptvVoYEL"
    assert chunks[0]["model"] == "claude-sonnet-4-5-20250929"
    text, calls, finish = assemble(chunks)
    expected = an.parse_response(load("text_response.json"), MODEL)
    assert text == expected["choices"][0]["message"]["content"]
    assert not calls
    assert finish == "stop"
    last_choice = [c for c in chunks if c["choices"]][-1]
    assert last_choice["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == expected["usage"]


def test_stream_tool_use() -> None:
    chunks, parser = run_stream("tool_use_stream.txt")
    check_chunks(chunks)
    assert parser.finished
    text, calls, finish = assemble(chunks)
    assert finish == "tool_calls"
    expected = an.parse_response(load("tool_use_response.json"), MODEL)
    assert text == expected["choices"][0]["message"]["content"]
    assert sorted(calls) == [0, 1]  # OpenAI indexes, not Anthropic block indexes (1, 2)
    first = expected["choices"][0]["message"]["tool_calls"][0]
    assert calls[0]["id"] == first["id"]
    assert calls[0]["name"] == first["function"]["name"]
    assert json.loads(calls[0]["arguments"]) == json.loads(first["function"]["arguments"])
    assert calls[1]["name"] == "get_time"
    assert json.loads(calls[1]["arguments"]) == {"timezone": "America/Los_Angeles"}
    deltas = [tc for c in chunks for ch in c["choices"] for tc in ch["delta"].get("tool_calls") or ()]
    starts = [tc for tc in deltas if "id" in tc]
    assert starts[0] == {
        "index": 0,
        "id": "toolu_01A09q90qw90lq917835lq9",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert chunks[-1]["usage"] == {"prompt_tokens": 384, "completion_tokens": 89, "total_tokens": 473}


def test_stream_thinking_is_not_content() -> None:
    chunks, _ = run_stream("thinking_stream.txt")
    check_chunks(chunks)
    text, _, finish = assemble(chunks)
    assert text == "27 * 453 = 12,231"
    assert finish == "stop"
    reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content", "") for c in chunks if c["choices"])
    expected = an.parse_response(load("thinking_response.json"), MODEL)["choices"][0]["message"]
    assert reasoning == expected["reasoning_content"]


def test_stream_json_response_tool_becomes_content() -> None:
    parser = an.StreamParser(MODEL)
    events = [
        {"type": "message_start", "message": {"id": "msg_j", "model": MODEL, "usage": {"input_tokens": 7}}},
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "toolu_j", "name": "json_response", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '{"name": '},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '"Ada"}'},
        },
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    ]
    chunks = [c for e in events for c in parser.feed(e["type"], json.dumps(e))]
    check_chunks(chunks)
    text, calls, finish = assemble(chunks)
    assert json.loads(text) == {"name": "Ada"}
    assert not calls
    assert finish == "stop"


def test_stream_message_delta_usage_overrides() -> None:
    parser = an.StreamParser(MODEL)
    parser.feed(None, json.dumps({"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 3}}}))
    out = parser.feed(
        None,
        json.dumps(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "max_tokens"},
                "usage": {"output_tokens": 50, "cache_read_input_tokens": 100, "input_tokens": None},
            }
        ),
    )
    assert out[0]["choices"][0]["finish_reason"] == "length"
    assert out[1]["usage"]["prompt_tokens"] == 103
    assert out[1]["usage"]["completion_tokens"] == 50
    assert out[1]["model"] == MODEL


def test_stream_ping_stop_and_blank() -> None:
    parser = an.StreamParser(MODEL)
    assert parser.feed("ping", '{"type": "ping"}\n  ') == []
    assert parser.feed("ping", "") == []
    assert parser.feed("content_block_stop", '{"type":"content_block_stop","index":0}') == []
    assert not parser.finished
    assert parser.feed("message_stop", '{"type":"message_stop"}') == []
    assert parser.finished


def test_stream_malformed_json() -> None:
    with pytest.raises(errors.APIConnectionError):
        an.StreamParser(MODEL).feed("content_block_delta", "{not json")


def test_stream_error_event_mid_stream() -> None:
    parser = an.StreamParser(MODEL)
    events = sse_events("error_stream.txt")
    seen: list[dict[str, Any]] = []
    with pytest.raises(errors.InternalServerError) as exc:
        for event, data in events:
            seen.extend(parser.feed(event, data))
    assert exc.value.status_code == 529
    assert "Overloaded" in exc.value.message
    assert assemble(seen)[0] == "Once upon"
    assert not parser.finished


@pytest.mark.parametrize(
    ("etype", "cls", "status"),
    [
        ("invalid_request_error", errors.BadRequestError, 400),
        ("authentication_error", errors.AuthenticationError, 401),
        ("permission_error", errors.PermissionDeniedError, 403),
        ("not_found_error", errors.NotFoundError, 404),
        ("request_too_large", errors.BadRequestError, 413),
        ("rate_limit_error", errors.RateLimitError, 429),
        ("api_error", errors.InternalServerError, 500),
        ("overloaded_error", errors.InternalServerError, 529),
        ("brand_new_error", errors.InternalServerError, 500),
    ],
)
def test_stream_error_types(etype: str, cls: type[errors.APIError], status: int) -> None:
    data = json.dumps({"type": "error", "error": {"type": etype, "message": "boom"}})
    with pytest.raises(cls) as exc:
        an.StreamParser(MODEL).feed("error", data)
    assert exc.value.status_code == status
    assert exc.value.message == "boom"


# ---------------------------------------------------------------- error_message


def test_error_message() -> None:
    assert an.error_message(529, (FIXTURES / "error_overloaded.json").read_bytes()) == "Overloaded"
    msg = an.error_message(400, (FIXTURES / "error_invalid_request.json").read_bytes())
    assert msg.startswith("messages: roles must alternate")
    html = b"<html><head><title>502 Bad Gateway</title></head><body>cloudflare</body></html>"
    assert an.error_message(502, html) == "502 Bad Gateway"
    assert an.error_message(500, b"upstream connect error") == "upstream connect error"


def test_endpoint_takes_a_base_with_or_without_the_version_path() -> None:
    from volley.protocols.base import endpoint

    for base in ("https://api.anthropic.com", "https://api.anthropic.com/", "https://api.anthropic.com/v1",
                 "https://api.anthropic.com/v1/messages"):  # fmt: skip
        assert endpoint(base, "/v1/messages") == "https://api.anthropic.com/v1/messages"
    assert endpoint("http://proxy/anthropic", "/v1/messages") == "http://proxy/anthropic/v1/messages"
