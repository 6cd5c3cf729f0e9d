"""HTTP headers as plain data: a case-insensitive ``dict`` that pickles, deep-copies and JSON-dumps.

Transports hand back their library's header object (aiohttp's ``CIMultiDictProxy``), which cannot be
pickled or deep-copied; responses and errors keep a :class:`Headers` copy instead.

Example::

    h = Headers({"Retry-After": "2", "x-request-id": "abc"})
    h["retry-after"], h.get("X-Request-Id"), "RETRY-AFTER" in h   # ('2', 'abc', True)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class Headers(dict[str, str]):
    """A ``dict`` of header names (stored lowercase) to values, looked up case-insensitively.

    Repeated headers (several ``Set-Cookie``) are joined with ``", "``, as HTTP allows.
    """

    __slots__ = ()

    def __init__(self, headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> None:
        super().__init__()
        if headers is None:
            return
        items = headers.items() if isinstance(headers, Mapping) else headers
        for name, value in items:
            key = str(name).lower()
            value = str(value)
            super().__setitem__(key, f"{super().__getitem__(key)}, {value}" if key in self else value)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __setitem__(self, name: str, value: str) -> None:
        super().__setitem__(name.lower(), value)

    def __delitem__(self, name: str) -> None:
        super().__delitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)

    def copy(self) -> Headers:
        return Headers(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Headers, (dict(self),))


def plain(headers: Mapping[str, str] | None) -> Headers:
    """``headers`` (any mapping, e.g. aiohttp's) as :class:`Headers`; the same object if it already is one."""
    if isinstance(headers, Headers):
        return headers
    if headers is None:
        return Headers()
    if getattr(headers, "getall", None) is not None:  # a multidict (aiohttp's): str names and values
        fast = dict.__new__(Headers)  # (empty: no __init__ call)
        dict.update(fast, {k.lower(): v for k, v in headers.items()})
        if len(fast) == len(headers):
            return fast  # no name came twice (the common case): nothing to join
    return Headers(headers.items())
