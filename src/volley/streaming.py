"""Rebuilding a full response from stream chunks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .types import ModelResponse, StreamChunk


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)


def stream_chunk_builder(chunks: Iterable[StreamChunk | Mapping[str, Any]], messages: Any = None) -> ModelResponse:
    """Merge the chunks of one stream into the :class:`ModelResponse` a non-stream call would give.

    Example::

        chunks = list(volley.completion(model, messages, stream=True))
        full = volley.stream_chunk_builder(chunks)
    """
    chunks = list(chunks)
    if not chunks:
        raise ValueError("stream_chunk_builder needs at least one chunk")
    first = chunks[0]
    choices: dict[int, dict[str, Any]] = {}
    usage = None
    for ch in chunks:
        u = _get(ch, "usage") or getattr(ch, "_usage", None)  # _usage: what the stream withheld (no include_usage)
        if u:
            usage = u.model_dump() if hasattr(u, "model_dump") else dict(u)
        for c in _get(ch, "choices") or ():
            idx = _get(c, "index") or 0
            slot = choices.setdefault(idx, {"content": [], "tools": {}, "finish": None, "role": "assistant"})
            delta = _get(c, "delta") or {}
            if _get(delta, "role"):
                slot["role"] = _get(delta, "role")
            if _get(delta, "content"):
                slot["content"].append(_get(delta, "content"))
            for tc in _get(delta, "tool_calls") or ():
                t = slot["tools"].setdefault(_get(tc, "index") or 0, {"id": None, "name": None, "args": []})
                if _get(tc, "id"):
                    t["id"] = _get(tc, "id")
                fn = _get(tc, "function")
                if fn is not None:
                    if _get(fn, "name"):
                        t["name"] = _get(fn, "name")
                    if _get(fn, "arguments"):
                        t["args"].append(_get(fn, "arguments"))
            if _get(c, "finish_reason"):
                slot["finish"] = _get(c, "finish_reason")
    out_choices = []
    for idx in sorted(choices):
        slot = choices[idx]
        message: dict[str, Any] = {"role": slot["role"], "content": "".join(slot["content"]) or None}
        if slot["tools"]:
            message["tool_calls"] = [
                {"id": t["id"] or f"call_{idx}_{i}", "type": "function",
                 "function": {"name": t["name"], "arguments": "".join(t["args"])}}
                for i, t in sorted(slot["tools"].items())
            ]  # fmt: skip
        elif message["content"] is None:
            message["content"] = ""
        finish = slot["finish"] or ("tool_calls" if slot["tools"] else "stop")
        out_choices.append({"index": idx, "message": message, "finish_reason": finish})
    resp = ModelResponse.model_validate(
        {
            "id": _get(first, "id"),
            "created": _get(first, "created"),
            "model": _get(first, "model") or "",
            "choices": out_choices,
            "usage": usage,
        }
    )
    provider = getattr(first, "provider", "")
    if provider:
        resp._provider = provider
    return resp
