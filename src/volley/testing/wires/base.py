"""What every wire of the fake server shares: the prompt it read, the answer it writes, the ``Wire`` base.

Pure functions over dicts, no I/O. One module per protocol beside this one holds that protocol's
shapes (from the providers' documented and recorded traffic).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

__all__ = ["Answer", "BadRequest", "Prompt", "Tool", "Wire", "make_answer"]


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
    n: int = 1  # answers asked for (OpenAI ``n``, Gemini ``candidateCount``): the wires that can give several do
    thoughts: bool = True  # whether scripted reasoning is shown (Gemini: only with ``includeThoughts``)


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
    reasoning: str | None = None  # scripted thinking text, shown in the wire's own reasoning shape
    n: int = 1

    def text_of(self, choice: int) -> str | None:
        """The text of answer ``choice`` (0-based) of an ``n > 1`` request: the first is ``text``, each
        other one ``text`` with `` #<choice + 1>`` after it, so that answers can be told apart."""
        if choice == 0 or self.text is None:
            return self.text
        return f"{self.text} #{choice + 1}"


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


def word_count(text: str) -> int:
    return len(text.split())


def make_answer(
    prompt: Prompt,
    seq: int,
    content: str | None = None,
    tool_call: dict[str, Any] | None = None,
    reasoning: str | None = None,
) -> Answer:
    """The answer to ``prompt``: ``"echo: " + last user text`` unless ``content`` or ``tool_call`` is scripted;
    ``reasoning`` (scripted) is the thinking text the wires that show reasoning put before it.

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
    completion = word_count(text or "") + sum(1 + word_count(t.json.replace(",", " ")) for t in tools)
    return Answer(
        rid=rid,
        model=prompt.model,
        created=int(time.time()),
        text=text,
        tools=tools,
        finish=finish,
        stop_sequence=stop_seq,
        prompt_tokens=max(1, prompt.words),
        completion_tokens=completion + word_count(reasoning or ""),
        include_usage=prompt.include_usage,
        reasoning=reasoning if prompt.thoughts else None,
        n=max(1, prompt.n),
    )


def text_parts(content: Any, key: str = "text") -> str:
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
                    out.append(text_parts(part.get("content")))
        return "".join(out)
    return ""


def int_or_none(value: Any, param: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{param}: Input should be a valid integer", param)
    return value


def stops(value: Any) -> list[str]:
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
    #: The event separator of its SSE answers.
    sse_sep = b"\n\n"
    #: Content-Type of its stream answers (a binary framing such as AWS event-stream sets its own).
    stream_content_type = "text/event-stream"

    def auth_error(self, headers: Any, query: Any, api_key: str | None) -> tuple[int, str] | None:
        """``(status, message)`` when the request's credentials are missing or wrong, else None."""
        raise NotImplementedError

    def check_auth(
        self, method: str, url: str, headers: Any, query: Any, body: bytes, api_key: str | None
    ) -> tuple[int, str, str | None] | None:
        """``(status, message, error kind)`` when the credentials are missing or wrong, else None.

        Sees the whole request (``url`` with its path exactly as received), for wires whose credentials
        sign it (AWS SigV4). The default is :meth:`auth_error`'s answer.
        """
        denied = self.auth_error(headers, query, api_key)
        return None if denied is None else (denied[0], denied[1], None)

    def error_headers(self, status: int, kind: str | None = None) -> dict[str, str]:
        """Headers that go with an error answer (AWS names the error type in ``x-amzn-ErrorType``)."""
        return {}

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
