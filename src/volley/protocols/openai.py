"""OpenAI Chat Completions, and every host that speaks it (Groq, Mistral, Together, vLLM, Ollama, ...).

The wire format is already volley's output shape, so mapping is mostly pass-through; the work is in
normalising what compatible hosts send differently: content as a list of parts, reasoning as
``reasoning_content`` (DeepSeek), ``reasoning`` (OpenRouter, Groq, Ollama, vLLM), Mistral ``thinking``
parts or Databricks ``reasoning`` parts (all become ``reasoning_content``, signed parts also
``thinking_blocks``), several tool calls in one stream delta without an ``index`` (Mistral), missing
fields. OpenAI's reasoning models (o1/o3/o4*, gpt-5*) take ``max_completion_tokens`` instead of
``max_tokens`` and refuse sampling parameters: :func:`unsupported_params` names those before
anything is sent, and :func:`build_body` renames the cap.
Azure OpenAI's additions (content-filter results, its filter-only first stream chunk, content-filter
refusals) are handled at the end of this module; they trigger only on Azure's own fields.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from ..errors import APIError, ContentPolicyViolationError, error_from_status
from ..masking import register
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
        self._azure: AzureStream | None = None
        self._indexers: dict[int, ToolCallIndexer] = {}

    def feed(self, event: str | None, data: str) -> list[dict[str, Any]]:
        if data == "[DONE]":
            self.finished = True
            return []
        obj = load_json(data, "stream event")
        if type(obj) is not dict:
            raise TypeError(f"a stream event must be a JSON object, not {type(obj).__name__}")
        if self._azure is not None or "prompt_filter_results" in obj:  # Azure
            self._azure = self._azure or AzureStream()
            if not self._azure.take(obj):
                return []
        if "error" in obj and "choices" not in obj:
            raise_content_filter(obj, self.model)
            err = obj["error"] if isinstance(obj["error"], dict) else {"message": str(obj["error"])}
            code = err.get("code")
            status = code if isinstance(code, int) and not isinstance(code, bool) else 500
            raise error_from_status(status, str(err.get("message", obj)), model=self.model)
        obj["object"] = "chat.completion.chunk"
        if isinstance(obj.get("usage"), dict):
            _usage(obj["usage"])
        if not obj.get("model"):
            obj["model"] = self.model
        for i, c in enumerate(obj.get("choices") or ()):
            delta = c.get("delta") or {}
            if "content" not in delta or len(delta) > 1 or isinstance(delta["content"], list):  # not text alone
                _normalise(delta)
                if delta.get("tool_calls"):
                    ix = self._indexers.setdefault(c.get("index", i), ToolCallIndexer())
                    delta["tool_calls"] = ix.index(delta["tool_calls"])
            c["delta"] = delta
            reason = c.get("finish_reason")
            c["finish_reason"] = None if reason is None else _finish(reason)
        if self._azure is not None:
            self._azure.mark(obj)
        return [obj]


def error_message(status: int, body: bytes) -> str:
    return error_text(body, ("error", "message"), ("message",), ("detail",), ("error",))


# ---------------------------------------------------------------- Azure OpenAI
#
# Answers carry ``prompt_filter_results`` (top level) and each choice ``content_filter_results``: the
# content filter's verdict per category. They are kept as they are (extra fields of the response).
# A stream starts with a chunk whose ``choices`` is empty, ``id`` / ``model`` empty and ``created`` 0,
# carrying only ``prompt_filter_results``: it is folded into the first real chunk. With the asynchronous
# filter, annotation chunks (``content_filter_offsets`` + ``content_filter_results``, no delta) arrive
# without id: they get the stream's. A prompt refused by the filter is a 400 whose ``error.code`` is
# ``content_filter`` with an ``innererror`` (``code: ResponsibleAIPolicyViolation`` and
# ``content_filter_result``; the API reference spells them ``inner_error`` / ``content_filter_results``,
# both are read): a ``ContentPolicyViolationError``, in a stream as in an HTTP answer.

CONTENT_FILTER_CODES = frozenset({"content_filter", "ResponsibleAIPolicyViolation"})


def content_filter_error(data: Any) -> dict[str, Any] | None:
    """The ``error`` object of an Azure content-filter refusal (from a parsed body), else None."""
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return None
    inner = err.get("innererror") or err.get("inner_error")
    inner_code = inner.get("code") if isinstance(inner, dict) else None
    if err.get("code") in CONTENT_FILTER_CODES or inner_code in CONTENT_FILTER_CODES:
        return err
    return None


def filter_results(err: Mapping[str, Any]) -> dict[str, Any]:
    """The per-category verdicts inside a content-filter ``error`` object ({} when it gave none)."""
    inner = err.get("innererror") or err.get("inner_error")
    if not isinstance(inner, dict):
        return {}
    results = inner.get("content_filter_result") or inner.get("content_filter_results")
    return dict(results) if isinstance(results, dict) else {}


def raise_content_filter(data: Any, model: str) -> None:
    """Raise the ``ContentPolicyViolationError`` of an in-stream Azure content-filter error; else return."""
    err = content_filter_error(data)
    if err is not None:
        raise ContentPolicyViolationError(
            str(err.get("message") or "the content filter refused the request"),
            content_filter_results=filter_results(err),
            status_code=400,
            model=model,
        )


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    provider: str = "",
    model: str = "",
    secrets: tuple[str, ...] = (),
) -> APIError:
    """The typed error of an error answer: Azure's content-filter 400 is a ``ContentPolicyViolationError``
    (with ``.content_filter_results``); everything else is mapped by status, as for any OpenAI host.

    Example: ``error_from_response(400, {}, b'{"error":{"code":"content_filter","message":"..."}}')``
    """
    kw: dict[str, Any] = {"provider": provider, "model": model, "headers": headers, "body": body}
    message = error_message(status, body)
    if status == 400 and (b"content_filter" in body or b"ResponsibleAIPolicyViolation" in body):
        try:
            err = content_filter_error(json.loads(body))
        except (ValueError, RecursionError):
            err = None
        if err is not None:
            register(*secrets)
            return ContentPolicyViolationError(message, content_filter_results=filter_results(err), status_code=400,
                                               **kw)  # fmt: skip
    return error_from_status(status, message, secrets=secrets, **kw)


class AzureStream:
    """The state of an Azure stream: the filter-only first chunk held back, the stream's id and created."""

    def __init__(self) -> None:
        self.prompt_filters: Any = None
        self.head: tuple[Any, Any] | None = None

    def take(self, obj: dict[str, Any]) -> bool:
        """False for the filter-only chunk (kept for the next one); annotation chunks get the stream's id."""
        if not obj.get("choices") and not obj.get("usage") and "prompt_filter_results" in obj:
            self.prompt_filters = obj["prompt_filter_results"]
            return False
        if not obj.get("id") and self.head is not None:
            obj["id"], obj["created"] = self.head
        return True

    def mark(self, obj: dict[str, Any]) -> None:
        """Remember the stream's id; hand the held filter results to this chunk."""
        if obj.get("id"):
            self.head = (obj["id"], obj.get("created"))
        if self.prompt_filters is not None:
            obj["prompt_filter_results"] = self.prompt_filters
            self.prompt_filters = None
