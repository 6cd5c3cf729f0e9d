"""Reasoning in one shape: ``message.reasoning_content`` + ``thinking_blocks`` (and ``delta.reasoning_content``)
from every provider's own field, rebuilt from streams, Anthropic thinking sent back; ``reasoning_effort`` /
``thinking`` mapped per provider; OpenAI reasoning models' parameter rules enforced before sending."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

import volley
from volley.protocols import anthropic, cohere, gemini, openai
from volley.testing import build_request, contract
from volley.types import ModelResponse, StreamChunk

FIXTURES = Path(__file__).parent / "fixtures"
USER = [{"role": "user", "content": "hi"}]
KEY = "sk-reasoning-test-0123456789"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def sse(name: str) -> list[tuple[str | None, str]]:
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


def rebuild(module: Any, name: str, model: str = "m") -> ModelResponse:
    parser = module.StreamParser(model)
    chunks = [StreamChunk.model_validate(c) for e, d in sse(name) for c in parser.feed(e, d)]
    for c in chunks:
        ChatCompletionChunk.model_validate(c.model_dump())
    return volley.stream_chunk_builder(chunks)


# ---------------------------------------------------------------- one shape from every provider's field


@pytest.mark.parametrize(
    ("fixture", "reasoning", "content"),
    [
        ("openrouter/reasoning.json", "The capital of France is Paris.", "Paris."),
        ("groq/reasoning.json", "2 + 2 is 4.", "4"),
        ("deepseek/reasoner.json", "Compare the tenths: 1 < 8.", "9.11 < 9.8"),
        ("mistral/thinking.json", "Comté and Roquefort are both famous; pick one.", "Comté."),
        ("databricks/reasoning.json", "The user wants a haiku.", "Autumn moonlight—"),
        ("xai/reasoning.json", "100 * 3 is 300, plus 3.", "101 * 3 = 303"),
    ],
)
def test_openai_compatible_reasoning_fields_become_reasoning_content(
    fixture: str, reasoning: str, content: str
) -> None:
    r = contract.check_parse(openai, load(fixture), "m")
    message = r.choices[0].message
    assert message.reasoning_content == reasoning and message.content == content
    assert "reasoning" not in message.model_dump()  # one shape: the host's own name is not kept twice
    ChatCompletion.model_validate(r.model_dump())


def test_signed_reasoning_parts_are_kept_as_thinking_blocks() -> None:
    message = contract.check_parse(openai, load("databricks/reasoning.json"), "m").choices[0].message
    assert message.thinking_blocks == [
        {"type": "thinking", "thinking": "The user wants a haiku.", "signature": "ErcBCkgIAhABGAIi"}
    ]
    plain = contract.check_parse(openai, load("groq/reasoning.json"), "m").choices[0].message
    assert plain.thinking_blocks is None and "thinking_blocks" not in plain.model_dump()


@pytest.mark.parametrize(
    ("fixture", "reasoning", "content"),
    [
        ("openrouter/reasoning_stream.txt", "The capital is Paris.", "Paris."),
        ("deepseek/reasoner_stream.txt", "Compare the tenths: 1 < 8.", "9.11 < 9.8"),
        ("mistral/thinking_stream.txt", "Comté and Roquefort are both famous.", "Comté."),
    ],
)
def test_streamed_reasoning_is_delta_reasoning_content_and_rebuilds(fixture: str, reasoning: str, content: str) -> None:
    full = rebuild(openai, fixture)
    assert full.choices[0].message.reasoning_content == reasoning
    assert full.choices[0].message.content == content


def test_anthropic_thinking_and_redacted_thinking_are_kept_with_signatures() -> None:
    message = contract.check_parse(anthropic, load("anthropic/thinking_response.json"), "c").choices[0].message
    assert message.reasoning_content.startswith("27 * 453")
    assert message.thinking_blocks[0]["signature"] == "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"
    message = contract.check_parse(anthropic, load("anthropic/redacted_thinking_response.json"), "c").choices[0].message
    assert [b["type"] for b in message.thinking_blocks] == ["thinking", "redacted_thinking"]
    assert message.thinking_blocks[1]["data"].startswith("EmwKAhgB") and message.tool_calls


def test_anthropic_stream_rebuilds_the_signed_thinking_block() -> None:
    full = rebuild(anthropic, "anthropic/thinking_stream.txt", "c")
    expected = anthropic.parse_response(load("anthropic/thinking_response.json"), "c")["choices"][0]["message"]
    assert full.choices[0].message.reasoning_content == expected["reasoning_content"]
    assert full.choices[0].message.thinking_blocks == expected["thinking_blocks"]


def test_assistant_thinking_blocks_are_sent_back_to_anthropic_first_in_the_turn() -> None:
    turn = {"role": "assistant", "content": "Checking.", "reasoning_content": "not sent (no signature)",
            "thinking_blocks": [{"type": "thinking", "thinking": "t", "signature": "sig"},
                                {"type": "redacted_thinking", "data": "opaque"},
                                {"type": "thinking", "thinking": "unsigned"}],
            "tool_calls": [{"id": "toolu_1", "type": "function",
                            "function": {"name": "f", "arguments": "{}"}}]}  # fmt: skip
    msgs = [*USER, turn, {"role": "tool", "tool_call_id": "toolu_1", "content": "ok"}]
    body = build_request("anthropic", "claude-sonnet-4-5", msgs, {"tools": [contract.TOOL]}, api_key=KEY).body
    assert body["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "t", "signature": "sig"},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
    ]
    # OpenAI-compatible hosts never get Anthropic's blocks
    oa = build_request("openai", "gpt-4o", msgs, {}, api_key=KEY).body
    assert all("thinking_blocks" not in m for m in oa["messages"])


def test_anthropic_thinking_round_trip_through_the_fake_server(fake) -> None:
    fake.script("claude-sonnet-4-5", reasoning="weigh the options", content="option b")
    kw = {"api_base": fake.url, "api_key": KEY, "reasoning_effort": "low"}
    r = volley.completion("anthropic/claude-sonnet-4-5", USER, **kw)
    sent = fake.requests[-1].json
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 1024} and sent["max_tokens"] == 4096 + 1024
    message = r.choices[0].message
    assert message.reasoning_content == "weigh the options" and message.thinking_blocks[0]["signature"]
    chunks = list(volley.completion("anthropic/claude-sonnet-4-5", USER, stream=True, **kw))
    assert volley.stream_chunk_builder(chunks).choices[0].message.thinking_blocks == message.thinking_blocks
    # the next turn carries the signed block back; the fake checks the signature as the API does
    follow = [*USER, message.model_dump(exclude_none=True), {"role": "user", "content": "why?"}]
    volley.completion("anthropic/claude-sonnet-4-5", follow, **kw)
    assert fake.requests[-1].json["messages"][1]["content"][0]["type"] == "thinking"
    edited = [{"type": "thinking", "thinking": "edited", "signature": "sig_x"}]
    forged = [*USER, {**message.model_dump(exclude_none=True), "thinking_blocks": edited}]
    with pytest.raises(volley.BadRequestError, match="signature"):
        volley.completion("anthropic/claude-sonnet-4-5", [*forged, {"role": "user", "content": "?"}], **kw)


def test_gemini_thoughts_and_cohere_thinking_come_back_as_reasoning_content() -> None:
    cand = {"content": {"parts": [{"text": "think", "thought": True}, {"text": "done"}]}, "finishReason": "STOP"}
    r = gemini.parse_response({"candidates": [cand]}, "gemini-2.5-flash")
    assert r["choices"][0]["message"]["reasoning_content"] == "think"
    co = {"id": "c", "finish_reason": "COMPLETE", "message": {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "4"}]}}  # fmt: skip
    assert cohere.parse_response(co, "command-a-reasoning")["choices"][0]["message"]["reasoning_content"] == "hmm"


def test_answers_without_reasoning_dump_as_before() -> None:
    r = volley.completion("gpt-4o-mini", USER, mock_response="plain")
    dumped = r.model_dump()["choices"][0]["message"]
    assert set(dumped) == {"role", "content", "tool_calls", "function_call"}  # as openai's ChatCompletionMessage


# ---------------------------------------------------------------- reasoning_effort / thinking per provider


def body(provider: str, model: str, **params: Any) -> dict[str, Any]:
    b = build_request(provider, model, USER, params, api_key=KEY).body
    assert b is not None
    return b


def test_reasoning_effort_is_mapped_per_provider() -> None:
    assert body("openai", "o3-mini", reasoning_effort="high")["reasoning_effort"] == "high"  # passthrough
    assert body("groq", "openai/gpt-oss-20b", reasoning_effort="low")["reasoning_effort"] == "low"
    an = body("anthropic", "claude-sonnet-4-5", reasoning_effort="medium")
    assert an["thinking"] == {"type": "enabled", "budget_tokens": 2048} and an["max_tokens"] == 4096 + 2048
    assert "thinking" not in body("anthropic", "claude-sonnet-4-5", reasoning_effort="none")
    g25 = body("gemini", "gemini-2.5-flash", reasoning_effort="low")["generationConfig"]["thinkingConfig"]
    assert g25 == {"thinkingBudget": 1024, "includeThoughts": True}
    assert body("gemini", "gemini-2.5-flash", reasoning_effort="none")["generationConfig"]["thinkingConfig"] == {
        "thinkingBudget": 0}  # fmt: skip
    g3 = body("gemini", "gemini-3-pro-preview", reasoning_effort="medium")["generationConfig"]["thinkingConfig"]
    assert g3 == {"thinkingLevel": "HIGH", "includeThoughts": True}
    assert body("cohere", "command-a-reasoning-08-2025", reasoning_effort="high")["thinking"] == {
        "type": "enabled", "token_budget": 4096}  # fmt: skip
    assert body("cohere", "command-a-reasoning-08-2025", reasoning_effort="none")["thinking"] == {"type": "disabled"}


def test_anthropic_thinking_param_is_accepted_and_mapped_elsewhere() -> None:
    thinking = {"type": "enabled", "budget_tokens": 3000}
    an = body("anthropic", "claude-opus-4-1", thinking=thinking, max_tokens=8000)
    assert an["thinking"] == thinking and an["max_tokens"] == 8000
    assert body("gemini", "gemini-2.5-pro", thinking=thinking)["generationConfig"]["thinkingConfig"] == {
        "thinkingBudget": 3000, "includeThoughts": True}  # fmt: skip
    assert body("cohere", "command-a-reasoning", thinking=thinking)["thinking"]["token_budget"] == 3000
    with pytest.raises(volley.UnsupportedParamsError, match="openai does not support thinking"):
        volley.completion("gpt-4o", USER, thinking=thinking, api_key=KEY)
    r = volley.completion("gpt-4o", USER, thinking=thinking, drop_params=True, mock_response="x")
    assert r.choices[0].message.content == "x"


def test_bad_reasoning_values_are_refused_before_sending() -> None:
    with pytest.raises(volley.BadRequestError, match="reasoning_effort must be one of"):
        body("anthropic", "claude-sonnet-4-5", reasoning_effort="turbo")
    with pytest.raises(volley.BadRequestError, match="budget_tokens"):
        body("gemini", "gemini-2.5-flash", thinking={"type": "enabled"})
    with pytest.raises(volley.BadRequestError, match=r"max_tokens \(1000\) must be larger than the thinking budget"):
        body("anthropic", "claude-sonnet-4-5", reasoning_effort="high", max_tokens=1000)


def test_anthropic_thinking_constraints_are_refused_or_dropped(fake) -> None:
    kw = {"api_base": fake.url, "api_key": KEY, "reasoning_effort": "low"}
    with pytest.raises(volley.UnsupportedParamsError, match=r"temperature refused .*temperature=1") as err:
        volley.completion("anthropic/claude-sonnet-4-5", USER, temperature=0.2, top_p=0.5, **kw)
    assert "top_p refused" in str(err.value) and "drop_params=True" in str(err.value)
    with pytest.raises(volley.UnsupportedParamsError, match="tool_choice refused"):
        volley.completion("anthropic/claude-sonnet-4-5", USER, tools=[contract.TOOL], tool_choice="required", **kw)
    assert fake.requests == []
    volley.completion("anthropic/claude-sonnet-4-5", USER, temperature=0.2, top_p=0.5, drop_params=True, **kw)
    sent = fake.requests[-1].json  # the fake refuses what the API refuses: it was dropped, and accepted
    assert "temperature" not in sent and "top_p" not in sent and sent["thinking"]["budget_tokens"] == 1024
    # without thinking, temperature goes as before
    volley.completion("anthropic/claude-sonnet-4-5", USER, temperature=0.2, api_base=fake.url, api_key=KEY)
    assert fake.requests[-1].json["temperature"] == 0.2


def test_gemini_3_cannot_turn_thinking_off() -> None:
    with pytest.raises(volley.UnsupportedParamsError, match="cannot turn thinking off"):
        volley.completion("gemini/gemini-3-pro-preview", USER, reasoning_effort="none", api_key=KEY)


# ---------------------------------------------------------------- OpenAI reasoning models


@pytest.mark.parametrize("model", ["o1", "o3-mini", "o4-mini-2025-04-16", "gpt-5", "gpt-5-mini", "gpt-5.1"])
def test_reasoning_models_get_max_completion_tokens(model: str, fake) -> None:
    volley.completion(f"openai/{model}", USER, max_tokens=64, api_base=fake.openai_base, api_key=KEY)
    sent = fake.requests[-1].json
    assert sent["max_completion_tokens"] == 64 and "max_tokens" not in sent


def test_other_models_keep_max_tokens(fake) -> None:
    for model in ("gpt-4o-mini", "gpt-5-chat-latest", "openai/gpt-5"):  # the last: a router's name, its business
        volley.completion(f"openai/{model}", USER, max_tokens=64, api_base=fake.openai_base, api_key=KEY)
        assert fake.requests[-1].json["max_tokens"] == 64, model


def test_reasoning_models_refuse_sampling_params_clearly_before_sending(fake) -> None:
    kw = {"api_base": fake.openai_base, "api_key": KEY}
    with pytest.raises(volley.UnsupportedParamsError) as err:
        volley.completion("openai/o3-mini", USER, temperature=0.2, top_p=0.9, presence_penalty=0.1, **kw)
    text = str(err.value)
    assert "o3-mini is a reasoning model" in text and "only temperature=1" in text
    assert "top_p refused" in text and "presence_penalty refused" in text and "drop_params=True" in text
    with pytest.raises(volley.UnsupportedParamsError, match="stop refused"):
        volley.completion("openai/gpt-5", USER, stop=["\n"], **kw)
    assert fake.requests == []
    volley.completion("openai/o3-mini", USER, temperature=1, **kw)  # the one value they take
    assert fake.requests[-1].json["temperature"] == 1
    volley.completion("openai/o3-mini", USER, temperature=0.2, logprobs=True, top_logprobs=2, drop_params=True, **kw)
    sent = fake.requests[-1].json
    assert not {"temperature", "logprobs", "top_logprobs"} & set(sent)


def test_gpt_5_1_takes_sampling_params_while_reasoning_effort_is_none(fake) -> None:
    kw = {"api_base": fake.openai_base, "api_key": KEY}
    volley.completion("openai/gpt-5.1", USER, temperature=0.3, top_p=0.9, **kw)
    assert fake.requests[-1].json["temperature"] == 0.3
    with pytest.raises(volley.UnsupportedParamsError, match="temperature refused"):
        volley.completion("openai/gpt-5.1", USER, temperature=0.3, reasoning_effort="high", **kw)


def test_reasoning_content_through_the_fake_openai_wire(fake) -> None:
    fake.script("deepseek-reasoner", reasoning="step by step", content="done")
    kw = {"api_base": fake.openai_base, "api_key": KEY}
    r = volley.completion("deepseek/deepseek-reasoner", USER, **kw)
    assert r.choices[0].message.reasoning_content == "step by step"
    full = volley.stream_chunk_builder(list(volley.completion("deepseek/deepseek-reasoner", USER, stream=True, **kw)))
    assert full.choices[0].message.reasoning_content == "step by step" and full.choices[0].message.content == "done"


def test_gemini_thoughts_through_the_fake_only_with_include_thoughts(fake) -> None:
    kw = {"api_base": fake.url, "api_key": KEY}
    fake.script("gemini-2.5-flash", reasoning="thinking it over", content="yes")
    plain = volley.completion("gemini/gemini-2.5-flash", USER, **kw)
    assert plain.choices[0].message.reasoning_content is None  # no includeThoughts, no thought summaries
    r = volley.completion("gemini/gemini-2.5-flash", USER, reasoning_effort="medium", **kw)
    assert fake.requests[-1].json["generationConfig"]["thinkingConfig"]["includeThoughts"] is True
    assert r.choices[0].message.reasoning_content == "thinking it over" and r.choices[0].message.content == "yes"
    chunks = list(volley.completion("gemini/gemini-2.5-flash", USER, reasoning_effort="medium", stream=True, **kw))
    assert volley.stream_chunk_builder(chunks).choices[0].message.reasoning_content == "thinking it over"


def test_a_mocked_call_is_checked_against_the_real_hosts_parameters() -> None:
    with pytest.raises(volley.UnsupportedParamsError, match="anthropic does not support n"):
        volley.completion("anthropic/claude-sonnet-4-5", USER, n=2, mock_response="x")
    r = volley.completion("anthropic/claude-sonnet-4-5", USER, thinking={"type": "enabled", "budget_tokens": 1024},
                          mock_response="x")  # fmt: skip
    assert r.choices[0].message.content == "x"
