"""Cohere Chat API v2 (``POST {api_base}/v2/chat``).

Cohere v2 messages are close to OpenAI's: roles ``system`` / ``user`` / ``assistant`` / ``tool``,
function tools and tool calls in the OpenAI shape. The differences mapped here: ``top_p`` is ``p``,
``stop`` is ``stop_sequences``, ``tool_choice`` is ``REQUIRED`` / ``NONE`` (no named function),
a JSON schema goes in ``response_format.json_schema``, an assistant turn that calls tools carries its
text as ``tool_plan``, and finish reasons, usage and the hyphenated SSE events
(``message-start``, ``content-delta``, ``tool-call-start`` ... ``message-end``) have their own names.
Reasoning models: ``reasoning_effort`` or an Anthropic-style ``thinking`` budget become Cohere's
``thinking`` (``{"type": "enabled", "token_budget": N}`` / ``{"type": "disabled"}``); thinking
content comes back as ``reasoning_content``.
"""

from __future__ import annotations

import time
from typing import Any

from ..errors import UnsupportedParamsError, error_from_status
from .base import (
    chunk,
    copy_renamed,
    endpoint,
    error_text,
    load_json,
    merge_extra,
    output_cap,
    reasoning_budget,
    stop_list,
    text_of,
    tool_arguments,
    usage,
)

NAME = "cohere"

SUPPORTED_PARAMS = frozenset(
    {
        "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed",
        "tools", "tool_choice", "response_format", "presence_penalty", "frequency_penalty",
        "logprobs", "reasoning_effort", "thinking",
        "stream_options",  # accepted and ignored: the usage chunk is always sent
    }
)  # fmt: skip
#: Provider parameters volley passes through (LiteLLM's names) and where they go in the body.
PASSTHROUGH = {"top_k": ("k",)}

_FINISH = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "USER_CANCEL": "stop",
    "MAX_TOKENS": "length",
    "ERROR_LIMIT": "length",
    "TOOL_CALL": "tool_calls",
    "ERROR_TOXIC": "content_filter",
}
"""Cohere ``finish_reason`` → OpenAI's; anything else (``ERROR``, ``TIMEOUT``, new values) → ``stop``."""


# ---------------------------------------------------------------- request


_RENAMED = {
    "temperature": "temperature",
    "top_p": "p",
    "seed": "seed",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
}


HEADERS: dict[str, str] = {}
AUTH = ("Authorization", "Bearer {key}")


def url(base: str, model: str, *, stream: bool) -> str:
    """``{base}/v2/chat``."""
    return endpoint(base, "/v2/chat")


def build_body(model: str, messages: list[dict[str, Any]], params: dict[str, Any], *, stream: bool) -> dict[str, Any]:
    """OpenAI-style ``messages`` + ``params`` → a Cohere v2 chat body.

    Example::

        build_body("command-a-03-2025", [{"role": "user", "content": "hi"}], {"top_p": 0.9}, stream=False)
        # {"model": "command-a-03-2025", "messages": [...], "p": 0.9}
    """
    body: dict[str, Any] = {"model": model, "messages": convert_messages(messages)}
    copy_renamed(params, body, _RENAMED)
    max_tokens = output_cap(params)
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    stop = stop_list(params)
    if stop:
        body["stop_sequences"] = stop
    if params.get("logprobs"):
        body["logprobs"] = True
    budget = reasoning_budget(params, NAME)
    if budget is not None:
        body["thinking"] = {"type": "enabled", "token_budget": budget} if budget else {"type": "disabled"}

    tools = params.get("tools") or []
    if tools:
        body["tools"] = [_tool(t) for t in tools]
        functions = [t.get("function") or {} for t in tools if t.get("type") == "function"]
        if functions and all(fn.get("strict") for fn in functions):
            body["strict_tools"] = True
    choice = _tool_choice(params.get("tool_choice"), tools)
    if choice:
        body["tool_choice"] = choice
    response_format = _response_format(params.get("response_format"))
    if response_format:
        body["response_format"] = response_format
    if stream:
        body["stream"] = True
    return merge_extra(body, params)


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    """OpenAI function tool → Cohere v2 tool (same shape, minus OpenAI-only keys)."""
    if tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
        return tool
    fn = tool["function"]
    out: dict[str, Any] = {"name": fn["name"]}
    if fn.get("description"):
        out["description"] = fn["description"]
    out["parameters"] = fn.get("parameters") or {"type": "object", "properties": {}}
    return {"type": "function", "function": out}


def _tool_choice(choice: Any, tools: list[dict[str, Any]]) -> str | None:
    """OpenAI ``tool_choice`` → ``REQUIRED`` / ``NONE`` / None (auto).

    Cohere cannot force one named function; that is refused, except when it is the only tool
    (then "required" means the same thing).
    """
    if choice is None or choice == "auto":
        return None
    if choice == "required":
        return "REQUIRED"
    if choice == "none":
        return "NONE"
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") or choice.get("name")
        names = [(t.get("function") or {}).get("name") for t in tools]
        if name and names == [name]:
            return "REQUIRED"
        raise UnsupportedParamsError(
            f"cohere does not support tool_choice for a specific function ({name!r}); "
            "use 'required', 'none' or 'auto', or pass only that tool",
            provider=NAME,
        )
    raise UnsupportedParamsError(f"cohere does not support tool_choice={choice!r}", provider=NAME)


def _response_format(fmt: Any) -> dict[str, Any] | None:
    if not isinstance(fmt, dict):
        return None
    kind = fmt.get("type")
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        out: dict[str, Any] = {"type": "json_object"}
        schema = (fmt.get("json_schema") or {}).get("schema")
        if schema:
            out["json_schema"] = schema
        return out
    return None


def convert_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI chat messages → Cohere v2 messages.

    Example::

        convert_messages([{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "hi"}])
        # → [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    """
    out: list[dict[str, Any]] = []
    for msg in messages:
        role = msg.get("role")
        content = msg.get("content")
        if role in ("system", "developer"):
            out.append({"role": "system", "content": text_of(content)})
        elif role == "assistant":
            out.append(_assistant(msg))
        elif role in ("tool", "function"):
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": msg.get("tool_call_id") or msg.get("name") or "",
                    "content": content if isinstance(content, str) else text_of(content),
                }
            )
        else:
            out.append({"role": "user", "content": _user_content(content)})
    return out


def _assistant(msg: dict[str, Any]) -> dict[str, Any]:
    text = text_of(msg.get("content"))
    calls = msg.get("tool_calls") or []
    if not calls:
        return {"role": "assistant", "content": text}
    out: dict[str, Any] = {
        "role": "assistant",
        "tool_calls": [
            {
                "id": call.get("id") or "",
                "type": "function",
                "function": {
                    "name": (call.get("function") or {}).get("name") or "",
                    "arguments": tool_arguments((call.get("function") or {}).get("arguments")),
                },
            }
            for call in calls
        ],
    }
    if text:
        out["tool_plan"] = text
    return out


def _user_content(content: Any) -> str | list[dict[str, Any]]:
    """User content: a string stays a string; parts become text / image_url parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, str):
            parts.append({"type": "text", "text": part})
        elif part.get("type") in ("text", "input_text"):
            parts.append({"type": "text", "text": part.get("text") or ""})
        elif part.get("type") == "image_url":
            image = part.get("image_url")
            parts.append({"type": "image_url", "image_url": image if isinstance(image, dict) else {"url": image}})
        else:  # anything else is passed on for Cohere to judge
            parts.append(part)
    return parts


# ---------------------------------------------------------------- response


def _finish(reason: Any, has_tool_calls: bool = False) -> str:
    finish = _FINISH.get(str(reason).upper(), "stop") if reason else "stop"
    if has_tool_calls and finish == "stop":
        return "tool_calls"
    return finish


def _usage(data: Any) -> dict[str, int]:
    """Cohere usage → OpenAI usage: ``tokens`` (what the model saw) first, else ``billed_units``."""
    if not isinstance(data, dict):
        return usage(0, 0)
    for key in ("tokens", "billed_units"):
        part = data.get(key)
        if isinstance(part, dict) and (part.get("input_tokens") is not None or part.get("output_tokens") is not None):
            return usage(part.get("input_tokens"), part.get("output_tokens"))
    return usage(0, 0)


def _logprobs(items: Any) -> dict[str, Any] | None:
    """Cohere logprob items (a text span, its tokens' logprobs) → OpenAI ``logprobs.content``."""
    if not isinstance(items, list):
        items = [items] if isinstance(items, dict) else []
    content = []
    for item in items:
        text = item.get("text") or ""
        content.append(
            {
                "token": text,
                "logprob": float(sum(item.get("logprobs") or ())),
                "bytes": list(text.encode("utf-8")),
                "top_logprobs": [],
            }
        )
    return {"content": content} if content else None


def _tool_call(call: dict[str, Any]) -> dict[str, Any]:
    fn = call.get("function") or {}
    return {
        "id": call.get("id") or "",
        "type": "function",
        "function": {"name": fn.get("name") or "", "arguments": tool_arguments(fn.get("arguments"))},
    }


def parse_response(data: dict[str, Any], model: str) -> dict[str, Any]:
    """A Cohere v2 chat response → an OpenAI ``chat.completion`` dict.

    ``tool_plan`` (the model's note before calling tools) is kept as an extra message field.

    Example::

        parse_response({"id": "c1", "finish_reason": "COMPLETE",
                        "message": {"role": "assistant", "content": [{"type": "text", "text": "Hi"}]},
                        "usage": {"tokens": {"input_tokens": 5, "output_tokens": 2}}}, "command-a-03-2025")
    """
    if not isinstance(data, dict) or not isinstance(data.get("message"), dict):
        raise error_from_status(502, f"unexpected response shape: {str(data)[:200]}", provider=NAME, model=model)
    msg = data["message"]
    texts: list[str] = []
    thinking: list[str] = []
    for part in msg.get("content") or ():
        if isinstance(part, str):
            texts.append(part)
        elif part.get("type") == "text":
            texts.append(part.get("text") or "")
        elif part.get("type") == "thinking":
            thinking.append(part.get("thinking") or "")
    tool_calls = [_tool_call(c) for c in msg.get("tool_calls") or ()]
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not tool_calls else None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if msg.get("tool_plan"):
        message["tool_plan"] = msg["tool_plan"]
    if thinking:
        message["reasoning_content"] = "".join(thinking)
    choice: dict[str, Any] = {
        "index": 0,
        "message": message,
        "finish_reason": _finish(data.get("finish_reason"), bool(tool_calls)),
    }
    logprobs = _logprobs(data.get("logprobs"))
    if logprobs:
        choice["logprobs"] = logprobs
    return {
        "id": data.get("id") or f"chatcmpl-{int(time.time() * 1000)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": _usage(data.get("usage")),
    }


class StreamParser:
    """Cohere v2 SSE events → OpenAI ``chat.completion.chunk`` dicts.

    ``message-end`` gives the finish chunk and the usage chunk and ends the stream; a trailing
    ``data: [DONE]`` also ends it. A ``message-end`` that carries an ``error`` raises it.

    Example::

        p = StreamParser("command-a-03-2025")
        p.feed("message-start", '{"type": "message-start", "id": "c1"}')  # → [role chunk]
    """

    def __init__(self, model: str) -> None:
        self.model = model
        self.finished = False
        self.id = f"chatcmpl-{int(time.time() * 1000)}"
        self.created = int(time.time())
        self._started = False
        self._tool_index = -1

    def _chunk(self, delta: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        return chunk(self.id, self.model, self.created, delta, **kw)

    def _start(self) -> list[dict[str, Any]]:
        if self._started:
            return []
        self._started = True
        return [self._chunk({"role": "assistant", "content": ""})]

    def feed(self, event: str | None, data: str) -> list[dict[str, Any]]:
        """One SSE event → zero or more chunks."""
        text = data.strip()
        if not text:
            return []
        if text == "[DONE]":
            self.finished = True
            return []
        obj = load_json(text, "stream event")
        if not isinstance(obj, dict):
            return []
        kind = obj.get("type") or event
        found = obj.get("delta")
        delta: dict[str, Any] = found if isinstance(found, dict) else {}
        found = delta.get("message")
        message: dict[str, Any] = found if isinstance(found, dict) else {}
        if kind == "message-start":
            self.id = obj.get("id") or self.id
            return self._start()
        if kind == "content-delta":
            return self._content(message.get("content"), obj.get("logprobs"))
        if kind == "tool-call-start":
            self._tool_index += 1
            call = _first(message.get("tool_calls"))
            fn = call.get("function") or {}
            tc = {
                "index": self._tool_index,
                "id": call.get("id") or "",
                "type": "function",
                "function": {"name": fn.get("name") or "", "arguments": fn.get("arguments") or ""},
            }
            return [*self._start(), self._chunk({"tool_calls": [tc]})]
        if kind == "tool-call-delta":
            fragment = ((_first(message.get("tool_calls")).get("function")) or {}).get("arguments")
            if not fragment or self._tool_index < 0:
                return []
            tc = {"index": self._tool_index, "function": {"arguments": fragment}}
            return [*self._start(), self._chunk({"tool_calls": [tc]})]
        if kind == "message-end":
            return self._end(delta)
        if kind == "error" or (kind is None and isinstance(obj.get("message"), str)):
            code = obj.get("status_code")
            status = code if isinstance(code, int) and not isinstance(code, bool) else 500
            raise error_from_status(status, obj.get("message") or text, provider=NAME, model=self.model, body=obj)
        return []  # content-start/end, tool-plan-delta, tool-call-end, citation-*, debug, unknown

    def _content(self, content: Any, logprobs: Any) -> list[dict[str, Any]]:
        if not isinstance(content, dict):
            return []
        out = self._start()
        if content.get("text"):
            piece = self._chunk({"content": content["text"]})
            lp = _logprobs(logprobs)
            if lp:
                piece["choices"][0]["logprobs"] = lp
            out.append(piece)
        if content.get("thinking"):
            out.append(self._chunk({"reasoning_content": content["thinking"]}))
        return out

    def _end(self, delta: dict[str, Any]) -> list[dict[str, Any]]:
        self.finished = True
        if delta.get("error"):
            raise error_from_status(500, str(delta["error"]), provider=NAME, model=self.model, body=delta)
        out = self._start()
        finish = _finish(delta.get("finish_reason"), self._tool_index >= 0)
        out.append(self._chunk({}, finish_reason=finish))
        if delta.get("usage"):
            out.append(self._chunk(usage=_usage(delta["usage"])))
        return out


def _first(value: Any) -> dict[str, Any]:
    """A stream event's ``tool_calls`` is one object (a list is tolerated: its first item)."""
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, dict) else {}


def error_message(status: int, body: bytes) -> str:
    """The ``message`` of a Cohere error body, else the body as text."""
    return error_text(body, ("message",), ("error", "message"), ("error",), ("detail",))
