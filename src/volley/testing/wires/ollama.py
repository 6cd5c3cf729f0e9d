"""The Ollama native chat wire: ``POST /api/chat``, streamed as newline-delimited JSON.

Shapes from Ollama's API reference (docs/api.md, api/types.go): a message's ``content`` is a string
(``images`` beside it, base64), tool calls carry ``function.arguments`` as an object, ``think`` is a
boolean or a level, ``stream`` defaults to true; an answer has ``message`` (``content``,
``thinking``, ``tool_calls``), ``done``, ``done_reason`` and the counts ``prompt_eval_count`` /
``eval_count`` with durations in nanoseconds; errors are ``{"error": "..."}``, also as a stream line.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from .base import Answer, BadRequest, Prompt, Wire, dumps, int_or_none, pieces, stops, word_count

_ROLES = frozenset({"system", "user", "assistant", "tool"})
_THINK_LEVELS = frozenset({"low", "medium", "high", "max"})


def _created_at() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class OllamaWire(Wire):
    """``POST /api/chat`` (a local server needs no key; with ``FakeServer(api_key=...)`` it wants that
    Bearer token, as ollama.com's API does)."""

    name = "ollama"
    stream_content_type = "application/x-ndjson"

    def auth_error(self, headers: Any, query: Any, api_key: str | None) -> tuple[int, str] | None:
        if api_key is None:
            return None
        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:].strip() != api_key:
            return 401, "unauthorized"
        return None

    def read(self, body: Any, model: str | None) -> Prompt:
        if not isinstance(body, dict):
            raise BadRequest("invalid request body")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise BadRequest("model is required")
        messages = body.get("messages")
        if not isinstance(messages, list):
            raise BadRequest("messages is required")
        words, last = 0, ""
        for m in messages:
            if not isinstance(m, dict) or m.get("role") not in _ROLES:
                raise BadRequest(f"invalid role in message: {m.get('role') if isinstance(m, dict) else m!r}")
            content = m.get("content", "")
            if not isinstance(content, str):
                raise BadRequest(
                    f"json: cannot unmarshal {type(content).__name__} into Go struct field Message.messages.content "
                    "of type string"
                )
            if not all(isinstance(i, str) for i in m.get("images") or ()):
                raise BadRequest("images must be base64 strings")
            for call in m.get("tool_calls") or ():
                if not isinstance((call.get("function") or {}).get("arguments", {}), dict):
                    raise BadRequest("tool call arguments must be an object")
            words += word_count(content)
            if m["role"] == "user":
                last = content
        think = body.get("think")
        if think is not None and not isinstance(think, bool) and think not in _THINK_LEVELS:
            raise BadRequest(f"invalid think value: {think!r} (must be true, false, or a level)")
        options = body.get("options") or {}
        if not isinstance(options, dict):
            raise BadRequest("options must be an object")
        stream = body.get("stream", True)
        return Prompt(
            model=model,
            last_user=last,
            words=words,
            max_tokens=int_or_none(options.get("num_predict"), "num_predict"),
            stop=stops(options.get("stop")),
            stream=stream is not False,
        )

    @staticmethod
    def _done(a: Answer) -> dict[str, Any]:
        return {
            "done": True,
            "done_reason": "length" if a.finish == "length" else "stop",
            "total_duration": 5_000_000,
            "load_duration": 1_000_000,
            "prompt_eval_count": a.prompt_tokens,
            "prompt_eval_duration": 1_000_000,
            "eval_count": a.completion_tokens,
            "eval_duration": 3_000_000,
        }

    @staticmethod
    def _calls(a: Answer) -> list[dict[str, Any]]:
        return [
            {"id": "call_" + t.id, "function": {"index": i, "name": t.name, "arguments": t.args}}
            for i, t in enumerate(a.tools)
        ]

    def body(self, a: Answer) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": a.text or ""}
        if a.reasoning:
            message["thinking"] = a.reasoning
        if a.tools:
            message["tool_calls"] = self._calls(a)
        return {"model": a.model, "created_at": _created_at(), "message": message, **self._done(a)}

    def events(self, a: Answer) -> tuple[list[bytes], int]:
        def line(message: dict[str, Any], **extra: Any) -> bytes:
            obj = {"model": a.model, "created_at": _created_at(), "message": {"role": "assistant", **message}}
            return dumps({**obj, "done": False, **extra}) + b"\n"

        out = [line({"content": "", "thinking": p}) for p in pieces(a.reasoning or "")]
        out.extend(line({"content": p}) for p in pieces(a.text or ""))
        if a.tools:
            out.append(line({"content": "", "tool_calls": self._calls(a)}))
        closing = len(out)
        final = {"model": a.model, "created_at": _created_at(), "message": {"role": "assistant", "content": ""}}
        out.append(dumps({**final, **self._done(a)}) + b"\n")
        return out, closing

    def error_body(self, status: int, message: str, kind: str | None = None) -> dict[str, Any]:
        return {"error": message}

    def error_event(self, message: str) -> bytes:
        return dumps({"error": message}) + b"\n"

    def malformed_event(self) -> bytes:
        return b'{"model":"x","created_at":"' + str(int(time.time())).encode() + b'","message":{"content":"oo\n'
