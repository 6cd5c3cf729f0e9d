"""A value per event loop: kept while its loop lives, the loop asked last found without a weak-dict look-up.

Example::

    sessions: PerLoop[Session] = PerLoop()
    s = sessions.get(loop) or sessions.set(loop, Session())
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Generic, TypeVar

V = TypeVar("V")


class PerLoop(Generic[V]):
    """What the process keeps per event loop (its lanes, its HTTP session)."""

    def __init__(self) -> None:
        self._values: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, V] = weakref.WeakKeyDictionary()
        self._last: tuple[weakref.ref[asyncio.AbstractEventLoop], V] | None = None

    def get(self, loop: asyncio.AbstractEventLoop) -> V | None:
        last = self._last
        if last is not None and last[0]() is loop:  # the loop asked last (most calls)
            return last[1]
        value = self._values.get(loop)
        if value is not None:
            self._last = (weakref.ref(loop), value)
        return value

    def set(self, loop: asyncio.AbstractEventLoop, value: V) -> V:
        self._values[loop] = value
        self._last = (weakref.ref(loop), value)
        return value

    def pop(self, loop: asyncio.AbstractEventLoop) -> V | None:
        self._last = None
        return self._values.pop(loop, None)

    def values(self) -> list[V]:
        """Every loop's value (those of loops still alive)."""
        return list(self._values.values())

    def clear(self) -> None:
        self._last = None
        self._values.clear()
