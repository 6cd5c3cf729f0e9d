"""Stream tool calls without an index stay separate calls; logprobs map to OpenAI's ``choices[].logprobs``
(OpenAI passthrough, Gemini ``logprobsResult``); ``n > 1`` works where the provider has it, refused elsewhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openai.types.chat import ChatCompletion

import volley
from volley.protocols import gemini, openai
from volley.protocols.base import ToolCallIndexer
from volley.testing import build_request, contract
from volley.types import StreamChunk

FIXTURES = Path(__file__).parent / "fixtures"
USER = [{"role": "user", "content": "hi"}]
KEY = "sk-choices-test-0123456789"


def chunks_of(name: str) -> list[StreamChunk]:
    parser = openai.StreamParser("m")
    out = []
    for block in (FIXTURES / name).read_text().split("\n\n"):
        data = "\n".join(line[6:] for line in block.splitlines() if line.startswith("data: "))
        if data:
            out.extend(StreamChunk.model_validate(c) for c in parser.feed(None, data))
    assert parser.finished
    return out


@pytest.mark.parametrize("fixture", ["mistral/two_tools_stream.txt", "mistral/two_tools_index0_stream.txt"])
def test_two_tool_calls_in_one_delta_without_index_are_two_calls(fixture: str) -> None:
    chunks = chunks_of(fixture)
    deltas = [tc for c in chunks for ch in c.choices for tc in ch.delta.tool_calls or ()]
    assert [tc.index for tc in deltas] == [0, 1]
    full = volley.stream_chunk_builder(chunks)
    calls = full.choices[0].message.tool_calls
    assert len(calls) == 2 and calls[0].id != calls[1].id
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}
    assert full.choices[0].finish_reason == "tool_calls"
    ChatCompletion.model_validate(full.model_dump())


def test_the_indexer_keeps_openai_style_fragments_together() -> None:
    ix = ToolCallIndexer()
    first = ix.index([{"index": 0, "id": "a", "function": {"name": "f", "arguments": ""}}])
    more = ix.index([{"index": 0, "function": {"arguments": '{"x"'}}, {"function": {"arguments": ": 1}"}}])
    second = ix.index([{"index": 1, "id": "b", "function": {"name": "g", "arguments": "{}"}}])
    again = ix.index([{"id": "a", "function": {"arguments": ""}}])  # a host that repeats the id
    assert [c["index"] for c in first + more + second + again] == [0, 0, 0, 1, 0]


def test_stream_chunk_builder_splits_raw_chunks_without_index() -> None:
    base = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    calls = [{"id": "x1", "function": {"name": "a", "arguments": "{}"}},
             {"id": "x2", "function": {"name": "b", "arguments": "{}"}}]  # fmt: skip
    chunk = {**base, "choices": [{"index": 0, "delta": {"tool_calls": calls}, "finish_reason": "tool_calls"}]}
    full = volley.stream_chunk_builder([chunk])
    assert [c.function.name for c in full.choices[0].message.tool_calls] == ["a", "b"]


def test_openai_stream_logprobs_are_rebuilt() -> None:
    full = volley.stream_chunk_builder(chunks_of("openai/logprobs_stream.txt"))
    lp = full.choices[0].logprobs
    assert [t["token"] for t in lp["content"]] == ["Hi", "!"] and full.choices[0].message.content == "Hi!"
    ChatCompletion.model_validate(full.model_dump())


def test_gemini_logprobs_result_maps_to_choices_logprobs() -> None:
    data = json.loads((FIXTURES / "gemini" / "logprobs.json").read_text())
    r = contract.check_parse(gemini, data, "gemini-2.0-flash")
    content = [t.model_dump() for t in r.choices[0].logprobs["content"]]
    assert content == [{"token": "Yes", "logprob": -0.0123, "bytes": [89, 101, 115],
                        "top_logprobs": [{"token": "Yes", "logprob": -0.0123, "bytes": [89, 101, 115]},
                                         {"token": "No", "logprob": -4.41, "bytes": [78, 111]}]}]  # fmt: skip
    ChatCompletion.model_validate(r.model_dump())
    parser = gemini.StreamParser("gemini-2.0-flash")
    streamed = [StreamChunk.model_validate(c) for c in parser.feed(None, json.dumps(data))]
    assert volley.stream_chunk_builder(streamed).choices[0].logprobs["content"][0]["token"] == "Yes"


def test_logprobs_params_map_to_gemini_generation_config() -> None:
    req = build_request("gemini", "gemini-2.0-flash", USER, {"logprobs": True, "top_logprobs": 3, "n": 2}, api_key=KEY)
    config: dict[str, Any] = req.body["generationConfig"]
    assert config["responseLogprobs"] is True and config["logprobs"] == 3 and config["candidateCount"] == 2


def test_n_choices_end_to_end_through_the_fake(fake) -> None:
    kw = {"api_base": fake.openai_base, "api_key": KEY}
    fake.script("gpt-4o-mini", content="an answer")
    r = volley.completion("openai/gpt-4o-mini", USER, n=3, **kw)
    assert fake.requests[-1].json["n"] == 3
    assert [c.message.content for c in r.choices] == ["an answer", "an answer #2", "an answer #3"]
    assert [c.index for c in r.choices] == [0, 1, 2]
    full = volley.stream_chunk_builder(list(volley.completion("openai/gpt-4o-mini", USER, n=3, stream=True, **kw)))
    assert [c.message.content for c in full.choices] == ["an answer", "an answer #2", "an answer #3"]
    assert all(c.finish_reason == "stop" for c in full.choices)


def test_n_is_refused_clearly_where_the_provider_has_no_such_parameter() -> None:
    for model in ("anthropic/claude-sonnet-4-5", "cohere/command-a-03-2025", "ollama_chat/qwen3"):
        with pytest.raises(volley.UnsupportedParamsError, match="does not support n; pass drop_params=True"):
            volley.completion(model, USER, n=2, api_key=KEY)


def test_gemini_candidate_count_end_to_end_through_the_fake(fake) -> None:
    kw = {"api_base": fake.url, "api_key": KEY}
    fake.script("gemini-2.0-flash", content="an answer")
    r = volley.completion("gemini/gemini-2.0-flash", USER, n=2, **kw)
    assert fake.requests[-1].json["generationConfig"]["candidateCount"] == 2
    assert [c.message.content for c in r.choices] == ["an answer", "an answer #2"]
    full = volley.stream_chunk_builder(list(volley.completion("gemini/gemini-2.0-flash", USER, n=2, stream=True, **kw)))
    assert [c.message.content for c in full.choices] == ["an answer", "an answer #2"]
