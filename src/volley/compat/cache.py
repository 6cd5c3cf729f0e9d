"""LiteLLM's ``Cache``: ``volley.cache = volley.Cache()`` makes every call use a response cache.

``type="local"`` (the default) is a private SQLite file in a temporary directory, gone when the
process ends; ``type="disk"`` keeps answers in ``disk_cache_dir`` (default: volley's cache file, see
:mod:`volley.hooks.cache`). For a cache shared between processes use Redis:
``volley.cache = volley.shared.RedisCache("redis://...")`` (``type="redis"`` points there).
Only successful answers are stored; streams are not cached; ``cache={"no-cache": True}`` on a
call skips it.

Example::

    import volley as litellm
    litellm.cache = litellm.Cache()
    litellm.completion("gpt-4o-mini", msgs)   # sent
    litellm.completion("gpt-4o-mini", msgs)   # answered from the cache (r.cache_hit)
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ..hooks.cache import CacheView, ResponseCache, default_path


class Cache:
    """A response cache for ``volley.cache`` (or a call's hooks): ``fetch(call, send)`` answers from it."""

    def __init__(self, type: str = "local", disk_cache_dir: str | None = None, scope: str = "shared", **_: Any) -> None:
        if type == "redis":
            raise ValueError(
                "Cache(type='redis'): use volley.shared.RedisCache('redis://host:port/0') as volley.cache instead"
            )
        if type not in ("local", "disk"):
            raise ValueError(f"Cache type must be 'local' or 'disk' (or a RedisCache for Redis); got {type!r}")
        if type == "local":
            folder = tempfile.mkdtemp(prefix="volley-cache-")
            atexit.register(shutil.rmtree, folder, True)
            path = Path(folder) / "cache.sqlite"
        else:
            path = Path(disk_cache_dir) / "cache.sqlite" if disk_cache_dir else default_path()
        self.type = type
        self.store = ResponseCache(path)
        self.view = CacheView(self.store, scope)

    async def fetch(self, call: Any, send: Callable[[], Awaitable[Any]]) -> Any:
        """The cached answer for ``call``, else ``send()``'s (stored when it succeeds)."""
        return await self.view.fetch(call, send)

    def __len__(self) -> int:
        return len(self.store)

    def clear(self) -> None:
        """Forget every stored answer."""
        self.store.clear()
