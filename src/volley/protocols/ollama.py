"""Ollama's native chat API (``POST {api_base}/api/chat``), streamed as newline-delimited JSON.

Pure mapping, no I/O. OpenAI messages keep their roles; content parts become the message text plus
``images`` (base64, from ``data:`` URLs); tool calls carry their arguments as an object, tool
results name their tool (``tool_name``); an assistant's ``reasoning_content`` goes back as
``thinking``. Sampling goes in ``options`` (``max_tokens`` is ``num_predict``), ``response_format``
becomes ``format`` (``"json"`` or the JSON schema), ``reasoning_effort`` becomes ``think``
(``false``, or the level: minimal → low, xhigh → max), ``logprobs`` / ``top_logprobs`` pass through.

Answers: ``message.thinking`` → ``reasoning_content``; ``done_reason`` → the finish reason
(``tool_calls`` when the message calls tools); ``prompt_eval_count`` / ``eval_count`` → usage;
``logprobs`` → OpenAI's ``choices[].logprobs``. A stream is one JSON object per line, the last with
``done: true`` and the counts; an ``{"error": ...}`` line is an in-stream error.

Example::

    build_body("qwen3", [{"role": "user", "content": "hi"}], {"max_tokens": 50}, stream=False)
    # {"model": "qwen3", "messages": [...], "stream": False, "options": {"num_predict": 50}}
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from ..errors import BadRequestError, error_from_status
from .base import (
    chunk,
    copy_renamed,
    endpoint,
    error_text,
    load_json,
    merge_extra,
    output_cap,
    parse_arguments,
    stop_list,
    text_of,
    tool_arguments,
    usage,
)

NAME = "ollama"

SUPPORTED_PARAMS = frozenset(
    {
        "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed",
        "presence_penalty", "frequency_penalty", "tools", "tool_choice", "response_format",
        "reasoning_effort", "thinking", "logprobs", "top_logprobs",
        "stream_options",  # accepted and ignored: the last line always carries the counts
    }
)  # fmt: skip

HEADERS: dict[str, str] = {}
AUTH = ("Authorization", "Bearer {key}")  # ollama.com's API (OLLAMA_API_KEY); a local server needs none

THINK: dict[str, bool | str] = {
    "none": False, "minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "max",
}  # fmt: skip
"""``reasoning_effort`` → ``think`` (Ollama's levels are low, medium, high and max)."""

_OPTIONS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "seed": "seed",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
}


def _bad(message: str) -> BadRequestError:
    return BadRequestError(message, provider=NAME)


# ---------------------------------------------------------------- request


def url(base: str, model: str, *, stream: bool) -> str:
    """``{base}/api/chat`` (the same endpoint streams or not, by the body's ``stream``)."""
    return endpoint(base, "/api/chat")


def build_body(model: str, messages: list[dict[str, Any]], params: dict[str, Any], *, stream: bool) -> dict[str, Any]:
    """OpenAI-style ``messages`` + ``params`` → an ``/api/chat`` body (``stream`` always explicit:
    Ollama streams unless told not to)."""
    body: dict[str, Any] = {"model": model, "messages": convert_messages(messages), "stream": stream}
    options: dict[str, Any] = {}
    copy_renamed(params, options, _OPTIONS)
    cap = output_cap(params)
    if cap is not None:
        options["num_predict"] = cap
    stop = stop_list(params)
    if stop:
        options["stop"] = stop
    if options:
        body["options"] = options
    fmt = _format(params.get("response_format"))
    if fmt is not None:
        body["format"] = fmt
    if params.get("tools") and params.get("tool_choice") != "none":
        body["tools"] = list(params["tools"])
    think = _think(params)
    if think is not None:
        body["think"] = think
    if params.get("logprobs") or params.get("top_logprobs"):
        body["logprobs"] = True
        if params.get("top_logprobs"):
            body["top_logprobs"] = params["top_logprobs"]
    return merge_extra(body, params)


def unsupported_params(model: str, params: dict[str, Any]) -> dict[str, str]:
    """Ollama cannot force a tool: ``tool_choice`` other than "auto" / "none" is refused."""
    choice = params.get("tool_choice")
    if choice is not None and choice not in ("auto", "none"):
        return {"tool_choice": "Ollama has no way to force a tool call; use 'auto' or 'none'"}
    return {}


def _format(response_format: Any) -> Any:
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        return schema if isinstance(schema, dict) else "json"
    return None


def _think(params: dict[str, Any]) -> bool | str | None:
    thinking = params.get("thinking")
    if isinstance(thinking, dict):
        return thinking.get("type") != "disabled"
    if thinking is not None:
        raise _bad(f'thinking must be a dict such as {{"type": "enabled"}}; got {thinking!r}')
    effort = params.get("reasoning_effort")
    if effort is None:
        return None
    if effort not in THINK:
        raise _bad(f"reasoning_effort must be one of {', '.join(THINK)}; got {effort!r}")
    return THINK[effort]


def convert_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI chat messages → Ollama messages.

    Example::

        convert_messages([{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "hi"}])
        # → [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    """
    names = {
        call.get("id"): (call.get("function") or {}).get("name")
        for msg in messages
        if msg.get("role") == "assistant"
        for call in msg.get("tool_calls") or ()
    }
    out: list[dict[str, Any]] = []
    for msg in messages:
        role = msg.get("role")
        if role in ("system", "developer"):
            out.append({"role": "system", "content": text_of(msg.get("content"))})
        elif role == "assistant":
            out.append(_assistant(msg))
        elif role in ("tool", "function"):
            turn: dict[str, Any] = {"role": "tool", "content": text_of(msg.get("content"))}
            name = names.get(msg.get("tool_call_id")) or msg.get("name")
            if name:
                turn["tool_name"] = name
            if msg.get("tool_call_id"):
                turn["tool_call_id"] = msg["tool_call_id"]
            out.append(turn)
        else:
            out.append(_user(msg.get("content")))
    return out


def _assistant(msg: dict[str, Any]) -> dict[str, Any]:
    turn: dict[str, Any] = {"role": "assistant", "content": text_of(msg.get("content"))}
    if isinstance(msg.get("reasoning_content"), str) and msg["reasoning_content"]:
        turn["thinking"] = msg["reasoning_content"]
    calls = []
    for call in msg.get("tool_calls") or ():
        fn = call.get("function") or {}
        args = parse_arguments(fn.get("arguments"))
        entry: dict[str, Any] = {
            "function": {"name": fn.get("name") or "", "arguments": args if isinstance(args, dict) else {"value": args}}
        }
        if call.get("id"):
            entry["id"] = call["id"]
        calls.append(entry)
    if calls:
        turn["tool_calls"] = calls
    return turn


def _user(content: Any) -> dict[str, Any]:
    """User content → ``{"role": "user", "content": text, "images": [base64, ...]}``."""
    if content is None or isinstance(content, str):
        return {"role": "user", "content": content or ""}
    texts: list[str] = []
    images: list[str] = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif part.get("type") in ("text", "input_text"):
            texts.append(part.get("text") or "")
        elif part.get("type") == "image_url":
            image = part.get("image_url")
            images.append(_image(image.get("url", "") if isinstance(image, dict) else str(image or "")))
        else:
            raise _bad(f"content part type {part.get('type')!r} is not supported by Ollama's /api/chat")
    turn: dict[str, Any] = {"role": "user", "content": "".join(texts)}
    if images:
        turn["images"] = images
    return turn


def _image(url: str) -> str:
    """A ``data:`` URL → its base64 payload (Ollama takes images as base64 only)."""
    if not url.startswith("data:"):
        raise _bad("Ollama takes images as base64 data: URLs (data:image/png;base64,...), not web URLs")
    header, _, data = url[5:].partition(",")
    if ";base64" not in header or not data:
        raise _bad("an image data: URL must be base64 (data:image/png;base64,...)")
    return data


# ---------------------------------------------------------------- response


def _finish(reason: Any, has_tool_calls: bool) -> str:
    if has_tool_calls:
        return "tool_calls"
    return "length" if str(reason or "") == "length" else "stop"


def _usage(data: dict[str, Any]) -> dict[str, int]:
    return usage(data.get("prompt_eval_count"), data.get("eval_count"))


def _tool_call(call: Any, index: int | None = None) -> dict[str, Any]:
    fn = call.get("function") if isinstance(call, dict) else None
    fn = fn if isinstance(fn, dict) else {}
    out: dict[str, Any] = {
        "id": str(call.get("id") or f"call_{uuid.uuid4().hex[:24]}"),
        "type": "function",
        "function": {"name": fn.get("name") or "", "arguments": tool_arguments(fn.get("arguments"))},
    }
    return out if index is None else {"index": index, **out}


def logprobs(items: Any) -> dict[str, Any] | None:
    """Ollama ``logprobs`` (token, logprob, bytes, top_logprobs) → OpenAI's ``logprobs``, or None."""
    if not isinstance(items, list) or not items:
        return None
    content = []
    for item in items:
        if not isinstance(item, dict):
            continue
        entry = _token(item)
        entry["top_logprobs"] = [_token(t) for t in item.get("top_logprobs") or () if isinstance(t, dict)]
        content.append(entry)
    return {"content": content, "refusal": None}


def _token(item: dict[str, Any]) -> dict[str, Any]:
    token = str(item.get("token") or "")
    value = item.get("logprob")
    raw = item.get("bytes")
    return {
        "token": token,
        "logprob": float(value) if isinstance(value, (int, float)) else 0.0,
        "bytes": raw if isinstance(raw, list) else list(token.encode("utf-8")),
    }


def _raise_error(obj: dict[str, Any], model: str, status: int = 500) -> None:
    raise error_from_status(status, str(obj.get("error") or obj), provider=NAME, model=model, body=obj)


def parse_response(data: dict[str, Any], model: str) -> dict[str, Any]:
    """An ``/api/chat`` answer (``stream: false``) → an OpenAI ``chat.completion`` dict.

    Example::

        parse_response({"model": "qwen3", "message": {"role": "assistant", "content": "Hi", "thinking": "hm"},
                        "done": True, "done_reason": "stop", "prompt_eval_count": 5, "eval_count": 2}, "qwen3")
    """
    if isinstance(data, dict) and "error" in data and "message" not in data:
        _raise_error(data, model)
    if not isinstance(data, dict) or not isinstance(data.get("message"), dict):
        raise error_from_status(502, f"unexpected response shape: {str(data)[:200]}", provider=NAME, model=model)
    msg = data["message"]
    calls = [_tool_call(c) for c in msg.get("tool_calls") or ()]
    content = msg.get("content") if isinstance(msg.get("content"), str) else ""
    message: dict[str, Any] = {"role": "assistant", "content": content if content or not calls else None}
    if calls:
        message["tool_calls"] = calls
    if isinstance(msg.get("thinking"), str) and msg["thinking"]:
        message["reasoning_content"] = msg["thinking"]
    choice: dict[str, Any] = {
        "index": 0,
        "message": message,
        "finish_reason": _finish(data.get("done_reason"), bool(calls)),
    }
    lp = logprobs(data.get("logprobs"))
    if lp is not None:
        choice["logprobs"] = lp
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": data.get("model") or model,
        "choices": [choice],
        "usage": _usage(data),
    }


class StreamParser:
    """``/api/chat`` stream lines → OpenAI ``chat.completion.chunk`` dicts.

    ``feed(event, data)`` takes one line (its parsed object, or the text). The line with
    ``done: true`` gives the finish chunk and the usage chunk and ends the stream.

    Example::

        p = StreamParser("qwen3")
        p.feed(None, {"model": "qwen3", "message": {"role": "assistant", "content": "Hi"}, "done": False})
    """

    def __init__(self, model: str) -> None:
        self.model = model
        self.finished = False
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self._started = False
        self._tools = 0

    def _chunk(self, delta: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        return chunk(self.id, self.model, self.created, delta, **kw)

    def feed(self, event: str | None, data: Any) -> list[dict[str, Any]]:
        """One line → zero or more chunks; raises the ``APIError`` of an ``{"error": ...}`` line."""
        if isinstance(data, (str, bytes)):
            if not data.strip():
                return []
            data = load_json(data, "stream line")
        if not isinstance(data, dict):
            return []
        if "error" in data and "message" not in data:
            _raise_error(data, self.model)
        out: list[dict[str, Any]] = []
        if not self._started:
            self._started = True
            self.model = data.get("model") or self.model
            out.append(self._chunk({"role": "assistant", "content": ""}))
        found = data.get("message")
        msg: dict[str, Any] = found if isinstance(found, dict) else {}
        if isinstance(msg.get("thinking"), str) and msg["thinking"]:
            out.append(self._chunk({"reasoning_content": msg["thinking"]}))
        if isinstance(msg.get("content"), str) and msg["content"]:
            piece = self._chunk({"content": msg["content"]})
            lp = logprobs(data.get("logprobs"))
            if lp is not None:
                piece["choices"][0]["logprobs"] = lp
            out.append(piece)
        for call in msg.get("tool_calls") or ():
            out.append(self._chunk({"tool_calls": [_tool_call(call, self._tools)]}))
            self._tools += 1
        if data.get("done"):
            self.finished = True
            out.append(self._chunk({}, finish_reason=_finish(data.get("done_reason"), self._tools > 0)))
            out.append(self._chunk(usage=_usage(data)))
        return out


def error_message(status: int, body: bytes) -> str:
    """The ``error`` of an Ollama error body (``{"error": "..."}``), else the body as text."""
    return error_text(body, ("error",), ("error", "message"), ("message",))
