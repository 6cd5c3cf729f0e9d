"""What volley knows about a model beside its price and output ceiling (those are :mod:`volley.pricing`'s):
its context window and what it supports. ``model_info`` joins the three into LiteLLM's ``get_model_info`` shape.

``MODEL_INFO`` maps ``"provider/model"`` (looked up like the price table: snapshot suffixes and
longer names fall back to the listed name) to ``(max input tokens, capabilities)``; capabilities
are words from :data:`CAPABILITIES`. The figures are the providers' published model pages as
volley's maintainers know them (same date as the price table); a ``None`` context window means not
known. Verify before relying on them, and add or correct entries with :func:`register_model`
(LiteLLM's ``register_model`` format: ``max_input_tokens``, ``supports_vision``, ...).

Example::

    model_info("gpt-4o-mini")["max_input_tokens"]      # 128000
    supports("claude-sonnet-4-5", "reasoning")         # True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import pricing

#: The capability words, and LiteLLM's ``supports_*`` key of each.
CAPABILITIES = {
    "tools": "supports_function_calling", "vision": "supports_vision", "schema": "supports_response_schema",
    "reasoning": "supports_reasoning", "caching": "supports_prompt_caching", "system": "supports_system_messages",
    "tool_choice": "supports_tool_choice", "parallel_tools": "supports_parallel_function_calling",
}  # fmt: skip

_ALL = "tools tool_choice parallel_tools system"
_OA = f"{_ALL} caching"
_OAV = f"{_OA} vision schema"
_OAR = f"{_OAV} reasoning"
_CL = f"{_ALL} caching schema vision"
_CLR = f"{_CL} reasoning"
_GE = f"{_ALL} vision schema"
_GER = f"{_GE} reasoning caching"
_CO = f"{_ALL} schema"
_LL = f"{_ALL}"

# fmt: off
_RAW: dict[str, tuple[int | None, str]] = {
    # OpenAI (gpt-5 family: 272k input + 128k output = 400k context)
    "openai/gpt-5": (272_000, _OAR), "openai/gpt-5.1": (272_000, _OAR), "openai/gpt-5.4": (None, _OAR),
    "openai/gpt-5-mini": (272_000, _OAR), "openai/gpt-5-nano": (272_000, _OAR), "openai/gpt-5-pro": (272_000, _OAR),
    "openai/gpt-4.1": (1_047_576, _OAV), "openai/gpt-4.1-mini": (1_047_576, _OAV),
    "openai/gpt-4.1-nano": (1_047_576, _OAV), "openai/gpt-4o": (128_000, _OAV), "openai/gpt-4o-mini": (128_000, _OAV),
    "openai/chatgpt-4o": (128_000, "system vision"),
    "openai/o1": (200_000, _OAR), "openai/o1-mini": (128_000, "reasoning"), "openai/o3": (200_000, _OAR),
    "openai/o3-pro": (200_000, _OAR), "openai/o3-mini": (200_000, f"{_OA} schema reasoning"),
    "openai/o4-mini": (200_000, _OAR),
    "openai/gpt-4-turbo": (128_000, f"{_ALL} vision"), "openai/gpt-4": (8_192, _ALL),
    "openai/gpt-3.5-turbo": (16_385, _ALL),
    # Anthropic (200k context; schema through a forced tool)
    "anthropic/claude-opus-4-6": (200_000, _CLR), "anthropic/claude-opus-4-5": (200_000, _CLR),
    "anthropic/claude-opus-4-1": (200_000, _CLR), "anthropic/claude-opus-4": (200_000, _CLR),
    "anthropic/claude-sonnet-4-6": (200_000, _CLR), "anthropic/claude-sonnet-4-5": (200_000, _CLR),
    "anthropic/claude-sonnet-4": (200_000, _CLR), "anthropic/claude-3-7-sonnet": (200_000, _CLR),
    "anthropic/claude-3-5-sonnet": (200_000, _CL), "anthropic/claude-haiku-4-5": (200_000, _CLR),
    "anthropic/claude-3-5-haiku": (200_000, f"{_ALL} caching schema"), "anthropic/claude-3-opus": (200_000, _CL),
    "anthropic/claude-3-haiku": (200_000, _CL),
    # Google Gemini
    "gemini/gemini-3.1-pro": (1_048_576, _GER), "gemini/gemini-3-pro": (1_048_576, _GER),
    "gemini/gemini-3-flash": (1_048_576, _GER), "gemini/gemini-3.1-flash-lite": (1_048_576, _GER),
    "gemini/gemini-2.5-pro": (1_048_576, _GER), "gemini/gemini-2.5-flash": (1_048_576, _GER),
    "gemini/gemini-2.5-flash-lite": (1_048_576, _GER), "gemini/gemini-2.0-flash": (1_048_576, _GE),
    "gemini/gemini-2.0-flash-lite": (1_048_576, _GE), "gemini/gemini-1.5-pro": (2_097_152, _GE),
    "gemini/gemini-1.5-flash": (1_048_576, _GE), "gemini/gemini-1.5-flash-8b": (1_048_576, _GE),
    # Cohere
    "cohere/command-a": (256_000, _CO), "cohere/command-r-plus": (128_000, _CO), "cohere/command-r": (128_000, _CO),
    "cohere/command-r7b": (128_000, _CO),
    # Groq
    "groq/llama-3.3-70b-versatile": (131_072, _LL), "groq/llama-3.1-8b-instant": (131_072, _LL),
    "groq/meta-llama/llama-4-scout-17b-16e-instruct": (131_072, f"{_LL} vision schema"),
    "groq/meta-llama/llama-4-maverick-17b-128e-instruct": (131_072, f"{_LL} vision schema"),
    "groq/openai/gpt-oss-120b": (131_072, f"{_LL} schema reasoning"),
    "groq/openai/gpt-oss-20b": (131_072, f"{_LL} schema reasoning"),
    # Mistral
    "mistral/mistral-large": (131_072, _CO), "mistral/mistral-medium": (131_072, f"{_CO} vision"),
    "mistral/mistral-small": (131_072, f"{_CO} vision"), "mistral/codestral": (256_000, _CO),
    "mistral/ministral-8b": (131_072, _CO), "mistral/ministral-3b": (131_072, _CO),
    "mistral/open-mistral-nemo": (131_072, _CO),
    # DeepSeek (JSON mode, no schema mode)
    "deepseek/deepseek-chat": (128_000, f"{_ALL} caching"),
    "deepseek/deepseek-reasoner": (128_000, "system caching reasoning"),
}
# fmt: on

MODEL_INFO: dict[str, tuple[int | None, frozenset[str]]] = {k: (n, frozenset(c.split())) for k, (n, c) in _RAW.items()}
_user: dict[str, dict[str, Any]] = {}  # register_model's entries: max_input_tokens and capabilities


def _lookup(
    model: str, provider: str | None
) -> tuple[str, str, tuple[int | None, frozenset[str]] | None, dict[str, Any]]:
    provider, name = pricing._split(model, provider)
    names = pricing._candidates(name)
    scoped = [f"{provider}/{n}" for n in names] if provider else []
    user = pricing._find(_user, scoped + names) or {}
    return provider, name, pricing._find(MODEL_INFO, scoped), user


def supports(model: str, capability: str, provider: str | None = None) -> bool:
    """Whether ``model`` supports ``capability`` (a word of :data:`CAPABILITIES`); False when unknown."""
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}; known: {', '.join(CAPABILITIES)}")
    _, _, info, user = _lookup(model, provider)
    key = CAPABILITIES[capability]
    if key in user:
        return bool(user[key])
    return info is not None and capability in info[1]


def known(model: str, provider: str | None = None) -> bool:
    """Whether volley has any fact about ``model`` (price, ceiling, context window or capabilities)."""
    _, _, info, user = _lookup(model, provider)
    return info is not None or bool(user) or pricing.model_price(model, provider) is not None


def model_info(model: str, provider: str | None = None) -> dict[str, Any]:
    """LiteLLM's ``get_model_info`` dict for ``model``: ``max_input_tokens``, ``max_output_tokens``,
    ``max_tokens`` (the output ceiling, as LiteLLM), per-token costs, ``litellm_provider``, ``mode``
    and the ``supports_*`` flags. Raises ``ValueError`` for a model volley knows nothing about."""
    prov, name, info, user = _lookup(model, provider)
    price = pricing.model_price(model, provider)
    if info is None and not user and price is None:
        raise ValueError(f"volley has no information on model {model!r}; add it with volley.register_model({{...}})")
    ceiling, ceiling_known = pricing.model_max_output(model, provider)
    out: dict[str, Any] = {
        "key": f"{prov}/{name}" if prov else name,
        "litellm_provider": prov or None,
        "mode": "chat",
        "max_input_tokens": user.get("max_input_tokens", info[0] if info else None),
        "max_output_tokens": ceiling if ceiling_known else None,
        "input_cost_per_token": price[0] / 1e6 if price else None,
        "output_cost_per_token": price[1] / 1e6 if price else None,
    }
    out["max_tokens"] = out["max_output_tokens"]
    for word, key in CAPABILITIES.items():
        out[key] = bool(user[key]) if key in user else (info is not None and word in info[1])
    return out


def register_model(entries: Mapping[str, Mapping[str, Any]]) -> None:
    """Add or correct models, in LiteLLM's ``register_model`` / ``model_cost`` format.

    Keys are ``"provider/model"`` (or a bare name with ``"litellm_provider"``); values may give
    ``input_cost_per_token`` / ``output_cost_per_token`` (USD per token), ``max_output_tokens`` (or
    LiteLLM's ``max_tokens``), ``max_input_tokens`` and ``supports_*`` flags.

    Example::

        volley.register_model({"openai/my-finetune": {"input_cost_per_token": 3e-6, "output_cost_per_token": 1.2e-5,
                                                      "max_input_tokens": 128000, "supports_vision": False}})
    """
    prices: dict[str, Any] = {}
    ceilings: dict[str, int] = {}
    for raw, entry in entries.items():
        if not isinstance(entry, Mapping):
            raise ValueError(f"register_model: the entry for {raw!r} must be a dict; got {entry!r}")
        name = str(raw).lower()
        provider = entry.get("litellm_provider")
        if provider and not name.startswith(f"{provider}/"):
            name = f"{provider}/{name}"
        ceiling = entry.get("max_output_tokens", entry.get("max_tokens"))
        if "input_cost_per_token" in entry or "output_cost_per_token" in entry:
            prices[name] = {k: entry[k] for k in ("input_cost_per_token", "output_cost_per_token") if k in entry}
            if ceiling is not None:
                prices[name]["max_output_tokens"] = ceiling
        elif ceiling is not None:
            ceilings[name] = ceiling
        facts = {k: v for k, v in entry.items() if k == "max_input_tokens" or k in CAPABILITIES.values()}
        if facts:
            _user.setdefault(name, {}).update(facts)
    if prices:
        pricing.register_prices(prices)
    if ceilings:
        pricing.register_max_output(ceilings)


def names() -> list[str]:
    """Every ``"provider/model"`` volley has facts on (built-in and registered)."""
    return sorted({*MODEL_INFO, *pricing.PRICES, *pricing.MAX_OUTPUT_TOKENS, *_user, *pricing._user_prices})
