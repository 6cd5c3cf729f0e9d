"""OpenAI Chat Completions, and every host that speaks it (Groq, Mistral, Together, vLLM, Ollama, ...).

The wire format is already volley's output shape, so mapping is mostly pass-through; the work is in
normalising what compatible hosts send differently (content as a list of parts, missing fields).
"""

from __future__ import annotations

import time
from typing import Any

from ..errors import error_from_status
from .base import endpoint, error_text, load_json, merge_extra, text_of

NAME = "openai"

SUPPORTED_PARAMS = frozenset(
    {
        "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "n", "seed", "user",
        "tools", "tool_choice", "parallel_tool_calls", "response_format", "presence_penalty",
        "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "stream_options",
        "reasoning_effort", "service_tier", "metadata", "store", "modalities", "prediction",
        "audio", "web_search_options", "verbosity", "prompt_cache_key", "safety_identifier",
    }
)  # fmt: skip

_VALID_FINISH = {"stop", "length", "tool_calls", "content_filter", "function_call"}


HEADERS: dict[str, str] = {}
AUTH = ("Authorization", "Bearer {key}")


def url(base: str, model: str, *, stream: bool) -> str:
    """``{base}/chat/completions`` (the base ends with the version: ``.../v1``)."""
    return endpoint(base, "/chat/completions")


def build_body(model: str, messages: list[dict[str, Any]], params: dict[str, Any], *, stream: bool) -> dict[str, Any]:
    """OpenAI-style ``messages`` + ``params`` → the Chat Completions body (the shape is already OpenAI's).

    Example::

        build_body("gpt-4o-mini", [{"role": "user", "content": "hi"}], {"temperature": 0}, stream=False)
        # {"model": "gpt-4o-mini", "messages": [...], "temperature": 0}
    """
    body: dict[str, Any] = {"model": model, "messages": messages}
    for k, v in params.items():
        if k not in ("extra_body", "extra_headers") and v is not None:
            body[k] = v
    if stream:
        body["stream"] = True
        opts = dict(body.get("stream_options") or {})
        opts.setdefault("include_usage", True)
        body["stream_options"] = opts
    return merge_extra(body, params)


def _finish(reason: Any) -> str | None:
    if reason is None:
        return None
    reason = str(reason).lower()
    if reason in _VALID_FINISH:
        return reason
    if reason in ("eos", "end_turn", "stop_sequence"):
        return "stop"
    if reason in ("max_tokens", "model_length"):
        return "length"
    return "stop"


def parse_response(data: dict[str, Any], model: str) -> dict[str, Any]:
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
        raise error_from_status(502, f"unexpected response shape: {str(data)[:200]}", model=model)
    for i, c in enumerate(data["choices"]):  # normalised in place: the dict is freshly parsed JSON
        c.setdefault("index", i)
        c["finish_reason"] = _finish(c.get("finish_reason")) or "stop"
        msg = c.get("message")
        if not isinstance(msg, dict):
            msg = c["message"] = {}
        if isinstance(msg.get("content"), list):  # e.g. Mistral: [{"type": "thinking", ...}, {"type": "text", ...}]
            msg["content"] = text_of(msg["content"])
        if "tool_calls" in msg and not msg["tool_calls"]:
            del msg["tool_calls"]
        msg.setdefault("role", "assistant")
    if isinstance(data.get("usage"), dict):
        _usage(data["usage"])
    data.setdefault("id", "chatcmpl-" + str(int(time.time() * 1000)))
    data["object"] = "chat.completion"
    data.setdefault("created", int(time.time()))
    if not data.get("model"):
        data["model"] = model
    return data


def _usage(usage: dict[str, Any]) -> None:
    """Cached prompt tokens in OpenAI's place, in place: DeepSeek reports ``prompt_cache_hit_tokens``
    (and ``prompt_cache_miss_tokens``) and may leave ``prompt_tokens_details`` out."""
    hit = usage.get("prompt_cache_hit_tokens")
    if isinstance(hit, int) and hit > 0:
        details = usage.get("prompt_tokens_details")
        if not isinstance(details, dict):
            details = usage["prompt_tokens_details"] = {}
        if not details.get("cached_tokens"):
            details["cached_tokens"] = hit


class StreamParser:
    """OpenAI SSE: ``data: {chunk}`` lines, ending with ``data: [DONE]``."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.finished = False

    def feed(self, event: str | None, data: str) -> list[dict[str, Any]]:
        if data == "[DONE]":
            self.finished = True
            return []
        obj = load_json(data, "stream event")
        if isinstance(obj, dict) and "error" in obj and "choices" not in obj:
            err = obj["error"] if isinstance(obj["error"], dict) else {"message": str(obj["error"])}
            status = err.get("code") if isinstance(err.get("code"), int) else 500
            raise error_from_status(status, str(err.get("message", obj)), model=self.model)
        obj["object"] = "chat.completion.chunk"
        if isinstance(obj.get("usage"), dict):
            _usage(obj["usage"])
        if not obj.get("model"):
            obj["model"] = self.model
        for c in obj.get("choices") or ():
            delta = c.get("delta") or {}
            if isinstance(delta.get("content"), list):
                delta["content"] = text_of(delta["content"])
            c["delta"] = delta
            c["finish_reason"] = _finish(c.get("finish_reason"))
        return [obj]


def error_message(status: int, body: bytes) -> str:
    return error_text(body, ("error", "message"), ("message",), ("detail",), ("error",))
