"""Anthropic Messages API (``POST {api_base}/v1/messages``).

Maps OpenAI-shape chat requests onto Anthropic's: ``system`` becomes a top-level field,
``max_tokens`` is always sent, tool calls and tool results become ``tool_use`` / ``tool_result``
content blocks, and turns are merged so that user and assistant alternate. ``response_format``
is emulated with a forced tool (``json_response``) whose input is handed back as the message
content. Responses and SSE streams are mapped back to ``chat.completion`` (chunk) dicts.
"""

from __future__ import annotations

import time
from typing import Any

from ..errors import error_from_status
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

NAME = "anthropic"

SUPPORTED_PARAMS = frozenset(
    {
        "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "user",
        "tools", "tool_choice", "parallel_tool_calls", "response_format",
        "stream_options",  # accepted and ignored: the usage chunk is always sent
    }
)  # fmt: skip

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
JSON_TOOL = "json_response"
"""Name of the tool that emulates ``response_format``; its input becomes the message content."""

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
"""Anthropic error ``type`` → the HTTP status it is documented with."""


# ---------------------------------------------------------------- request


HEADERS = {"anthropic-version": API_VERSION}
AUTH = ("x-api-key", "{key}")


def url(base: str, model: str, *, stream: bool) -> str:
    """``{base}/v1/messages`` (a base that already ends with ``/v1`` keeps it)."""
    return endpoint(base, "/v1/messages")


def build_body(model: str, messages: list[dict[str, Any]], params: dict[str, Any], *, stream: bool) -> dict[str, Any]:
    """OpenAI-style ``messages`` + ``params`` → a Messages API body.

    Example::

        build_body("claude-sonnet-4-5", [{"role": "user", "content": "hi"}], {}, stream=False)
        # {"model": "claude-sonnet-4-5", "messages": [...], "max_tokens": 4096}
    """
    system, turns = convert_messages(messages)
    max_tokens = output_cap(params)
    body: dict[str, Any] = {
        "model": model,
        "messages": turns,
        "max_tokens": DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens,
    }
    if system:
        body["system"] = system
    copy_renamed(params, body, {"temperature": "temperature", "top_p": "top_p"})
    stop = stop_list(params)
    if stop:
        body["stop_sequences"] = stop
    if params.get("user"):
        body["metadata"] = {"user_id": str(params["user"])}

    tools = [_tool(t) for t in params.get("tools") or ()]
    tool_choice = _tool_choice(params.get("tool_choice"))
    json_tool = _json_tool(params.get("response_format"))
    if json_tool is not None:
        if not tools:  # with the caller's tools present, leave the choice to the model
            tool_choice = {"type": "tool", "name": JSON_TOOL}
        tools.append(json_tool)
    if tools:
        body["tools"] = tools
        if params.get("parallel_tool_calls") is False:
            tool_choice = tool_choice or {"type": "auto"}
            if tool_choice["type"] != "none":
                tool_choice["disable_parallel_tool_use"] = True
        if tool_choice is not None:
            body["tool_choice"] = tool_choice
    if stream:
        body["stream"] = True
    return merge_extra(body, params)


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    """OpenAI function tool → Anthropic tool; anything else (native Anthropic tools) passes through."""
    if tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
        return tool
    fn = tool["function"]
    out: dict[str, Any] = {"name": fn.get("name") or ""}
    if fn.get("description"):
        out["description"] = fn["description"]
    out["input_schema"] = fn.get("parameters") or {"type": "object", "properties": {}}
    if "cache_control" in tool:
        out["cache_control"] = tool["cache_control"]
    return out


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        return {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}.get(
            choice, {"type": "auto"}
        )
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") or choice.get("name")
        if choice.get("type") in ("function", "tool") and name:
            return {"type": "tool", "name": name}
        if choice.get("type") in ("auto", "any", "none"):
            return dict(choice)
    return {"type": "auto"}


def _json_tool(response_format: Any) -> dict[str, Any] | None:
    """``response_format`` → the tool that makes the model answer with a JSON object, or None."""
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema") or {"type": "object", "additionalProperties": True}
        description = spec.get("description") or "Respond with a JSON object that matches this schema."
    elif kind == "json_object":
        schema = {"type": "object", "additionalProperties": True}
        description = "Respond with a JSON object."
    else:
        return None
    return {"name": JSON_TOOL, "description": description, "input_schema": schema}


def convert_messages(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """OpenAI chat messages → (``system`` text, alternating Anthropic ``messages``).

    Example::

        convert_messages([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}])
        # → ("Be brief.", [{"role": "user", "content": "hi"}])
    """
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for msg in messages:
        role = msg.get("role")
        if role in ("system", "developer"):
            text = text_of(msg.get("content"))
            if text:
                system.append(text)
            continue
        if role == "assistant":
            blocks = _assistant_blocks(msg)
            if not blocks:
                continue
            turn: dict[str, Any] = {"role": "assistant", "content": blocks}
        elif role == "tool":
            turn = {"role": "user", "content": [_tool_result(msg)]}
        else:
            content = msg.get("content")
            if isinstance(content, str):
                turn = {"role": "user", "content": content}
            else:
                blocks = _blocks(content)
                if not blocks:
                    continue
                turn = {"role": "user", "content": blocks}
        if turns and turns[-1]["role"] == turn["role"]:
            _merge(turns[-1], turn)
        else:
            turns.append(turn)
    for turn in turns:
        content = turn["content"]
        if turn["role"] == "assistant" and len(content) == 1 and content[0].keys() == {"type", "text"}:
            turn["content"] = content[0]["text"]  # plain string for the common case
        elif turn["role"] == "user" and isinstance(content, list):
            # Anthropic wants tool_result blocks before any other block of the turn.
            content.sort(key=lambda b: b.get("type") != "tool_result")
    return "\n\n".join(system), turns


def _merge(into: dict[str, Any], turn: dict[str, Any]) -> None:
    into["content"] = _as_blocks(into["content"]) + _as_blocks(turn["content"])


def _as_blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return content


def _assistant_blocks(msg: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = _blocks(msg.get("content"))
    for call in msg.get("tool_calls") or ():
        fn = call.get("function") or {}
        args = parse_arguments(fn.get("arguments"))
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id") or "",
                "name": fn.get("name") or "",
                "input": args if isinstance(args, dict) else {"value": args},
            }
        )
    return blocks


def _tool_result(msg: dict[str, Any]) -> dict[str, Any]:
    content = msg.get("content")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": msg.get("tool_call_id") or ""}
    if isinstance(content, list):
        block["content"] = _blocks(content)
    else:
        block["content"] = "" if content is None else str(content)
    return block


def _blocks(content: Any) -> list[dict[str, Any]]:
    """OpenAI message content (string or parts) → Anthropic content blocks; empty text is dropped."""
    if content is None:
        return []
    if isinstance(content, str):
        return _as_blocks(content)
    out: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, str):
            out.extend(_as_blocks(part))
            continue
        kind = part.get("type")
        if kind in ("text", "input_text"):
            if not part.get("text"):
                continue
            block: dict[str, Any] = {"type": "text", "text": part["text"]}
        elif kind == "image_url":
            image = part.get("image_url")
            block = _image_block(image.get("url", "") if isinstance(image, dict) else str(image or ""))
        else:  # already an Anthropic block (image, document, ...): pass it on
            out.append(part)
            continue
        if "cache_control" in part:
            block["cache_control"] = part["cache_control"]
        out.append(block)
    return out


def _image_block(url: str) -> dict[str, Any]:
    """An image URL or ``data:`` URL → an Anthropic image block (a PDF becomes a document block)."""
    if url.startswith("data:"):
        header, _, data = url[5:].partition(",")
        media_type = header.split(";")[0] or "image/png"
        kind = "document" if media_type == "application/pdf" else "image"
        return {"type": kind, "source": {"type": "base64", "media_type": media_type, "data": data}}
    kind = "document" if url.lower().split("?")[0].endswith(".pdf") else "image"
    return {"type": kind, "source": {"type": "url", "url": url}}


# ---------------------------------------------------------------- response


def _finish(reason: Any) -> str:
    return _FINISH.get(str(reason), "stop") if reason else "stop"


def _usage(data: dict[str, Any]) -> dict[str, Any]:
    """Anthropic usage → OpenAI usage; cache reads and writes count as prompt tokens.

    Cache reads go to ``prompt_tokens_details.cached_tokens`` (OpenAI's place), writes to
    ``cache_creation_input_tokens``, and Anthropic's ``cache_creation`` TTL breakdown
    (``ephemeral_5m_input_tokens`` / ``ephemeral_1h_input_tokens``) is kept as it came.
    """
    created = int(data.get("cache_creation_input_tokens") or 0)
    read = int(data.get("cache_read_input_tokens") or 0)
    out: dict[str, Any] = usage(int(data.get("input_tokens") or 0) + created + read, data.get("output_tokens"))
    if created or read:
        out["prompt_tokens_details"] = {"cached_tokens": read}
        out["cache_creation_input_tokens"] = created
        out["cache_read_input_tokens"] = read
        if created and isinstance(data.get("cache_creation"), dict):
            out["cache_creation"] = dict(data["cache_creation"])
    return out


def _raise_error(obj: dict[str, Any], model: str) -> None:
    err = obj.get("error") if isinstance(obj.get("error"), dict) else {}
    status = ERROR_STATUS.get(str(err.get("type")), 500)
    raise error_from_status(status, str(err.get("message") or obj), provider=NAME, model=model, body=obj)


def parse_response(data: dict[str, Any], model: str) -> dict[str, Any]:
    """A Messages API response → an OpenAI ``chat.completion`` dict.

    Example::

        parse_response({"id": "msg_1", "type": "message", "role": "assistant",
                        "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn",
                        "usage": {"input_tokens": 5, "output_tokens": 2}}, "claude-sonnet-4-5")
    """
    if isinstance(data, dict) and data.get("type") == "error":
        _raise_error(data, model)
    if not isinstance(data, dict) or not isinstance(data.get("content"), list):
        raise error_from_status(502, f"unexpected response shape: {str(data)[:200]}", provider=NAME, model=model)
    texts: list[str] = []
    thinking: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    json_text: str | None = None
    for block in data["content"]:
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "thinking":
            thinking.append(block.get("thinking") or "")
        elif kind == "tool_use":
            if block.get("name") == JSON_TOOL:
                json_text = tool_arguments(block.get("input"))
                continue
            tool_calls.append(
                {
                    "id": block.get("id") or "",
                    "type": "function",
                    "function": {
                        "name": block.get("name") or "",
                        "arguments": tool_arguments(block.get("input")),
                    },
                }
            )
    finish = _finish(data.get("stop_reason"))
    if json_text is not None:
        content: str | None = json_text
        if not tool_calls and finish == "tool_calls":
            finish = "stop"
    else:
        content = "".join(texts) if texts or not tool_calls else None
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if thinking:
        message["reasoning_content"] = "".join(thinking)
    out: dict[str, Any] = {
        "id": data.get("id") or f"chatcmpl-{int(time.time() * 1000)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": data.get("model") or model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": _usage(data.get("usage") or {}),
    }
    return out


class StreamParser:
    """Anthropic SSE events → OpenAI ``chat.completion.chunk`` dicts.

    Example::

        p = StreamParser("claude-sonnet-4-5")
        chunks = p.feed("message_start", '{"type":"message_start","message":{"id":"msg_1"}}')
    """

    def __init__(self, model: str) -> None:
        self.model = model
        self.finished = False
        self.id = f"chatcmpl-{int(time.time() * 1000)}"
        self.created = int(time.time())
        self._usage: dict[str, Any] = {}
        self._tools: dict[int, int] = {}  # Anthropic block index → OpenAI tool-call index
        self._json_blocks: set[int] = set()  # blocks of the response_format tool
        self._tool_count = 0

    def _chunk(self, delta: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        return chunk(self.id, self.model, self.created, delta, **kw)

    def feed(self, event: str | None, data: str) -> list[dict[str, Any]]:
        """One SSE event → zero or more chunks; raises an ``APIError`` on an ``error`` event."""
        if not data.strip():
            return []
        obj = load_json(data, "stream event")
        if not isinstance(obj, dict):
            return []
        kind = obj.get("type") or event
        if kind == "content_block_delta":
            return self._delta(obj.get("index", 0), obj.get("delta") or {})
        if kind == "content_block_start":
            return self._block_start(obj.get("index", 0), obj.get("content_block") or {})
        if kind == "message_start":
            msg = obj.get("message") or {}
            self.id = msg.get("id") or self.id
            self.model = msg.get("model") or self.model
            self._usage = dict(msg.get("usage") or {})
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "message_delta":
            for key, value in (obj.get("usage") or {}).items():
                if value is not None:
                    self._usage[key] = value
            stop = (obj.get("delta") or {}).get("stop_reason")
            out = []
            if stop:
                finish = _finish(stop)
                if finish == "tool_calls" and not self._tool_count and self._json_blocks:
                    finish = "stop"
                out.append(self._chunk({}, finish_reason=finish))
            out.append(self._chunk(usage=_usage(self._usage)))
            return out
        if kind == "message_stop":
            self.finished = True
            return []
        if kind == "error":
            _raise_error(obj, self.model)
        return []  # ping, content_block_stop, unknown events

    def _block_start(self, index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        if kind != "tool_use":
            return []
        if block.get("name") == JSON_TOOL:
            self._json_blocks.add(index)
            return []
        self._tools[index] = self._tool_count
        self._tool_count += 1
        call = {
            "index": self._tools[index],
            "id": block.get("id") or "",
            "type": "function",
            "function": {"name": block.get("name") or "", "arguments": ""},
        }
        return [self._chunk({"tool_calls": [call]})]

    def _delta(self, index: int, delta: dict[str, Any]) -> list[dict[str, Any]]:
        kind = delta.get("type")
        if kind == "text_delta":
            return [self._chunk({"content": delta.get("text") or ""})]
        if kind == "input_json_delta":
            fragment = delta.get("partial_json") or ""
            if not fragment:
                return []
            if index in self._json_blocks:
                return [self._chunk({"content": fragment})]
            if index in self._tools:
                call = {"index": self._tools[index], "function": {"arguments": fragment}}
                return [self._chunk({"tool_calls": [call]})]
            return []
        if kind == "thinking_delta" and delta.get("thinking"):
            return [self._chunk({"reasoning_content": delta["thinking"]})]
        return []  # signature_delta, citations_delta, ...


def error_message(status: int, body: bytes) -> str:
    """The ``error.message`` of an Anthropic error body, else the body as text."""
    return error_text(body, ("error", "message"), ("message",))
