"""The Cohere v2 ``/v2/chat`` wire, with its hyphenated stream events."""

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
            text = text_parts(m.get("content"))
            words += word_count(text)
            if m.get("role") == "user":
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
            content: dict[str, Any] = {"message": {"content": {"type": "text", "text": ""}}}
            out.append(ev({"type": "content-start", "index": 0, "delta": content}, "content-start"))
            for p in pieces(a.text or ""):
                piece: dict[str, Any] = {"message": {"content": {"text": p}}}
                out.append(ev({"type": "content-delta", "index": 0, "delta": piece}, "content-delta"))
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
