"""The core: run jobs with bounded concurrency and yield ``(index, result)`` as each one finishes."""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Iterable
from contextlib import aclosing
from typing import Any, Generic, TypeVar

from ..errors import Timeout

T = TypeVar("T")
Job = Callable[[], Awaitable[T]]
Jobs = Iterable[tuple[int, Job[T]]] | AsyncIterable[tuple[int, Job[T]]]
_WAIT: Any = object()  # ``_Source.take``: no job at hand, await ``next()``

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("volley_deadline", default=None)


def deadline_left() -> float | None:
    """Seconds left before the running batch's deadline (None: no deadline). Read by the lanes."""
    at = _deadline.get()
    return None if at is None else at - asyncio.get_running_loop().time()


async def run(
    jobs: Jobs[T], *, concurrency: int, deadline: float | None = None
) -> AsyncGenerator[tuple[int, T | BaseException], None]:
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
) -> AsyncGenerator[list[tuple[int, T | BaseException]], None]:
    """Like :func:`run`, but yield every result that is ready at once as one list.

    A slow consumer holds the workers back: at most ``concurrency`` results wait to be taken and
    ``concurrency`` jobs run, so memory stays bounded however large the input is. Workers are
    started as items arrive (one more each time a worker takes an item), so a huge ``concurrency``
    for a few items starts only about as many workers as there are items.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    loop = asyncio.get_running_loop()
    done: asyncio.Queue[tuple[int, T | BaseException] | None] = asyncio.Queue(maxsize=concurrency)
    source: _Source[T] = _Source(jobs, deadline, loop, ahead=concurrency)
    workers: list[asyncio.Future[None]] = []

    async def worker() -> None:
        if deadline is not None:
            _deadline.set(deadline)  # this worker's own context: the lanes read it
        while True:
            item = source.take()
            if item is _WAIT:
                item = await source.next()
            if item is None:
                break
            if len(workers) < concurrency and not source.ended:
                workers.append(asyncio.ensure_future(worker()))  # the next item may find no free worker
            index, job = item
            value: T | BaseException
            try:  # ``_capture`` inlined: one coroutine less per job
                value = await (job() if deadline is None else within(job, deadline))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                value = exc
            if done.full():
                await done.put((index, value))
            else:
                done.put_nowait((index, value))  # no coroutine when there is room (most results)
        await done.put(None)

    workers.append(asyncio.ensure_future(worker()))
    ended = 0
    try:
        while ended < len(workers):
            ready: list[tuple[int, T | BaseException]] = []
            item = await done.get()
            while True:
                if item is None:
                    ended += 1
                else:
                    ready.append(item)
                if done.empty():
                    break
                item = done.get_nowait()
            if ready:
                yield ready
        if source.error is not None:  # the caller's input failed: every job it gave was delivered above
            raise source.error
    finally:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await source.aclose()


class _Source(Generic[T]):
    """The jobs, taken one at a time by the workers, from a sync or an async iterable.

    A sync iterable is read when a worker asks. An async one is read ahead (up to ``ahead`` items)
    by one pump task, so workers never queue on it one loop turn each; it is waited for no longer
    than the deadline (then ``error`` is a ``Timeout``). An exception raised by the iterable ends
    the input after the items read before it, and is kept in ``error``.
    """

    def __init__(self, jobs: Jobs[T], deadline: float | None, loop: asyncio.AbstractEventLoop, ahead: int) -> None:
        self._jobs = jobs
        self._it: Any = None
        self._deadline = deadline
        self._loop = loop
        self._ahead = ahead
        self._buf: deque[tuple[int, Job[T]]] = deque()
        self._more = asyncio.Event()
        self._room = asyncio.Event()
        self._pump: asyncio.Future[None] | None = None
        self.ended = False
        self.error: BaseException | None = None
        self._sync = not isinstance(jobs, AsyncIterable)

    def take(self) -> Any:
        """The next job without awaiting when one is at hand (a sync input, or one read ahead); else
        ``_WAIT``: then :meth:`next` waits for it."""
        if self._sync:
            return self._next_sync()
        if self._pump is not None and self._buf:
            return self._pop()
        return _WAIT

    def _pop(self) -> tuple[int, Job[T]]:
        item = self._buf.popleft()
        if len(self._buf) <= self._ahead // 2:
            self._room.set()  # the pump may read on
        return item

    def _next_sync(self) -> tuple[int, Job[T]] | None:
        if self.ended:
            return None
        try:
            if self._it is None:
                self._it = iter(self._jobs)  # type: ignore[arg-type]
            return next(self._it)  # type: ignore[no-any-return]
        except StopIteration:
            pass
        except Exception as exc:
            self.error = exc
        self.ended = True
        return None

    async def next(self) -> tuple[int, Job[T]] | None:
        """The next job, or None when the input is over (or failed)."""
        if self._sync:
            return self._next_sync()
        if self._pump is None:
            self._pump = asyncio.ensure_future(self._read())
        while True:
            if self._buf:
                return self._pop()
            if self.ended:
                return None
            self._more.clear()
            if self._deadline is None:
                await self._more.wait()
                continue
            try:
                await asyncio.wait_for(self._more.wait(), max(self._deadline - self._loop.time(), 0.0))
            except asyncio.TimeoutError:
                if not self._buf and not self.ended:
                    self.error = Timeout("the batch deadline passed while waiting for the next input item")
                    self.ended = True

    async def _read(self) -> None:
        try:
            async for item in self._jobs:  # type: ignore[union-attr]
                self._buf.append(item)
                self._more.set()
                while len(self._buf) >= self._ahead and not self.ended:
                    self._room.clear()
                    await self._room.wait()
                if self.ended:
                    return
        except Exception as exc:
            if self.error is None:
                self.error = exc
        finally:
            self.ended = True
            self._more.set()

    async def aclose(self) -> None:
        self.ended = True
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
        close = getattr(self._jobs, "aclose", None)
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
