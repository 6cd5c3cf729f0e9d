"""``response_from`` / ``chunk_from`` build exactly what ``model_validate`` builds (and refuse what it refuses).

Every protocol's parsed answer from the recorded fixtures, and hand-made edge cases, go both ways; the
two objects are compared field by field, down to the fields set, the extras and the private attributes.
"""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from volley.protocols import get_protocol
from volley.protocols.__init__ import _BUILTIN
from volley.types import ModelResponse, StreamChunk, chunk_from, response_from

FIXTURES = Path(__file__).parent / "fixtures"


def same(a: Any, b: Any, where: str = "") -> None:
    assert type(a) is type(b), where
    if isinstance(a, BaseModel):
        assert a.__dict__.keys() == b.__dict__.keys(), where  # same fields, same order
        assert a.model_fields_set == b.model_fields_set, where
        assert a.__pydantic_extra__ == b.__pydantic_extra__, where
        assert a.__pydantic_private__ == b.__pydantic_private__, where
        if a.__pydantic_private__ is not None:
            for k, v in a.__pydantic_private__.items():
                assert type(v) is type(b.__pydantic_private__[k]), f"{where}.{k}"
        for k in a.__dict__:
            if k in ("id", "created") and k not in a.model_fields_set:  # fresh from the default factory
                assert type(a.__dict__[k]) is type(b.__dict__[k]), f"{where}.{k}"
                continue
            same(a.__dict__[k], b.__dict__[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            same(a[k], b[k], f"{where}.{k}")
    else:
        assert a == b, where


def both(cls: type[BaseModel], fast: Any, data: Any) -> None:
    """The fast builder and pydantic agree on ``data``: the same object, or both refuse it."""
    try:
        want = cls.model_validate(copy.deepcopy(data))
    except Exception as exc:
        with pytest.raises(type(exc)):
            fast(copy.deepcopy(data))
        return
    got = fast(copy.deepcopy(data))
    same(got, want)
    fresh = {"id", "created"} - set(data)  # from the default factories: differ by design

    def dump(r: BaseModel) -> Any:
        return {k: v for k, v in r.model_dump().items() if k not in fresh}

    assert dump(got) == dump(want)
    if not fresh:
        assert got.model_dump_json() == want.model_dump_json()
    same(pickle.loads(pickle.dumps(got)), want)
    same(copy.deepcopy(got), want)


def _answers() -> list[tuple[str, str, Any]]:
    out = []
    for path in sorted(FIXTURES.rglob("*.json")):
        try:
            data = json.loads(path.read_text())
        except ValueError:
            continue
        for name in _BUILTIN:
            try:
                parsed = get_protocol(name).parse_response(copy.deepcopy(data), "m")
            except Exception:
                continue
            out.append((f"{path.relative_to(FIXTURES)}:{name}", name, parsed))
    return out


ANSWERS = _answers()


def test_the_fixtures_give_answers_of_every_kind():
    assert len(ANSWERS) >= 20
    kinds = {json.dumps(a, default=str) for _, _, a in ANSWERS}
    for needle in ("tool_calls", "reasoning_content", "thinking_blocks", "prompt_tokens_details", "logprobs"):
        assert any(needle in k for k in kinds), needle


@pytest.mark.parametrize(("where", "protocol", "parsed"), ANSWERS, ids=[a[0] for a in ANSWERS])
def test_every_parsed_fixture_builds_as_validation_does(where: str, protocol: str, parsed: Any):
    both(ModelResponse, response_from, parsed)


def _events(text: str) -> list[tuple[str | None, str]]:
    events, event = [], None
    for line in text.splitlines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            events.append((event, line[5:].strip()))
            event = None
    return events


def _chunks() -> list[tuple[str, Any]]:
    out = []
    for path in sorted(FIXTURES.rglob("*.txt")):
        events = _events(path.read_text())
        for name in _BUILTIN:
            parser = get_protocol(name).StreamParser("m")
            try:
                chunks = [c for e, d in events for c in parser.feed(e, d)]
            except Exception:
                continue
            out += [(f"{path.relative_to(FIXTURES)}:{name}:{i}", c) for i, c in enumerate(chunks)]
    return out


CHUNKS = _chunks()


def test_the_stream_fixtures_give_chunks():
    assert len(CHUNKS) >= 30
    assert any(c.get("usage") for _, c in CHUNKS)
    assert any(ch["delta"].get("tool_calls") for _, c in CHUNKS for ch in c.get("choices") or ())


@pytest.mark.parametrize(("where", "chunk"), CHUNKS, ids=[c[0] for c in CHUNKS])
def test_every_parsed_stream_event_builds_as_validation_does(where: str, chunk: Any):
    both(StreamChunk, chunk_from, chunk)


def answer(**top: Any) -> dict[str, Any]:
    msg = top.pop("message", {"role": "assistant", "content": "hi"})
    choice = {"index": 0, "message": msg, "finish_reason": "stop", **top.pop("choice", {})}
    return {"id": "c1", "object": "chat.completion", "created": 5, "model": "m", "choices": [choice], **top}


ODD = {
    "minimal": {"choices": []},
    "extras everywhere": answer(
        service_tier="x",
        message={"role": "assistant", "content": "a", "refusal": None, "annotations": []},
        choice={"content_filter_results": {"hate": {}}},
    ),
    "usage details": answer(
        usage={
            "prompt_tokens": 3,
            "completion_tokens": 4,
            "total_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 1, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 2, "x": 1},
        }
    ),
    "usage floats": answer(usage={"prompt_tokens": 3.0, "completion_tokens": 4, "total_tokens": 7}),
    "usage bool": answer(usage={"prompt_tokens": True, "completion_tokens": 4, "total_tokens": 7}),
    "usage a string": answer(usage={"prompt_tokens": "3", "completion_tokens": 4, "total_tokens": 7}),
    "usage bad": answer(usage={"prompt_tokens": "many"}),
    "usage a list": answer(usage=[1]),
    "tool calls": answer(
        message={
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "t2", "function": {"name": "g", "arguments": '{"a": 1}'}, "extra": 1},
            ],
        }
    ),
    "tool call without id": answer(message={"tool_calls": [{"function": {"name": "f"}}]}),
    "tool call of another type": answer(message={"tool_calls": [{"id": "t", "type": "x", "function": {}}]}),
    "function call": answer(message={"content": None, "function_call": {"name": "f", "arguments": "{}"}}),
    "reasoning": answer(
        message={
            "content": "a",
            "reasoning_content": "r",
            "thinking_blocks": [{"type": "thinking", "thinking": "r", "signature": "s"}],
        }
    ),
    "thinking blocks not dicts": answer(message={"thinking_blocks": ["x"]}),
    "logprobs": answer(
        choice={
            "logprobs": {
                "content": [
                    {"token": "a", "logprob": -0.1, "bytes": [97], "top_logprobs": [{"token": "a", "logprob": -0.1}]}
                ]
            }
        }
    ),
    "logprobs odd": answer(choice={"logprobs": {"content": "x"}}),
    "content an int": answer(message={"role": "assistant", "content": 5}),
    "content a list": answer(message={"role": "assistant", "content": ["a"]}),
    "role odd": answer(message={"role": "robot", "content": "a"}),
    "finish odd": answer(choice={"finish_reason": "eos"}),
    "finish none": answer(choice={"finish_reason": None}),
    "index bool": answer(choice={"index": True}),
    "index a string": answer(choice={"index": "0"}),
    "created float": answer(created=5.0),
    "id an int": answer(id=5),
    "object odd": answer(object="chat.completion.chunk"),
    "message none": answer(message=None),
    "message missing": {"choices": [{"index": 0}]},
    "choices a dict": {"choices": {}},
    "choice a string": {"choices": ["x"]},
    "not a dict": ["x"],
    "str subclass": answer(model=type("S", (str,), {})("m")),
    # the shapes next to the in-line text answer (types._text_answer): taken by it, or left to _build
    "plain": answer(),
    "usage plain": answer(usage={"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}),
    "usage extra": answer(usage={"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7, "cost": 0.1}),
    "usage details none": answer(usage={"prompt_tokens": 3, "prompt_tokens_details": None}),
    "usage details counts none": answer(usage={"completion_tokens_details": {"reasoning_tokens": None}}),
    "usage details a float": answer(usage={"prompt_tokens_details": {"cached_tokens": 1.0}}),
    "usage details a list": answer(usage={"prompt_tokens_details": [1]}),
    "usage empty": answer(usage={}),
    "usage none": answer(usage=None),
    "reasoning text only": answer(message={"content": "a", "reasoning_content": "r"}),
    "reasoning an int": answer(message={"content": "a", "reasoning_content": 1}),
    "message empty": answer(message={}),
    "message extras": answer(message={"content": "a", "refusal": None, "audio": None}),
    "role tool": answer(message={"role": "tool", "content": "a"}),
    "role an int": answer(message={"role": 1, "content": "a"}),
    "no finish": {**answer(), "choices": [{"index": 0, "message": {"content": "a"}}]},
    "no index": {**answer(), "choices": [{"message": {"content": "a"}, "finish_reason": "length"}]},
    "two choices": {**answer(), "choices": [answer()["choices"][0], {**answer()["choices"][0], "index": 1}]},
    "no choices": answer() | {"choices": []},
    "fingerprint": answer(system_fingerprint="fp"),
    "fingerprint an int": answer(system_fingerprint=1),
    "created a bool": answer(created=True),
    "no created": {k: v for k, v in answer().items() if k != "created"},
    "no id": {k: v for k, v in answer().items() if k != "id"},
    "no object": {k: v for k, v in answer().items() if k != "object"},
    "model None": answer(model=None),
    "logprobs None": answer(choice={"logprobs": None}),
}


@pytest.mark.parametrize("name", ODD)
def test_odd_answers_build_or_fail_as_validation_does(name: str):
    both(ModelResponse, response_from, ODD[name])


def chunk(**top: Any) -> dict[str, Any]:
    delta = top.pop("delta", {"content": "hi"})
    choice = {"index": 0, "delta": delta, "finish_reason": None, **top.pop("choice", {})}
    return {"id": "c1", "object": "chat.completion.chunk", "created": 5, "model": "m", "choices": [choice], **top}


ODD_CHUNKS = {
    "plain": chunk(),
    "usage only": {**chunk(), "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}},
    "no delta": {**chunk(), "choices": [{"index": 0}]},
    "tool call delta": chunk(
        delta={"tool_calls": [{"index": 0, "id": "t", "type": "function", "function": {"name": "f", "arguments": ""}}]}
    ),
    "tool call delta without type": chunk(delta={"tool_calls": [{"index": 1, "function": {"arguments": "{"}}]}),
    "tool call delta odd": chunk(delta={"tool_calls": [{"index": "x"}]}),
    "reasoning delta": chunk(delta={"reasoning_content": "r", "thinking_blocks": [{"type": "thinking"}]}),
    "role delta": chunk(delta={"role": "assistant", "content": ""}),
    "logprobs": chunk(choice={"logprobs": {"content": [{"token": "a", "logprob": -1.0}]}}),
    "finish": chunk(choice={"finish_reason": "length"}),
    "finish odd": chunk(choice={"finish_reason": "done"}),
    "content an int": chunk(delta={"content": 1}),
    "no id": {"choices": []},
    # the shapes next to the in-line text chunk (types._text_chunk): taken by it, or left to _build
    "text with extras": chunk(system_fingerprint="fp_1", service_tier=None, usage=None),
    "role only": chunk(delta={"role": "assistant"}),
    "empty delta": chunk(delta={}),
    "content None": chunk(delta={"content": None}),
    "role an int": chunk(delta={"role": 1, "content": "x"}),
    "no index": {**chunk(), "choices": [{"delta": {"content": "x"}}]},
    "index a bool": chunk(choice={"index": True}),
    "finish with text": chunk(choice={"finish_reason": "stop"}),
    "finish not a str": chunk(choice={"finish_reason": 1}),
    "choice extra": chunk(choice={"content_filter_results": {}}),
    "delta extra": chunk(delta={"content": "x", "refusal": None}),
    "two choices": {**chunk(), "choices": [chunk()["choices"][0], {**chunk()["choices"][0], "index": 1}]},
    "object wrong": chunk(object="chat.completion"),
    "id an int": chunk(id=5),
    "created a float": chunk(created=5.0),
    "created a bool": chunk(created=True),
    "no created": {k: v for k, v in chunk().items() if k != "created"},
    "no model": {k: v for k, v in chunk().items() if k != "model"},
    "model None": chunk(model=None),
    "usage with text": chunk(usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}),
    "choices not a list": chunk(choices={"0": {}}),
    "choice not a dict": chunk(choices=["x"]),
}


@pytest.mark.parametrize("name", ODD_CHUNKS)
def test_odd_chunks_build_or_fail_as_validation_does(name: str):
    both(StreamChunk, chunk_from, ODD_CHUNKS[name])


def test_the_fast_path_is_taken_for_plain_answers(monkeypatch):
    calls = []
    real = ModelResponse.model_validate.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(
        ModelResponse, "model_validate", classmethod(lambda cls, *a, **k: calls.append(1) or real(cls, *a, **k))
    )
    r = response_from(ODD["usage details"])
    assert calls == [] and r.usage is not None and r.usage.prompt_tokens_details.cached_tokens == 1
    response_from(ODD["created float"])
    assert calls == [1]  # a value of another type: pydantic validates (and converts) it


def test_text_chunks_are_built_in_line(monkeypatch):
    from volley import types

    slow = []
    monkeypatch.setattr(types, "_build", lambda cls, data: slow.append(data) or StreamChunk.model_validate(data))
    for name in ("plain", "text with extras", "role only", "empty delta", "no index", "finish with text"):
        got = chunk_from(copy.deepcopy(ODD_CHUNKS[name]), "openai")
        want = StreamChunk.model_validate(copy.deepcopy(ODD_CHUNKS[name]))
        want._provider = "openai"
        assert got.provider == "openai"
        same(got, want)
    assert slow == []
    for name in ("tool call delta", "two choices", "logprobs", "usage with text", "index a bool"):
        chunk_from(copy.deepcopy(ODD_CHUNKS[name]), "openai")
    assert len(slow) == 5  # every other shape goes to the generic builder


def test_text_answers_are_built_in_line(monkeypatch):
    from volley import types

    slow = []
    monkeypatch.setattr(types, "_build", lambda cls, data: slow.append(data) or ModelResponse.model_validate(data))
    taken = ("plain", "usage plain", "usage extra", "usage details none", "usage details counts none", "usage empty",
             "reasoning text only", "message empty", "message extras", "role tool", "no finish", "no index",
             "two choices", "no choices", "fingerprint", "extras everywhere", "usage details")  # fmt: skip
    for name in taken:
        same(response_from(copy.deepcopy(ODD[name])), ModelResponse.model_validate(copy.deepcopy(ODD[name])), name)
    assert slow == []
    left = ("tool calls", "function call", "reasoning", "logprobs", "usage floats", "usage bool",
            "usage details a float", "created float", "fingerprint an int", "no id", "no created",
            "model None")  # fmt: skip
    for name in left:
        try:
            response_from(copy.deepcopy(ODD[name]))
        except ValueError:  # pydantic refuses some of them (a ValidationError)
            pass
    assert len(slow) == len(left)  # every other shape goes to the generic builder


def test_a_built_answer_is_an_independent_copy_of_thinking_blocks():
    data = ODD["reasoning"]
    blocks = data["choices"][0]["message"]["thinking_blocks"]
    r = response_from(copy.deepcopy(data) | {"choices": [{"message": {"thinking_blocks": blocks}}]})
    r.choices[0].message.thinking_blocks[0]["x"] = 1
    assert "x" not in blocks[0]
