"""Rebuilding a full response from stream chunks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .protocols.base import ToolCallIndexer
from .types import ModelResponse, StreamChunk


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)


def _plain(obj: Any) -> Any:
    return obj.model_dump() if hasattr(obj, "model_dump") else obj


class _Choice:
    """What the chunks of one choice add up to."""

    def __init__(self) -> None:
        self.role = "assistant"
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.blocks: list[dict[str, Any]] = []
        self.tools: dict[int, dict[str, Any]] = {}
        self.logprobs: dict[str, list[Any]] = {}
        self.finish: str | None = None
        self.indexer = ToolCallIndexer()

    def add(self, c: Any) -> None:
        delta = _get(c, "delta") or {}
        if _get(delta, "role"):
            self.role = _get(delta, "role")
        if _get(delta, "content"):
            self.content.append(_get(delta, "content"))
        if _get(delta, "reasoning_content"):
            self.reasoning.append(_get(delta, "reasoning_content"))
        self.blocks.extend(dict(_plain(b)) for b in _get(delta, "thinking_blocks") or ())
        calls = [dict(_plain(tc)) for tc in _get(delta, "tool_calls") or ()]
        for tc in self.indexer.index(calls):
            t = self.tools.setdefault(tc["index"], {"id": None, "name": None, "args": []})
            if tc.get("id"):
                t["id"] = tc["id"]
            fn = tc.get("function") or {}
            if fn.get("name"):
                t["name"] = fn["name"]
            if fn.get("arguments"):
                t["args"].append(fn["arguments"])
        logprobs = _plain(_get(c, "logprobs"))
        if isinstance(logprobs, Mapping):
            for key, value in logprobs.items():
                if isinstance(value, list):
                    self.logprobs.setdefault(key, []).extend(value)
        if _get(c, "finish_reason"):
            self.finish = _get(c, "finish_reason")

    def choice(self, idx: int) -> dict[str, Any]:
        message: dict[str, Any] = {"role": self.role, "content": "".join(self.content) or None}
        if self.tools:
            message["tool_calls"] = [
                {"id": t["id"] or f"call_{idx}_{i}", "type": "function",
                 "function": {"name": t["name"], "arguments": "".join(t["args"])}}
                for i, t in sorted(self.tools.items())
            ]  # fmt: skip
        elif message["content"] is None:
            message["content"] = ""
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        if self.blocks:
            message["thinking_blocks"] = self.blocks
        out: dict[str, Any] = {
            "index": idx,
            "message": message,
            "finish_reason": self.finish or ("tool_calls" if self.tools else "stop"),
        }
        if self.logprobs:
            out["logprobs"] = self.logprobs
        return out


def stream_chunk_builder(chunks: Iterable[StreamChunk | Mapping[str, Any]], messages: Any = None) -> ModelResponse:
    """Merge the chunks of one stream into the :class:`ModelResponse` a non-stream call would give:
    text, tool calls (fragments joined; calls sent without an ``index`` kept apart), reasoning
    (``reasoning_content`` and ``thinking_blocks``), ``logprobs`` and usage, per choice.

    Example::

        chunks = list(volley.completion(model, messages, stream=True))
        full = volley.stream_chunk_builder(chunks)
    """
    chunks = list(chunks)
    if not chunks:
        raise ValueError("stream_chunk_builder needs at least one chunk")
    first = chunks[0]
    choices: dict[int, _Choice] = {}
    usage = None
    for ch in chunks:
        u = _get(ch, "usage") or getattr(ch, "_usage", None)  # _usage: what the stream withheld (no include_usage)
        if u:
            usage = u.model_dump() if hasattr(u, "model_dump") else dict(u)
        for c in _get(ch, "choices") or ():
            choices.setdefault(_get(c, "index") or 0, _Choice()).add(c)
    resp = ModelResponse.model_validate(
        {
            "id": _get(first, "id"),
            "created": _get(first, "created"),
            "model": _get(first, "model") or "",
            "choices": [choices[idx].choice(idx) for idx in sorted(choices)],
            "usage": usage,
        }
    )
    provider = getattr(first, "provider", "")
    if provider:
        resp._provider = provider
    return resp
