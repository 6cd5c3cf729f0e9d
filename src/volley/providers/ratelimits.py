"""Reading rate-limit headers into a neutral :class:`~volley.engine.limits.RateInfo`.

Two families: ``x-ratelimit-limit-requests`` / ``-tokens`` with ``remaining-`` and ``reset-``
(OpenAI, Groq, Together, OpenRouter, ... ; resets as ``"6m0s"``, ``"20ms"`` or seconds) and
``anthropic-ratelimit-requests-limit`` ... (resets as RFC 3339 times). Garbage is ignored: a value
that is not a sane non-negative number reads as absent.
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime

from ..engine.limits import RateInfo

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_reset(value: str | None, now_wall: float | None = None) -> float | None:
    """Seconds until a rate-limit reset: ``"1s"``, ``"6m0s"``, ``"20ms"``, ``"2.5"`` or an RFC 3339 time.

    Example: ``parse_reset("6m0s")`` → ``360.0``
    """
    if not value:
        return None
    value = value.strip()
    seconds = _relative(value)
    if seconds is not None:
        return seconds
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return max(0.0, at.timestamp() - (time.time() if now_wall is None else now_wall))
    except (ValueError, OverflowError, OSError):
        return None


_SCALE = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


@functools.lru_cache(maxsize=1024)
def _relative(value: str) -> float | None:
    """Seconds of a reset given as a number or a duration (``"2.5"``, ``"6m0s"``); None for anything
    else. Cached: the same few values come back on answer after answer."""
    try:
        number = float(value)
    except (ValueError, OverflowError):
        pass
    else:
        return None if math.isnan(number) else max(0.0, number)
    parts = _DURATION.findall(value)
    if parts and "".join(n + u for n, u in parts) == value:
        return sum(float(n) * _SCALE[u] for n, u in parts)
    return None


def _count(headers: Mapping[str, str], name: str) -> int | None:
    """A non-negative integer header, or None when absent or not a sane number."""
    v = headers.get(name)
    if v is None:
        return None
    try:
        n = int(float(v))
    except (ValueError, OverflowError):
        return None
    return n if n >= 0 else None


def _reader(
    requests: tuple[str, str, str], tokens: tuple[str, str, str]
) -> Callable[[Mapping[str, str]], RateInfo | None]:
    (lim_r, rem_r, reset_r), (lim_t, rem_t, reset_t) = requests, tokens

    def read(headers: Mapping[str, str]) -> RateInfo | None:
        if lim_r not in headers and lim_t not in headers and rem_r not in headers and rem_t not in headers:
            return None
        limit_r, limit_t = _count(headers, lim_r), _count(headers, lim_t)
        return RateInfo(
            limit_requests=float(limit_r) if limit_r else None,
            limit_tokens=float(limit_t) if limit_t else None,
            remaining_requests=_count(headers, rem_r),
            remaining_tokens=_count(headers, rem_t),
            reset_requests=parse_reset(headers.get(reset_r)),
            reset_tokens=parse_reset(headers.get(reset_t)),
        )

    return read


openai_style = _reader(
    ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"),
    ("x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"),
)
"""``x-ratelimit-*`` headers (OpenAI and the hosts that copy them) → ``RateInfo``."""

anthropic_style = _reader(
    ("anthropic-ratelimit-requests-limit", "anthropic-ratelimit-requests-remaining",
     "anthropic-ratelimit-requests-reset"),
    ("anthropic-ratelimit-tokens-limit", "anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-reset"),
)  # fmt: skip
"""``anthropic-ratelimit-*`` headers → ``RateInfo``."""


def _first_count(headers: Mapping[str, str], *names: str) -> tuple[int | None, str | None]:
    """The first of ``names`` present with a sane count, and which one it was."""
    for name in names:
        n = _count(headers, name)
        if n is not None:
            return n, name
    return None, None


def cerebras_style(headers: Mapping[str, str]) -> RateInfo | None:
    """Cerebras' windowed headers → ``RateInfo``: ``x-ratelimit-{limit,remaining,reset}-requests-day``
    and ``-tokens-minute`` (resets in seconds), plus ``-requests-minute`` where sent.

    The per-minute request limit paces the lane; with only the daily one, a used-up day (remaining
    0) pauses it until the reset.
    """
    p = "x-ratelimit-"
    if not any(k.lower().startswith(p) for k in headers):
        return None
    limit_r = _count(headers, p + "limit-requests-minute")
    remaining_r, which = _first_count(headers, p + "remaining-requests-minute", p + "remaining-requests-day")
    reset_r = headers.get(which.replace("remaining", "reset")) if which else None
    limit_t = _count(headers, p + "limit-tokens-minute")
    return RateInfo(
        limit_requests=float(limit_r) if limit_r else None,
        limit_tokens=float(limit_t) if limit_t else None,
        remaining_requests=remaining_r,
        remaining_tokens=_count(headers, p + "remaining-tokens-minute"),
        reset_requests=parse_reset(reset_r),
        reset_tokens=parse_reset(headers.get(p + "reset-tokens-minute")),
    )
