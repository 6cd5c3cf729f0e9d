"""The batch price: responses that came through a provider batch API are marked for cost accounting.

Both OpenAI Batch and Anthropic Message Batches bill every token at half the online price. A
response that came back through a batch carries ``response._batch_discount == 0.5`` (and
``response._batch_id``); cost code multiplies the online price by :func:`batch_discount`.
No aiohttp here: cost code may import this module freely.
"""

from __future__ import annotations

from typing import Any

BATCH_DISCOUNT = 0.5
"""Price multiplier of provider batch APIs (OpenAI and Anthropic: 50% off input and output tokens)."""


def mark_batch(response: Any, batch_id: str, discount: float = BATCH_DISCOUNT) -> Any:
    """Mark ``response`` as answered inside provider batch ``batch_id``; returns it."""
    response._batch_discount = discount
    response._batch_id = batch_id
    return response


def batch_discount(response: Any) -> float:
    """The price multiplier of ``response``: 0.5 if it came through a batch API, else 1.0.

    Example::

        cost = online_price(response) * batch_discount(response)
    """
    value = getattr(response, "_batch_discount", None)
    return float(value) if value is not None else 1.0


def batch_id_of(response: Any) -> str | None:
    """The provider batch a response came from, or None for an online answer."""
    return getattr(response, "_batch_id", None)
