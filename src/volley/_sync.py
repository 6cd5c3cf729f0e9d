"""Running the async core from synchronous code.

Sync calls run on one private event loop in a daemon thread. That keeps one warm connection pool
across sync calls, works when the caller's thread already runs a loop (Jupyter), and is safe from
many threads at once. Ctrl-C while waiting cancels the coroutine, which cancels its requests. After
``os.fork()`` the child starts a fresh loop thread of its own.

A caller's lazy input (a generator) is never run on that loop thread, where a slow ``next()`` would
stall the requests in flight: :class:`ThreadedInput` reads it in a thread of its own, a bounded
number of items ahead, and hands them to the loop.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import os
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from typing import Any, Generic, TypeVar

from . import _fast

T = TypeVar("T")


class _LoopThread:
    def __init__(self) -> None:
        self.pid = os.getpid()
        factory = _fast.loop_factory()  # uvloop with the [fast] extra
        self.loop = factory() if factory is not None else asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._main, name="volley-loop", daemon=True)
        self.thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def stop(self) -> None:
        if self.loop.is_closed() or not self.thread.is_alive():
            return
        from .transports import http as transport

        fut = asyncio.run_coroutine_threadsafe(transport.aclose(), self.loop)
        try:
            fut.result(timeout=5)
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


_lock = threading.Lock()
_runner: _LoopThread | None = None


def _get_runner() -> _LoopThread:
    global _runner
    runner = _runner
    if runner is not None and runner.pid == os.getpid() and runner.thread.is_alive():
        return runner
    with _lock:
        if _runner is None or _runner.pid != os.getpid() or not _runner.thread.is_alive():
            _runner = _LoopThread()
        return _runner


def _forget_after_fork() -> None:
    global _runner, _lock
    _runner = None  # the thread did not survive the fork; its loop must not be touched
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


@atexit.register
def _shutdown() -> None:
    if _runner is not None and _runner.pid == os.getpid():
        _runner.stop()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on the private loop and return its result (or raise its error)."""
    runner = _get_runner()
    if threading.current_thread() is runner.thread:
        # Called from inside our own loop (e.g. a callback): run on a throwaway loop in another thread.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coro).result()
    fut = asyncio.run_coroutine_threadsafe(coro, runner.loop)
    try:
        return fut.result()
    except (KeyboardInterrupt, SystemExit):
        fut.cancel()
        try:  # let the cancellation close the connections before the interrupt propagates
            fut.result(timeout=5)
        except BaseException:
            pass
        raise


class SyncIterator(Iterator[T]):
    """A blocking iterator over an async iterator that lives on the private loop."""

    def __init__(self, agen: AsyncIterator[T]) -> None:
        self._agen = agen
        self._done = False

    def __iter__(self) -> SyncIterator[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        try:
            return run_sync(self._anext())
        except StopAsyncIteration:
            self._done = True
            raise StopIteration from None
        except BaseException:
            self._done = True
            raise

    async def _anext(self) -> T:
        return await self._agen.__anext__()

    def close(self) -> None:
        """Stop early and release the underlying connection."""
        if not self._done:
            self._done = True
            aclose = getattr(self._agen, "aclose", None)
            if aclose is not None:
                run_sync(aclose())

    def __enter__(self) -> SyncIterator[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if not self._done and _runner is not None and _runner.pid == os.getpid():
                aclose = getattr(self._agen, "aclose", None)
                if aclose is not None:
                    asyncio.run_coroutine_threadsafe(aclose(), _runner.loop)
        except Exception:
            pass


_END = object()


class _Failed:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class ThreadedInput(Generic[T]):
    """An async iterator over a sync iterable that is read in a daemon thread, ``ahead`` items ahead.

    The loop never blocks on the caller's ``next()``; memory holds at most ``2 * ahead`` items read
    but not yet handed out (the loop takes what the thread read in one go), and with ``weigh`` about
    ``2 * budget`` of their weight (e.g. characters of prompt text; at least one item is read).
    An exception raised by the iterable is raised by ``__anext__`` in its place. ``aclose()`` stops
    the reader (after the ``next()`` it may be blocked in) and closes a generator from its thread.

    Example::

        async for item in ThreadedInput(slow_generator(), ahead=64):
            ...
    """

    def __init__(
        self, iterable: Iterable[T], ahead: int, *, weigh: Callable[[Any], int] | None = None, budget: int = 0
    ) -> None:
        self._iterable = iterable
        self._ahead = max(1, ahead)
        self._weigh, self._budget = weigh, budget  # with ``weigh``: also at most ~``budget`` of weight ahead
        self._weight = 0  # of the items in ``_items``
        self._items: deque[Any] = deque()  # read by the thread, not yet taken by the loop
        self._taken: deque[Any] = deque()  # taken by the loop, not yet handed out
        self._cond = threading.Condition()
        self._closed = False
        self._waiter: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def __aiter__(self) -> ThreadedInput[T]:
        return self

    def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._read, name="volley-input", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        it: Any = None
        try:
            it = iter(self._iterable)
            while True:
                with self._cond:
                    while (len(self._items) >= self._ahead or (self._weigh is not None and self._items and
                           self._weight >= self._budget)) and not self._closed:  # fmt: skip
                        self._cond.wait()
                    if self._closed:
                        return
                try:
                    item = next(it)
                except StopIteration:
                    self._put(_END)
                    return
                except BaseException as exc:  # the caller's iterable failed: hand its error over
                    self._put(_Failed(exc))
                    return
                self._put(item, self._weigh(item) if self._weigh is not None else 0)
        finally:
            if self._closed:
                close = getattr(it, "close", None)
                if close is not None:
                    try:
                        close()
                    except Exception:
                        pass

    def _put(self, item: Any, weight: int = 0) -> None:
        with self._cond:
            self._items.append(item)
            self._weight += weight
            waiter, self._waiter = self._waiter, None
        if waiter is not None and self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(_wake, waiter)
            except RuntimeError:  # the loop closed meanwhile
                pass

    async def __anext__(self) -> T:
        if not self._taken:
            await self._take()
        item = self._taken[0]
        if item is _END:
            raise StopAsyncIteration
        if isinstance(item, _Failed):
            raise item.exc
        self._taken.popleft()
        return item  # type: ignore[no-any-return]

    async def _take(self) -> None:
        """Move every item read so far to the loop's side at once (one lock, one reader wake-up)."""
        if self._thread is None:
            self._start()
        while True:
            with self._cond:
                if self._items:
                    self._taken, self._items = self._items, self._taken
                    self._weight = 0
                    self._cond.notify()
                    return
                if self._closed:
                    self._taken.append(_END)
                    return
                waiter = self._waiter = asyncio.get_running_loop().create_future()
            await waiter

    async def aclose(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
