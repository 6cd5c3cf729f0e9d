"""What ``limits_url=`` and ``cache_url=`` plug into a call (``volley.prepare`` looks this module up by
name, only when one of them is given; without them nothing here is imported or run).

- :func:`lanes`: the call's lanes are then :func:`~volley.shared.fallback.shared_lane`\\ s, shared
  with every process that uses the same store (a Redis, or the named limits actor of :mod:`volley.ray`).
- :func:`cache_hook`: the call's cache is then :class:`~volley.shared.redis_cache.RedisCache`.

Both check the URL (and that the client library is installed) before any request is sent.

Example::

    volley.batch_completion("gpt-4o-mini", prompts, limits_url="redis://127.0.0.1:6379/0", rpm=600)
    volley.completion("gpt-4o-mini", msgs, cache_url="redis://127.0.0.1:6379/0")
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Hashable
from urllib.parse import urlsplit

from ..engine.limits import LaneSource, LeasedLane
from ..hooks import Hook
from ..validate import InvalidRequestError
from . import _redis
from .fallback import shared_lane
from .store import RAY_ACTOR

_sources: dict[str, LaneSource] = {}
_hooks: dict[tuple[str, str], Hook] = {}


def check(url: object, what: str = "limits_url", *, ray: bool = True) -> str:
    """``url`` if it names a store this process can use; else a clear error naming ``what``.

    A Redis URL needs redis-py (``pip install 'volley-llm[redis]'``); ``ray-actor://NAMESPACE/NAME``
    (``ray``: allowed) needs Ray. The password of a Redis URL never shows in the message.
    """
    scheme = urlsplit(url).scheme if isinstance(url, str) else None
    if scheme in _redis.SCHEMES:
        assert isinstance(url, str)
        if importlib.util.find_spec("redis") is None:
            raise ImportError(f"{what} needs redis-py: pip install 'volley-llm[redis]'")
        return url
    if ray and scheme == RAY_ACTOR:
        assert isinstance(url, str)
        namespace, _, name = url[len(RAY_ACTOR) + 3 :].partition("/")
        if not namespace or not name:
            raise InvalidRequestError(f"{what} {url!r} must be ray-actor://NAMESPACE/NAME", status_code=400)
        if importlib.util.find_spec("ray") is None:
            raise ImportError(f"{what} {url!r} needs Ray: pip install 'volley-llm[ray]'")
        return url
    shown = _redis.redact(url) if isinstance(url, str) else repr(url)
    kinds = "a redis://, rediss:// or unix:// URL" + (" (or ray-actor://NAMESPACE/NAME)" if ray else "")
    raise InvalidRequestError(f"{what} must be {kinds}; got {shown!r}", status_code=400)


def lanes(url: object) -> LaneSource:
    """The lanes shared through ``url``: lane key -> its :class:`~volley.shared.fallback.ResilientLane`
    on the running loop (one per loop, URL and key). Checked here, once per URL."""
    source = _sources.get(url) if isinstance(url, str) else None
    if source is None:
        checked = check(url)
        source = _sources[checked] = functools.partial(_lane, url=checked)
    return source


def _lane(key: Hashable, *, url: str) -> LeasedLane:
    return shared_lane(key, url)


def cache_hook(url: object, scope: str = "shared") -> Hook:
    """The cache hook for ``cache_url=``: answers kept in the Redis at ``url`` under ``scope``
    ("shared", or "key": each API key's answers apart), one request in flight per key across processes."""
    hook = _hooks.get((url, scope)) if isinstance(url, str) else None
    if hook is None:
        checked = check(url, "cache_url", ray=False)
        from ..hooks.cache import CacheView
        from .redis_cache import open_redis_cache

        view = CacheView(open_redis_cache(checked), scope)
        hook = _hooks[(checked, scope)] = view.fetch
    return hook


def reset() -> None:
    """Forget the sources and hooks made so far (tests)."""
    _sources.clear()
    _hooks.clear()


__all__ = ["cache_hook", "check", "lanes", "reset"]
