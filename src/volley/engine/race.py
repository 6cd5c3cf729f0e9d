"""Racing: the first successful result among several jobs; the others are cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from ..errors import AllModelsFailedError

T = TypeVar("T")


async def first_success(jobs: Sequence[tuple[str, Callable[[], Awaitable[T]]]]) -> tuple[int, T]:
    """Start every job at once; return ``(position, result)`` of the first to succeed.

    Every other job is cancelled (and awaited, so its connection is closed) before returning.
    A job that fails does not win; when all fail, raise ``AllModelsFailedError`` with each
    label's exception.
    """
    tasks = {asyncio.ensure_future(fn()): i for i, (_, fn) in enumerate(jobs)}
    errors: dict[int, BaseException] = {}
    pending = set(tasks)
    try:
        while pending:
            finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for t in finished:
                exc = t.exception()
                if exc is None:
                    return tasks[t], t.result()
                errors[tasks[t]] = exc
    finally:
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
    raise AllModelsFailedError({_unique(jobs, i): errors[i] for i in sorted(errors)})


def _unique(jobs: Sequence[tuple[str, object]], i: int) -> str:
    label = jobs[i][0]
    if sum(1 for name, _ in jobs if name == label) > 1:
        return f"{label}#{i}"
    return label
