"""The budget hook: reserve each call's worst case in a :class:`~volley.budget.Budget`, then count what it cost.

Worst case of one request, at the list price: one prompt token per byte of its text, each at the
highest rate a prompt token can bill (a prompt-cache write costs more than input at Anthropic)
(``tokens.prompt_bound``), plus ``max_tokens`` times ``n`` output tokens (the provider's default cap
when volley sends one), or, without ``max_tokens``, the model's output ceiling
(``pricing.MAX_OUTPUT_TOKENS``; ``DEFAULT_MAX_OUTPUT_TOKENS`` when unknown), logged once per model.
"""

from __future__ import annotations

import logging
from typing import Any

from .. import pricing
from ..budget import Budget
from ..tokens import prompt_bound
from . import Send

log = logging.getLogger("volley")


def output_ceiling(call: Any) -> tuple[int, str | None]:
    """Most output tokens a prepared call can bill, and a note when that is the model's ceiling (no max_tokens)."""
    n = call.choices or 1
    if call.max_output is not None:
        return int(call.max_output) * n, None
    ceiling, note = pricing.ceiling_note(call.route.provider, call.route.model)
    return ceiling * n, note


def reservation(call: Any) -> float:
    """USD a prepared call can cost at most (see the module docstring)."""
    rates = pricing.model_rates(call.route.model, call.route.provider)
    if rates is None:
        return 0.0
    out, _ = output_ceiling(call)
    return (prompt_bound(call.messages, call.request.body) * rates.prompt_ceiling + out * rates.output) / 1e6


def _cost(response: Any) -> float | None:
    return pricing.completion_cost(response) if getattr(response, "usage", None) is not None else None


class BudgetHook:
    """Hold each call back until its reservation fits in ``budget`` (shared by a batch or a job)."""

    def __init__(self, budget: Budget, *, warn: bool = True) -> None:
        self.budget = budget
        self._warn = warn
        self._warned: set[str] = set()

    async def __call__(self, call: Any, send: Send) -> Any:
        amount = reservation(call)
        if self._warn and call.max_output is None and call.route.label not in self._warned:
            self._warned.add(call.route.label)
            _, note = output_ceiling(call)
            price = pricing.model_price(call.route.model, call.route.provider)
            if note and price and price[1]:
                log.warning("budget_usd: %s", note)
        return await self.budget.spend(amount, send, _cost)


def check_price(provider: str, model: str) -> None:
    """Raise ``ValueError`` when the model has no price (a budget cannot be kept without one)."""
    if pricing.model_price(model, provider) is None:
        raise ValueError(
            f"budget_usd needs a price for {provider}/{model}: add one with volley.register_prices "
            "(or VOLLEY_PRICES / --prices FILE)"
        )
