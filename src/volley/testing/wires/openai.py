"""The OpenAI Chat Completions wire (and every OpenAI-compatible host): ``chat.completion`` and its chunks."""

from __future__ import annotations

from typing import Any

from .base import (
    Answer,
    BadRequest,
    Prompt,
    Tool,
    Wire,
    int_or_none,
    pieces,
    stops,
    text_parts,
    thirds,
    word_count,
)


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
            text = text_parts(m.get("content"))
            words += word_count(text)
            if m.get("role") == "user":
                last = text
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        opts = body.get("stream_options") or {}
        n = int_or_none(body.get("n"), "n")
        if n is not None and not 1 <= n <= 128:
            raise BadRequest(f"Invalid 'n': integer above maximum value. Expected a value <= 128, but got {n}.", "n")
        return Prompt(
            model=model,
            last_user=last,
            words=words,
            max_tokens=int_or_none(max_tokens, "max_tokens"),
            stop=stops(body.get("stop")),
            stream=bool(body.get("stream")),
            include_usage=bool(isinstance(opts, dict) and opts.get("include_usage")),
            n=n or 1,
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

    def _message(self, a: Answer, i: int) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": a.text_of(i), "refusal": None, "annotations": []}
        if a.reasoning:
            message["reasoning_content"] = a.reasoning  # as DeepSeek (and vLLM, SGLang) send it
        if a.tools:
            message["tool_calls"] = [self._tool(t, t.json) for t in a.tools]
        return message

    def body(self, a: Answer) -> dict[str, Any]:
        choices = [
            {"index": i, "message": self._message(a, i), "logprobs": None, "finish_reason": self._finish[a.finish]}
            for i in range(a.n)
        ]
        return {
            "id": "chatcmpl-" + a.rid,
            "object": "chat.completion",
            "created": a.created,
            "model": a.model,
            "choices": choices,
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

        def chunk(delta: dict[str, Any], finish: str | None = None, n: int = 0) -> bytes:
            choice = {"index": n, "delta": delta, "logprobs": None, "finish_reason": finish}
            return self.sse({**head, "choices": [choice], **tail})

        out = []
        for n in range(a.n):  # with n > 1 the choices come one after the other, each with its index
            text = a.text_of(n)
            if a.tools:
                out.append(chunk({"role": "assistant", "content": text, "refusal": None}, n=n))
            else:
                out.append(chunk({"role": "assistant", "content": "", "refusal": None}, n=n))
            out.extend(chunk({"reasoning_content": p}, n=n) for p in pieces(a.reasoning or ""))
            if a.tools:
                for i, t in enumerate(a.tools):
                    out.append(chunk({"tool_calls": [{"index": i, **self._tool(t, "")}]}, n=n))
                    for piece in thirds(t.json):
                        out.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}, n=n))
            else:
                out.extend(chunk({"content": p}, n=n) for p in pieces(text or ""))
        closing = len(out)
        out.extend(chunk({}, self._finish[a.finish], n=n) for n in range(a.n))
        if a.include_usage:
            out.append(self.sse({**head, "choices": [], "usage": self._usage(a)}))
        out.append(b"data: [DONE]\n\n")
        return out, closing

    def error_body(self, status: int, message: str, kind: str | None = None) -> dict[str, Any]:
        etype, code = self._types.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
        return {"error": {"message": message, "type": kind or etype, "param": None, "code": code}}

    def error_event(self, message: str) -> bytes:
        return self.sse({"error": {"message": message, "type": "server_error", "param": None, "code": None}})
