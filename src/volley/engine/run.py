"""The core: run jobs with bounded concurrency and yield ``(index, result)`` as each one finishes."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from contextlib import aclosing
from typing import TypeVar

from ..errors import Timeout

T = TypeVar("T")
Job = Callable[[], Awaitable[T]]
Jobs = Iterable[tuple[int, Job[T]]] | AsyncIterable[tuple[int, Job[T]]]

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("volley_deadline", default=None)


def deadline_left() -> float | None:
    """Seconds left before the running batch's deadline (None: no deadline). Read by the lanes."""
    at = _deadline.get()
    return None if at is None else at - asyncio.get_running_loop().time()


async def run(
    jobs: Jobs[T], *, concurrency: int, deadline: float | None = None
) -> AsyncIterator[tuple[int, T | BaseException]]:
    """Run ``jobs`` (read lazily), at most ``concurrency`` at a time; yield results as they complete.

    A job that raises yields its exception in place of a result; nothing is lost. With
    ``deadline`` (a ``loop.time()`` instant), jobs still running then are cancelled and every job
    not finished yields ``Timeout``. Closing the iterator early (or cancelling its consumer)
    cancels every job still in flight.

    ``jobs`` may be a sync or an async iterable. If reading it raises, no further job is started;
    the jobs already running finish and are yielded, then the error is raised here. If the
    deadline passes while the input is still being waited for, ``Timeout`` is raised the same way.
    """
    async with aclosing(run_chunks(jobs, concurrency=concurrency, deadline=deadline)) as chunks:
        async for chunk in chunks:
            for item in chunk:
                yield item


async def run_chunks(
    jobs: Jobs[T], *, concurrency: int, deadline: float | None = None
) -> AsyncIterator[list[tuple[int, T | BaseException]]]:
    """Like :func:`run`, but yield every result that is ready at once as one list.

    A slow consumer holds the work back: at most ``concurrency`` jobs run and ``concurrency``
    results wait to be taken, so memory stays bounded however large the input is. A job's task is
    made when its item is read, so a huge ``concurrency`` for a few items costs nothing.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    loop = asyncio.get_running_loop()
    done: asyncio.Queue[tuple[int, T | BaseException] | None] = asyncio.Queue(maxsize=concurrency)
    slots = asyncio.Semaphore(concurrency)
    running: set[asyncio.Task[None]] = set()
    input_error: list[BaseException] = []

    async def one(index: int, job: Job[T]) -> None:
        try:
            _, value = await _capture(job) if deadline is None else await _capture(lambda: within(job, deadline))
            await done.put((index, value))
        finally:
            slots.release()

    async def feed() -> None:
        try:
            async with aclosing(_pull(jobs, deadline, loop)) as items:
                async for index, job in items:
                    await slots.acquire()
                    task = asyncio.ensure_future(one(index, job))
                    running.add(task)
                    task.add_done_callback(running.discard)
        except Exception as exc:  # the caller's input failed: stop reading, let the running jobs finish
            input_error.append(exc)
        while running:
            await asyncio.gather(*running, return_exceptions=True)
        await done.put(None)

    feeder = asyncio.ensure_future(feed())
    try:
        while True:
            ready: list[tuple[int, T | BaseException]] = []
            item = await done.get()
            finished = item is None
            while not finished:
                ready.append(item)  # type: ignore[arg-type]
                if done.empty():
                    break
                item = done.get_nowait()
                finished = item is None
            if ready:
                yield ready
            if finished:
                break
        await feeder
        if input_error:
            raise input_error[0]
    finally:
        feeder.cancel()
        for task in list(running):
            task.cancel()
        await asyncio.gather(feeder, *running, return_exceptions=True)


async def _pull(
    jobs: Jobs[T], deadline: float | None, loop: asyncio.AbstractEventLoop
) -> AsyncIterator[tuple[int, Job[T]]]:
    """The jobs one by one, from a sync or an async iterable; an async one is waited for until ``deadline``."""
    if not isinstance(jobs, AsyncIterable):
        for item in jobs:
            yield item
        return
    it = aiter(jobs)
    try:
        while True:
            try:
                if deadline is None:
                    item = await anext(it)
                else:
                    item = await asyncio.wait_for(anext(it), max(deadline - loop.time(), 0.0))
            except StopAsyncIteration:
                return
            except asyncio.TimeoutError:
                raise Timeout("the batch deadline passed while waiting for the next input item") from None
            yield item
    finally:
        close = getattr(it, "aclose", None)
        if close is not None:
            await close()


async def within(job: Job[T], deadline: float) -> T:
    """``await job()``, cancelled with ``Timeout`` when the batch ``deadline`` (a ``loop.time()``) passes.

    Run it in a task of its own: it sets, for that task, the deadline that :func:`deadline_left`
    reports to the lanes.
    """
    _deadline.set(deadline)
    left = deadline - asyncio.get_running_loop().time()
    if left > 0:
        try:  # the job's own errors come back in the box: only the deadline raises TimeoutError here
            ok, value = await asyncio.wait_for(_capture(job), left)
        except asyncio.TimeoutError:
            pass
        else:
            if ok:
                return value  # type: ignore[return-value]
            raise value  # type: ignore[misc]
    raise Timeout("the batch deadline passed before this item finished")


async def _capture(job: Job[T]) -> tuple[bool, T | BaseException]:
    try:
        return True, await job()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return False, exc
