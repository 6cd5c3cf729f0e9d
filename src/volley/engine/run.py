"""The core: run jobs with bounded concurrency and yield ``(index, result)`` as each one finishes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import aclosing
from typing import TypeVar

from ..errors import Timeout

T = TypeVar("T")
Job = Callable[[], Awaitable[T]]


async def run(
    jobs: Iterable[tuple[int, Job[T]]], *, concurrency: int, deadline: float | None = None
) -> AsyncIterator[tuple[int, T | BaseException]]:
    """Run ``jobs`` (read lazily), at most ``concurrency`` at a time; yield results as they complete.

    A job that raises yields its exception in place of a result; nothing is lost. With
    ``deadline`` (a ``loop.time()`` instant), jobs still running then are cancelled and every job
    not finished yields ``Timeout``. Closing the iterator early (or cancelling its consumer)
    cancels every job still in flight.
    """
    async with aclosing(run_chunks(jobs, concurrency=concurrency, deadline=deadline)) as chunks:
        async for chunk in chunks:
            for item in chunk:
                yield item


async def run_chunks(
    jobs: Iterable[tuple[int, Job[T]]], *, concurrency: int, deadline: float | None = None
) -> AsyncIterator[list[tuple[int, T | BaseException]]]:
    """Like :func:`run`, but yield every result that is ready at once as one list.

    A slow consumer holds the workers back: at most ``concurrency`` results wait to be taken and
    ``concurrency`` jobs run, so memory stays bounded however large the input is.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    it = iter(jobs)
    done: asyncio.Queue[tuple[int, T | BaseException] | None] = asyncio.Queue(maxsize=concurrency)
    loop = asyncio.get_running_loop()

    async def worker() -> None:
        for index, job in it:  # a shared iterator: each worker pulls the next job when it is free
            if deadline is None:
                result = await _capture(job)
            else:
                left = deadline - loop.time()
                try:
                    if left <= 0:
                        raise asyncio.TimeoutError
                    result = await asyncio.wait_for(_capture(job), left)
                except asyncio.TimeoutError:  # only the deadline: _capture keeps the job's own errors
                    result = Timeout("the batch deadline passed before this item finished")
            await done.put((index, result))
        await done.put(None)

    workers = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
    alive = len(workers)
    try:
        while alive:
            ready: list[tuple[int, T | BaseException]] = []
            item = await done.get()
            while True:
                if item is None:
                    alive -= 1
                else:
                    ready.append(item)
                if done.empty():
                    break
                item = done.get_nowait()
            if ready:
                yield ready
        for w in workers:  # surface an exception raised by the input iterable itself
            w.result()
    finally:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


async def _capture(job: Job[T]) -> T | BaseException:
    try:
        return await job()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return exc
