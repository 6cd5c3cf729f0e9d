"""The Redis client behind the shared stores: loaded on first use, one per event loop and URL.

Failures are fast (short socket timeouts, no client-side retries): a store that does not answer
within a second or two is treated as unreachable, and the caller falls back to local limits.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ENV_URL = "VOLLEY_REDIS_URL"
SCHEMES = ("redis", "rediss", "unix")
SOCKET_TIMEOUT = 2.0
CONNECT_TIMEOUT = 1.0

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = weakref.WeakKeyDictionary()


def redact(url: str) -> str:
    """``url`` without its password (for messages and reprs): ``redis://user:***@host:6379/0``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, parts.fragment))


def check_url(url: object) -> str:
    """``url`` if it is a Redis URL, else a clear ValueError (before anything is sent)."""
    if not isinstance(url, str) or urlsplit(url).scheme not in SCHEMES:
        shown = redact(url) if isinstance(url, str) else repr(url)
        raise ValueError(f"limits_url must be a redis://, rediss:// or unix:// URL; got {shown!r}")
    return url


def url_from_env() -> str | None:
    """``$VOLLEY_REDIS_URL``, checked, or None."""
    url = os.environ.get(ENV_URL) or None
    return check_url(url) if url else None


def redis_module() -> Any:
    """``redis.asyncio``, or an ImportError that says which extra to install."""
    try:
        import redis.asyncio as aioredis
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("shared limits and cache need redis-py: pip install 'volley-llm[redis]'") from exc
    return aioredis


def errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "Redis is unreachable or broken" (not a bug of ours)."""
    import redis.exceptions as rex

    return (rex.ConnectionError, rex.TimeoutError, rex.BusyLoadingError, rex.ResponseError, OSError,
            asyncio.TimeoutError)  # fmt: skip


def client(url: str) -> Any:
    """The client for ``url`` on the running loop (redis-py's asyncio clients belong to one loop)."""
    loop = asyncio.get_running_loop()
    table = _clients.setdefault(loop, {})
    c = table.get(url)
    if c is None:
        aioredis = redis_module()
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        c = table[url] = aioredis.Redis.from_url(
            check_url(url),
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=CONNECT_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
        )
    return c
