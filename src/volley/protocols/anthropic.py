"""Anthropic Messages API (``POST {api_base}/v1/messages``).

Maps OpenAI-shape chat requests onto Anthropic's: ``system`` becomes a top-level field,
``max_tokens`` is always sent, tool calls and tool results become ``tool_use`` / ``tool_result``
content blocks, and turns are merged so that user and assistant alternate. ``response_format``
is emulated with a forced tool (``json_response``) whose input is handed back as the message
content. Responses and SSE streams are mapped back to ``chat.completion`` (chunk) dicts.

Extended thinking: ``thinking={"type": "enabled", "budget_tokens": N}`` goes as is, and
``reasoning_effort`` becomes such a budget (:data:`~volley.protocols.base.THINKING_BUDGET`); the
default ``max_tokens`` then leaves room for it. Thinking blocks come back as ``reasoning_content``
plus ``thinking_blocks`` (signatures and ``redacted_thinking`` kept), and assistant messages that
carry ``thinking_blocks`` send them back first in their turn, as the API requires for tool use.
While thinking is on, the API refuses temperature other than 1, top_p below 0.95 and a forced
``tool_choice``: :func:`unsupported_params` names them before anything is sent.
"""

from __future__ import annotations

import time
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
    reasoning_budget,
    stop_list,
    text_of,
    tool_arguments,
    usage,
)

NAME = "anthropic"

SUPPORTED_PARAMS = frozenset(
    {
        "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "user",
        "tools", "tool_choice", "parallel_tool_calls", "response_format", "reasoning_effort", "thinking",
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
    thinking = thinking_param(params)
    max_tokens = output_cap(params)
    body: dict[str, Any] = {"model": model, "messages": turns, "max_tokens": default_max_tokens(params)}
    if max_tokens is not None:
        budget = thinking.get("budget_tokens") if thinking else None
        if isinstance(budget, int) and max_tokens <= budget:
            raise BadRequestError(
                f"max_tokens ({max_tokens}) must be larger than the thinking budget ({budget}): it caps the "
                "thinking and the answer together; raise max_tokens or lower the budget",
                provider=NAME,
                model=model,
            )
        body["max_tokens"] = max_tokens
    if thinking is not None:
        body["thinking"] = thinking
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
        if not tools and not _thinks(thinking):  # else the choice is the model's (thinking forbids forcing)
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


def thinking_param(params: dict[str, Any]) -> dict[str, Any] | None:
    """The ``thinking`` field to send: the caller's ``thinking`` dict as is, else ``reasoning_effort``
    as ``{"type": "enabled", "budget_tokens": N}`` ("none": no field); None when neither is set."""
    thinking = params.get("thinking")
    if thinking is not None:
        if not isinstance(thinking, dict):
            raise BadRequestError(
                f'thinking must be a dict such as {{"type": "enabled", "budget_tokens": 2048}}; got {thinking!r}',
                provider=NAME,
            )
        return thinking
    budget = reasoning_budget(params, NAME)
    return {"type": "enabled", "budget_tokens": budget} if budget else None


def _thinks(thinking: dict[str, Any] | None) -> bool:
    return thinking is not None and bool(thinking) and thinking.get("type") != "disabled"


def default_max_tokens(params: dict[str, Any]) -> int:
    """The ``max_tokens`` sent when the caller gave none: :data:`DEFAULT_MAX_TOKENS`, plus the thinking
    budget when thinking is on (the cap covers both)."""
    thinking = thinking_param(params)
    budget = thinking.get("budget_tokens") if thinking is not None and _thinks(thinking) else None
    return DEFAULT_MAX_TOKENS + (budget if isinstance(budget, int) and not isinstance(budget, bool) else 0)


def unsupported_params(model: str, params: dict[str, Any]) -> dict[str, str]:
    """What the API refuses while thinking is on: temperature other than 1, top_p below 0.95, and a
    ``tool_choice`` that forces a tool (``required`` or a named function). Nothing without thinking.

    Example: ``unsupported_params("claude-sonnet-4-5", {"reasoning_effort": "low", "temperature": 0})``
    → ``{"temperature": "..."}``
    """
    if not _thinks(thinking_param(params)):
        return {}
    out: dict[str, str] = {}
    temperature, top_p, choice = params.get("temperature"), params.get("top_p"), params.get("tool_choice")
    if temperature is not None and temperature != 1:
        out["temperature"] = "with extended thinking only temperature=1 is accepted"
    if top_p is not None and top_p < 0.95:
        out["top_p"] = "with extended thinking top_p must be between 0.95 and 1"
    if choice == "required" or (isinstance(choice, dict) and choice.get("type") in ("function", "tool", "any")):
        out["tool_choice"] = "with extended thinking a tool cannot be forced (use 'auto' or 'none')"
    return out


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
    blocks = _thinking_blocks(msg.get("thinking_blocks"))
    blocks += _blocks(msg.get("content"))
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


def _thinking_blocks(blocks: Any) -> list[dict[str, Any]]:
    """An assistant message's ``thinking_blocks`` → the signed ``thinking`` and ``redacted_thinking``
    blocks to send back (a thinking block without its signature cannot be: it is left out)."""
    out: list[dict[str, Any]] = []
    for block in blocks or ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "thinking" and block.get("signature"):
            out.append({"type": "thinking", "thinking": block.get("thinking") or "", "signature": block["signature"]})
        elif block.get("type") == "redacted_thinking" and block.get("data"):
            out.append({"type": "redacted_thinking", "data": block["data"]})
    return out


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
    found = obj.get("error")
    err: dict[str, Any] = found if isinstance(found, dict) else {}
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
    blocks: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    json_text: str | None = None
    for block in data["content"]:
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "thinking":
            thinking.append(block.get("thinking") or "")
            kept: dict[str, Any] = {"type": "thinking", "thinking": thinking[-1]}
            if block.get("signature"):
                kept["signature"] = block["signature"]
            blocks.append(kept)
        elif kind == "redacted_thinking" and block.get("data"):
            blocks.append({"type": "redacted_thinking", "data": block["data"]})
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
    if blocks:
        message["thinking_blocks"] = blocks
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
        self._thinking: dict[int, dict[str, Any]] = {}  # block index → thinking block being built
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
        if kind == "content_block_stop":
            block = self._thinking.pop(obj.get("index", 0), None)
            return [self._chunk({"thinking_blocks": [block]})] if block else []
        if kind == "message_stop":
            self.finished = True
            return []
        if kind == "error":
            _raise_error(obj, self.model)
        return []  # ping, unknown events

    def _block_start(self, index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        if kind == "thinking":
            self._thinking[index] = {"type": "thinking", "thinking": block.get("thinking") or ""}
            if block.get("signature"):
                self._thinking[index]["signature"] = block["signature"]
            return [self._chunk({"reasoning_content": block["thinking"]})] if block.get("thinking") else []
        if kind == "redacted_thinking" and block.get("data"):
            return [self._chunk({"thinking_blocks": [{"type": "redacted_thinking", "data": block["data"]}]})]
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
            block = self._thinking.setdefault(index, {"type": "thinking", "thinking": ""})
            block["thinking"] += delta["thinking"]
            return [self._chunk({"reasoning_content": delta["thinking"]})]
        if kind == "signature_delta" and delta.get("signature"):
            block = self._thinking.setdefault(index, {"type": "thinking", "thinking": ""})
            block["signature"] = block.get("signature", "") + delta["signature"]
        return []  # citations_delta, ...


def error_message(status: int, body: bytes) -> str:
    """The ``error.message`` of an Anthropic error body, else the body as text."""
    return error_text(body, ("error", "message"), ("message",))
