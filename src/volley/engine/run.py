"""The core: run jobs with bounded concurrency and yield ``(index, result)`` as each one finishes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
Job = Callable[[], Awaitable[T]]


async def run(
    jobs: Iterable[tuple[int, Job[T]]], *, concurrency: int
) -> AsyncIterator[tuple[int, T | BaseException]]:
    """Run ``jobs`` (read lazily), at most ``concurrency`` at a time; yield results as they complete.

    A job that raises yields its exception in place of a result; nothing is lost. Closing the
    iterator early (or cancelling its consumer) cancels every job still in flight.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    it = iter(jobs)
    done: asyncio.Queue[tuple[int, T | BaseException] | None] = asyncio.Queue()

    async def worker() -> None:
        for index, job in it:  # a shared iterator: each worker pulls the next job when it is free
            try:
                result: T | BaseException = await job()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                result = exc
            done.put_nowait((index, result))
        done.put_nowait(None)

    workers = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
    alive = len(workers)
    try:
        while alive:
            item = await done.get()
            if item is None:
                alive -= 1
                continue
            yield item
        for w in workers:  # surface an exception raised by the input iterable itself
            w.result()
    finally:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
