"""Keeping API keys out of every text volley makes: one registry of the keys in use, one :func:`mask`.

Every ``HTTPRequest`` registers its secrets here when it is built, and every ``APIError`` masks its
message and body in its constructor, so an error holds only masked text however it came about (an
HTTP error body, a 200 that echoes the key, a stream error event, a malformed answer). A key is
found in full, by any prefix of at least :data:`MIN_PREFIX` characters (a server that echoes
"sk-proj-abc1..." or cuts the key short), and URL-encoded or JSON-escaped; each match becomes
``***``. Error text is also cut to :data:`MAX_MESSAGE` characters.

Example::

    from volley import masking
    masking.register("sk-secret-123456")
    masking.mask("bad key sk-secret-12 given")  # 'bad key *** given'
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MIN_PREFIX = 8
"""A run of at least this many leading characters of a key is masked (shorter keys: only in full)."""
MIN_SECRET = 4
"""Secrets shorter than this are not masked (they would mask ordinary text)."""
MAX_MESSAGE = 4000
"""Error messages are cut to this many characters (a note says how much was cut)."""
MASK = "***"

_forms: dict[str, tuple[str, ...]] = {}  # secret → the spellings to look for


def register(*secrets: str | None) -> None:
    """Remember ``secrets`` so that :func:`mask` (and so every error) hides them from now on."""
    for s in secrets:
        if s and len(s) >= MIN_SECRET and s not in _forms:
            _forms[s] = _spellings(s)


def _spellings(secret: str) -> tuple[str, ...]:
    encoded = quote(secret, safe="")
    escaped = json.dumps(secret)[1:-1]
    forms = {secret, encoded, quote_plus(secret, safe=""), _lower_hex(encoded), escaped, escaped.replace("/", "\\/")}
    return tuple(sorted(forms, key=len, reverse=True))


def _lower_hex(encoded: str) -> str:
    parts = encoded.split("%")
    return parts[0] + "".join("%" + p[:2].lower() + p[2:] for p in parts[1:])


def mask(text: str, extra: Iterable[str | None] = ()) -> str:
    """``text`` with every registered secret (and each of ``extra``) replaced by ``***``."""
    if not text:
        return text
    forms: list[str] = [f for s in extra if s and len(s) >= MIN_SECRET for f in _forms.get(s) or _spellings(s)]
    for spellings in tuple(_forms.values()):
        forms.extend(spellings)
    for form in forms:
        text = _mask_one(text, form)
    return text


def _mask_one(text: str, form: str) -> str:
    if len(form) < MIN_PREFIX:
        return text.replace(form, MASK) if form in text else text
    head = form[:MIN_PREFIX]
    start = text.find(head)
    if start < 0:
        return text
    out: list[str] = []
    done = 0
    while start >= 0:
        end = start + MIN_PREFIX
        while end < len(text) and end - start < len(form) and text[end] == form[end - start]:
            end += 1
        out.append(text[done:start])
        out.append(MASK)
        done = end
        start = text.find(head, end)
    out.append(text[done:])
    return "".join(out)


def clip(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` cut to about ``limit`` characters, saying how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit} more characters cut]"


def mask_value(value: Any, extra: Iterable[str | None] = (), depth: int = 0) -> Any:
    """A copy of ``value`` (text, bytes, or JSON-like lists and dicts) with the secrets masked."""
    if isinstance(value, str):
        return mask(value, extra)
    if isinstance(value, (bytes, bytearray)):
        return mask(bytes(value).decode("utf-8", "surrogateescape"), extra).encode("utf-8", "surrogateescape")
    if depth > 32:  # deeper than any real error body: keep a masked text of it instead
        return mask(clip(_text(value), 1000), extra)
    if isinstance(value, dict):
        return {mask_value(k, extra, depth + 1): mask_value(v, extra, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_value(v, extra, depth + 1) for v in value]
    return value


def _text(value: Any) -> str:
    try:
        return str(value)
    except RecursionError:
        return f"<{type(value).__name__} nested too deep to show>"
