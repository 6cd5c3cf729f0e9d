"""The Anthropic Messages wire: ``message`` and its named SSE events."""

from __future__ import annotations

from typing import Any

from .base import (
    Answer,
    BadRequest,
    Prompt,
    Wire,
    int_or_none,
    pieces,
    stops,
    text_parts,
    thirds,
    word_count,
)


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
        words, last = word_count(text_parts(body.get("system"))), ""
        for m in messages:
            if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
                raise BadRequest("messages: roles must be 'user' or 'assistant'", "messages")
            text = text_parts(m.get("content"))
            words += word_count(text)
            if m["role"] == "user":
                last = text
        return Prompt(
            model=model,
            last_user=last,
            words=words,
            max_tokens=int_or_none(body.get("max_tokens"), "max_tokens"),
            stop=stops(body.get("stop_sequences")),
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

    def stream_events(self, a: Answer) -> tuple[list[tuple[str, dict[str, Any]]], int]:
        """The stream as ``(event name, data)`` pairs, and the index of the first closing event."""
        out: list[tuple[str, dict[str, Any]]] = [
            ("message_start", {"type": "message_start", "message": self._message(a, [], False)})
        ]
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
                out.append(("content_block_stop", {"type": "content_block_stop", "index": i - 1}))
            out.append(("content_block_start", {"type": "content_block_start", "index": i, "content_block": block}))
            if i == 0:
                out.append(("ping", {"type": "ping"}))
            for d in deltas:
                out.append(("content_block_delta", {"type": "content_block_delta", "index": i, "delta": d}))
            closing = len(out)
        out.append(("content_block_stop", {"type": "content_block_stop", "index": len(blocks) - 1}))
        delta = {"stop_reason": self._finish[a.finish], "stop_sequence": a.stop_sequence}
        usage = {"input_tokens": a.prompt_tokens, "output_tokens": a.completion_tokens}
        out.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
        out.append(("message_stop", {"type": "message_stop"}))
        return out, closing

    def events(self, a: Answer) -> tuple[list[bytes], int]:
        events, closing = self.stream_events(a)
        return [self.sse(data, name) for name, data in events], closing

    def error_body(self, status: int, message: str, kind: str | None = None) -> dict[str, Any]:
        etype = kind or self._types.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": etype, "message": message}, "request_id": "req_fake"}

    def error_event(self, message: str) -> bytes:
        return self.sse({"type": "error", "error": {"type": "overloaded_error", "message": message}}, "error")

    def malformed_event(self) -> bytes:
        return b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type' + b"\n\n"
