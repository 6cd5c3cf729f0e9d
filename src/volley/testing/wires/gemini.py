"""The Gemini ``generateContent`` wire: ``GenerateContentResponse`` and its SSE stream."""

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
    word_count,
)


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
        words = word_count(text_parts(system.get("parts") if isinstance(system, dict) else None))
        last = ""
        for c in contents:
            if not isinstance(c, dict):
                raise BadRequest("Invalid value at 'contents': expected an object.")
            text = text_parts(c.get("parts"))
            words += word_count(text)
            if c.get("role", "user") == "user":
                last = text
        config = body.get("generationConfig") or body.get("generation_config") or {}
        thinking = config.get("thinkingConfig") or {}
        if "thinkingLevel" in thinking and "thinkingBudget" in thinking:
            raise BadRequest("You can only set only one of thinking budget and thinking level.")
        n = int_or_none(config.get("candidateCount"), "candidateCount")
        if n is not None and not 1 <= n <= 8:
            raise BadRequest("* GenerateContentRequest.generation_config.candidate_count: must be between 1 and 8")
        return Prompt(
            model=model or "",
            last_user=last,
            words=words,
            max_tokens=int_or_none(config.get("maxOutputTokens", config.get("max_output_tokens")), "maxOutputTokens"),
            stop=stops(config.get("stopSequences", config.get("stop_sequences"))),
            stream=False,  # decided by the path
            n=n or 1,
            thoughts=bool(thinking.get("includeThoughts")),
        )

    @staticmethod
    def _usage(a: Answer, output: int | None) -> dict[str, Any]:
        usage: dict[str, Any] = {"promptTokenCount": a.prompt_tokens}
        if output is not None:
            usage["candidatesTokenCount"] = output
        usage["totalTokenCount"] = a.prompt_tokens + (output or 0)
        usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": a.prompt_tokens}]
        return usage

    @staticmethod
    def _candidate(parts: list[dict[str, Any]], finish: str | None, index: int) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if finish:
            candidate["finishReason"] = finish
        candidate["index"] = index
        return candidate

    def _response(
        self, a: Answer, parts: list[dict[str, Any]], finish: str | None, output: int | None, index: int = 0
    ) -> dict[str, Any]:
        return self._wrap(a, [self._candidate(parts, finish, index)], output)

    def _wrap(self, a: Answer, candidates: list[dict[str, Any]], output: int | None) -> dict[str, Any]:
        return {
            "candidates": candidates,
            "usageMetadata": self._usage(a, output),
            "modelVersion": a.model,
            "responseId": a.rid,
        }

    def _thought(self, a: Answer) -> list[dict[str, Any]]:
        return [{"text": a.reasoning, "thought": True}] if a.reasoning else []

    def body(self, a: Answer) -> dict[str, Any]:
        candidates = []
        for i in range(a.n):  # candidateCount > 1: one candidate each, the i-th text ending with " #i"
            parts: list[dict[str, Any]] = self._thought(a)
            if a.text or not a.tools:
                parts.append({"text": a.text_of(i) or ""})
            parts.extend({"functionCall": {"name": t.name, "args": t.args}} for t in a.tools)
            candidates.append(self._candidate(parts, self._finish[a.finish], i))
        return self._wrap(a, candidates, a.completion_tokens)

    def chunks(self, a: Answer) -> tuple[list[dict[str, Any]], int]:
        """The stream's ``GenerateContentResponse`` chunks (the last of each candidate carries its
        finishReason; with several candidates they come one after the other)."""
        out: list[dict[str, Any]] = []
        lasts: list[dict[str, Any]] = []
        for i in range(a.n):
            texts = pieces(a.text_of(i) or "")
            if a.reasoning:
                out.append(self._response(a, self._thought(a), None, None, i))
            out.extend(self._response(a, [{"text": p}], None, None, i) for p in (texts if a.tools else texts[:-1]))
            last_parts: list[dict[str, Any]]
            if a.tools:
                last_parts = [{"functionCall": {"name": t.name, "args": t.args}} for t in a.tools]
            else:
                last_parts = [{"text": texts[-1] if texts else ""}]
            lasts.append(self._response(a, last_parts, self._finish[a.finish], a.completion_tokens, i))
        closing = len(out)
        return [*out, *lasts], closing

    def events(self, a: Answer) -> tuple[list[bytes], int]:
        chunks, closing = self.chunks(a)
        return [self.sse(c) for c in chunks], closing

    def error_body(self, status: int, message: str, kind: str | None = None) -> dict[str, Any]:
        return {"error": {"code": status, "message": message, "status": kind or self._status.get(status, "UNKNOWN")}}

    def error_event(self, message: str) -> bytes:
        return self.sse(self.error_body(503, "The model is overloaded. Please try again later."))
