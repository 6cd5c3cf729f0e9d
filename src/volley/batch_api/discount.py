"""The batch price: a response that came through a provider batch API is billed at the batch rate.

OpenAI Batch, Anthropic Message Batches, Mistral batch jobs and Gemini Batch Mode bill every token at half
the online price (``pricing.BATCH_DISCOUNT``), Groq's batch API at 75% (``pricing.BATCH_DISCOUNTS``).
:func:`mark_batch` sets the response's declared ``billing`` to ``"batch"`` (and its ``batch_id``) and
prices it again at that rate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..pricing import BATCH_DISCOUNT, batch_discount_for, completion_cost

if TYPE_CHECKING:
    from ..types import ModelResponse

__all__ = ["BATCH_DISCOUNT", "batch_discount", "batch_id_of", "mark_batch"]


def mark_batch(response: ModelResponse, batch_id: str) -> ModelResponse:
    """Mark ``response`` as answered inside provider batch ``batch_id`` and price it so; returns it."""
    response._billing = "batch"
    response._batch_id = batch_id
    response._cost = completion_cost(response)
    return response


def batch_discount(response: Any) -> float:
    """The price multiplier of ``response``: its provider's batch price (0.5 for most, 0.75 for Groq) if it
    came through a batch API, else 1.0.

    Example::

        cost = online_price(response) * batch_discount(response)
    """
    if getattr(response, "billing", "standard") != "batch":
        return 1.0
    return batch_discount_for(getattr(response, "provider", None))


def batch_id_of(response: Any) -> str | None:
    """The provider batch a response came from, or None for an online answer."""
    return getattr(response, "batch_id", None)
