"""OpenAI Chat Completions, and every host that speaks it (Groq, Mistral, Together, vLLM, Ollama, ...).

The wire format is already volley's output shape, so mapping is mostly pass-through; the work is in
normalising what compatible hosts send differently: content as a list of parts, reasoning as
``reasoning_content`` (DeepSeek), ``reasoning`` (OpenRouter, Groq, Ollama, vLLM), Mistral ``thinking``
parts or Databricks ``reasoning`` parts (all become ``reasoning_content``, signed parts also
``thinking_blocks``), several tool calls in one stream delta without an ``index`` (Mistral), missing
fields. OpenAI's reasoning models (o1/o3/o4*, gpt-5*) take ``max_completion_tokens`` instead of
``max_tokens`` and refuse sampling parameters: :func:`unsupported_params` names those before
anything is sent, and :func:`build_body` renames the cap.
"""

from __future__ import annotations

import time
from typing import Any

from ..errors import error_from_status
from .base import ToolCallIndexer, endpoint, error_text, load_json, merge_extra

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


def is_reasoning_model(model: str) -> bool:
    """Whether ``model`` is one of OpenAI's reasoning models (o1, o3, o4-mini, gpt-5 ...; not gpt-5-chat).

    Only the bare OpenAI names count: ``openai/gpt-5`` on a router is the router's business.
    """
    name = model.lower()
    if name.startswith("gpt-5"):
        return not name.startswith("gpt-5-chat")
    return name[:2] in ("o1", "o3", "o4") and (len(name) == 2 or name[2] in "-_.")


def _sampling_allowed(model: str, params: dict[str, Any]) -> bool:
    """gpt-5.1 and gpt-5.2 (not -pro) take temperature, top_p and logprobs with reasoning effort "none"."""
    name = model.lower()
    newer = name.startswith("gpt-5.1") or (name.startswith("gpt-5.2") and "pro" not in name)
    return newer and params.get("reasoning_effort") in (None, "none")


def unsupported_params(model: str, params: dict[str, Any]) -> dict[str, str]:
    """The parameters ``model`` refuses although the protocol knows them, each with the reason.

    OpenAI's reasoning models take ``temperature`` 1 only and no ``top_p``, penalties, ``logprobs``,
    ``top_logprobs`` or ``logit_bias`` (gpt-5 models no ``stop`` either); gpt-5.1 / gpt-5.2 take
    temperature, top_p and logprobs while ``reasoning_effort`` is "none". Any other model: nothing.

    Example: ``unsupported_params("o3-mini", {"temperature": 0})`` → ``{"temperature": "..."}``
    """
    if not is_reasoning_model(model):
        return {}
    why = f"{model} is a reasoning model"
    out: dict[str, str] = {}
    free = _sampling_allowed(model, params)
    temperature = params.get("temperature")
    if temperature is not None and temperature != 1 and not free:
        out["temperature"] = f"{why}: only temperature=1 is accepted"
    refused = ["presence_penalty", "frequency_penalty", "logit_bias"]
    if not free:
        refused += ["top_p", "logprobs", "top_logprobs"]
    if model.lower().startswith("gpt-5"):
        refused.append("stop")
    for name in refused:
        if params.get(name) is not None:
            out[name] = f"{why}: {name} is not accepted"
    return out


def build_body(model: str, messages: list[dict[str, Any]], params: dict[str, Any], *, stream: bool) -> dict[str, Any]:
    """OpenAI-style ``messages`` + ``params`` → the Chat Completions body (the shape is already OpenAI's).

    Anthropic ``thinking_blocks`` on assistant messages stay out (no OpenAI-compatible host takes
    them); a reasoning model gets ``max_tokens`` as ``max_completion_tokens``.

    Example::

        build_body("gpt-4o-mini", [{"role": "user", "content": "hi"}], {"temperature": 0}, stream=False)
        # {"model": "gpt-4o-mini", "messages": [...], "temperature": 0}
    """
    if any("thinking_blocks" in m for m in messages):
        messages = [{k: v for k, v in m.items() if k != "thinking_blocks"} for m in messages]
    body: dict[str, Any] = {"model": model, "messages": messages}
    for k, v in params.items():
        if k not in ("extra_body", "extra_headers") and v is not None:
            body[k] = v
    if is_reasoning_model(model) and "max_tokens" in body:
        cap = body.pop("max_tokens")
        body.setdefault("max_completion_tokens", cap)
    if stream:
        body["stream"] = True
        opts = dict(body.get("stream_options") or {})
        opts.setdefault("include_usage", True)
        body["stream_options"] = opts
    return merge_extra(body, params)


def _finish(reason: Any) -> str | None:
    if reason is None:
        return None
    text = str(reason).lower()
    if text in _VALID_FINISH:
        return text
    if text in ("eos", "end_turn", "stop_sequence"):
        return "stop"
    if text in ("max_tokens", "model_length"):
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
        _normalise(msg)
        if "tool_calls" in msg and not msg["tool_calls"]:
            del msg["tool_calls"]
        msg.setdefault("role", "assistant")
    data.setdefault("id", "chatcmpl-" + str(int(time.time() * 1000)))
    data["object"] = "chat.completion"
    data.setdefault("created", int(time.time()))
    if not data.get("model"):
        data["model"] = model
    return data


def _normalise(msg: dict[str, Any]) -> None:
    """A message or delta in place: content parts split into text and reasoning, ``reasoning`` text
    renamed ``reasoning_content``."""
    reasoning: list[str] = []
    blocks: list[dict[str, Any]] = []
    if isinstance(msg.get("content"), list):
        msg["content"] = _split_parts(msg["content"], reasoning, blocks)
    if isinstance(msg.get("reasoning"), str):  # OpenRouter, Groq (parsed), Ollama and vLLM put it here
        reasoning.insert(0, msg.pop("reasoning"))
    if reasoning:
        text = "".join(reasoning)
        had = msg.get("reasoning_content")
        msg["reasoning_content"] = had + text if isinstance(had, str) else text
    if blocks:
        msg["thinking_blocks"] = [*(msg.get("thinking_blocks") or ()), *blocks]
    elif msg.get("reasoning_content") == "" and not reasoning:
        del msg["reasoning_content"]


def _split_parts(parts: list[Any], reasoning: list[str], blocks: list[dict[str, Any]]) -> str:
    """Content parts → the answer text; Mistral ``thinking`` parts and Databricks ``reasoning`` parts
    go to ``reasoning`` (and, when signed, to ``blocks``)."""
    texts: list[str] = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
            continue
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "thinking":  # Mistral: {"type": "thinking", "thinking": [{"type": "text", "text": ...}]}
            inner = part.get("thinking")
            reasoning.append(inner if isinstance(inner, str) else _texts(inner))
            if part.get("signature"):
                blocks.append({"type": "thinking", "thinking": reasoning[-1], "signature": part["signature"]})
        elif kind == "reasoning":  # Databricks: {"type": "reasoning", "summary": [{"text", "signature"}]}
            for item in part.get("summary") or ():
                if isinstance(item, dict) and isinstance(item.get("text"), str):
                    reasoning.append(item["text"])
                    block = {"type": "thinking", "thinking": item["text"]}
                    if item.get("signature"):
                        block["signature"] = item["signature"]
                    blocks.append(block)
    return "".join(texts)


def _texts(items: Any) -> str:
    if not isinstance(items, list):
        return ""
    return "".join(i["text"] for i in items if isinstance(i, dict) and isinstance(i.get("text"), str))


class StreamParser:
    """OpenAI SSE: ``data: {chunk}`` lines, ending with ``data: [DONE]``."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.finished = False
        self._indexers: dict[int, ToolCallIndexer] = {}

    def feed(self, event: str | None, data: str) -> list[dict[str, Any]]:
        if data == "[DONE]":
            self.finished = True
            return []
        obj = load_json(data, "stream event")
        if isinstance(obj, dict) and "error" in obj and "choices" not in obj:
            err = obj["error"] if isinstance(obj["error"], dict) else {"message": str(obj["error"])}
            code = err.get("code")
            status = code if isinstance(code, int) and not isinstance(code, bool) else 500
            raise error_from_status(status, str(err.get("message", obj)), model=self.model)
        obj["object"] = "chat.completion.chunk"
        if not obj.get("model"):
            obj["model"] = self.model
        for i, c in enumerate(obj.get("choices") or ()):
            delta = c.get("delta") or {}
            _normalise(delta)
            if delta.get("tool_calls"):
                ix = self._indexers.setdefault(c.get("index", i), ToolCallIndexer())
                delta["tool_calls"] = ix.index(delta["tool_calls"])
            c["delta"] = delta
            c["finish_reason"] = _finish(c.get("finish_reason"))
        return [obj]


def error_message(status: int, body: bytes) -> str:
    return error_text(body, ("error", "message"), ("message",), ("detail",), ("error",))
