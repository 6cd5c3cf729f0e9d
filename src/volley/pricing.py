"""What a completion costs: the price table, output ceilings, and ``completion_cost`` (pure numbers).

Prices are USD per million tokens, ``(input, output)``, at each provider's standard (pay-as-you-go)
list price: no prompt-cache, batch or long-context (>200k tokens) rates. Checked 2026-11-27 against
public copies of the providers' pricing pages (Anthropic's own page; third-party copies of OpenAI's,
Google's, Groq's and Mistral's dated 2026-03..2026-05); Cohere, Groq, Mistral and DeepSeek figures
are the last list prices we could confirm and are the most likely to be stale. Verify before you
bill anyone, and override with :func:`register_prices`, ``VOLLEY_PRICES=/path/prices.json`` or
``volley run --prices FILE``.

Self-hosted providers (``ollama``, ``vllm``, ``hosted_vllm``, ``llamacpp``, ``local``) cost 0.
An unknown model has no price: ``completion_cost`` returns ``None`` (never a silent 0.0).

``MAX_OUTPUT_TOKENS`` holds each known model's output ceiling (the most output tokens one answer
can bill, reasoning included), from the same providers' model pages; a budget reserves it for a
request sent without ``max_tokens``. A model not in it is assumed to reach
``DEFAULT_MAX_OUTPUT_TOKENS`` (conservative); a price file may give ``"max_output_tokens"``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger("volley")

T = TypeVar("T")
V = TypeVar("V")
Price = tuple[float, float]  # USD per 1M input tokens, USD per 1M output tokens

# fmt: off
PRICES: dict[str, Price] = {
    # OpenAI
    "openai/gpt-5": (1.25, 10.0), "openai/gpt-5.1": (1.25, 10.0), "openai/gpt-5.4": (2.50, 15.0),
    "openai/gpt-5-mini": (0.25, 2.0), "openai/gpt-5-nano": (0.05, 0.40), "openai/gpt-5-pro": (15.0, 120.0),
    "openai/gpt-4.1": (2.0, 8.0), "openai/gpt-4.1-mini": (0.40, 1.60), "openai/gpt-4.1-nano": (0.10, 0.40),
    "openai/gpt-4o": (2.50, 10.0), "openai/gpt-4o-mini": (0.15, 0.60), "openai/chatgpt-4o": (5.0, 15.0),
    "openai/o1": (15.0, 60.0), "openai/o1-mini": (1.10, 4.40), "openai/o3": (2.0, 8.0),
    "openai/o3-pro": (20.0, 80.0), "openai/o3-mini": (1.10, 4.40), "openai/o4-mini": (1.10, 4.40),
    "openai/gpt-4-turbo": (10.0, 30.0), "openai/gpt-4": (30.0, 60.0), "openai/gpt-3.5-turbo": (0.50, 1.50),
    # Anthropic
    "anthropic/claude-opus-4-6": (5.0, 25.0), "anthropic/claude-opus-4-5": (5.0, 25.0),
    "anthropic/claude-opus-4-1": (15.0, 75.0), "anthropic/claude-opus-4": (15.0, 75.0),
    "anthropic/claude-sonnet-4-6": (3.0, 15.0), "anthropic/claude-sonnet-4-5": (3.0, 15.0),
    "anthropic/claude-sonnet-4": (3.0, 15.0), "anthropic/claude-3-7-sonnet": (3.0, 15.0),
    "anthropic/claude-3-5-sonnet": (3.0, 15.0), "anthropic/claude-haiku-4-5": (1.0, 5.0),
    "anthropic/claude-3-5-haiku": (0.80, 4.0), "anthropic/claude-3-opus": (15.0, 75.0),
    "anthropic/claude-3-haiku": (0.25, 1.25),
    # Google Gemini (prompts up to 200k tokens)
    "gemini/gemini-3.1-pro": (2.0, 12.0), "gemini/gemini-3-pro": (2.0, 12.0), "gemini/gemini-3-flash": (0.50, 3.0),
    "gemini/gemini-3.1-flash-lite": (0.25, 1.50), "gemini/gemini-2.5-pro": (1.25, 10.0),
    "gemini/gemini-2.5-flash": (0.30, 2.50), "gemini/gemini-2.5-flash-lite": (0.10, 0.40),
    "gemini/gemini-2.0-flash": (0.10, 0.40), "gemini/gemini-2.0-flash-lite": (0.075, 0.30),
    "gemini/gemini-1.5-pro": (1.25, 5.0), "gemini/gemini-1.5-flash": (0.075, 0.30),
    "gemini/gemini-1.5-flash-8b": (0.0375, 0.15),
    # Cohere
    "cohere/command-a": (2.50, 10.0), "cohere/command-r-plus": (2.50, 10.0), "cohere/command-r": (0.15, 0.60),
    "cohere/command-r7b": (0.0375, 0.15),
    # Groq
    "groq/llama-3.3-70b-versatile": (0.59, 0.79), "groq/llama-3.1-8b-instant": (0.05, 0.08),
    "groq/meta-llama/llama-4-scout-17b-16e-instruct": (0.11, 0.34),
    "groq/meta-llama/llama-4-maverick-17b-128e-instruct": (0.20, 0.60),
    "groq/openai/gpt-oss-120b": (0.15, 0.75), "groq/openai/gpt-oss-20b": (0.10, 0.50),
    # Mistral
    "mistral/mistral-large": (2.0, 6.0), "mistral/mistral-medium": (0.40, 2.0), "mistral/mistral-small": (0.10, 0.30),
    "mistral/codestral": (0.30, 0.90), "mistral/ministral-8b": (0.10, 0.10), "mistral/ministral-3b": (0.04, 0.04),
    "mistral/open-mistral-nemo": (0.15, 0.15),
    # DeepSeek
    "deepseek/deepseek-chat": (0.28, 0.42), "deepseek/deepseek-reasoner": (0.28, 0.42),
}

#: The most output tokens one answer of each model can bill (reasoning tokens included); same lookup
#: rules as ``PRICES`` (snapshot suffixes and longer names fall back to the listed name).
MAX_OUTPUT_TOKENS: dict[str, int] = {
    # OpenAI
    "openai/gpt-5": 128_000, "openai/gpt-5.1": 128_000, "openai/gpt-5.4": 128_000, "openai/gpt-5-mini": 128_000,
    "openai/gpt-5-nano": 128_000, "openai/gpt-5-pro": 272_000, "openai/gpt-4.1": 32_768,
    "openai/gpt-4.1-mini": 32_768, "openai/gpt-4.1-nano": 32_768, "openai/gpt-4o": 16_384,
    "openai/gpt-4o-mini": 16_384, "openai/chatgpt-4o": 16_384, "openai/o1": 100_000, "openai/o1-mini": 65_536,
    "openai/o3": 100_000, "openai/o3-pro": 100_000, "openai/o3-mini": 100_000, "openai/o4-mini": 100_000,
    "openai/gpt-4-turbo": 4_096, "openai/gpt-4": 8_192, "openai/gpt-3.5-turbo": 4_096,
    # Anthropic (volley sends max_tokens=4096 when none is given, so these matter only above it)
    "anthropic/claude-opus-4-6": 128_000, "anthropic/claude-opus-4-5": 64_000, "anthropic/claude-opus-4-1": 32_000,
    "anthropic/claude-opus-4": 32_000, "anthropic/claude-sonnet-4-6": 128_000, "anthropic/claude-sonnet-4-5": 64_000,
    "anthropic/claude-sonnet-4": 64_000, "anthropic/claude-3-7-sonnet": 64_000, "anthropic/claude-3-5-sonnet": 8_192,
    "anthropic/claude-haiku-4-5": 64_000, "anthropic/claude-3-5-haiku": 8_192, "anthropic/claude-3-opus": 4_096,
    "anthropic/claude-3-haiku": 4_096,
    # Google Gemini
    "gemini/gemini-3.1-pro": 65_536, "gemini/gemini-3-pro": 65_536, "gemini/gemini-3-flash": 65_536,
    "gemini/gemini-3.1-flash-lite": 65_536, "gemini/gemini-2.5-pro": 65_536, "gemini/gemini-2.5-flash": 65_536,
    "gemini/gemini-2.5-flash-lite": 65_536, "gemini/gemini-2.0-flash": 8_192, "gemini/gemini-2.0-flash-lite": 8_192,
    "gemini/gemini-1.5-pro": 8_192, "gemini/gemini-1.5-flash": 8_192, "gemini/gemini-1.5-flash-8b": 8_192,
    # Cohere
    "cohere/command-a": 8_192, "cohere/command-r-plus": 4_096, "cohere/command-r": 4_096, "cohere/command-r7b": 4_096,
    # Groq
    "groq/llama-3.3-70b-versatile": 32_768, "groq/llama-3.1-8b-instant": 131_072,
    "groq/meta-llama/llama-4-scout-17b-16e-instruct": 8_192,
    "groq/meta-llama/llama-4-maverick-17b-128e-instruct": 8_192,
    "groq/openai/gpt-oss-120b": 65_536, "groq/openai/gpt-oss-20b": 65_536,
    # Mistral (no separate output cap: the context window)
    "mistral/mistral-large": 131_072, "mistral/mistral-medium": 131_072, "mistral/mistral-small": 131_072,
    "mistral/codestral": 256_000, "mistral/ministral-8b": 131_072, "mistral/ministral-3b": 131_072,
    "mistral/open-mistral-nemo": 131_072,
    # DeepSeek
    "deepseek/deepseek-chat": 8_192, "deepseek/deepseek-reasoner": 65_536,
}
# fmt: on

#: Output ceiling assumed for a model not in ``MAX_OUTPUT_TOKENS`` (as large as the largest common ones).
DEFAULT_MAX_OUTPUT_TOKENS = 131_072

BATCH_DISCOUNT = 0.5
"""Price multiplier of provider batch APIs (OpenAI and Anthropic bill batch tokens at half the online price)."""

#: Providers that run on your own hardware: every token costs 0.
FREE_PROVIDERS = frozenset({"ollama", "vllm", "hosted_vllm", "llamacpp", "local"})

_user_prices: dict[str, Price] = {}
_user_max_output: dict[str, int] = {}
_lookups: dict[tuple[str, str], Price | None] = {}
_env_loaded: str | None = None
# Snapshot and alias suffixes that carry the same price as the base name.
_SUFFIX = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|-\d{2}-\d{4}|-\d{4}|-\d{3}|-latest)$")
_BOUNDARY = "-:@/"


def _as_price(name: str, value: Any) -> Price:
    """Accept ``(in, out)``, ``{"input", "output"}`` per million, or LiteLLM's ``*_cost_per_token``."""
    if isinstance(value, Mapping):
        if "input_cost_per_token" in value or "output_cost_per_token" in value:
            pair = (value.get("input_cost_per_token", 0) * 1e6, value.get("output_cost_per_token", 0) * 1e6)
        else:
            pair = (value.get("input", 0), value.get("output", 0))
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        pair = (value[0], value[1])
    else:
        raise ValueError(f"price of {name!r} must be (input, output) USD per 1M tokens or a dict; got {value!r}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in pair):
        raise ValueError(f"price of {name!r} must be non-negative numbers; got {value!r}")
    return float(pair[0]), float(pair[1])


def _as_ceiling(name: str, value: Any) -> int | None:
    """The ``max_output_tokens`` of a price entry, when it gives one."""
    ceiling = value.get("max_output_tokens") if isinstance(value, Mapping) else None
    if ceiling is None:
        return None
    if isinstance(ceiling, bool) or not isinstance(ceiling, int) or ceiling < 1:
        raise ValueError(f"max_output_tokens of {name!r} must be a positive integer; got {ceiling!r}")
    return ceiling


def register_prices(prices: Mapping[str, Any]) -> None:
    """Add or override prices, USD per million tokens. Keys: ``"provider/model"`` or a bare model name.

    Values: ``(input, output)``, ``{"input": 0.5, "output": 1.5}``, or LiteLLM's
    ``{"input_cost_per_token": 5e-7, "output_cost_per_token": 1.5e-6}``. Snapshot names
    (``my-model-2025-01-01``) and longer names (``my-model-large``) fall back to the registered name.
    A dict may also give ``"max_output_tokens"``: the model's output ceiling, which a budget reserves
    for a request without ``max_tokens``.

    Example::

        volley.register_prices({"openai/my-finetune": (3.0, 12.0),
                                "groq/qwen-qwq-32b": {"input": 0.29, "output": 0.39, "max_output_tokens": 16384}})
    """
    parsed = {str(k).lower(): _as_price(k, v) for k, v in prices.items()}
    ceilings = {str(k).lower(): _as_ceiling(k, v) for k, v in prices.items()}
    _user_prices.update(parsed)
    _user_max_output.update({k: v for k, v in ceilings.items() if v is not None})
    _lookups.clear()


def register_max_output(ceilings: Mapping[str, int]) -> None:
    """Add or override output ceilings (tokens) without a price, e.g. ``{"openai/my-finetune": 16384}``."""
    checked = {str(k).lower(): _as_ceiling(k, {"max_output_tokens": v}) for k, v in ceilings.items()}
    _user_max_output.update({k: v for k, v in checked.items() if v is not None})


def load_prices(path: str | os.PathLike[str]) -> dict[str, Price]:
    """Read a JSON price file (an object of the form :func:`register_prices` takes) and register it."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read prices from {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a price file holds one JSON object of model -> price")
    register_prices(data)
    return {str(k).lower(): _as_price(k, v) for k, v in data.items()}


def load_env() -> None:
    """Register the price file named by ``VOLLEY_PRICES`` (once per file; when a call is set up)."""
    _load_env()


def _load_env() -> None:
    global _env_loaded
    path = os.environ.get("VOLLEY_PRICES") or ""
    if path != (_env_loaded or ""):
        _env_loaded = path
        if path:
            load_prices(path)


def _split(model: str, provider: str | None) -> tuple[str, str]:
    model = model.strip().lower()
    if model.startswith("models/"):  # Gemini's resource names
        model = model[len("models/") :]
    if not provider:
        from .routing import split_model

        try:
            provider, model = split_model(model)
        except Exception:
            provider = ""
    elif model.startswith(provider + "/"):
        model = model[len(provider) + 1 :]
    return provider or "", model


def _candidates(name: str) -> list[str]:
    out = [name]
    while (stripped := _SUFFIX.sub("", out[-1])) != out[-1]:
        out.append(stripped)
    return out


def _find(table: Mapping[str, V], keys: list[str]) -> V | None:
    for k in keys:
        if k in table:
            return table[k]
    best: str | None = None
    for k in keys:  # longest registered name that the model extends at a boundary: "gpt-4o-mini-search" → gpt-4o-mini
        for known in table:
            extends = len(k) > len(known) and k.startswith(known) and k[len(known)] in _BOUNDARY
            if extends and (best is None or len(known) > len(best)):
                best = known
    return table[best] if best is not None else None


def model_price(model: str, provider: str | None = None) -> Price | None:
    """``(input, output)`` USD per million tokens for a model, or None when unknown.

    Example: ``volley.cost.model_price("claude-3-5-haiku-20241022")`` → ``(0.8, 4.0)``
    """
    _load_env()
    provider, name = _split(model, provider)
    key = (provider, name)
    if key in _lookups:
        return _lookups[key]
    if provider in FREE_PROVIDERS:
        price: Price | None = (0.0, 0.0)
    else:
        names = _candidates(name)
        scoped = [f"{provider}/{n}" for n in names] if provider else []
        price = _find(_user_prices, scoped + names) or _find(PRICES, scoped)
    _lookups[key] = price
    return price


def model_max_output(model: str, provider: str | None = None) -> tuple[int, bool]:
    """The model's output ceiling in tokens, and whether it is known (else ``DEFAULT_MAX_OUTPUT_TOKENS``).

    Example: ``volley.cost.model_max_output("gpt-4o-mini-2024-07-18")`` → ``(16384, True)``
    """
    _load_env()
    provider, name = _split(model, provider)
    names = _candidates(name)
    scoped = [f"{provider}/{n}" for n in names] if provider else []
    found = _find(_user_max_output, scoped + names) or _find(MAX_OUTPUT_TOKENS, scoped)
    return (found, True) if found is not None else (DEFAULT_MAX_OUTPUT_TOKENS, False)


def completion_cost(
    completion_response: Any = None,
    *,
    model: str | None = None,
    provider: str | None = None,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
) -> float | None:
    """USD a completion cost, from its usage and the price table; None when the model has no price.

    A response served from volley's cache (``response.cache_hit``) cost nothing: 0.0; one answered
    through a provider batch API (``mode="batch_api"``) costs half. Without a
    response, prices ``prompt_tokens`` + ``completion_tokens`` of ``model``.

    Example::

        r = volley.completion("gpt-4o-mini", [{"role": "user", "content": "Hi"}])
        print(volley.completion_cost(r))            # same as r.cost
        volley.completion_cost(model="gpt-4o", prompt_tokens=1000, completion_tokens=200)  # 0.0045
    """
    discount = 1.0
    if completion_response is not None:
        if getattr(completion_response, "cache_hit", False):
            return 0.0
        if getattr(completion_response, "billing", "standard") == "batch":
            discount = BATCH_DISCOUNT  # answered through a provider batch API
        usage = getattr(completion_response, "usage", None)
        prompt_tokens = (getattr(usage, "prompt_tokens", 0) or 0) if usage is not None else 0
        completion_tokens = (getattr(usage, "completion_tokens", 0) or 0) if usage is not None else 0
        model = model or getattr(completion_response, "model", "") or ""
        provider = provider or getattr(completion_response, "provider", "") or None
    if not model:
        return None
    price = model_price(model, provider)
    if price is None:
        return None
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6 * discount


def ceiling_note(provider: str, model: str) -> tuple[int, str]:
    """The output ceiling a request without ``max_tokens`` is reserved at, and the sentence that says so."""
    ceiling, known = model_max_output(model, provider)
    if known:
        return ceiling, f"no max_tokens: each {provider}/{model} request is reserved at the model's ceiling of " \
            f"{ceiling:,} output tokens"  # fmt: skip
    return ceiling, (f"no max_tokens, and the output ceiling of {provider}/{model} is not known: each request is "
                     f"reserved at {ceiling:,} output tokens (or give max_output_tokens with its price)")  # fmt: skip
