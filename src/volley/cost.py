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

``MAX_OUTPUT_TOKENS`` holds each known model's output ceiling (the most output tokens one answer
can bill, reasoning included), from the same providers' model pages; a budget reserves it for a
request sent without ``max_tokens``. A model not in it is assumed to reach
``DEFAULT_MAX_OUTPUT_TOKENS`` (conservative); a price file may give ``"max_output_tokens"``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from .errors import BudgetExceededError

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

    Each request is reserved at its worst case before it is sent (:meth:`reservation`), and
    ``spent + reserved + reservation`` must stay within ``limit_usd``; once it is answered, its
    real cost (from the usage) replaces the reservation. When a request does not fit but others
    are in flight, it waits for them to settle; when it does not fit with nothing in flight, the
    budget is exhausted: this request and every later one raise :class:`BudgetExceededError`
    without being sent. So the spend stays within the limit as long as each answer costs at most
    its reservation, and the job stops at most one reservation short of it.

    Worst case of one request, at the list price: one prompt token per byte of its text (a token is
    at least one byte; see :func:`prompt_bound`), plus ``max_tokens`` times ``n`` output tokens
    (the provider's default cap when volley sends one), or, without ``max_tokens``, the model's output
    ceiling (:data:`MAX_OUTPUT_TOKENS`, :data:`DEFAULT_MAX_OUTPUT_TOKENS` when unknown), which is
    logged once as a warning. Images, audio and files are not counted; an answer without usage
    counts at its reservation; a failed request counts at 0.

    Example::

        out = volley.batch_completion("gpt-4o-mini", prompts, budget_usd=2.00, max_tokens=300)
    """

    def __init__(self, limit_usd: float, *, spent: float = 0.0, warn: bool = True) -> None:
        if isinstance(limit_usd, bool) or not isinstance(limit_usd, (int, float)) or not limit_usd >= 0:
            raise ValueError(f"budget_usd must be a non-negative number; got {limit_usd!r}")
        self.limit = float(limit_usd)
        self.spent = float(spent)
        self.reserved = 0.0
        self.in_flight = 0  # requests holding a reservation (an int: float sums never quite return to 0)
        self.exhausted = False
        self.refused = 0
        self._warn = warn
        self._warned: set[str] = set()
        self._changed: asyncio.Event | None = None

    def check_price(self, provider: str, model: str) -> None:
        """Raise ``ValueError`` when the model has no price (a budget cannot be kept without one)."""
        if model_price(model, provider) is None:
            raise ValueError(
                f"budget_usd needs a price for {provider}/{model}: add one with volley.register_prices "
                "(or VOLLEY_PRICES / --prices FILE)"
            )

    def reservation(self, call: Any) -> float:
        """USD a prepared call can cost at most (see the class docstring)."""
        provider, model = call.route.provider, call.route.model
        price = model_price(model, provider) or (0.0, 0.0)
        out, note = output_ceiling(call)
        label = f"{provider}/{model}"
        if note and self._warn and price[1] and label not in self._warned:
            self._warned.add(label)
            log.warning("budget_usd: %s", note)
        return (prompt_bound(call) * price[0] + out * price[1]) / 1e6

    async def spend(self, call: Any, send: Callable[[], Awaitable[T]]) -> T:
        """Send ``send()`` once the call's reservation fits in the budget; count what it really cost."""
        reserved = self.reservation(call)
        await self._reserve(reserved)
        response: Any = None
        try:
            response = await send()
            return response
        finally:
            self._settle(reserved, response)

    async def _reserve(self, amount: float) -> None:
        while True:
            if not self.exhausted and self.spent + self.reserved + amount <= self.limit:
                self.reserved += amount
                self.in_flight += 1
                return
            if self.exhausted or self.in_flight == 0:
                self.exhausted = True
                self.refused += 1
                raise BudgetExceededError(
                    f"budget of ${self.limit:.4f} reached (spent ${self.spent:.4f}; the next request may cost "
                    f"up to ${amount:.4f}); request not sent",
                    spent=self.spent,
                    budget=self.limit,
                )
            if self._changed is None:
                self._changed = asyncio.Event()
            await self._changed.wait()

    def _settle(self, reserved: float, response: Any) -> None:
        self.in_flight -= 1
        self.reserved = max(0.0, self.reserved - reserved) if self.in_flight else 0.0
        if response is not None:
            cost = completion_cost(response) if getattr(response, "usage", None) is not None else None
            self.spent += reserved if cost is None else cost  # no usage: assume the worst case
        if self._changed is not None:
            self._changed.set()
            self._changed = None


TOOL_PREAMBLE_TOKENS = 1024  # what a provider may add to the prompt to describe tools
MESSAGE_OVERHEAD_TOKENS = 8  # role and separator tokens of one message in the provider's chat template


def prompt_bound(call: Any) -> int:
    """Most prompt tokens a prepared call can bill: one per UTF-8 byte of its text (a token is at least a byte).

    Counts each message's text, tool calls and name, plus ``MESSAGE_OVERHEAD_TOKENS`` per message,
    and the request's tools (plus ``TOOL_PREAMBLE_TOKENS``) and response format. Images, audio and
    files are not counted.
    """
    from .providers.base import text_of

    size = 2 * MESSAGE_OVERHEAD_TOKENS
    for m in call.messages:
        size += MESSAGE_OVERHEAD_TOKENS + len(text_of(m.get("content")).encode("utf-8"))
        for extra in ("tool_calls", "name", "function_call"):
            if m.get(extra):
                size += _json_size(m[extra])
    body = getattr(getattr(call, "request", None), "body", None)
    if isinstance(body, Mapping):
        if body.get("tools"):
            size += _json_size(body["tools"]) + TOOL_PREAMBLE_TOKENS
        if body.get("response_format"):
            size += _json_size(body["response_format"])
    return size


def _json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8"))


def output_ceiling(call: Any) -> tuple[int, str | None]:
    """Most output tokens a prepared call can bill, and a note when that is the model's ceiling (no max_tokens)."""
    cap = getattr(call, "max_output", None)
    n = getattr(call, "choices", 1) or 1
    if cap is not None:
        return int(cap) * n, None
    ceiling, note = ceiling_note(call.route.provider, call.route.model)
    return ceiling * n, note


def ceiling_note(provider: str, model: str) -> tuple[int, str]:
    """The output ceiling a request without ``max_tokens`` is reserved at, and the sentence that says so."""
    ceiling, known = model_max_output(model, provider)
    if known:
        return ceiling, f"no max_tokens: each {provider}/{model} request is reserved at the model's ceiling of " \
            f"{ceiling:,} output tokens"  # fmt: skip
    return ceiling, (f"no max_tokens, and the output ceiling of {provider}/{model} is not known: each request is "
                     f"reserved at {ceiling:,} output tokens (or give max_output_tokens with its price)")  # fmt: skip
