"""Token figures known before sending: a request's estimate against a tokens-per-minute limit, and the
most prompt tokens it can bill (for a budget's worst case). Both are computed once per request.

Neither is a tokenizer's count: the estimate is characters / 4 (corrected with the real usage once
the answer arrives); the bound is one token per UTF-8 byte, which no tokenizer can exceed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .protocols.base import text_of

DEFAULT_OUTPUT_ESTIMATE = 256  # tokens assumed for an answer when max_tokens is not given
TOOL_PREAMBLE_TOKENS = 1024  # what a provider may add to the prompt to describe tools
MESSAGE_OVERHEAD_TOKENS = 8  # role and separator tokens of one message in the provider's chat template


def estimate_tokens(messages: list[dict[str, Any]], params: Mapping[str, Any]) -> int:
    """A request's cost against a tokens-per-minute limit: prompt characters / 4, plus the output cap.

    Example: ``estimate_tokens([{"role": "user", "content": "hi there"}], {"max_tokens": 10})`` → 16
    """
    chars = 0
    for m in messages:
        c = m.get("content")
        chars += len(c) if isinstance(c, str) else len(text_of(c)) if c else 0
    out = params.get("max_tokens") or params.get("max_completion_tokens") or DEFAULT_OUTPUT_ESTIMATE
    return chars // 4 + 4 * len(messages) + int(out)


def prompt_bound(messages: list[dict[str, Any]], body: Any) -> int:
    """Most prompt tokens a request can bill: one per UTF-8 byte of its text (a token is at least a byte).

    Counts each message's text, tool calls and name, plus ``MESSAGE_OVERHEAD_TOKENS`` per message,
    and the request body's tools (plus ``TOOL_PREAMBLE_TOKENS``) and response format. Images, audio
    and files are not counted.
    """
    size = 2 * MESSAGE_OVERHEAD_TOKENS
    for m in messages:
        size += MESSAGE_OVERHEAD_TOKENS + len(text_of(m.get("content")).encode("utf-8"))
        for extra in ("tool_calls", "name", "function_call"):
            if m.get(extra):
                size += _json_size(m[extra])
    if isinstance(body, Mapping):
        if body.get("tools"):
            size += _json_size(body["tools"]) + TOOL_PREAMBLE_TOKENS
        if body.get("response_format"):
            size += _json_size(body["response_format"])
    return size


def _json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8"))


def count_tokens(model: str, messages: list[dict[str, Any]]) -> tuple[int, bool]:
    """Prompt tokens of ``messages`` for ``model``, and whether the count is exact (a real tokenizer).

    Without a tokenizer for the model this is an estimate (characters / 4 plus 4 per message),
    and says so with ``False``.

    Example: ``count_tokens("gpt-4o-mini", [{"role": "user", "content": "hello there"}])`` → ``(6, False)``
    """
    chars = sum(len(text_of(m.get("content"))) for m in messages)
    return chars // 4 + 4 * len(messages), False
