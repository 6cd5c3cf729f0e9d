"""Hooks around a call's send: each is ``hook(call, send) -> response`` and may answer instead of
``send()`` (cache), hold it back (budget) or watch it (tracing). A call's ``hooks`` run outermost
first; a call without hooks costs nothing extra. ``volley run`` adds its own (journal) from ``jobs/``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Send = Callable[[], Awaitable[Any]]
Hook = Callable[[Any, Send], Awaitable[Any]]

__all__ = ["Hook", "Send"]
