"""What a completion cost: a price table, ``completion_cost``, and ``Budget`` (stop before a spend limit).

Prices are USD per million tokens, ``(input, output)``, at each provider's standard (pay-as-you-go)
list price: no prompt-cache, batch or long-context (>200k tokens) rates. Checked 2026-11-27 against
public copies of the providers' pricing pages (Anthropic's own page; third-party copies of OpenAI's,
Google's, Groq's and Mistral's dated 2026-03..2026-05); Cohere, Groq, Mistral and DeepSeek figures
are the last list prices we could confirm and are the most likely to be stale. Verify before you
bill anyone, and override with :func:`register_prices`, ``VOLLEY_PRICES=/path/prices.json`` or
``volley run --prices FILE``.

Self-hosted providers (``ollama``, ``vllm``, ``hosted_vllm``, ``llamacpp``, ``local``) cost 0.
An unknown model has no price: ``completion_cost`` returns ``None`` (never a silent 0.0).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from .errors import BudgetExceededError

T = TypeVar("T")
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
# fmt: on

#: Providers that run on your own hardware: every token costs 0.
FREE_PROVIDERS = frozenset({"ollama", "vllm", "hosted_vllm", "llamacpp", "local"})

_user_prices: dict[str, Price] = {}
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


def register_prices(prices: Mapping[str, Any]) -> None:
    """Add or override prices, USD per million tokens. Keys: ``"provider/model"`` or a bare model name.

    Values: ``(input, output)``, ``{"input": 0.5, "output": 1.5}``, or LiteLLM's
    ``{"input_cost_per_token": 5e-7, "output_cost_per_token": 1.5e-6}``. Snapshot names
    (``my-model-2025-01-01``) and longer names (``my-model-large``) fall back to the registered name.

    Example::

        volley.register_prices({"openai/my-finetune": (3.0, 12.0),
                                "groq/qwen-qwq-32b": {"input": 0.29, "output": 0.39}})
    """
    parsed = {str(k).lower(): _as_price(k, v) for k, v in prices.items()}
    _user_prices.update(parsed)
    _lookups.clear()


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


def _find(table: Mapping[str, Price], keys: list[str]) -> Price | None:
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
        from .batch_api.discount import batch_discount

        discount = batch_discount(completion_response)  # 0.5 for an answer from a provider batch API
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


class Budget:
    """A spend limit shared by the requests of a batch (or a ``volley run`` job).

    Before a request is sent, ``spent + reserved + estimate`` must stay within ``limit_usd``;
    ``reserved`` is the estimate of every request in flight. When it would not fit but requests
    are in flight, the request waits for them to finish (their real cost replaces the estimate);
    when it would not fit with nothing in flight, the budget is exhausted: this request and every
    later one raise :class:`BudgetExceededError` without being sent.

    Estimate of one request: prompt characters / 4 (scaled by the real/estimated prompt-token ratio
    seen so far) at the input price, plus the answer at the output price, assumed ``max_tokens``
    long (256 without it) until the first answer arrives, then the average answer length so far.

    Example::

        out = volley.batch_completion("gpt-4o-mini", prompts, budget_usd=2.00)
    """

    def __init__(self, limit_usd: float, *, spent: float = 0.0) -> None:
        if isinstance(limit_usd, bool) or not isinstance(limit_usd, (int, float)) or not limit_usd >= 0:
            raise ValueError(f"budget_usd must be a non-negative number; got {limit_usd!r}")
        self.limit = float(limit_usd)
        self.spent = float(spent)
        self.reserved = 0.0
        self.in_flight = 0  # requests holding a reservation (an int: float sums never quite return to 0)
        self.exhausted = False
        self.refused = 0
        self._answers = 0
        self._out_tokens = 0
        self._prompt_est = 0
        self._prompt_real = 0
        self._changed: asyncio.Event | None = None

    def check_price(self, provider: str, model: str) -> None:
        """Raise ``ValueError`` when the model has no price (a budget cannot be kept without one)."""
        if model_price(model, provider) is None:
            raise ValueError(
                f"budget_usd needs a price for {provider}/{model}: add one with volley.register_prices "
                "(or VOLLEY_PRICES / --prices FILE)"
            )

    def estimate(self, call: Any) -> float:
        """USD a prepared call may cost (see the class docstring)."""
        price = model_price(call.route.model, call.route.provider) or (0.0, 0.0)
        prompt: float = estimate_prompt(call)
        cap = call.est_tokens - prompt if call.est_tokens > prompt else 256
        if self._prompt_est:
            prompt = prompt * self._prompt_real / self._prompt_est
        out = self._out_tokens / self._answers if self._answers else cap
        return (prompt * price[0] + out * price[1]) / 1e6

    async def spend(self, call: Any, send: Callable[[], Awaitable[T]]) -> T:
        """Send ``send()`` once the call's estimate fits in the budget; count what it really cost."""
        estimate = self.estimate(call)
        await self._reserve(estimate, call)
        response: Any = None
        try:
            response = await send()
            return response
        finally:
            self._settle(estimate, call, response)

    async def _reserve(self, estimate: float, call: Any) -> None:
        while True:
            if not self.exhausted and self.spent + self.reserved + estimate <= self.limit:
                self.reserved += estimate
                self.in_flight += 1
                return
            if self.exhausted or self.in_flight == 0:
                self.exhausted = True
                self.refused += 1
                raise BudgetExceededError(
                    f"budget of ${self.limit:.4f} reached (spent ${self.spent:.4f}); request not sent",
                    spent=self.spent,
                    budget=self.limit,
                )
            if self._changed is None:
                self._changed = asyncio.Event()
            await self._changed.wait()

    def _settle(self, estimate: float, call: Any, response: Any) -> None:
        self.in_flight -= 1
        self.reserved = max(0.0, self.reserved - estimate) if self.in_flight else 0.0
        usage = getattr(response, "usage", None)
        if usage is not None:
            cost = completion_cost(response)
            self.spent += estimate if cost is None else cost
            self._answers += 1
            self._out_tokens += usage.completion_tokens or 0
            self._prompt_real += usage.prompt_tokens or 0
            self._prompt_est += max(1, estimate_prompt(call))
        elif response is not None:
            self.spent += estimate  # an answer without usage: assume the estimate
        if self._changed is not None:
            self._changed.set()
            self._changed = None


def estimate_prompt(call: Any) -> int:
    """Prompt tokens of a prepared call, estimated from its characters."""
    from .call import estimate_tokens

    return estimate_tokens(call.messages, {"max_tokens": 1}) - 1
