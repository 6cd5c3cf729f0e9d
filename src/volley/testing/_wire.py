"""The four wire protocols the fake server speaks: reading a request, writing answers, events and errors.

Pure functions over dicts, no I/O. Shapes follow the providers' documented and recorded traffic:
OpenAI ``chat.completion`` / ``chat.completion.chunk``, Anthropic ``message`` and its named SSE events,
Cohere v2 ``/v2/chat`` with hyphenated events, Gemini ``GenerateContentResponse``.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

__all__ = ["WIRES", "Answer", "BadRequest", "Prompt", "Wire", "make_answer"]


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class BadRequest(Exception):
    """The request body does not follow the protocol (answered with a 400 in the provider's shape)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(slots=True)
class Prompt:
    """What the fake needs to know of one request, whatever its protocol."""

    model: str
    last_user: str
    words: int
    max_tokens: int | None
    stop: list[str]
    stream: bool
    include_usage: bool = False


@dataclass(slots=True)
class Answer:
    """One deterministic answer, before it is put in a provider's shape.

    ``finish`` is one of ``stop``, ``length``, ``stop_sequence``, ``tool``.
    """

    rid: str
    model: str
    created: int
    text: str | None
    tools: list[Tool]
    finish: str
    stop_sequence: str | None
    prompt_tokens: int
    completion_tokens: int
    include_usage: bool


@dataclass(slots=True)
class Tool:
    """One tool call of an answer: ``args`` as an object, ``json`` the same as a compact JSON string."""

    id: str
    name: str
    args: dict[str, Any]
    json: str


_PIECE = re.compile(r"\s*\S+\s*")


def pieces(text: str) -> list[str]:
    """``text`` split into word-sized deltas whose concatenation is ``text``."""
    out = _PIECE.findall(text)
    return out if out else ([text] if text else [])


def thirds(s: str) -> list[str]:
    """``s`` in (at most) three slices, as streamed tool-call arguments arrive."""
    if len(s) < 3:
        return [s] if s else []
    k = len(s) // 3
    return [s[:k], s[k : 2 * k], s[2 * k :]]


def _words(text: str) -> int:
    return len(text.split())


def make_answer(
    prompt: Prompt,
    seq: int,
    content: str | None = None,
    tool_call: dict[str, Any] | None = None,
) -> Answer:
    """The answer to ``prompt``: ``"echo: " + last user text`` unless ``content`` or ``tool_call`` is scripted.

    ``tool_call`` is one ``{"name", "arguments"}`` dict or a list of them (parallel calls). Stop sequences
    cut the text (finish ``stop_sequence``); ``max_tokens`` keeps that many words (finish ``length``).
    A tool call is never cut.
    """
    finish, stop_seq = "stop", None
    tools: list[Tool] = []
    rid = f"{seq:024x}"
    if tool_call is not None:
        calls = [tool_call] if isinstance(tool_call, dict) else list(tool_call)
        for i, call in enumerate(calls):
            args = dict(call.get("arguments") or {})
            tid = f"{seq:020x}{i:04x}"
            tools.append(Tool(tid, str(call.get("name", "tool")), args, dumps(args).decode()))
        text = content
        finish = "tool"
    else:
        text = content if content is not None else "echo: " + prompt.last_user
        if prompt.stop:
            hits = [(i, s) for s in prompt.stop if s and (i := text.find(s)) >= 0]
            if hits:
                idx, stop_seq = min(hits)
                text = text[:idx]
                finish = "stop_sequence"
        if prompt.max_tokens is not None:
            words = text.split()
            if len(words) > prompt.max_tokens:
                text = " ".join(words[: max(0, prompt.max_tokens)])
                finish, stop_seq = "length", None
    completion = _words(text or "") + sum(1 + _words(t.json.replace(",", " ")) for t in tools)
    return Answer(
        rid=rid,
        model=prompt.model,
        created=int(time.time()),
        text=text,
        tools=tools,
        finish=finish,
        stop_sequence=stop_seq,
        prompt_tokens=max(1, prompt.words),
        completion_tokens=completion,
        include_usage=prompt.include_usage,
    )


def _text_parts(content: Any, key: str = "text") -> str:
    """Text of a string or of a list of ``{"type": "text", "text": ...}`` parts (joined)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, dict):
                if part.get("type", "text") == "text" and isinstance(part.get(key), str):
                    out.append(part[key])
                elif part.get("type") == "tool_result":
                    out.append(_text_parts(part.get("content")))
        return "".join(out)
    return ""


def _int_or_none(value: Any, param: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{param}: Input should be a valid integer", param)
    return value


def _stops(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [s for s in value if isinstance(s, str)]


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def go_duration(seconds: float) -> str:
    """A duration as OpenAI writes it in ``x-ratelimit-reset-*``: ``20ms``, ``1.5s``, ``6m0s``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    if seconds < 60:
        return f"{round(seconds, 3):g}s"
    m, s = divmod(round(seconds), 60)
    return f"{m}m{s}s"


_HTTP_STATUS_TEXT = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Permission denied",
    404: "Not found",
    408: "Request timed out",
    409: "Conflict",
    413: "Request too large",
    422: "Unprocessable entity",
    429: "Rate limit exceeded",
    500: "The server had an error while processing your request. Sorry about that!",
    502: "Bad gateway",
    503: "The server is overloaded or not ready yet.",
    504: "Gateway timeout",
    529: "Overloaded",
}


def status_message(status: int) -> str:
    """A provider-like message for an injected failure ``status``."""
    return _HTTP_STATUS_TEXT.get(status, f"Error code {status}")


class Wire:
    """Base of one provider's protocol. Subclasses fill in the shapes."""

    name = ""
    #: Header style for rate-limit headers: "openai", "anthropic" or "" (none).
    ratelimit_style = ""
    #: Content-Type of its SSE answers, and the event separator.
    sse_sep = b"\n\n"

    def auth_error(self, headers: Any, query: Any, api_key: str | None) -> tuple[int, str] | None:
        """``(status, message)`` when the request's credentials are missing or wrong, else None."""
        raise NotImplementedError

    def read(self, body: Any, model: str | None) -> Prompt:
        """The ``Prompt`` of a request body; raises ``BadRequest``."""
        raise NotImplementedError

    def body(self, a: Answer) -> dict[str, Any]:
        """The non-stream JSON answer."""
        raise NotImplementedError

    def events(self, a: Answer) -> tuple[list[bytes], int]:
        """The encoded SSE events of a stream, and the index of the first closing event.

        Everything from that index on is what a truncated stream leaves out.
        """
        raise NotImplementedError

    def error_body(self, status: int, message: str, kind: str | None = None) -> dict[str, Any]:
        """The provider's JSON error body for ``status``."""
        raise NotImplementedError

    def error_event(self, message: str) -> bytes:
        """An error reported in the middle of a stream, in the provider's shape."""
        raise NotImplementedError

    def malformed_event(self) -> bytes:
        """An SSE event whose data is not valid JSON."""
        return b'data: {"id":"x","choices":[{"delta":{"content":"oops' + self.sse_sep

    def sse(self, data: Any, event: str | None = None) -> bytes:
        head = b"event: " + event.encode() + b"\n" if event else b""
        payload = data if isinstance(data, bytes) else dumps(data)
        return head + b"data: " + payload + self.sse_sep


# --------------------------------------------------------------------------------------------- OpenAI


class OpenAIWire(Wire):
    """``POST /v1/chat/completions`` (OpenAI and every OpenAI-compatible host)."""

    name = "openai"
    ratelimit_style = "openai"
    _finish = {"stop": "stop", "stop_sequence": "stop", "length": "length", "tool": "tool_calls"}
    _types = {
        400: ("invalid_request_error", None),
        401: ("invalid_request_error", "invalid_api_key"),
        403: ("permission_error", None),
        404: ("invalid_request_error", "model_not_found"),
        429: ("requests", "rate_limit_exceeded"),
    }

    def auth_error(self, headers: Any, query: Any, api_key: str | None) -> tuple[int, str] | None:
        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return 401, (
                "You didn't provide an API key. You need to provide your API key in an Authorization "
                "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
        if api_key is not None and auth[7:].strip() != api_key:
            return 401, "Incorrect API key provided. You can find your API key at the provider's dashboard."
        return None

    def read(self, body: Any, model: str | None) -> Prompt:
        if not isinstance(body, dict):
            raise BadRequest("We could not parse the JSON body of your request.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise BadRequest("you must provide a model parameter", "model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("Missing required parameter: 'messages'.", "messages")
        words, last = 0, ""
        for m in messages:
            if not isinstance(m, dict):
                raise BadRequest("Invalid type for 'messages': expected an object.", "messages")
            text = _text_parts(m.get("content"))
            words += _words(text)
            if m.get("role") == "user":
                last = text
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        opts = body.get("stream_options") or {}
        return Prompt(
            model=model,
            last_user=last,
            words=words,
            max_tokens=_int_or_none(max_tokens, "max_tokens"),
            stop=_stops(body.get("stop")),
            stream=bool(body.get("stream")),
            include_usage=bool(isinstance(opts, dict) and opts.get("include_usage")),
        )

    @staticmethod
    def _usage(a: Answer) -> dict[str, Any]:
        return {
            "prompt_tokens": a.prompt_tokens,
            "completion_tokens": a.completion_tokens,
            "total_tokens": a.prompt_tokens + a.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    @staticmethod
    def _tool(t: Tool, arguments: str) -> dict[str, Any]:
        return {"id": "call_" + t.id, "type": "function", "function": {"name": t.name, "arguments": arguments}}

    def body(self, a: Answer) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": a.text, "refusal": None, "annotations": []}
        if a.tools:
            message["tool_calls"] = [self._tool(t, t.json) for t in a.tools]
        return {
            "id": "chatcmpl-" + a.rid,
            "object": "chat.completion",
            "created": a.created,
            "model": a.model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": self._finish[a.finish]}],
            "usage": self._usage(a),
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }

    def events(self, a: Answer) -> tuple[list[bytes], int]:
        head = {
            "id": "chatcmpl-" + a.rid,
            "object": "chat.completion.chunk",
            "created": a.created,
            "model": a.model,
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }
        tail: dict[str, Any] = {"usage": None} if a.include_usage else {}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return self.sse({**head, "choices": [choice], **tail})

        out = []
        if a.tools:
            out.append(chunk({"role": "assistant", "content": a.text, "refusal": None}))
            for i, t in enumerate(a.tools):
                out.append(chunk({"tool_calls": [{"index": i, **self._tool(t, "")}]}))
                for piece in thirds(t.json):
                    out.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
        else:
            out.append(chunk({"role": "assistant", "content": "", "refusal": None}))
            out.extend(chunk({"content": p}) for p in pieces(a.text or ""))
        closing = len(out)
        out.append(chunk({}, self._finish[a.finish]))
        if a.include_usage:
            out.append(self.sse({**head, "choices": [], "usage": self._usage(a)}))
        out.append(b"data: [DONE]\n\n")
        return out, closing

    def error_body(self, status: int, message: str, kind: str | None = None) -> dict[str, Any]:
        etype, code = self._types.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
        return {"error": {"message": message, "type": kind or etype, "param": None, "code": code}}

    def error_event(self, message: str) -> bytes:
        return self.sse({"error": {"message": message, "type": "server_error", "param": None, "code": None}})


# ------------------------------------------------------------------------------------------ Anthropic


class AnthropicWire(Wire):
    """``POST /v1/messages``."""

    name = "anthropic"
    ratelimit_style = "anthropic"
    _finish = {"stop": "end_turn", "stop_sequence": "stop_sequence", "length": "max_tokens", "tool": "tool_use"}
    _types = {
        400: "invalid_request_error",
        401: "authentication_error",
        402: "billing_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        429: "rate_limit_error",
        500: "api_error",
        504: "timeout_error",
        529: "overloaded_error",
    }

    def auth_error(self, headers: Any, query: Any, api_key: str | None) -> tuple[int, str] | None:
        key = headers.get("x-api-key")
        if not key:
            bearer = headers.get("Authorization", "")
            key = bearer[7:].strip() if bearer.startswith("Bearer ") else ""
        if not key:
            return 401, "x-api-key header is required"
        if api_key is not None and key != api_key:
            return 401, "invalid x-api-key"
        if not headers.get("anthropic-version"):
            return 400, "anthropic-version: header is required"
        return None

    def read(self, body: Any, model: str | None) -> Prompt:
        if not isinstance(body, dict):
            raise BadRequest("There was an error parsing the body of your request.")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise BadRequest("model: Field required", "model")
        messages = body.get("messages")
        if not isinstance(messages, list):
            raise BadRequest("messages: Field required", "messages")
        if "max_tokens" not in body:
            raise BadRequest("max_tokens: Field required", "max_tokens")
        words, last = _words(_text_parts(body.get("system"))), ""
        for m in messages:
            if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
                raise BadRequest("messages: roles must be 'user' or 'assistant'", "messages")
            text = _text_parts(m.get("content"))
            words += _words(text)
            if m["role"] == "user":
                last = text
        return Prompt(
            model=model,
            last_user=last,
            words=words,
            max_tokens=_int_or_none(body.get("max_tokens"), "max_tokens"),
            stop=_stops(body.get("stop_sequences")),
            stream=bool(body.get("stream")),
        )

    @staticmethod
    def _usage(a: Answer, output: int) -> dict[str, Any]:
        return {
            "input_tokens": a.prompt_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": output,
            "service_tier": "standard",
        }

    def _message(self, a: Answer, content: list[Any], done: bool) -> dict[str, Any]:
        return {
            "id": "msg_" + a.rid,
            "type": "message",
            "role": "assistant",
            "model": a.model,
            "content": content,
            "stop_reason": self._finish[a.finish] if done else None,
            "stop_sequence": a.stop_sequence if done else None,
            "usage": self._usage(a, a.completion_tokens if done else 1),
        }

    def body(self, a: Answer) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if a.text or not a.tools:
            content.append({"type": "text", "text": a.text or ""})
        content.extend({"type": "tool_use", "id": "toolu_" + t.id, "name": t.name, "input": t.args} for t in a.tools)
        return self._message(a, content, True)

    def events(self, a: Answer) -> tuple[list[bytes], int]:
        ev = self.sse
        out = [ev({"type": "message_start", "message": self._message(a, [], False)}, "message_start")]
        blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
        if a.text or not a.tools:
            deltas = [{"type": "text_delta", "text": p} for p in pieces(a.text or "")]
            blocks.append(({"type": "text", "text": ""}, deltas))
        for t in a.tools:
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in ["", *thirds(t.json)]]
            blocks.append(({"type": "tool_use", "id": "toolu_" + t.id, "name": t.name, "input": {}}, deltas))
        closing = 0
        for i, (block, deltas) in enumerate(blocks):
            if i:
                out.append(ev({"type": "content_block_stop", "index": i - 1}, "content_block_stop"))
            out.append(ev({"type": "content_block_start", "index": i, "content_block": block}, "content_block_start"))
            if i == 0:
                out.append(ev({"type": "ping"}, "ping"))
            for d in deltas:
                out.append(ev({"type": "content_block_delta", "index": i, "delta": d}, "content_block_delta"))
            closing = len(out)
        out.append(ev({"type": "content_block_stop", "index": len(blocks) - 1}, "content_block_stop"))
        delta = {"stop_reason": self._finish[a.finish], "stop_sequence": a.stop_sequence}
        usage = {"input_tokens": a.prompt_tokens, "output_tokens": a.completion_tokens}
        out.append(ev({"type": "message_delta", "delta": delta, "usage": usage}, "message_delta"))
        out.append(ev({"type": "message_stop"}, "message_stop"))
        return out, closing

    def error_body(self, status: int, message: str, kind: str | None = None) -> dict[str, Any]:
        etype = kind or self._types.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": etype, "message": message}, "request_id": "req_fake"}

    def error_event(self, message: str) -> bytes:
        return self.sse({"type": "error", "error": {"type": "overloaded_error", "message": message}}, "error")

    def malformed_event(self) -> bytes:
        return b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type' + b"\n\n"


# --------------------------------------------------------------------------------------------- Cohere


class CohereWire(Wire):
    """``POST /v2/chat``."""

    name = "cohere"
    _finish = {"stop": "COMPLETE", "stop_sequence": "STOP_SEQUENCE", "length": "MAX_TOKENS", "tool": "TOOL_CALL"}

    def auth_error(self, headers: Any, query: Any, api_key: str | None) -> tuple[int, str] | None:
        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return 401, "no api key supplied"
        if api_key is not None and auth[7:].strip() != api_key:
            return 401, "invalid api token"
        return None

    def read(self, body: Any, model: str | None) -> Prompt:
        if not isinstance(body, dict):
            raise BadRequest("invalid request: could not parse the request body as JSON")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise BadRequest("invalid request: model must be specified")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("invalid request: messages must contain at least one message")
        words, last = 0, ""
        for m in messages:
            if not isinstance(m, dict):
                raise BadRequest("invalid request: each message must be an object")
            text = _text_parts(m.get("content"))
            words += _words(text)
            if m.get("role") == "user":
                last = text
        return Prompt(
            model=model,
            last_user=last,
            words=words,
            max_tokens=_int_or_none(body.get("max_tokens"), "max_tokens"),
            stop=_stops(body.get("stop_sequences")),
            stream=bool(body.get("stream")),
        )

    @staticmethod
    def _usage(a: Answer) -> dict[str, Any]:
        return {
            "billed_units": {"input_tokens": a.prompt_tokens, "output_tokens": a.completion_tokens},
            "tokens": {"input_tokens": a.prompt_tokens, "output_tokens": a.completion_tokens},
        }

    @staticmethod
    def _plan(a: Answer) -> str:
        return a.text or f"I will use {', '.join(t.name for t in a.tools)}."

    @staticmethod
    def _tool(t: Tool, arguments: str) -> dict[str, Any]:
        return {
            "id": f"{t.name}_{t.id[-12:]}",
            "type": "function",
            "function": {"name": t.name, "arguments": arguments},
        }

    def body(self, a: Answer) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant"}
        if a.tools:
            message["tool_plan"] = self._plan(a)
            message["tool_calls"] = [self._tool(t, t.json) for t in a.tools]
        else:
            message["content"] = [{"type": "text", "text": a.text or ""}]
        return {"id": a.rid, "message": message, "finish_reason": self._finish[a.finish], "usage": self._usage(a)}

    def events(self, a: Answer) -> tuple[list[bytes], int]:
        ev = self.sse
        start = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}
        out = [ev({"id": a.rid, "type": "message-start", "delta": {"message": start}}, "message-start")]
        if a.tools:
            for p in pieces(self._plan(a)):
                out.append(ev({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": p}}}, "tool-plan-delta"))
            for i, t in enumerate(a.tools):
                if i:
                    out.append(ev({"type": "tool-call-end", "index": i - 1}, "tool-call-end"))
                call = {"tool_calls": self._tool(t, "")}
                out.append(ev({"type": "tool-call-start", "index": i, "delta": {"message": call}}, "tool-call-start"))
                for p in thirds(t.json):
                    delta = {"message": {"tool_calls": {"function": {"arguments": p}}}}
                    out.append(ev({"type": "tool-call-delta", "index": i, "delta": delta}, "tool-call-delta"))
            closing = len(out)
            out.append(ev({"type": "tool-call-end", "index": len(a.tools) - 1}, "tool-call-end"))
        else:
            content = {"message": {"content": {"type": "text", "text": ""}}}
            out.append(ev({"type": "content-start", "index": 0, "delta": content}, "content-start"))
            for p in pieces(a.text or ""):
                delta = {"message": {"content": {"text": p}}}
                out.append(ev({"type": "content-delta", "index": 0, "delta": delta}, "content-delta"))
            closing = len(out)
            out.append(ev({"type": "content-end", "index": 0}, "content-end"))
        end = {"finish_reason": self._finish[a.finish], "usage": self._usage(a)}
        out.append(ev({"type": "message-end", "delta": end}, "message-end"))
        out.append(b"data: [DONE]\n\n")
        return out, closing

    def error_body(self, status: int, message: str, kind: str | None = None) -> dict[str, Any]:
        return {"message": message}

    def error_event(self, message: str) -> bytes:
        end = {"finish_reason": "ERROR", "error": message}
        return self.sse({"type": "message-end", "delta": end}, "message-end")


# --------------------------------------------------------------------------------------------- Gemini


class GeminiWire(Wire):
    """``POST /v1beta/models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse``."""

    name = "gemini"
    sse_sep = b"\r\n\r\n"
    _finish = {"stop": "STOP", "stop_sequence": "STOP", "length": "MAX_TOKENS", "tool": "STOP"}
    _status = {
        400: "INVALID_ARGUMENT",
        401: "UNAUTHENTICATED",
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        409: "ABORTED",
        429: "RESOURCE_EXHAUSTED",
        499: "CANCELLED",
        500: "INTERNAL",
        501: "NOT_IMPLEMENTED",
        503: "UNAVAILABLE",
        504: "DEADLINE_EXCEEDED",
    }

    def auth_error(self, headers: Any, query: Any, api_key: str | None) -> tuple[int, str] | None:
        key = headers.get("x-goog-api-key") or query.get("key")
        if not key:
            return 403, (
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API."
            )
        if api_key is not None and key != api_key:
            return 400, "API key not valid. Please pass a valid API key."
        return None

    def read(self, body: Any, model: str | None) -> Prompt:
        if not isinstance(body, dict):
            raise BadRequest("Invalid JSON payload received.")
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise BadRequest("* GenerateContentRequest.contents: contents is not specified")
        system = body.get("systemInstruction") or body.get("system_instruction") or {}
        words = _words(_text_parts(system.get("parts") if isinstance(system, dict) else None))
        last = ""
        for c in contents:
            if not isinstance(c, dict):
                raise BadRequest("Invalid value at 'contents': expected an object.")
            text = _text_parts(c.get("parts"))
            words += _words(text)
            if c.get("role", "user") == "user":
                last = text
        config = body.get("generationConfig") or body.get("generation_config") or {}
        return Prompt(
            model=model or "",
            last_user=last,
            words=words,
            max_tokens=_int_or_none(config.get("maxOutputTokens", config.get("max_output_tokens")), "maxOutputTokens"),
            stop=_stops(config.get("stopSequences", config.get("stop_sequences"))),
            stream=False,  # decided by the path
        )

    @staticmethod
    def _usage(a: Answer, output: int | None) -> dict[str, Any]:
        usage: dict[str, Any] = {"promptTokenCount": a.prompt_tokens}
        if output is not None:
            usage["candidatesTokenCount"] = output
        usage["totalTokenCount"] = a.prompt_tokens + (output or 0)
        usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": a.prompt_tokens}]
        return usage

    def _response(
        self, a: Answer, parts: list[dict[str, Any]], finish: str | None, output: int | None
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if finish:
            candidate["finishReason"] = finish
        candidate["index"] = 0
        return {
            "candidates": [candidate],
            "usageMetadata": self._usage(a, output),
            "modelVersion": a.model,
            "responseId": a.rid,
        }

    def body(self, a: Answer) -> dict[str, Any]:
        parts: list[dict[str, Any]] = []
        if a.text or not a.tools:
            parts.append({"text": a.text or ""})
        parts.extend({"functionCall": {"name": t.name, "args": t.args}} for t in a.tools)
        return self._response(a, parts, self._finish[a.finish], a.completion_tokens)

    def chunks(self, a: Answer) -> tuple[list[dict[str, Any]], int]:
        """The stream's ``GenerateContentResponse`` chunks (the last carries finishReason)."""
        texts = pieces(a.text or "")
        out = [self._response(a, [{"text": p}], None, None) for p in (texts if a.tools else texts[:-1])]
        if a.tools:
            last_parts = [{"functionCall": {"name": t.name, "args": t.args}} for t in a.tools]
        else:
            last_parts = [{"text": texts[-1] if texts else ""}]
        closing = len(out)
        out.append(self._response(a, last_parts, self._finish[a.finish], a.completion_tokens))
        return out, closing

    def events(self, a: Answer) -> tuple[list[bytes], int]:
        chunks, closing = self.chunks(a)
        return [self.sse(c) for c in chunks], closing

    def error_body(self, status: int, message: str, kind: str | None = None) -> dict[str, Any]:
        return {"error": {"code": status, "message": message, "status": kind or self._status.get(status, "UNKNOWN")}}

    def error_event(self, message: str) -> bytes:
        return self.sse(self.error_body(503, "The model is overloaded. Please try again later."))


WIRES: dict[str, Wire] = {w.name: w for w in (OpenAIWire(), AnthropicWire(), CohereWire(), GeminiWire())}
