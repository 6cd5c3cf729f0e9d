"""Racing: the first successful result among several jobs; the others are cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import AllModelsFailedError

T = TypeVar("T")


@dataclass
class RaceStats:
    """How a race went: how many jobs were started (with hedging, some never are)."""

    started: int = 0
    total: int = 0

    @property
    def saved(self) -> int:
        return self.total - self.started


async def first_success(
    jobs: Sequence[tuple[str, Callable[[], Awaitable[T]]]],
    *,
    hedge_after: float | None = None,
    discard: Callable[[T], Awaitable[Any]] | None = None,
    stats: RaceStats | None = None,
) -> tuple[int, T]:
    """Return ``(position, result)`` of the first job to succeed; cancel (and await) every other one.

    Without ``hedge_after`` every job starts at once. With it, jobs start in order: the next one
    when ``hedge_after`` seconds pass with no success, or at once when a running job fails. A job
    that fails never wins; when all fail, raise ``AllModelsFailedError`` with each label's error.
    ``discard`` is awaited on a successful result that lost a photo finish (e.g. to close a stream).
    """
    stats = stats if stats is not None else RaceStats()
    stats.total = len(jobs)
    tasks: dict[asyncio.Future[T], int] = {}
    errors: dict[int, BaseException] = {}
    pending: set[asyncio.Future[T]] = set()

    def start_next() -> bool:
        if stats.started >= len(jobs):
            return False
        i = stats.started
        stats.started += 1
        t = asyncio.ensure_future(jobs[i][1]())
        tasks[t] = i
        pending.add(t)
        return True

    if hedge_after is None:
        while start_next():
            pass
    else:
        start_next()
    try:
        while pending:
            more = stats.started < len(jobs)
            finished, _ = await asyncio.wait(
                pending, timeout=hedge_after if more else None, return_when=asyncio.FIRST_COMPLETED
            )
            if not finished:  # no answer within hedge_after: start the next model too
                start_next()
                continue
            pending.difference_update(finished)
            winner: asyncio.Future[T] | None = None
            for t in sorted(finished, key=tasks.__getitem__):
                exc = t.exception()
                if exc is not None:
                    errors[tasks[t]] = exc
                elif winner is None:
                    winner = t
                elif discard is not None:
                    await discard(t.result())
            if winner is not None:
                return tasks[winner], winner.result()
            start_next()  # a model failed: with hedging, the next one starts now rather than later
    finally:
        for t in pending:
            t.cancel()
        if pending:
            outcomes = await asyncio.gather(*pending, return_exceptions=True)
            if discard is not None:  # a loser that succeeded just before it could be cancelled
                for r in outcomes:
                    if not isinstance(r, BaseException):
                        await discard(r)
    raise AllModelsFailedError({_unique(jobs, i): errors[i] for i in sorted(errors)})


def _unique(jobs: Sequence[tuple[str, object]], i: int) -> str:
    label = jobs[i][0]
    if sum(1 for name, _ in jobs if name == label) > 1:
        return f"{label}#{i}"
    return label
