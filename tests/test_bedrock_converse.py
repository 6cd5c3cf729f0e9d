"""The Bedrock Converse mapping: requests checked against botocore's service model and the fake's
validation, answers and streams parsed from fixtures written from the API reference."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from volley.errors import (
    BadRequestError,
    ContextWindowExceededError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    UnsupportedParamsError,
)
from volley.protocols import bedrock_converse as bc
from volley.testing.wires.base import BadRequest
from volley.testing.wires.bedrock import read_converse

FIXTURES = Path(__file__).parent / "fixtures" / "bedrock"
CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
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
CONVERSATION = [
    {"role": "system", "content": "You are terse."},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "Weather?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        ],
    },
    {
        "role": "assistant",
        "content": "Checking.",
        "thinking_blocks": [
            {"type": "thinking", "thinking": "Need a tool.", "signature": "sig-1"},
            {"type": "redacted_thinking", "data": base64.b64encode(b"hidden").decode()},
        ],
        "tool_calls": [
            {
                "id": "tooluse_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "tooluse_1", "content": "18C, sunny"},
    {"role": "user", "content": "Thanks, and tomorrow?"},
]


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def _blobs_to_bytes(node: Any, key: str = "") -> Any:
    """The wire's base64 strings → bytes, as boto3 takes blob members."""
    if isinstance(node, dict):
        return {k: _blobs_to_bytes(v, k) for k, v in node.items()}
    if isinstance(node, list):
        return [_blobs_to_bytes(v) for v in node]
    if key in ("bytes", "redactedContent") and isinstance(node, str):
        return base64.b64decode(node)
    return node


def assert_valid_converse_request(body: dict[str, Any], model: str = CLAUDE) -> None:
    """``body`` is a valid ConverseRequest for botocore's service model, and the fake accepts it."""
    shape = botocore.session.get_session().get_service_model("bedrock-runtime").operation_model("Converse").input_shape
    report = ParamValidator().validate({"modelId": model, **_blobs_to_bytes(body)}, shape)
    assert not report.has_errors(), report.generate_report()
    read_converse(body, model)


# ---------------------------------------------------------------- requests


def test_a_full_conversation_maps_to_a_valid_converse_request():
    params = {"max_tokens": 300, "temperature": 0.3, "top_p": 0.9, "stop": "END", "tools": TOOLS, "tool_choice": "auto"}
    body = bc.build_body(CLAUDE, CONVERSATION, params, stream=False)
    assert body["system"] == [{"text": "You are terse."}]
    assert body["inferenceConfig"] == {"maxTokens": 300, "temperature": 0.3, "topP": 0.9, "stopSequences": ["END"]}
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    user, assistant, results = body["messages"]
    assert user["content"][1] == {"image": {"format": "png", "source": {"bytes": PNG}}}
    assert assistant["content"][0] == {
        "reasoningContent": {"reasoningText": {"text": "Need a tool.", "signature": "sig-1"}}
    }
    assert "redactedContent" in assistant["content"][1]["reasoningContent"]
    assert assistant["content"][2:] == [
        {"text": "Checking."},
        {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}},
    ]
    # the tool result and the next user text share one user turn, the result first
    assert results["content"] == [
        {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "18C, sunny"}]}},
        {"text": "Thanks, and tomorrow?"},
    ]
    assert body["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "description": "Weather of a city",
                    "inputSchema": {"json": TOOLS[0]["function"]["parameters"]},
                }
            }
        ],
        "toolChoice": {"auto": {}},
    }
    assert bc.build_body(CLAUDE, CONVERSATION, params, stream=True) == body  # the path says "stream"
    assert_valid_converse_request(body)


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"auto": {}}),
        ("required", {"any": {}}),
        ({"type": "function", "function": {"name": "get_weather"}}, {"tool": {"name": "get_weather"}}),
    ],
)
def test_tool_choice(choice: Any, expected: dict):
    body = bc.build_body(
        CLAUDE, [{"role": "user", "content": "hi"}], {"tools": TOOLS, "tool_choice": choice}, stream=False
    )
    assert body["toolConfig"]["toolChoice"] == expected
    assert_valid_converse_request(body)


def test_tool_choice_none_drops_the_tools_unless_the_history_needs_them():
    plain = bc.build_body(
        CLAUDE, [{"role": "user", "content": "hi"}], {"tools": TOOLS, "tool_choice": "none"}, stream=False
    )
    assert "toolConfig" not in plain
    history = bc.build_body(CLAUDE, CONVERSATION, {"tools": TOOLS, "tool_choice": "none"}, stream=False)
    assert "toolChoice" not in history["toolConfig"] and history["toolConfig"]["tools"]
    assert_valid_converse_request(history)


def test_tool_history_without_tools_is_refused_before_sending():
    with pytest.raises(BadRequestError, match="needs the tools"):
        bc.build_body(CLAUDE, CONVERSATION, {}, stream=False)


def test_extra_body_splits_between_request_fields_and_model_fields():
    extra = {
        "top_k": 40,
        "guardrailConfig": {"guardrailIdentifier": "gr-1", "guardrailVersion": "1"},
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    body = bc.build_body(CLAUDE, [{"role": "user", "content": "hi"}], {"extra_body": extra}, stream=False)
    assert body["guardrailConfig"] == {"guardrailIdentifier": "gr-1", "guardrailVersion": "1"}
    assert body["additionalModelRequestFields"] == {"top_k": 40, "thinking": {"type": "enabled", "budget_tokens": 1024}}
    assert_valid_converse_request(body)


def test_reasoning_effort_becomes_claude_thinking_and_is_refused_elsewhere():
    body = bc.build_body(
        "us." + CLAUDE, [{"role": "user", "content": "hi"}], {"reasoning_effort": "medium"}, stream=False
    )
    assert body["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 2048}}
    thinking = {"type": "enabled", "budget_tokens": 5000}
    assert bc.build_body(CLAUDE, [{"role": "user", "content": "hi"}], {"thinking": thinking}, stream=False)[
        "additionalModelRequestFields"
    ] == {"thinking": thinking}
    with pytest.raises(UnsupportedParamsError, match="extra_body"):
        bc.build_body(
            "meta.llama3-1-70b-instruct-v1:0",
            [{"role": "user", "content": "hi"}],
            {"reasoning_effort": "low"},
            stream=False,
        )
    with pytest.raises(BadRequestError, match="reasoning_effort must be"):
        bc.build_body(CLAUDE, [{"role": "user", "content": "hi"}], {"reasoning_effort": "extreme"}, stream=False)


def test_response_format_json_schema_becomes_output_config():
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "required": ["a"],
        "additionalProperties": False,
    }
    rf = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    body = bc.build_body(CLAUDE, [{"role": "user", "content": "hi"}], {"response_format": rf}, stream=False)
    definition = body["outputConfig"]["textFormat"]["structure"]["jsonSchema"]
    assert json.loads(definition["schema"]) == schema and definition["name"] == "answer"
    assert body["outputConfig"]["textFormat"]["type"] == "json_schema"
    assert_valid_converse_request(body)
    with pytest.raises(BadRequestError, match="json_object"):
        bc.build_body(
            CLAUDE, [{"role": "user", "content": "hi"}], {"response_format": {"type": "json_object"}}, stream=False
        )


def test_cache_control_adds_cache_points():
    messages = [
        {
            "role": "system",
            "content": [{"type": "text", "text": "Long rules.", "cache_control": {"type": "ephemeral"}}],
        },
        {"role": "user", "content": "hi"},
    ]
    tools = [{**TOOLS[0], "cache_control": {"type": "ephemeral"}}]
    body = bc.build_body(CLAUDE, messages, {"tools": tools}, stream=False)
    assert body["system"] == [{"text": "Long rules."}, {"cachePoint": {"type": "default"}}]
    assert body["toolConfig"]["tools"][1] == {"cachePoint": {"type": "default"}}
    assert_valid_converse_request(body)


def test_inputs_converse_cannot_take_are_refused_with_a_reason():
    cases = [
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/cat.png"}}]}],
            {},
            "data: URLs",
        ),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AAAA"}}]}],
            {},
            "tiff",
        ),
        ([{"role": "user", "content": "hi"}], {"temperature": 1.5}, "from 0 to 1"),
        ([{"role": "user", "content": "hi"}], {"tools": TOOLS, "tool_choice": "sometimes"}, "tool_choice"),
    ]
    for messages, params, match in cases:
        with pytest.raises(BadRequestError, match=match):
            bc.build_body(CLAUDE, messages, params, stream=False)


def test_path_percent_encodes_the_model_id_like_the_aws_sdks():
    assert (
        bc.path("anthropic.claude-3-haiku-20240307-v1:0", stream=False)
        == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    )
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-2-1b-instruct-v1:0"
    assert bc.path(arn, stream=True) == f"/model/{arn.replace(':', '%3A').replace('/', '%2F')}/converse-stream"
    assert bc.path("converse/amazon.nova-micro-v1:0", stream=False) == "/model/amazon.nova-micro-v1%3A0/converse"
    assert bc.model_family(arn) == "meta" and bc.model_family("global." + CLAUDE) == "anthropic"


def test_the_fake_refuses_what_bedrock_refuses():
    """The fake's validation is what makes 'accepted by the fake' mean something."""
    bad = [
        {"messages": [{"role": "assistant", "content": [{"text": "hi"}]}]},
        {"messages": [{"role": "user", "content": [{"text": "a"}]}, {"role": "user", "content": [{"text": "b"}]}]},
        {"messages": [{"role": "user", "content": [{"text": "  "}]}]},
        {"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {"temperature": 1.5}},
        {"messages": [{"role": "user", "content": [{"text": "hi"}]}], "stream": True},
        bc.build_body(CLAUDE, CONVERSATION, {"tools": TOOLS}, stream=False) | {"toolConfig": None},
    ]
    for body in bad:
        with pytest.raises(BadRequest):
            read_converse(body, CLAUDE)


# ---------------------------------------------------------------- answers


def test_text_response():
    out = bc.parse_response(load("converse_text.json"), CLAUDE)
    assert out["object"] == "chat.completion" and out["model"] == CLAUDE
    assert out["choices"][0] == {
        "index": 0,
        "message": {"role": "assistant", "content": "Paris is the capital of France."},
        "finish_reason": "stop",
    }
    assert out["usage"] == {"prompt_tokens": 14, "completion_tokens": 8, "total_tokens": 22}


def test_tool_use_response():
    message = bc.parse_response(load("converse_tool_use.json"), CLAUDE)["choices"][0]
    assert message["finish_reason"] == "tool_calls"
    assert message["message"]["content"] == "I will look up the weather."
    calls = message["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Paris", "unit": "celsius"}
    assert calls[0]["id"] == "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q" and calls[1]["function"]["arguments"] == "{}"


def test_reasoning_response_keeps_signed_and_redacted_thinking_and_cache_usage():
    out = bc.parse_response(load("converse_reasoning.json"), CLAUDE)
    message = out["choices"][0]["message"]
    assert message["content"] == "17 x 23 = 391."
    assert message["reasoning_content"].startswith("The user asks for 17 * 23.")
    assert message["thinking_blocks"] == [
        {
            "type": "thinking",
            "thinking": message["reasoning_content"],
            "signature": "EqgBCkgIARABGAIiQJ1c2lnbmF0dXJlLWZvci10ZXN0cw",
        },
        {"type": "redacted_thinking", "data": "cmVkYWN0ZWQgdGhpbmtpbmc="},
    ]
    assert out["usage"] == {
        "prompt_tokens": 12 + 1800 + 248,
        "completion_tokens": 120,
        "total_tokens": 12 + 1800 + 248 + 120,
        "prompt_tokens_details": {"cached_tokens": 1800},
        "cache_read_input_tokens": 1800,
        "cache_creation_input_tokens": 248,
    }
    # the thinking blocks go back as they came, so a tool-use conversation can continue
    again = bc.build_body(
        CLAUDE,
        [{"role": "user", "content": "q"}, {**message, "role": "assistant"}, {"role": "user", "content": "more"}],
        {},
        stream=False,
    )
    assert again["messages"][1]["content"][:2] == load("converse_reasoning.json")["output"]["message"]["content"][:2]


@pytest.mark.parametrize(
    ("fixture", "finish"), [("converse_max_tokens.json", "length"), ("converse_guardrail.json", "content_filter")]
)
def test_stop_reasons(fixture: str, finish: str):
    assert bc.parse_response(load(fixture), CLAUDE)["choices"][0]["finish_reason"] == finish


def test_unexpected_shapes_are_errors():
    with pytest.raises(Exception, match="unexpected response shape"):
        bc.parse_response({"hello": 1}, CLAUDE)


def _stream_events() -> list[tuple[str, dict]]:
    return [tuple(json.loads(line)) for line in (FIXTURES / "converse_stream.jsonl").read_text().splitlines() if line]


def test_stream_events_become_chunks():
    parser = bc.StreamParser(CLAUDE)
    chunks = [c for event, data in _stream_events() for c in parser.feed(event, data)]
    assert parser.finished and parser.stopped
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "Need the weather for Paris."
    assert [b for d in deltas for b in d.get("thinking_blocks", [])] == [
        {"type": "thinking", "thinking": "Need the weather for Paris.", "signature": "ErcBCkgIAhABGAIiQK"}
    ]
    assert "".join(d.get("content") or "" for d in deltas) == "Let me check."
    calls = [tc for d in deltas for tc in d.get("tool_calls", [])]
    assert calls[0] == {
        "index": 0,
        "id": "tooluse_3Fh1Kx0aQgS9bnm1Zp5wXw",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert json.loads("".join(tc["function"]["arguments"] for tc in calls)) == {"city": "Paris"}
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]] == [
        "tool_calls"
    ]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 1380
    assert chunks[-1]["usage"]["prompt_tokens_details"] == {"cached_tokens": 1000}
    assert len({c["id"] for c in chunks}) == 1


def test_stream_takes_json_strings_and_botocore_wrapped_events():
    parser = bc.StreamParser(CLAUDE)
    assert parser.feed("contentBlockDelta", '{"contentBlockIndex":0,"delta":{"text":"a"}}')[0]["choices"][0][
        "delta"
    ] == {"content": "a"}
    assert parser.feed(None, {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "b"}}})[0]["choices"][0][
        "delta"
    ] == {"content": "b"}
    assert (
        parser.feed(None, {"messageStop": {"stopReason": "max_tokens"}})[0]["choices"][0]["finish_reason"] == "length"
    )


def test_stream_exceptions_raise_typed_errors():
    with pytest.raises(RateLimitError):
        bc.StreamParser(CLAUDE).feed("throttlingException", {"message": "Too many tokens"})
    with pytest.raises(ServiceUnavailableError):
        bc.StreamParser(CLAUDE).feed(None, {"serviceUnavailableException": {"message": "down"}})
    fixture = load("stream_exception.json")
    with pytest.raises(Exception) as info:
        bc.StreamParser(CLAUDE).feed(fixture["headers"][":exception-type"], fixture["payload"])
    assert info.value.status_code == 424 and info.value.retryable


# ---------------------------------------------------------------- errors


def _error(fixture: str, **override: Any):
    f = {**load(fixture), **override}
    return bc.error_from_response(f["status"], f["headers"], json.dumps(f["body"]).encode(), model=CLAUDE)


def test_http_errors_are_typed_by_their_aws_error_type():
    throttled = _error("error_throttling.json")
    assert isinstance(throttled, RateLimitError) and "Too many requests" in throttled.message
    assert isinstance(_error("error_throttling.json", status=400), RateLimitError)  # the header's meaning wins
    assert type(_error("error_validation.json")) is BadRequestError
    assert isinstance(_error("error_access_denied.json"), PermissionDeniedError)
    long_input = bc.error_from_response(
        400, {}, b'{"__type":"ValidationException","message":"Input is too long for requested model."}'
    )
    assert isinstance(long_input, ContextWindowExceededError)
    assert bc.error_message(429, json.dumps(load("error_throttling.json")["body"]).encode()) == (
        "Too many requests, please wait before trying again."
    )
    assert bc.error_type({}, b"<html>502</html>") is None
