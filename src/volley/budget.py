"""``Budget``: a spend limit shared by the requests of a batch or a job. It counts US dollars only;
what one request may cost is the caller's to say (``volley.hooks.budget`` reserves each call's worst case).

Each request is reserved at an amount before it is sent, and ``spent + reserved + amount`` must
stay within the limit; once it is answered, its real cost replaces the reservation. When a request
does not fit but others are in flight, it waits for them to settle; when it does not fit with
nothing in flight, the budget is exhausted: this request and every later one raise
:class:`~volley.errors.BudgetExceededError` without being sent. So the spend stays within the limit
as long as each answer costs at most its reservation, and a job stops at most one reservation short.

Example::

    budget = Budget(2.00)
    answer = await budget.spend(0.01, send, cost=lambda r: r.cost)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .errors import BudgetExceededError

T = TypeVar("T")


class Budget:
    """A spend limit in USD (see the module docstring). ``spent`` starts at what earlier runs spent."""

    def __init__(self, limit_usd: float, *, spent: float = 0.0) -> None:
        if isinstance(limit_usd, bool) or not isinstance(limit_usd, (int, float)) or not limit_usd >= 0:
            raise ValueError(f"budget_usd must be a non-negative number; got {limit_usd!r}")
        self.limit = float(limit_usd)
        self.spent = float(spent)
        self.reserved = 0.0
        self.in_flight = 0  # requests holding a reservation (an int: float sums never quite return to 0)
        self.exhausted = False
        self.refused = 0
        self._changed: asyncio.Event | None = None

    async def spend(self, amount: float, send: Callable[[], Awaitable[T]], cost: Callable[[T], float | None]) -> T:
        """Await ``send()`` once ``amount`` fits in the budget; then count ``cost(answer)`` instead
        (the reservation itself when the answer's cost is unknown; 0 when the request failed)."""
        await self._reserve(amount)
        response: Any = None
        try:
            response = await send()
            return response  # type: ignore[no-any-return]
        finally:
            self._settle(amount, None if response is None else cost(response), response is not None)

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

    def _settle(self, reserved: float, cost: float | None, answered: bool) -> None:
        self.in_flight -= 1
        self.reserved = max(0.0, self.reserved - reserved) if self.in_flight else 0.0
        if answered:
            self.spent += reserved if cost is None else cost  # no usage: assume the worst case
        if self._changed is not None:
            self._changed.set()
            self._changed = None
