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
        self._check_thinking(body)
        words, last = word_count(text_parts(body.get("system"))), ""
        for m in messages:
            if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
                raise BadRequest("messages: roles must be 'user' or 'assistant'", "messages")
            content = m.get("content")
            for block in content if isinstance(content, list) else ():
                signed = isinstance(block, dict) and block.get("type") == "thinking"
                if signed and block.get("signature") != self.signature(block.get("thinking") or ""):
                    raise BadRequest("Invalid `signature` in `thinking` block", "messages")
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

    @staticmethod
    def _check_thinking(body: dict[str, Any]) -> None:
        """The constraints of extended thinking, as the API enforces them."""
        thinking = body.get("thinking")
        if thinking is None:
            return
        if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "disabled"):
            raise BadRequest("thinking: Input tag does not match any of the expected tags", "thinking")
        if thinking["type"] == "disabled":
            return
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            raise BadRequest("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
        if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] <= budget:
            raise BadRequest("`max_tokens` must be greater than `thinking.budget_tokens`", "max_tokens")
        if body.get("temperature") not in (None, 1):
            raise BadRequest("`temperature` may only be set to 1 when thinking is enabled", "temperature")
        if body.get("top_p") is not None and not 0.95 <= body["top_p"] <= 1:
            raise BadRequest("`top_p` must be between 0.95 and 1 when thinking is enabled", "top_p")
        if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
            raise BadRequest("Thinking may not be enabled when tool_choice forces tool use.", "tool_choice")

    @staticmethod
    def signature(thinking: str) -> str:
        """The fake's signature of a thinking block (the real one is opaque; this one is checkable)."""
        import hashlib

        return "sig_" + hashlib.sha256(thinking.encode()).hexdigest()[:32]

    def body(self, a: Answer) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if a.reasoning:
            content.append({"type": "thinking", "thinking": a.reasoning, "signature": self.signature(a.reasoning)})
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
        if a.reasoning:
            deltas = [{"type": "thinking_delta", "thinking": p} for p in pieces(a.reasoning)]
            deltas.append({"type": "signature_delta", "signature": self.signature(a.reasoning)})
            blocks.append(({"type": "thinking", "thinking": "", "signature": ""}, deltas))
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
