"""Gemini provider: request mapping, responses, streams and errors, checked against recorded-shape fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from volley.errors import APIError, BadRequestError, RateLimitError, ServiceUnavailableError
from volley.protocols import gemini
from volley.testing import build_request

FIXTURES = Path(__file__).parent / "fixtures" / "gemini"
MODEL = "gemini-2.0-flash"
BASE = "https://generativelanguage.googleapis.com"

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
            "additionalProperties": False,
        },
    },
}


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def sse_data(name: str) -> list[str]:
    """The ``data`` payloads of a raw SSE fixture (events separated by CRLF CRLF), as the transport gives them."""
    text = (FIXTURES / name).read_bytes().decode()
    assert "\r\n\r\n" in text
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = [line[5:].removeprefix(" ") for line in block.split("\n") if line.startswith("data:")]
        if lines:
            out.append("\n".join(lines))
    return out


def run_stream(name: str, model: str = MODEL) -> list[dict[str, Any]]:
    parser = gemini.StreamParser(model)
    chunks = []
    for data in sse_data(name):
        assert not parser.finished, "events after the end of the stream"
        chunks.extend(parser.feed(None, data))
    assert parser.finished
    for c in chunks:
        ChatCompletionChunk.model_validate(c)
    return chunks


def build(messages: list[dict[str, Any]] | None = None, stream: bool = False, model: str = MODEL, **params: Any):
    messages = messages or [{"role": "user", "content": "hi"}]
    return build_request("gemini", model, messages, params, api_base=BASE, api_key="AIza-secret", stream=stream)


def tool_calls_of(chunks: list[dict[str, Any]]) -> list[dict[str, str]]:
    calls: dict[int, dict[str, str]] = {}
    for c in chunks:
        for choice in c["choices"]:
            for tc in choice["delta"].get("tool_calls") or ():
                slot = calls.setdefault(tc["index"], {"id": "", "name": "", "arguments": ""})
                slot["id"] += tc.get("id") or ""
                slot["name"] += (tc.get("function") or {}).get("name") or ""
                slot["arguments"] += (tc.get("function") or {}).get("arguments") or ""
    return [calls[i] for i in sorted(calls)]


# ---------------------------------------------------------------- build_request


def test_request_basics():
    req = build()
    assert req.method == "POST"
    assert req.url == f"{BASE}/v1beta/models/gemini-2.0-flash:generateContent"
    assert req.headers["x-goog-api-key"] == "AIza-secret"
    assert req.headers["Content-Type"] == "application/json"
    assert req.secrets == ("AIza-secret",)
    assert req.body == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    assert "AIza-secret" not in repr(req) and "AIza-secret" not in req.url


def test_stream_url_and_model_prefix():
    assert build(stream=True).url == f"{BASE}/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    assert build(model="models/gemini-2.0-flash").url == f"{BASE}/v1beta/models/gemini-2.0-flash:generateContent"
    req = build_request("gemini", MODEL, [], {}, api_base=BASE + "/v1beta/", api_key=None, stream=False)
    assert req.url == f"{BASE}/v1beta/models/gemini-2.0-flash:generateContent"
    assert "x-goog-api-key" not in req.headers and req.secrets == ()


def test_every_param_mapped():
    body = build(
        temperature=0.2,
        top_p=0.9,
        max_tokens=100,
        stop="END",
        n=2,
        seed=7,
        presence_penalty=0.1,
        frequency_penalty=0.3,
    ).body
    assert body["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.9,
        "maxOutputTokens": 100,
        "stopSequences": ["END"],
        "candidateCount": 2,
        "seed": 7,
        "presencePenalty": 0.1,
        "frequencyPenalty": 0.3,
    }


def test_param_variants():
    config = build(max_tokens=100, max_completion_tokens=50, stop=["a", "b"], temperature=None).body["generationConfig"]
    assert config == {"maxOutputTokens": 50, "stopSequences": ["a", "b"]}
    assert "generationConfig" not in build().body


def test_unsupported_params_are_not_declared():
    for name in ("user", "logit_bias", "parallel_tool_calls"):
        assert name not in gemini.SUPPORTED_PARAMS
    assert gemini.NAME == "gemini"


def test_response_format():
    config = build(response_format={"type": "json_object"}).body["generationConfig"]
    assert config == {"responseMimeType": "application/json"}
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": schema, "strict": True}}
    config = build(response_format=fmt).body["generationConfig"]
    assert config == {"responseMimeType": "application/json", "responseJsonSchema": schema}
    assert "generationConfig" not in build(response_format={"type": "text"}).body


def test_tools():
    native = {"googleSearch": {}}
    body = build(tools=[WEATHER_TOOL, {"type": "function", "function": {"name": "now"}}, native]).body
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Current weather for a city.",
                    "parametersJsonSchema": WEATHER_TOOL["function"]["parameters"],
                },
                {"name": "now"},
            ]
        },
        native,
    ]
    assert "toolConfig" not in body


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("required", {"mode": "ANY"}),
        ("none", {"mode": "NONE"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
def test_tool_choice(choice, config):
    assert build(tools=[WEATHER_TOOL], tool_choice=choice).body["toolConfig"] == {"functionCallingConfig": config}


def test_extra_body_merges_one_level_and_extra_headers():
    req = build(
        max_tokens=10,
        extra_body={"generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}, "cachedContent": "cachedContents/x"},
        extra_headers={"x-goog-user-project": "p"},
    )
    assert req.body["generationConfig"] == {"maxOutputTokens": 10, "thinkingConfig": {"thinkingBudget": 0}}
    assert req.body["cachedContent"] == "cachedContents/x"
    assert req.headers["x-goog-user-project"] == "p"


# ---------------------------------------------------------------- messages


def test_system_messages_become_system_instruction():
    body = build(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "user", "content": "hi"},
        ]
    ).body
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}, {"text": "Answer in French."}]}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]


def test_only_a_system_message_is_sent_as_the_prompt():
    body = build([{"role": "system", "content": "Say hello."}]).body
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Say hello."}]}]
    assert "systemInstruction" not in body


def test_multi_turn_with_tool_calls_and_results():
    messages = [
        {"role": "user", "content": "Weather in Toronto and Paris?"},
        {
            "role": "assistant",
            "content": "Looking both up.",
            "tool_calls": [
                {
                    "id": "call_1__thought__c2lnbmF0dXJl",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location":"Toronto"}'},
                },
                {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_1__thought__c2lnbmF0dXJl", "content": '{"temperature": 21}'},
        {"role": "tool", "tool_call_id": "call_2", "content": "18 degrees"},
        {"role": "assistant", "content": "Toronto is 21, Paris 18."},
        {"role": "user", "content": "Thanks"},
        {"role": "user", "content": [{"type": "text", "text": "Bye"}]},
    ]
    _, contents = gemini.convert_messages(messages)
    assert contents == [
        {"role": "user", "parts": [{"text": "Weather in Toronto and Paris?"}]},
        {
            "role": "model",
            "parts": [
                {"text": "Looking both up."},
                {
                    "functionCall": {"name": "get_weather", "args": {"location": "Toronto"}},
                    "thoughtSignature": "c2lnbmF0dXJl",
                },
                {"functionCall": {"name": "get_weather", "args": {}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temperature": 21}}},
                {"functionResponse": {"name": "get_weather", "response": {"output": "18 degrees"}}},
            ],
        },
        {"role": "model", "parts": [{"text": "Toronto is 21, Paris 18."}]},
        {"role": "user", "parts": [{"text": "Thanks"}, {"text": "Bye"}]},
    ]


def test_tool_result_json_value_and_google_extra_content_signature():
    messages = [
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "x",
                    "type": "function",
                    "function": {"name": "list_items", "arguments": ""},
                    "extra_content": {"google": {"thought_signature": "sig"}},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "x", "content": "[1, 2]"},
        {"role": "tool", "tool_call_id": "unknown", "name": "other", "content": "ok"},
    ]
    _, contents = gemini.convert_messages(messages)
    assert contents[0]["parts"] == [{"functionCall": {"name": "list_items", "args": {}}, "thoughtSignature": "sig"}]
    assert contents[1]["parts"] == [
        {"functionResponse": {"name": "list_items", "response": {"output": [1, 2]}}},
        {"functionResponse": {"name": "other", "response": {"output": "ok"}}},
    ]


def test_images_audio_and_files():
    content = [
        {"type": "text", "text": "Describe these."},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg?size=large"}},
        {"type": "image_url", "image_url": "https://generativelanguage.googleapis.com/v1beta/files/abc123"},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "mp3"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
        {"inlineData": {"mimeType": "image/webp", "data": "UklGRg=="}},
    ]
    _, contents = gemini.convert_messages([{"role": "user", "content": content}])
    assert contents[0]["parts"] == [
        {"text": "Describe these."},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        {"fileData": {"fileUri": "https://example.com/cat.jpg?size=large", "mimeType": "image/jpeg"}},
        {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc123"}},
        {"inlineData": {"mimeType": "audio/mp3", "data": "UklGRg=="}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
        {"inlineData": {"mimeType": "image/webp", "data": "UklGRg=="}},
    ]


# ---------------------------------------------------------------- parse_response


def test_parse_text():
    out = gemini.parse_response(load("text.json"), MODEL)
    ChatCompletion.model_validate(out)
    assert out["id"] == "lOtVaNbUKJ2Xz7IP0vnH6Qc"
    assert out["object"] == "chat.completion"
    assert out["model"] == "gemini-2.0-flash"
    assert isinstance(out["created"], int)
    (choice,) = out["choices"]
    assert choice == {
        "index": 0,
        "message": {"role": "assistant", "content": "The tallest mountain in Europe is Mount Elbrus, at 5,642 metres."},
        "finish_reason": "stop",
    }
    assert out["usage"] == {"prompt_tokens": 9, "completion_tokens": 17, "total_tokens": 26}


def test_parse_tool_call():
    out = gemini.parse_response(load("tool_call.json"), "gemini-2.5-flash")
    ChatCompletion.model_validate(out)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"  # Gemini said STOP
    assert choice["message"]["content"] is None
    first, second = choice["message"]["tool_calls"]
    assert first["type"] == "function" and first["function"] == {
        "name": "get_weather",
        "arguments": '{"location":"Toronto"}',
    }
    assert first["id"].startswith("call_") and first["id"].endswith("__thought__CpwCAdHtim9sGk0mZ2zJq8pVb1XyQ3aA")
    assert second["function"]["arguments"] == '{"location":"Paris"}' and "__thought__" not in second["id"]
    assert first["id"] != second["id"]
    # completion tokens include the thinking tokens; the total matches Gemini's
    assert out["usage"]["prompt_tokens"] == 61
    assert out["usage"]["completion_tokens"] == 92
    assert out["usage"]["total_tokens"] == 153
    assert out["usage"]["completion_tokens_details"] == {"reasoning_tokens": 62}


def test_tool_call_round_trip_keeps_the_thought_signature():
    out = gemini.parse_response(load("tool_call.json"), "gemini-2.5-flash")
    message = out["choices"][0]["message"]
    results = [
        {"role": "tool", "tool_call_id": tc["id"], "content": '{"temperature": 20}'} for tc in message["tool_calls"]
    ]
    _, contents = gemini.convert_messages([{"role": "user", "content": "Weather?"}, message, *results])
    original = load("tool_call.json")["candidates"][0]["content"]["parts"]
    assert contents[1] == {"role": "model", "parts": original}
    assert [p["functionResponse"]["name"] for p in contents[2]["parts"]] == ["get_weather", "get_weather"]


def test_parse_length():
    out = gemini.parse_response(load("length.json"), MODEL)
    ChatCompletion.model_validate(out)
    assert out["choices"][0]["finish_reason"] == "length"


def test_parse_thinking_parts_are_not_content():
    out = gemini.parse_response(load("thinking.json"), "gemini-2.5-flash")
    ChatCompletion.model_validate(out)
    message = out["choices"][0]["message"]
    assert message["content"] == "2 + 2 = 4"
    assert message["reasoning_content"].startswith("**Adding the numbers**")
    assert out["usage"]["completion_tokens"] == 47 and out["usage"]["total_tokens"] == 57


def test_parse_blocked_prompt():
    out = gemini.parse_response(load("blocked.json"), MODEL)
    ChatCompletion.model_validate(out)
    assert out["choices"] == [
        {"index": 0, "message": {"role": "assistant", "content": None}, "finish_reason": "content_filter"}
    ]
    assert out["usage"] == {"prompt_tokens": 14, "completion_tokens": 0, "total_tokens": 14}


def test_parse_safety_stop():
    out = gemini.parse_response(load("safety.json"), MODEL)
    ChatCompletion.model_validate(out)
    assert out["choices"][0]["finish_reason"] == "content_filter"
    assert out["choices"][0]["message"]["content"] is None


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("IMAGE_SAFETY", "content_filter"),
        ("MALFORMED_FUNCTION_CALL", "stop"),
        ("OTHER", "stop"),
        ("FINISH_REASON_UNSPECIFIED", "stop"),
        (None, "stop"),
    ],
)
def test_finish_reasons(reason, expected):
    data = {"candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": reason}]}
    assert gemini.parse_response(data, MODEL)["choices"][0]["finish_reason"] == expected


def test_several_candidates_and_generated_id():
    data = {
        "candidates": [
            {"content": {"parts": [{"text": "A"}]}, "finishReason": "STOP", "index": 0},
            {"content": {"parts": [{"text": "B"}]}, "finishReason": "MAX_TOKENS", "index": 1},
        ]
    }
    out = gemini.parse_response(data, MODEL)
    ChatCompletion.model_validate(out)
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in out["choices"]] == [
        (0, "A", "stop"),
        (1, "B", "length"),
    ]
    assert out["id"].startswith("chatcmpl-") and out["model"] == MODEL


def test_error_bodies_raise_from_parse_response():
    with pytest.raises(BadRequestError, match="API key not valid"):
        gemini.parse_response(load("error.json"), MODEL)
    with pytest.raises(RateLimitError):
        gemini.parse_response(load("error_list.json"), MODEL)
    with pytest.raises(APIError, match="unexpected response shape"):
        gemini.parse_response({"nope": 1}, MODEL)


# ---------------------------------------------------------------- streams


def test_text_stream():
    chunks = run_stream("text_stream.txt")
    assert len({c["id"] for c in chunks}) == 1 and len({c["created"] for c in chunks}) == 1
    assert chunks[0]["id"] == "lOtVaNbUKJ2Xz7IP0vnH6Qc"
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "gemini-2.0-flash" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    expected = gemini.parse_response(load("text.json"), MODEL)
    assert text == expected["choices"][0]["message"]["content"]
    choice_chunks = [c for c in chunks if c["choices"]]
    assert choice_chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert all(c["choices"][0]["finish_reason"] is None for c in choice_chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == expected["usage"]  # from the last usageMetadata seen


def test_tool_stream():
    chunks = run_stream("tool_stream.txt", "gemini-2.5-flash")
    streamed = tool_calls_of(chunks)
    expected = gemini.parse_response(load("tool_call.json"), "gemini-2.5-flash")
    calls = expected["choices"][0]["message"]["tool_calls"]
    assert [(c["name"], c["arguments"]) for c in streamed] == [
        (t["function"]["name"], t["function"]["arguments"]) for t in calls
    ]
    assert streamed[0]["id"].endswith("__thought__CpwCAdHtim9sGk0mZ2zJq8pVb1XyQ3aA")
    first_call = next(c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("tool_calls"))
    assert first_call["choices"][0]["delta"]["tool_calls"][0]["type"] == "function"
    finish = [c for c in chunks if c["choices"]][-1]["choices"][0]
    assert finish == {"index": 0, "delta": {}, "finish_reason": "tool_calls"}
    assert chunks[-1]["usage"] == expected["usage"]


def test_midstream_error_raises():
    parser = gemini.StreamParser("gemini-2.5-pro")
    first, error = sse_data("midstream_error.txt")
    out = parser.feed(None, first)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in out) == "Here is the first part of a long"
    with pytest.raises(ServiceUnavailableError, match="overloaded") as info:
        parser.feed(None, error)
    assert info.value.status_code == 503 and info.value.provider == "gemini"


def test_stream_error_without_numeric_code():
    with pytest.raises(RateLimitError):
        gemini.StreamParser(MODEL).feed(None, '{"error": {"message": "quota", "status": "RESOURCE_EXHAUSTED"}}')


def test_stream_blocked_prompt():
    parser = gemini.StreamParser(MODEL)
    out = parser.feed(None, json.dumps(load("blocked.json")))
    assert parser.finished
    for c in out:
        ChatCompletionChunk.model_validate(c)
    assert [c["choices"][0]["finish_reason"] for c in out if c["choices"]] == [None, "content_filter"]
    assert out[-1]["usage"] == {"prompt_tokens": 14, "completion_tokens": 0, "total_tokens": 14}


def test_stream_thoughts_and_empty_events():
    parser = gemini.StreamParser("gemini-2.5-flash")
    assert parser.feed(None, "   ") == []
    out = parser.feed(None, json.dumps(load("thinking.json")))
    deltas = [c["choices"][0]["delta"] for c in out if c["choices"]]
    assert deltas[1] == {"reasoning_content": "**Adding the numbers**\n\nTwo plus two is four."}
    assert deltas[2] == {"content": "2 + 2 = 4"}
    assert parser.finished


def test_stream_several_candidates():
    parser = gemini.StreamParser(MODEL)
    out = parser.feed(
        None,
        json.dumps(
            {
                "candidates": [
                    {"content": {"parts": [{"text": "A"}]}, "index": 0},
                    {"content": {"parts": [{"text": "B"}]}, "index": 1},
                ]
            }
        ),
    )
    assert not parser.finished
    out += parser.feed(None, json.dumps({"candidates": [{"finishReason": "STOP", "index": 0}]}))
    assert not parser.finished
    out += parser.feed(
        None,
        json.dumps(
            {"candidates": [{"finishReason": "MAX_TOKENS", "index": 1}], "usageMetadata": {"promptTokenCount": 2}}
        ),
    )
    assert parser.finished
    finishes = {c["choices"][0]["index"]: c["choices"][0]["finish_reason"] for c in out if c["choices"]}
    assert finishes == {0: "stop", 1: "length"}
    assert out[-1]["usage"]["prompt_tokens"] == 2


def test_stream_malformed_json_raises():
    with pytest.raises(APIError, match="malformed JSON"):
        gemini.StreamParser(MODEL).feed(None, "{not json")


# ---------------------------------------------------------------- errors


def test_error_message():
    assert gemini.error_message(400, (FIXTURES / "error.json").read_bytes()) == (
        "API key not valid. Please pass a valid API key."
    )
    assert gemini.error_message(429, (FIXTURES / "error_list.json").read_bytes()) == (
        "Resource has been exhausted (e.g. check quota)."
    )
    assert gemini.error_message(502, b"<html><title>502 Bad Gateway</title></html>") == "502 Bad Gateway"
    assert gemini.error_message(500, b"") == "empty error body"
