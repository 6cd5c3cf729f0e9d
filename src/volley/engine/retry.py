"""Retry policy: what to retry, and how long to wait (exponential backoff, full jitter, Retry-After)."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``num_retries`` extra attempts for errors whose class says ``retryable``.

    The wait before retry ``k`` (0-based) is uniform in ``[0, min(max_delay, base_delay * 2**k)]``,
    or the server's ``retry_after`` when it gave one (capped at ``max_retry_after``).
    """

    num_retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_retry_after: float = 60.0

    def should_retry(self, exc: BaseException, attempt: int) -> bool:
        return attempt < self.num_retries and bool(getattr(exc, "retryable", False))

    def delay(self, exc: BaseException, attempt: int, rng: random.Random | None = None) -> float:
        hint = getattr(exc, "retry_after", None)
        if isinstance(hint, (int, float)) and not math.isnan(hint):
            return min(max(float(hint), 0.0), self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * (2**attempt))
        return (rng or random).uniform(0.0, ceiling)


async def retrying(
    attempt_fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    on_retry: Callable[[BaseException, int, float], None] | None = None,
    *,
    failed: Exception | None = None,
) -> T:
    """Await ``attempt_fn()`` until it succeeds, the error is not retryable, or retries run out.

    ``failed``: the retryable error of a first attempt the caller already made (retries follow it).
    """
    attempt = 0
    while True:
        try:
            if failed is not None:
                exc, failed = failed, None
                raise exc
            return await attempt_fn()
        except Exception as exc:
            if not policy.should_retry(exc, attempt):
                raise
            wait = policy.delay(exc, attempt)
            if on_retry is not None:
                on_retry(exc, attempt, wait)
            attempt += 1
            await asyncio.sleep(wait)
