"""What a completion costs: the price table, output ceilings, and ``completion_cost`` (pure numbers).

Prices are USD per million tokens, ``(input, output)``, at each provider's standard (pay-as-you-go)
list price: no batch or long-context (>200k tokens) rates. Checked 2026-11-27 against
public copies of the providers' pricing pages (Anthropic's own page; third-party copies of OpenAI's,
Google's, Groq's and Mistral's dated 2026-03..2026-05); Cohere, Groq, Mistral and DeepSeek figures
are the last list prices we could confirm and are the most likely to be stale. Verify before you
bill anyone, and override with :func:`register_prices`, ``VOLLEY_PRICES=/path/prices.json`` or
``volley run --prices FILE``. :func:`model_rates` gives one model's full rates with their
``source`` and ``checked`` date (``PRICE_SOURCES``: per model, else per provider).

Prompt caching (``CACHE_PRICES`` and ``CACHE_RULES``): tokens read from a provider's prompt cache
(OpenAI ``cached_tokens``, Anthropic cache reads, Gemini cached content, DeepSeek cache hits: all
surfaced as ``usage.prompt_tokens_details.cached_tokens``) are billed at the model's cached rate,
and tokens written to it (Anthropic ``usage.cache_creation_input_tokens``; the 1-hour TTL part in
``usage.cache_creation.ephemeral_1h_input_tokens``) at its write rate. A model whose cache rates
are not known has its cached tokens billed at the full input rate (never under-billed). A provider
batch API's discount multiplies every rate, cached ones included (OpenAI and Anthropic say the
discounts stack). Gemini's cache storage (per hour) is not a per-request cost and is not counted.

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
from dataclasses import dataclass
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

# fmt: off
#: Prompt-cache rates, USD per million tokens: ``(cached input, cache write)``; a write of None
#: means the provider bills no separate write (the tokens are billed as input when first seen).
#: Same lookup rules as ``PRICES``. Providers in ``CACHE_RULES`` are priced by their rule instead.
CACHE_PRICES: dict[str, tuple[float, float | None]] = {
    # OpenAI (cached input; no write charge). gpt-5-pro, o3-pro and the pre-4o models cache nothing.
    "openai/gpt-5": (0.125, None), "openai/gpt-5.1": (0.125, None), "openai/gpt-5-mini": (0.025, None),
    "openai/gpt-5-nano": (0.005, None), "openai/gpt-4.1": (0.50, None), "openai/gpt-4.1-mini": (0.10, None),
    "openai/gpt-4.1-nano": (0.025, None), "openai/gpt-4o": (1.25, None), "openai/gpt-4o-mini": (0.075, None),
    "openai/o1": (7.50, None), "openai/o1-mini": (0.55, None), "openai/o3": (0.50, None),
    "openai/o3-mini": (0.55, None), "openai/o4-mini": (0.275, None),
    "openai/gpt-5-pro": (15.0, None), "openai/o3-pro": (20.0, None), "openai/chatgpt-4o": (5.0, None),
    "openai/gpt-4-turbo": (10.0, None), "openai/gpt-4": (30.0, None), "openai/gpt-3.5-turbo": (0.50, None),
    # Google Gemini: context caching (explicit or implicit), prompts up to 200k tokens; storage not included
    "gemini/gemini-3.1-pro": (0.20, None), "gemini/gemini-3-pro": (0.20, None), "gemini/gemini-3-flash": (0.05, None),
    "gemini/gemini-2.5-pro": (0.125, None), "gemini/gemini-2.5-flash": (0.03, None),
    "gemini/gemini-2.5-flash-lite": (0.01, None), "gemini/gemini-2.0-flash": (0.025, None),
    "gemini/gemini-1.5-pro": (0.3125, None), "gemini/gemini-1.5-flash": (0.01875, None),
    "gemini/gemini-1.5-flash-8b": (0.01, None),
    # DeepSeek: a cache hit (prompt_cache_hit_tokens)
    "deepseek/deepseek-chat": (0.028, None), "deepseek/deepseek-reasoner": (0.028, None),
}

#: Providers whose cache rates are one rule for every model, as multiples of the input rate:
#: ``(cache read, 5-minute cache write, 1-hour cache write)``.
CACHE_RULES: dict[str, tuple[float, float, float]] = {
    "anthropic": (0.10, 1.25, 2.0),  # docs.anthropic.com prompt caching: reads 0.1x, writes 1.25x (5 min) / 2x (1 h)
}

#: Where each price comes from and when it was checked: ``(source, date)``, by ``"provider/model"``
#: or, for every model of a provider, by ``"provider"``. A price you register says ``"registered"``.
PRICE_SOURCES: dict[str, tuple[str, str]] = {
    "openai": ("openai.com/api/pricing (third-party copies; cached input as published for each model)",
               "2026-03..2026-05"),
    "anthropic": ("anthropic.com/pricing; cache multipliers from docs.anthropic.com prompt caching", "2026-11-27"),
    "gemini": ("ai.google.dev/gemini-api/docs/pricing (third-party copies; context caching rows)",
               "2026-03..2026-05"),
    "cohere": ("cohere.com/pricing (last confirmed list price; may be stale)", "2026-11-27"),
    "groq": ("groq.com/pricing (third-party copies; may be stale)", "2026-03..2026-05"),
    "mistral": ("mistral.ai/pricing (third-party copies; may be stale)", "2026-03..2026-05"),
    "deepseek": ("api-docs.deepseek.com/quick_start/pricing (cache hit / miss; may be stale)", "2026-11-27"),
}
# fmt: on


@dataclass(frozen=True, slots=True)
class Rates:
    """One model's prices, USD per million tokens, and where they come from.

    ``cached_input``: a prompt-cache read; ``cache_write`` / ``cache_write_1h``: a prompt-cache
    write (5-minute / 1-hour TTL; equal to ``input`` where the provider bills none).
    ``cache_known``: False when the cache rates are not known (then they are the input rate).

    Example::

        r = volley.pricing.model_rates("claude-sonnet-4-5")
        r.input, r.cached_input, r.cache_write, r.checked   # 3.0, 0.3, 3.75, '2026-11-27'
    """

    input: float
    output: float
    cached_input: float
    cache_write: float
    cache_write_1h: float
    cache_known: bool
    source: str
    checked: str

    @property
    def prompt_ceiling(self) -> float:
        """The highest rate one prompt token can bill (a cache write may cost more than input)."""
        return max(self.input, self.cached_input, self.cache_write, self.cache_write_1h)


#: Output ceiling assumed for a model not in ``MAX_OUTPUT_TOKENS`` (as large as the largest common ones).
DEFAULT_MAX_OUTPUT_TOKENS = 131_072

BATCH_DISCOUNT = 0.5
"""Price multiplier of provider batch APIs (OpenAI, Anthropic, Mistral and Gemini bill batch tokens at half price)."""

BATCH_DISCOUNTS = {"groq": 0.75}
"""Providers whose batch price differs from :data:`BATCH_DISCOUNT` (Groq's batch API is 25% off)."""


def batch_discount_for(provider: str | None) -> float:
    """The price multiplier of ``provider``'s batch API. Example: ``batch_discount_for("groq")`` → ``0.75``"""
    return BATCH_DISCOUNTS.get(provider or "", BATCH_DISCOUNT)


#: Providers that run on your own hardware: every token costs 0.
FREE_PROVIDERS = frozenset({"ollama", "vllm", "hosted_vllm", "llamacpp", "local"})

_user_prices: dict[str, Price] = {}
_user_cache: dict[str, tuple[float | None, float | None]] = {}  # (cached input, cache write) a price file gave
_user_max_output: dict[str, int] = {}
_lookups: dict[tuple[str, ...], Any] = {}  # model_price and model_rates answers, cleared on register
_MISSING: Any = object()
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


def _as_cache(name: str, value: Any) -> tuple[float | None, float | None] | None:
    """The cache rates of a price entry, when it gives any: ``cached_input`` / ``cache_write`` per million,
    or LiteLLM's ``cache_read_input_token_cost`` / ``cache_creation_input_token_cost`` per token."""
    if not isinstance(value, Mapping):
        return None
    read, write = value.get("cached_input"), value.get("cache_write")
    if read is None and value.get("cache_read_input_token_cost") is not None:
        read = value["cache_read_input_token_cost"] * 1e6
    if write is None and value.get("cache_creation_input_token_cost") is not None:
        write = value["cache_creation_input_token_cost"] * 1e6
    if read is None and write is None:
        return None
    for v in (read, write):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
            raise ValueError(f"cache prices of {name!r} must be non-negative numbers; got {value!r}")
    return (None if read is None else float(read), None if write is None else float(write))


def register_prices(prices: Mapping[str, Any]) -> None:
    """Add or override prices, USD per million tokens. Keys: ``"provider/model"`` or a bare model name.

    Values: ``(input, output)``, ``{"input": 0.5, "output": 1.5}``, or LiteLLM's
    ``{"input_cost_per_token": 5e-7, "output_cost_per_token": 1.5e-6}``. Snapshot names
    (``my-model-2025-01-01``) and longer names (``my-model-large``) fall back to the registered name.
    A dict may also give ``"max_output_tokens"``: the model's output ceiling, which a budget reserves
    for a request without ``max_tokens``; and ``"cached_input"`` / ``"cache_write"`` (per million),
    or LiteLLM's ``cache_read_input_token_cost`` / ``cache_creation_input_token_cost``: its
    prompt-cache rates (without them, cached tokens of a registered model cost the input rate).

    Example::

        volley.register_prices({"openai/my-finetune": (3.0, 12.0),
                                "groq/qwen-qwq-32b": {"input": 0.29, "output": 0.39, "max_output_tokens": 16384}})
    """
    parsed = {str(k).lower(): _as_price(k, v) for k, v in prices.items()}
    ceilings = {str(k).lower(): _as_ceiling(k, v) for k, v in prices.items()}
    caches = {str(k).lower(): _as_cache(k, v) for k, v in prices.items()}
    _user_prices.update(parsed)
    for k in parsed:  # a new price drops cache rates registered before it, unless it gives its own
        _user_cache.pop(k, None)
    _user_cache.update({k: v for k, v in caches.items() if v is not None})
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


def _find_key(table: Mapping[str, Any], keys: list[str]) -> str | None:
    for k in keys:
        if k in table:
            return k
    best: str | None = None
    for k in keys:  # longest registered name that the model extends at a boundary: "gpt-4o-mini-search" → gpt-4o-mini
        for known in table:
            extends = len(k) > len(known) and k.startswith(known) and k[len(known)] in _BOUNDARY
            if extends and (best is None or len(known) > len(best)):
                best = known
    return best


def _find(table: Mapping[str, V], keys: list[str]) -> V | None:
    key = _find_key(table, keys)
    return table[key] if key is not None else None


def model_price(model: str, provider: str | None = None) -> Price | None:
    """``(input, output)`` USD per million tokens for a model, or None when unknown.

    Example: ``volley.cost.model_price("claude-3-5-haiku-20241022")`` → ``(0.8, 4.0)``
    """
    _load_env()
    provider, name = _split(model, provider)
    key = (provider, name)
    if key in _lookups:
        return _lookups[key]  # type: ignore[no-any-return]
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


def model_rates(model: str, provider: str | None = None) -> Rates | None:
    """Every rate of a model (input, output, cache read and write) with its source and date; None when unknown.

    Example::

        r = model_rates("gpt-4o-mini")
        r.input, r.cached_input, r.source      # 0.15, 0.075, 'openai.com/api/pricing (...)'
    """
    _load_env()
    return _memo_rates(model, provider)


def _memo_rates(model: str, provider: str | None) -> Rates | None:
    """``model_rates`` without looking at ``VOLLEY_PRICES`` again (its file was read when the call was set up)."""
    asked = ("asked", model, provider or "")
    known = _lookups.get(asked, _MISSING)
    if known is not _MISSING:  # the same name asked again (every answer of a batch): no parsing
        return known  # type: ignore[no-any-return]
    rates = _lookups[asked] = _rates(model, provider)
    return rates


def _rates(model: str, provider: str | None) -> Rates | None:
    provider, name = _split(model, provider)
    key = ("rates", provider, name)
    if key in _lookups:
        return _lookups[key]  # type: ignore[no-any-return]
    price = model_price(name, provider)
    if price is None:
        _lookups[key] = None
        return None
    names = _candidates(name)
    scoped = [f"{provider}/{n}" for n in names] if provider else []
    inp, out = price
    rule = CACHE_RULES.get(provider)
    read: float | None = None
    write: float | None = None
    write_1h: float | None = None
    known = False
    if provider in FREE_PROVIDERS:
        read, known, source = 0.0, True, ("self-hosted: free", "")
    elif (user := _find_key(_user_prices, scoped + names)) is not None:
        source = ("registered", "")
        given = _user_cache.get(user)
        if given is not None:
            read, write = given
            known = read is not None
        elif rule is not None:
            read, write, write_1h, known = inp * rule[0], inp * rule[1], inp * rule[2], True
    else:
        found = _find_key(PRICES, scoped)
        source = _source(found, provider)
        if rule is not None:
            read, write, write_1h, known = inp * rule[0], inp * rule[1], inp * rule[2], True
        elif found is not None and found in CACHE_PRICES:
            read, write = CACHE_PRICES[found]
            known = True
    cached = inp if read is None else read
    write = inp if write is None else write
    rates = Rates(inp, out, cached, write, write if write_1h is None else write_1h, known, *source)
    _lookups[key] = rates
    return rates


def _source(key: str | None, provider: str) -> tuple[str, str]:
    return PRICE_SOURCES.get(key or "") or PRICE_SOURCES.get(provider) or ("unknown", "")


def answer_cost(resp: Any, provider: str) -> float | None:
    """``completion_cost(resp, provider=provider)`` for an answer as it arrives (its cost is set once
    per response), without reading its metadata properties one by one."""
    private = getattr(resp, "__pydantic_private__", None) or _EMPTY
    if private.get("_cache_hit") or private.get("_billing", "standard") != "standard":
        return completion_cost(resp, provider=provider)
    model = resp.model
    rates = _memo_rates(model, provider) if model else None  # (the call's set-up read VOLLEY_PRICES)
    return None if rates is None else tokens_cost(rates, *usage_counts(resp.usage))


def usage_counts(usage: Any) -> tuple[int, int, int, int, int]:
    """``(prompt, completion, cached, cache_written, cache_written_1h)`` tokens of an OpenAI-shaped usage.

    Cached tokens are read from ``prompt_tokens_details.cached_tokens``; cache writes from
    ``cache_creation_input_tokens`` (all TTLs), the 1-hour part from
    ``cache_creation.ephemeral_1h_input_tokens`` (where volley's protocols put them).
    """
    if usage is None:
        return 0, 0, 0, 0, 0
    if isinstance(usage, dict):
        fields, extra = usage, _EMPTY
    else:  # an object: its attributes, and a pydantic model's undeclared fields (volley's Usage keeps them there)
        fields = getattr(usage, "__dict__", None) or _EMPTY
        extra = getattr(usage, "__pydantic_extra__", None) or _EMPTY
    prompt = _int(fields.get("prompt_tokens", extra.get("prompt_tokens")))
    completion = _int(fields.get("completion_tokens", extra.get("completion_tokens")))
    if not extra and len(fields) <= 3:  # nothing but the three counts: no cache fields (the common case)
        return prompt, completion, 0, 0, 0
    cached = _int(_get(fields.get("prompt_tokens_details") or extra.get("prompt_tokens_details"), "cached_tokens"))
    written = _int(fields.get("cache_creation_input_tokens") or extra.get("cache_creation_input_tokens"))
    if not written:
        return prompt, completion, cached, 0, 0
    ttl = fields.get("cache_creation") or extra.get("cache_creation")
    return prompt, completion, cached, written, min(written, _int(_get(ttl, "ephemeral_1h_input_tokens")))


_EMPTY: dict[str, Any] = {}


def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def tokens_cost(
    rates: Rates,
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
    cache_write_1h_tokens: int = 0,
) -> float:
    """USD of a usage at ``rates``: uncached prompt tokens at the input rate, cache reads and writes at
    theirs (``prompt_tokens`` includes both, as every provider reports it), completion at the output rate."""
    uncached = max(0, prompt_tokens - cached_tokens - cache_write_tokens)
    write_5m = max(0, cache_write_tokens - cache_write_1h_tokens)
    return (
        uncached * rates.input
        + cached_tokens * rates.cached_input
        + write_5m * rates.cache_write
        + cache_write_1h_tokens * rates.cache_write_1h
        + completion_tokens * rates.output
    ) / 1e6


def completion_cost(
    completion_response: Any = None,
    *,
    model: str | None = None,
    provider: str | None = None,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> float | None:
    """USD a completion cost, from its usage and the price table; None when the model has no price.

    Prompt-cache reads and writes in the usage are billed at the model's cache rates (see the module
    docstring). A response served from volley's cache (``response.cache_hit``) cost nothing: 0.0;
    one answered through a provider batch API (``mode="batch_api"``) costs half, cached tokens
    included. Without a response, prices the token counts given of ``model``.

    Example::

        r = volley.completion("gpt-4o-mini", [{"role": "user", "content": "Hi"}])
        print(volley.completion_cost(r))            # same as r.cost
        volley.completion_cost(model="gpt-4o", prompt_tokens=1000, completion_tokens=200)  # 0.0045
    """
    discount = 1.0
    write_1h = 0
    if completion_response is not None:
        if getattr(completion_response, "cache_hit", False):
            return 0.0
        usage = getattr(completion_response, "usage", None)
        prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens, write_1h = usage_counts(usage)
        model = model or getattr(completion_response, "model", "") or ""
        provider = provider or getattr(completion_response, "provider", "") or None
        if getattr(completion_response, "billing", "standard") == "batch":
            discount = batch_discount_for(provider)  # answered through a provider batch API
    if not model:
        return None
    rates = model_rates(model, provider)
    if rates is None:
        return None
    return tokens_cost(rates, prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens, write_1h) * discount


def ceiling_note(provider: str, model: str) -> tuple[int, str]:
    """The output ceiling a request without ``max_tokens`` is reserved at, and the sentence that says so."""
    ceiling, known = model_max_output(model, provider)
    if known:
        return ceiling, f"no max_tokens: each {provider}/{model} request is reserved at the model's ceiling of " \
            f"{ceiling:,} output tokens"  # fmt: skip
    return ceiling, (f"no max_tokens, and the output ceiling of {provider}/{model} is not known: each request is "
                     f"reserved at {ceiling:,} output tokens (or give max_output_tokens with its price)")  # fmt: skip
