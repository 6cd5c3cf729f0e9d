"""The optional ``[fast]`` extra: orjson for request bodies, uvloop for volley's private loop.

Each is used only when installed, imported at first use (never by ``import volley``), and only
where it gives what the standard library gives: :func:`dumps` hands orjson only plain data (dicts
with string keys, lists, strings, 64-bit ints, bools, None, floats whose text is the same in both),
so the bytes and errors are the standard library's. Answers and stream events go through
:func:`loads`: orjson where the text can hold no integer past 64 bits (no 19-digit number: orjson
would read it as a float), and ``json.loads`` for anything orjson refuses, so the values and errors
are the standard library's.
``VOLLEY_FAST=0`` in the environment turns both off.

Example::

    pip install 'volley-llm[fast]'   # then nothing to change: volley picks them up
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from typing import Any

_orjson: Any = None  # the module, False when absent or turned off, None before the first look


def enabled() -> bool:
    """Whether the fast libraries may be used (``VOLLEY_FAST=0`` turns them off)."""
    return os.environ.get("VOLLEY_FAST", "1").strip().lower() not in ("0", "false", "no", "off")


def _lib() -> Any:
    global _orjson
    if _orjson is None:
        try:
            import orjson

            _orjson = orjson if enabled() else False
        except ImportError:
            _orjson = False
    return _orjson


_INT_MAX = 2**63 - 1  # orjson's range (-2**63 .. 2**64-1); beyond it json's text is used


def _plain(obj: Any, depth: int = 0) -> bool:
    """True when orjson writes ``obj`` exactly as ``json.dumps(ensure_ascii=False, separators=(",", ":"))``."""
    t = type(obj)
    if t is str or t is bool or obj is None:
        return True
    if t is int:
        return bool(-_INT_MAX <= obj <= _INT_MAX)
    if t is float:  # the same shortest digits; the exponent form ("1e-07" / "1e-7") and NaN differ
        return math.isfinite(obj) and "e" not in repr(obj)
    if depth > 200:
        return False
    if t is dict:  # strings, booleans and None checked in line: a request body is mostly those
        for k, v in obj.items():
            if type(k) is not str:
                return False
            tv = type(v)
            if tv is not str and tv is not bool and v is not None and not _plain(v, depth + 1):
                return False
        return True
    if t is list or t is tuple:
        for v in obj:
            tv = type(v)
            if tv is not str and tv is not bool and v is not None and not _plain(v, depth + 1):
                return False
        return True
    return False


def dumps(obj: Any) -> bytes:
    """``obj`` as compact UTF-8 JSON, non-ASCII as it is: the bytes of
    ``json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()`` (and its errors)."""
    lib = _lib()
    if lib and _plain(obj):
        try:
            return lib.dumps(obj)  # type: ignore[no-any-return]
        except Exception:  # e.g. a lone surrogate: the standard library's error below
            pass
    if _long_ascii(obj):
        # The standard library's ASCII encoder is about a quarter faster on long text, and it writes the
        # same bytes when every string is ASCII without DEL (the one ASCII character it escapes alone).
        return json.dumps(obj, separators=(",", ":")).encode("ascii")
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


_LONG = 4096  # message text (characters) from which the ASCII encoder is worth the check


def _long_ascii(obj: Any) -> bool:
    """Whether ``obj`` is a request body with long message texts whose every string is ASCII without DEL."""
    if type(obj) is not dict or type(obj.get("messages")) is not list:
        return False
    size = 0
    for m in obj["messages"]:
        content = m.get("content") if type(m) is dict else None
        if type(content) is str:
            size += len(content)
    return size >= _LONG and _ascii(obj, 0)


def _ascii(obj: Any, depth: int) -> bool:
    t = type(obj)
    if t is str:
        return obj.isascii() and "\x7f" not in obj  # isascii is O(1); the DEL search is a memchr
    if depth > 100:
        return False
    if t is dict:
        return all((type(k) is not str or _ascii(k, 0)) and _ascii(v, depth + 1) for k, v in obj.items())
    if t is list or t is tuple:
        return all(_ascii(v, depth + 1) for v in obj)
    return t in (int, float, bool) or obj is None  # written alike by both encoders; anything else: not here


# digits and "-" as "0", and what may stand before a number in JSON as ":"
_MARK = bytes.maketrans(b"-0123456789,[ \t\r\n", b"0" * 11 + b":" * 6)
_LONG_NUMBER = b"0" * 19  # an integer past 64 bits has at least 19 digits (and 2**63 has 19)
_LONG_AFTER = b":" + _LONG_NUMBER


def loads(text: str | bytes) -> Any:
    """``json.loads(text)`` (text, or a body's bytes): the same value, or the same error. With orjson,
    it parses the text unless it may hold an integer past 64 bits (orjson would make it a float): a
    run of 19 digits (or ``-``) at the start or after ``:``, ``,``, ``[`` or a space (runs inside ids
    mostly are not). Bytes that are not UTF-8 (json also reads UTF-16 and -32) go to ``json.loads``."""
    lib = _lib()
    if lib:
        raw = text if type(text) is bytes else text.encode("utf-8", "surrogatepass")  # type: ignore[union-attr]
        marked = raw.translate(_MARK)
        if _LONG_AFTER not in marked and not marked.startswith(_LONG_NUMBER):
            try:
                return lib.loads(raw)
            except Exception:  # orjson refuses NaN, lone surrogates, 1e400...: json decides
                pass
    return json.loads(text)


def loop_factory() -> Callable[[], Any] | None:
    """uvloop's ``new_event_loop`` when installed (and not turned off), else None."""
    if not enabled():
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def reset() -> None:
    """Look again for the libraries and ``VOLLEY_FAST`` (tests)."""
    global _orjson
    _orjson = None
