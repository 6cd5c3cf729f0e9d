"""The response cache in Redis: one cache for every process, and one request in flight per cache key.

Keys are :func:`volley.hooks.cache.request_key` (the request without credentials; with
``scope="key"`` a fingerprint of the API key is mixed in, so each key has its own answers), under
``volley:cache:``. A value holds the provider and the answer's JSON, never a key. Only successful
answers are stored; ``ttl`` (seconds) bounds how long they live (None: until Redis evicts them).

In-flight dedupe across processes: the first process to miss takes a lock (``SET NX`` with an
expiry, renewed while its request runs) and sends; an identical request elsewhere waits for the
answer to appear (a hit), at most ``wait`` seconds, and sends itself if the lock goes away without
an answer (the first request failed, or its process died) or the wait runs out. Within one process
identical requests share one future, as in :class:`volley.hooks.cache.ResponseCache`.

Redis unreachable: a warning, and the request is sent as if there were no cache (never lost).

Example::

    cache = RedisCache("redis://127.0.0.1:6379/0", ttl=86400)
    answer = await cache.fetch(call, lambda: volley.call.execute(call))
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from ..hooks.cache import SCOPES, _hit, request_key
from ..types import ModelResponse
from . import _redis

log = logging.getLogger("volley.cache")

#: A lock not renewed for this long is dead (its holder crashed); holders renew every third of it.
LOCK_TTL = 30.0
#: Longest a process waits for another process's identical request before sending its own.
WAIT = 600.0

# ARGV: token. Delete the lock only if we still hold it.
_UNLOCK = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
# ARGV: token, ttl_ms. Extend the lock only if we still hold it.
_RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"


class RedisCache:
    """Answers by request key in Redis, shared by every process that uses the same server and prefix."""

    def __init__(
        self,
        url: str,
        *,
        ttl: float | None = None,
        prefix: str = "volley:cache:",
        lock_ttl: float = LOCK_TTL,
        wait: float = WAIT,
        poll: float = 0.05,
    ) -> None:
        self.url = _redis.check_url(url)
        self.name = _redis.redact(url)
        if ttl is not None and not ttl > 0:
            raise ValueError(f"ttl must be a positive number of seconds or None; got {ttl!r}")
        self.ttl, self.prefix, self.lock_ttl, self.wait, self.poll = ttl, prefix, lock_ttl, wait, poll
        self.hits = 0
        self.misses = 0
        self._inflight: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Future[Any]]] = (
            weakref.WeakKeyDictionary()
        )
        self._warned = 0.0

    def __repr__(self) -> str:
        return f"<RedisCache {self.name} {self.prefix}>"

    def _client(self) -> Any:
        return _redis.client(self.url)

    def _unreachable(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned > 60:  # one warning a minute, not one per request
            self._warned = now
            log.warning("volley: the shared cache %s is unreachable (%s); sending without it", self.name, exc)

    # ------------------------------------------------------------------ values

    async def get(self, key: str) -> ModelResponse | None:
        """The stored answer for ``key`` (marked as a cache hit), or None."""
        raw = await self._client().get(self.prefix + key)
        return _decode(raw)

    async def put(self, key: str, response: ModelResponse) -> None:
        """Store a successful answer."""
        value = json.dumps({"provider": response.provider, "response": response.model_dump(mode="json")})
        px = int(self.ttl * 1000) if self.ttl else None
        await self._client().set(self.prefix + key, value, px=px)

    async def clear(self) -> None:
        """Forget every answer under this cache's prefix."""
        client = self._client()
        async for k in client.scan_iter(match=self.prefix + "*", count=500):
            await client.delete(k)

    # ------------------------------------------------------------------ the fetch

    async def fetch(
        self, call: Any, send: Callable[[], Awaitable[ModelResponse]], *, scope: str = "shared"
    ) -> ModelResponse:
        """The cached answer for ``call``, else that of an identical request in flight anywhere, else ``send()``."""
        if scope not in SCOPES:
            raise ValueError(f"cache_scope must be one of {', '.join(SCOPES)}; got {scope!r}")
        key = request_key(call, scope)
        started = time.perf_counter()
        table = self._inflight.setdefault(asyncio.get_running_loop(), {})
        while True:  # this process: one future per key
            leader = table.get(key)
            if leader is None:
                break
            try:
                answer = await asyncio.shield(leader)
            except asyncio.CancelledError:
                if leader.cancelled():
                    continue
                raise
            self.hits += 1
            copy = ModelResponse.model_validate(answer.model_dump())
            return _hit(copy, answer.provider, time.perf_counter() - started)
        future: asyncio.Future[ModelResponse] = asyncio.get_running_loop().create_future()
        table[key] = future
        try:
            response = await self._fetch_shared(key, send, started)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()
            raise
        finally:
            table.pop(key, None)
        future.set_result(response)
        return response

    async def _fetch_shared(
        self, key: str, send: Callable[[], Awaitable[ModelResponse]], started: float
    ) -> ModelResponse:
        errors = _redis.errors()
        client = self._client()
        token = uuid.uuid4().hex
        lock = f"{self.prefix}lock:{key}"
        until = time.monotonic() + self.wait
        try:
            while True:
                async with client.pipeline(transaction=False) as pipe:
                    pipe.get(self.prefix + key)
                    pipe.set(lock, token, nx=True, px=int(self.lock_ttl * 1000))
                    raw, mine = await pipe.execute()
                found = _decode(raw)
                if found is not None:
                    if mine:
                        await client.eval(_UNLOCK, 1, lock, token)
                    self.hits += 1
                    found._latency = time.perf_counter() - started
                    return found
                if mine:
                    break
                if time.monotonic() >= until:  # waited long enough for another process: send ourselves
                    log.debug("%s: gave up waiting for an identical request elsewhere", self.name)
                    token = ""
                    break
                await asyncio.sleep(self.poll)
        except errors as exc:
            self._unreachable(exc)
            self.misses += 1
            return await send()
        self.misses += 1
        renew = asyncio.ensure_future(self._hold(lock, token)) if token else None
        try:
            response = await send()
        except BaseException:
            await self._unlock(lock, token)  # the others stop waiting and try themselves
            raise
        finally:
            if renew is not None:
                renew.cancel()
        try:
            await self.put(key, response)
        except errors as exc:  # a full or gone Redis costs a cache entry, not the answer
            self._unreachable(exc)
        await self._unlock(lock, token)
        return response

    async def _hold(self, lock: str, token: str) -> None:
        """Keep the lock while the request runs, so a slow request is not sent again elsewhere."""
        with contextlib.suppress(*_redis.errors()):
            while True:
                await asyncio.sleep(self.lock_ttl / 3)
                await self._client().eval(_RENEW, 1, lock, token, int(self.lock_ttl * 1000))

    async def _unlock(self, lock: str, token: str) -> None:
        if not token:
            return
        with contextlib.suppress(*_redis.errors()):
            await asyncio.shield(self._client().eval(_UNLOCK, 1, lock, token))


def _decode(raw: str | None) -> ModelResponse | None:
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        response = ModelResponse.model_validate(data["response"])
    except (ValueError, KeyError, TypeError):
        return None  # not ours, or damaged: a miss
    return _hit(response, str(data.get("provider", "")), 0.0)


_caches: dict[tuple[str, str], RedisCache] = {}


def open_redis_cache(url: str, *, prefix: str = "volley:cache:", **kw: Any) -> RedisCache:
    """The process-wide Redis cache for ``url`` and ``prefix`` (what ``cache=True`` with a Redis URL uses)."""
    cache = _caches.get((url, prefix))
    if cache is None:
        cache = _caches[(url, prefix)] = RedisCache(url, prefix=prefix, **kw)
    return cache
