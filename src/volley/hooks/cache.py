"""The response cache behind ``cache=True``: identical requests are answered from SQLite, or sent once.

A request's key is a SHA-256 of what decides the answer: provider, model, URL (so the api_base),
and the request body as sent (messages plus the normalised parameters), plus any header that is not
a credential. The API key is never stored: the file holds the key hash, provider, model and the
answer. Only successful answers are stored; streams are not cached.

Scope (``cache_scope=``): ``"shared"`` (the default) answers an identical request from the cache
whatever API key sends it, so a second key gets the first key's answer; ``"key"`` keeps each API
key's answers apart, by adding a SHA-256 fingerprint of the key to the request's hash (the key
itself is never part of what is stored, and the fingerprint is not stored on its own). A route without
a key (AWS SigV4, a static token, a service account) is scoped by the fingerprint of the account its
host names (``Provider.account``); a credential whose account cannot be named before sending is
refused ``cache_scope="key"`` when the call is set up.

Identical requests in flight at the same time are sent once: the others wait for the first one's
answer (a cache hit each). A hit is a copy of the stored answer with ``cache_hit`` True,
``response_headers`` ``{"x-volley-cache": "hit"}`` and ``cost`` 0.0.

The file is ``$VOLLEY_CACHE_DIR/cache.sqlite``, else ``$XDG_CACHE_HOME/volley/cache.sqlite``, else
``~/.cache/volley/cache.sqlite``; ``cache_path=`` names another file. It is created 0600 (its
directory 0700); a file that cannot be opened raises :class:`CacheError` before any request.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from ..files import DIR_MODE, cache_dir, ensure_private
from ..transports.base import CREDENTIAL_HEADERS
from ..types import ModelResponse

log = logging.getLogger("volley.cache")
SCOPES = ("shared", "key")
HIT_HEADERS = {"x-volley-cache": "hit"}


def default_path() -> Path:
    """Where the cache lives unless ``cache_path=`` says otherwise."""
    return cache_dir() / "cache.sqlite"


class CacheError(OSError):
    """The cache file cannot be opened or created (corrupt, not a database, unwritable)."""


def key_fingerprint(api_key: str | None) -> str:
    """A one-way fingerprint of an API key (what ``cache_scope="key"`` separates answers by)."""
    return hashlib.sha256(b"volley-cache-scope\0" + (api_key or "").encode("utf-8")).hexdigest()


def request_key(call: Any, scope: str = "shared") -> str:
    """The cache key of a prepared call: never includes the API key (or any credential header).

    It hashes the request body's bytes as encoded once for sending (no second encoding), the URL and
    the non-credential headers. ``scope="key"`` mixes in :func:`key_fingerprint` of the call's key,
    so each key has its own answers.
    """
    request = call.request
    secrets = [s for s in request.secrets if s]
    headers = sorted(
        (k.lower(), v)
        for k, v in request.headers.items()
        if k.lower() not in CREDENTIAL_HEADERS and not any(s in str(v) for s in secrets)
    )
    url = request.url
    for s in secrets:
        url = url.replace(s, "")
    head = {"v": 2, "provider": call.route.provider, "model": call.route.model, "url": url, "headers": headers}
    if scope == "key":
        route = call.route
        account = route.account if not route.api_key else ""
        head["key_scope"] = key_fingerprint(route.api_key or (f"\0account\0{account}" if account else None))
    digest = hashlib.sha256(json.dumps(head, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    digest.update(b"\0")
    digest.update(request.content or b"")
    return digest.hexdigest()


class ResponseCache:
    """A SQLite file of answers by request key; safe to share between threads and processes (WAL)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
            ensure_private(self.path)  # 0600, and so are its -wal and -shm files
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10.0)
        except (OSError, sqlite3.Error) as exc:
            raise CacheError(f"cannot open the cache {self.path}: {_reason(exc)}") from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, provider TEXT NOT NULL,"
                " model TEXT NOT NULL, response TEXT NOT NULL, created REAL NOT NULL)"
            )
            self._db.execute("SELECT key, provider, model, response, created FROM responses LIMIT 0")
        except sqlite3.Error as exc:
            self._db.close()
            raise CacheError(
                f"cannot use the cache {self.path}: {exc} (delete the file or choose another cache path)"
            ) from None
        self._inflight: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Future[Any]]] = (
            weakref.WeakKeyDictionary()
        )
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> ModelResponse | None:
        """The stored answer for ``key`` (marked as a cache hit), or None."""
        with self._lock:
            row = self._db.execute("SELECT provider, response FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return _hit(ModelResponse.model_validate_json(row[1]), row[0], 0.0)

    def put(self, key: str, response: ModelResponse) -> None:
        """Store a successful answer."""
        data = response.model_dump_json()
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO responses (key, provider, model, response, created) VALUES (?, ?, ?, ?, ?)",
                (key, response.provider, response.model, data, time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def clear(self) -> None:
        """Forget every stored answer."""
        with self._lock:
            self._db.execute("DELETE FROM responses")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    async def fetch(
        self, call: Any, send: Callable[[], Awaitable[ModelResponse]], *, scope: str = "shared"
    ) -> ModelResponse:
        """The cached answer for ``call``, else the answer of an identical request in flight, else ``send()``."""
        key = request_key(call, scope)
        started = time.perf_counter()
        table = self._inflight.setdefault(asyncio.get_running_loop(), {})
        while True:
            found = self._get_quietly(key)
            if found is not None:
                self.hits += 1
                found._latency = time.perf_counter() - started
                return found
            leader = table.get(key)
            if leader is None:
                break
            try:
                answer = await asyncio.shield(leader)
            except asyncio.CancelledError:
                if leader.cancelled():  # the first request was cancelled, not us: send it ourselves
                    continue
                raise
            self.hits += 1
            copy = ModelResponse.model_validate(answer.model_dump())  # private attrs (headers) not copied
            return _hit(copy, answer.provider, time.perf_counter() - started)
        future: asyncio.Future[ModelResponse] = asyncio.get_running_loop().create_future()
        table[key] = future
        self.misses += 1
        try:
            response = await send()
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            table.pop(key, None)
        future.set_result(response)  # first: the identical requests waiting must never hang on the store below
        try:
            self.put(key, response)
        except sqlite3.Error as exc:  # a full disk or a locked file costs a cache entry, not the answer
            log.warning("cannot store an answer in the cache %s: %s", self.path, exc)
        return response

    def _get_quietly(self, key: str) -> ModelResponse | None:
        try:
            return self.get(key)
        except sqlite3.Error as exc:
            log.warning("cannot read the cache %s: %s", self.path, exc)
            return None


class _ScopedCache(Protocol):
    async def fetch(
        self, call: Any, send: Callable[[], Awaitable[ModelResponse]], *, scope: str = ...
    ) -> ModelResponse: ...


class CacheView:
    """A cache (this SQLite one, or ``shared.redis_cache.RedisCache``) seen under one scope
    (``"shared"`` or ``"key"``): what a call's ``cache`` holds."""

    __slots__ = ("cache", "scope")

    def __init__(self, cache: _ScopedCache, scope: str = "shared") -> None:
        if scope not in SCOPES:
            raise ValueError(f"cache_scope must be one of {', '.join(SCOPES)}; got {scope!r}")
        self.cache, self.scope = cache, scope

    async def fetch(self, call: Any, send: Callable[[], Awaitable[ModelResponse]]) -> ModelResponse:
        return await self.cache.fetch(call, send, scope=self.scope)


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _hit(response: ModelResponse, provider: str, latency: float) -> ModelResponse:
    response._provider = provider
    response._latency = latency
    response._headers = dict(HIT_HEADERS)
    response._cache_hit = True
    response._cost = 0.0
    return response


_caches: dict[Path, ResponseCache] = {}
_caches_lock = threading.Lock()


def open_cache(path: str | os.PathLike[str] | None = None) -> ResponseCache:
    """The process-wide cache for ``path`` (default: :func:`default_path`), opened on first use."""
    where = (Path(path).expanduser() if path else default_path()).resolve()
    with _caches_lock:
        cache = _caches.get(where)
        if cache is None:
            cache = _caches[where] = ResponseCache(where)
        return cache
