"""What a batch will cost before it is sent: items, prompt tokens, the output-token bound and a cost range
per model, from the prepared calls themselves (nothing is sent). ``volley run --dry-run`` and
``volley.estimate(...)`` print it.

Per model:

- **prompt tokens**: ``volley.tokens.count_tokens(model, messages)`` for each request (an exact count
  where a tokenizer for the model is installed; otherwise an estimate, and labelled so), plus an
  estimate for the tools and response format the request carries.
- **output bound**: the most output tokens the answers can bill: ``max_tokens`` (times ``n``) where
  the request carries one (Anthropic's default cap included), else the model's output ceiling
  (``pricing.MAX_OUTPUT_TOKENS``; a conservative default when it is not known).
- **cost range**: low = the prompt tokens at the input rate (no output); high = that plus every
  answer at its bound at the output rate; both times the batch discount when sent through a batch
  API. Prompt-cache reads would lower the real cost, cache writes (Anthropic) raise it; retries,
  reasoning beyond the bound and cache storage are not counted.

Example::

    est = Estimator()
    for call in calls:
        est.add(call)
    print(est.result().text())
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from typing import Any

from . import pricing
from .tokens import count_tokens


@dataclass
class ModelEstimate:
    """One model's share of a batch: items, prompt tokens, the output bound and the cost range."""

    model: str
    items: int = 0
    prompt_tokens: int = 0
    exact: bool = True  # every prompt count came from a real tokenizer
    output_bound: int = 0
    output_known: bool = True  # every bound is max_tokens or a known ceiling (else an assumed ceiling)
    capped: int = 0  # items whose bound is their max_tokens
    rates: pricing.Rates | None = None
    discount: float = 1.0

    @property
    def cost_low(self) -> float | None:
        """USD if every answer were empty: the prompt tokens at the input rate. None without a price."""
        if self.rates is None:
            return None
        return self.prompt_tokens * self.rates.input / 1e6 * self.discount

    @property
    def cost_high(self) -> float | None:
        """USD if every answer reached its bound. None without a price."""
        if self.rates is None:
            return None
        return (self.prompt_tokens * self.rates.input + self.output_bound * self.rates.output) / 1e6 * self.discount

    def to_json(self) -> dict[str, Any]:
        r = self.rates
        return {
            "model": self.model, "items": self.items, "prompt_tokens": self.prompt_tokens,
            "prompt_tokens_exact": self.exact, "output_bound": self.output_bound,
            "output_bound_known": self.output_known, "cost_low_usd": self.cost_low, "cost_high_usd": self.cost_high,
            "price": None if r is None else {"input": r.input, "output": r.output, "source": r.source,
                                             "checked": r.checked},
            "discount": self.discount,
        }  # fmt: skip


@dataclass
class Estimate:
    """A batch's estimate: items to send, those that cannot be sent, and each model's share."""

    items: int = 0
    invalid: int = 0
    finished: int = 0  # already finished in a journal (not counted)
    models: dict[str, ModelEstimate] = field(default_factory=dict)

    @property
    def prompt_tokens(self) -> int:
        return sum(m.prompt_tokens for m in self.models.values())

    @property
    def output_bound(self) -> int:
        return sum(m.output_bound for m in self.models.values())

    @property
    def cost_low(self) -> float | None:
        """Total low end in USD (None when some model has no price)."""
        costs = [m.cost_low for m in self.models.values()]
        return None if any(c is None for c in costs) else sum(c or 0.0 for c in costs)

    @property
    def cost_high(self) -> float | None:
        costs = [m.cost_high for m in self.models.values()]
        return None if any(c is None for c in costs) else sum(c or 0.0 for c in costs)

    def to_json(self) -> dict[str, Any]:
        return {
            "items": self.items, "invalid": self.invalid, "finished": self.finished,
            "prompt_tokens": self.prompt_tokens, "output_bound": self.output_bound, "cost_low_usd": self.cost_low,
            "cost_high_usd": self.cost_high, "models": [m.to_json() for m in self.models.values()],
        }  # fmt: skip

    def text(self, title: str = "estimate") -> str:
        """Human lines, each within 80 columns."""
        skipped = [f"{self.invalid:,} cannot be sent"] if self.invalid else []
        if self.finished:
            skipped.append(f"{self.finished:,} already finished")
        lines = [f"{title}: {self.items:,} items to send" + (f" ({', '.join(skipped)})" if skipped else "")]
        for m in self.models.values():
            how = "tokenizer" if m.exact else "estimate, ~4 characters a token"
            lines.append(f"  {m.model}: {m.items:,} items")
            lines.append(f"    prompt tokens {m.prompt_tokens:,} ({how})")
            if m.capped == m.items:
                bound = "max_tokens"
            else:
                bound = "model's output ceiling" if m.output_known else "assumed output ceiling"
            lines.append(f"    output bound  {m.output_bound:,} tokens ({bound})")
            if m.rates is None:
                lines.append("    cost          unknown: no price for this model (--prices FILE)")
            else:
                batch = " at the batch price" if m.discount != 1.0 else ""
                lines.append(f"    cost          {_usd(m.cost_low)} .. {_usd(m.cost_high)}{batch}")
                source = f"prices        {m.rates.checked or 'no date'}: {m.rates.source}"
                lines += textwrap.wrap(source, 80, initial_indent="    ", subsequent_indent=" " * 18)
        if len(self.models) > 1 and self.cost_low is not None:
            lines.append(f"  total: {self.prompt_tokens:,} prompt tokens, cost {_usd(self.cost_low)} .. "
                         f"{_usd(self.cost_high)}")  # fmt: skip
        lines.append("  low: prompt tokens only; high: every answer at its bound")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()


def _usd(value: float | None) -> str:
    if value is None:
        return "?"
    if value >= 100:
        return f"${value:,.2f}"
    return f"${value:.4f}" if value >= 0.01 or value == 0 else f"${value:.6f}"


class Estimator:
    """Adds up prepared calls (``volley.prepare.Call``) into an :class:`Estimate`, per model."""

    def __init__(self, *, discount: float = 1.0) -> None:
        self.estimate = Estimate()
        self._discount = discount

    def add(self, call: Any) -> None:
        """Count one prepared call: its prompt tokens, its output bound and its model's prices."""
        route = call.route
        m = self.estimate.models.get(route.label)
        if m is None:
            m = self.estimate.models[route.label] = ModelEstimate(
                route.label, rates=pricing.model_rates(route.model, route.provider), discount=self._discount
            )
        n, exact = count_tokens(route.label, call.messages)
        extra = _body_extra(call.request.body)
        m.items += 1
        m.prompt_tokens += n + extra
        m.exact = m.exact and exact and not extra
        choices = call.choices or 1
        if call.max_output is not None:
            m.output_bound += int(call.max_output) * choices
            m.capped += 1
        else:
            ceiling, known = pricing.model_max_output(route.model, route.provider)
            m.output_bound += ceiling * choices
            m.output_known = m.output_known and known
        self.estimate.items += 1

    def skip(self, *, invalid: int = 0, finished: int = 0) -> None:
        """Count items that will not be sent."""
        self.estimate.invalid += invalid
        self.estimate.finished += finished

    def result(self) -> Estimate:
        return self.estimate


def _body_extra(body: Any) -> int:
    """An estimate of the prompt tokens the body's tools and response format add (characters / 4)."""
    if not isinstance(body, dict):
        return 0
    size = 0
    for key in ("tools", "response_format"):
        if body.get(key):
            size += len(json.dumps(body[key], separators=(",", ":"), default=str))
    return size // 4
