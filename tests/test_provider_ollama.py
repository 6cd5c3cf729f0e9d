"""ollama_chat/: Ollama's native /api/chat — request mapping, fixtures from the API reference, NDJSON
streams, errors, the fake server end to end, and the official ollama client as the fake's oracle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import volley
from volley.protocols import ollama
from volley.testing import build_request, contract
from volley.types import StreamChunk

FIXTURES = Path(__file__).parent / "fixtures" / "ollama"
MODEL = "qwen3"
USER = [{"role": "user", "content": "hi"}]


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def lines(name: str) -> list[Any]:
    return [json.loads(line) for line in (FIXTURES / name).read_text().splitlines() if line.strip()]


def body(messages: list[dict[str, Any]] | None = None, stream: bool = False, **params: Any) -> dict[str, Any]:
    req = build_request("ollama_chat", MODEL, messages or USER, params, stream=stream)
    assert req.body is not None
    return req.body


def run_stream(name: str) -> list[dict[str, Any]]:
    parser = ollama.StreamParser(MODEL)
    chunks = [c for line in lines(name) for c in parser.feed(None, line)]
    assert parser.finished
    return chunks


# ---------------------------------------------------------------- requests


def test_url_is_api_chat_at_the_root_and_stream_is_always_explicit() -> None:
    req = build_request("ollama_chat", MODEL, USER, {})
    assert req.url == "http://localhost:11434/api/chat" and req.framing == "ndjson"
    assert req.body == {"model": MODEL, "messages": USER, "stream": False}
    assert body(stream=True)["stream"] is True
    # a base written for ollama/ (with /v1) is used at its root
    assert build_request("ollama_chat", MODEL, USER, {}, api_base="http://h:11434/v1").url == "http://h:11434/api/chat"
    assert (
        build_request("ollama", MODEL, USER, {}, api_base="http://h:11434").url == "http://h:11434/v1/chat/completions"
    )


def test_sampling_goes_in_options_and_format_think_logprobs_at_the_top() -> None:
    b = body(temperature=0.2, top_p=0.9, seed=7, max_tokens=50, stop="END", presence_penalty=0.5,
             response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
             reasoning_effort="minimal", logprobs=True, top_logprobs=3)  # fmt: skip
    assert b["options"] == {"temperature": 0.2, "top_p": 0.9, "seed": 7, "num_predict": 50, "stop": ["END"],
                            "presence_penalty": 0.5}  # fmt: skip
    assert b["format"] == {"type": "object"} and b["think"] == "low"
    assert b["logprobs"] is True and b["top_logprobs"] == 3
    assert body(response_format={"type": "json_object"})["format"] == "json"
    assert body(reasoning_effort="none")["think"] is False and body(reasoning_effort="xhigh")["think"] == "max"
    assert body(thinking={"type": "enabled", "budget_tokens": 2048})["think"] is True


def test_messages_images_tool_calls_tool_results_and_thinking_are_mapped() -> None:
    msgs = [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "What is this? "},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}}]},
        {"role": "assistant", "content": None, "reasoning_content": "Look it up.",
         "tool_calls": [{"id": "call_1", "type": "function",
                         "function": {"name": "lookup", "arguments": '{"q": "cat"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
    ]  # fmt: skip
    assert body(msgs)["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is this? ", "images": ["iVBORw0K"]},
        {"role": "assistant", "content": "", "thinking": "Look it up.",
         "tool_calls": [{"function": {"name": "lookup", "arguments": {"q": "cat"}}, "id": "call_1"}]},
        {"role": "tool", "content": "a cat", "tool_name": "lookup", "tool_call_id": "call_1"},
    ]  # fmt: skip


def test_what_ollama_cannot_take_is_refused_before_sending() -> None:
    with pytest.raises(volley.BadRequestError, match="base64 data: URLs"):
        body([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/cat.png"}}]}])
    tools = [contract.TOOL]
    with pytest.raises(volley.UnsupportedParamsError, match="force a tool"):
        volley.completion("ollama_chat/m", USER, tools=tools, tool_choice="required")
    with pytest.raises(volley.UnsupportedParamsError, match="does not support n"):
        volley.completion("ollama_chat/m", USER, n=2)
    with pytest.raises(volley.BadRequestError, match="reasoning_effort must be one of"):
        body(reasoning_effort="extreme")
    assert "tools" not in body(tools=tools, tool_choice="none")


# ---------------------------------------------------------------- answers


def test_parse_chat_and_thinking_fixtures() -> None:
    out = contract.check_parse(ollama, load("chat.json"), MODEL)
    assert out.choices[0].message.content == "Hello! How are you today?"
    assert out.choices[0].finish_reason == "stop" and out.model == "llama3.2"
    assert (out.usage.prompt_tokens, out.usage.completion_tokens, out.usage.total_tokens) == (26, 298, 324)
    thought = contract.check_parse(ollama, load("chat_thinking.json"), MODEL).choices[0].message
    assert thought.content == "17 * 23 = 391" and thought.reasoning_content.startswith("17 * 20 = 340")


def test_parse_tool_calls_length_and_logprobs() -> None:
    r = contract.check_parse(ollama, load("chat_tool_calls.json"), MODEL)
    calls = r.choices[0].message.tool_calls
    assert r.choices[0].finish_reason == "tool_calls" and r.choices[0].message.content is None
    assert [c.function.name for c in calls] == ["get_weather", "get_time"] and calls[0].id == "call_a1"
    assert json.loads(calls[1].function.arguments) == {"city": "Tokyo", "utc": True} and calls[1].id.startswith("call_")
    r = contract.check_parse(ollama, load("chat_length_logprobs.json"), MODEL)
    assert r.choices[0].finish_reason == "length"
    lp = r.choices[0].logprobs["content"]
    assert [t["token"] for t in lp] == ["The", " sky"] and lp[0]["top_logprobs"][1].model_dump() == {
        "token": "A", "logprob": -4.6, "bytes": [65]}  # fmt: skip


def test_error_body_and_error_answers() -> None:
    raw = (FIXTURES / "error.json").read_bytes()
    assert ollama.error_message(404, raw) == 'model "llama9" not found, try pulling it first'
    with pytest.raises(volley.APIError, match="not found"):
        ollama.parse_response(json.loads(raw), MODEL)


def test_stream_fixture_rebuilds_to_the_non_stream_answer() -> None:
    chunks = run_stream("stream.ndjson")
    for c in chunks:
        StreamChunk.model_validate(c)
    full = volley.stream_chunk_builder(chunks)
    assert full.choices[0].message.content == "17 * 23 = 391"
    assert full.choices[0].message.reasoning_content == "17 * 20 = 340 and 17 * 3 = 51."
    assert full.usage.total_tokens == 18 + 64 and full.choices[0].finish_reason == "stop"


def test_stream_tool_call_and_in_stream_error() -> None:
    full = volley.stream_chunk_builder(run_stream("stream_tools.ndjson"))
    call = full.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Tokyo"}
    assert full.choices[0].finish_reason == "tool_calls"
    parser = ollama.StreamParser(MODEL)
    first, error = lines("stream_error.ndjson")
    assert parser.feed(None, first)
    with pytest.raises(volley.InternalServerError, match="encountered while running"):
        parser.feed(None, error)


# ---------------------------------------------------------------- end to end


def test_reasoning_effort_and_thinking_end_to_end(fake) -> None:
    fake.script(MODEL, reasoning="first think, then answer", content="forty-two")
    r = volley.completion(f"ollama_chat/{MODEL}", USER, api_base=fake.url, reasoning_effort="high")
    assert fake.requests[-1].json["think"] == "high" and fake.requests[-1].path == "/api/chat"
    assert r.choices[0].message.reasoning_content == "first think, then answer"
    chunks = list(volley.completion(f"ollama_chat/{MODEL}", USER, api_base=fake.url, stream=True))
    assert any(c.choices and c.choices[0].delta.reasoning_content for c in chunks)
    full = volley.stream_chunk_builder(chunks)
    assert full.choices[0].message.reasoning_content == "first think, then answer"
    assert full.choices[0].message.content == "forty-two"
    # the thinking goes back as message.thinking, which the fake accepts as the real server does
    follow = [*USER, r.choices[0].message.model_dump(exclude_none=True), {"role": "user", "content": "and?"}]
    volley.completion(f"ollama_chat/{MODEL}", follow, api_base=fake.url)
    assert fake.requests[-1].json["messages"][1]["thinking"] == "first think, then answer"


def test_the_official_ollama_client_reads_the_fake(fake) -> None:
    ol = pytest.importorskip("ollama")
    fake.script("llama3.2", reasoning="hmm", content="hello there")
    client = ol.Client(host=fake.url)
    r = client.chat(model="llama3.2", messages=USER, think=True)
    assert r.message.content == "hello there" and r.message.thinking == "hmm" and r.done_reason == "stop"
    assert r.eval_count and r.prompt_eval_count
    parts = list(client.chat(model="llama3.2", messages=USER, stream=True))
    assert "".join(p.message.content or "" for p in parts) == "hello there" and parts[-1].done
    fake.script("llama3.2", tool_call={"name": "get_weather", "arguments": {"city": "Tokyo"}})
    r = client.chat(model="llama3.2", messages=USER, tools=[contract.TOOL])
    assert r.message.tool_calls[0].function.name == "get_weather"
    assert dict(r.message.tool_calls[0].function.arguments) == {"city": "Tokyo"}
    fake.script("llama3.2", failures=[404])
    with pytest.raises(ol.ResponseError):
        client.chat(model="llama3.2", messages=USER)
