"""Credential objects shared by every route that names the same source, so that a loop of ``completion()``
calls (a route each) resolves a credential chain, and fetches a token, once rather than once per call.

A key names the source without holding a secret: secret parts go in as :func:`fingerprint` digests, an
object the caller passed (a token provider, an azure-identity credential) as its ``id`` — the entry holds the
object itself, so that id cannot be reused while the entry lives. The cache is an LRU of a few entries.

Example::

    SIGNERS = Reuse()
    signer = SIGNERS.get(("explicit", region, key_id, fingerprint(secret)), lambda: AWSSigner(...))
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["Reuse", "fingerprint"]

T = TypeVar("T")


def fingerprint(*parts: str | None) -> str:
    """A SHA-256 hex digest of ``parts`` (None and "" differ from each other): a secret's stand-in in a key."""
    h = hashlib.sha256(b"volley-credential")
    for part in parts:
        h.update(b"\1" if part is None else b"\2" + part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


class Reuse(Generic[T]):
    """An LRU of at most ``size`` credential objects by key; :meth:`get` makes one on a miss (thread-safe)."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        """The object stored under ``key``, or ``make()``'s (stored unless it raised)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        made = make()  # outside the lock: making may read files
        with self._lock:
            found = self._items.setdefault(key, made)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return found

    def clear(self) -> None:
        """Forget every object (tests; a process that rotated its credentials)."""
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
