"""Bearer tokens for one provider, cached and refreshed before they expire, safe to use from the event loop.

A token source has two calls:

``await source.prepare()``
    Makes sure a token valid for at least ``mandatory_margin`` seconds is cached; a refresh that has
    to happen runs in a thread, so the event loop never blocks on the identity provider. The send
    path awaits it before every attempt.
``source.token() -> str``
    The cached token, at once. Inside ``refresh_margin`` seconds of expiry it starts one background
    refresh and still answers with the current token; only with no valid token at all (``prepare``
    not awaited) does it block until a refresh ends.

All refreshes of one source are shared: a hundred attempts waiting on an expired token cause one
request to the identity provider. A failed refresh raises an ``AuthenticationError`` (or an
``APIConnectionError`` when the identity provider could not be reached, which the retry policy
retries); the message never contains the token.

Example::

    source = CallableToken(lambda: "my-token")
    await source.prepare()
    headers = {"Authorization": f"Bearer {source.token()}"}
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..errors import APIConnectionError, APIError, AuthenticationError

log = logging.getLogger("volley.auth")

REFRESH_MARGIN = 300.0
"""Seconds before expiry at which a background refresh starts (the current token is still used)."""
MANDATORY_MARGIN = 60.0
"""Seconds before expiry below which a token is not used: callers wait for a fresh one."""
UNKNOWN_LIFETIME = 300.0
"""How long a token whose expiry the identity provider did not say is reused before it is fetched again."""
REFRESH_TIMEOUT = 60.0
"""Seconds a caller waits for a refresh before it gets an ``APIConnectionError`` (retryable)."""


class TokenSource:
    """Base of every token source: ``token()``, ``await prepare()``, ``secrets()``."""

    what = "token"

    def token(self) -> str:
        raise NotImplementedError

    async def prepare(self) -> None:
        """Make sure ``token()`` can answer without blocking (nothing to do for most sources)."""

    def secrets(self) -> tuple[str, ...]:
        """The token values in use, for scrubbing from error messages."""
        return ()

    def __repr__(self) -> str:  # never the token
        return f"{type(self).__name__}({self.what})"


class StaticToken(TokenSource):
    """A token given as a string (``azure_ad_token=``, an OAuth access token): used as is, never refreshed.

    Example: ``StaticToken("eyJ0eXAi...").token()``
    """

    def __init__(self, token: str, *, what: str = "token") -> None:
        if not isinstance(token, str) or not token.strip():
            raise AuthenticationError(f"{what} must be a non-empty string")
        self._token = token.strip()
        self.what = what

    def token(self) -> str:
        return self._token

    def secrets(self) -> tuple[str, ...]:
        return (self._token,)


class CallableToken(TokenSource):
    """A function returning a token (sync or async), like the openai SDK's ``azure_ad_token_provider``.

    It is asked again before an attempt once its last answer is ``reuse_for`` seconds old (a thread hop
    per attempt costs more than the request's own work; providers such as azure-identity's
    ``get_bearer_token_provider`` cache and renew their token themselves). A sync function runs in a
    thread, so it may block.

    Example: ``CallableToken(azure.identity.get_bearer_token_provider(cred, SCOPE))``
    """

    def __init__(
        self,
        fn: Callable[[], str | Awaitable[str]],
        *,
        what: str = "token provider",
        reuse_for: float = 15.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        if not callable(fn):
            raise AuthenticationError(f"{what} must be a function returning a token; got {type(fn).__name__}")
        self._fn = fn
        self.what = what
        self.reuse_for = reuse_for
        self.now = now
        self.calls = 0
        self._last: str | None = None
        self._at = 0.0

    def _check(self, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise AuthenticationError(f"the {self.what} returned {type(value).__name__}, not a non-empty string")
        self._last, self._at = value.strip(), self.now()
        return self._last

    def _fresh(self) -> bool:
        return self._last is not None and self.now() - self._at < self.reuse_for

    async def prepare(self) -> None:
        if self._fresh():
            return
        self.calls += 1
        try:
            if inspect.iscoroutinefunction(self._fn):
                value = await self._fn()
            else:
                value = await asyncio.wait_for(asyncio.to_thread(self._fn), REFRESH_TIMEOUT)
                if inspect.isawaitable(value):
                    value = await value
        except APIError:
            raise
        except asyncio.TimeoutError:
            raise APIConnectionError(f"the {self.what} gave no token within {REFRESH_TIMEOUT:g} s") from None
        except Exception as exc:
            raise AuthenticationError(f"the {self.what} failed: {type(exc).__name__}: {exc}") from None
        self._check(value)

    def token(self) -> str:
        """The answer of the last ``prepare()``; the function is called here only if it never was."""
        if self._last is not None:
            return self._last
        self.calls += 1
        value = self._fn()
        if inspect.isawaitable(value):
            close = getattr(value, "close", None)
            if close is not None:
                close()
            raise AuthenticationError(f"the {self.what} is async: await prepare() before token()")
        return self._check(value)

    def secrets(self) -> tuple[str, ...]:
        return (self._last,) if self._last else ()


class _Cached:
    """A token, when it expires, when to refresh it in the background and until when to use it (on ``now``).

    A short-lived token refreshes at half its life and is used until its last quarter at the latest, so
    the margins never swallow a token's whole lifetime.
    """

    __slots__ = ("expires", "refresh_at", "token", "usable_until")

    def __init__(self, token: str, now: float, lifetime: float, refresh_margin: float, mandatory_margin: float):
        self.token = token
        self.expires = now + lifetime
        self.refresh_at = self.expires - min(refresh_margin, lifetime / 2)
        self.usable_until = self.expires - min(mandatory_margin, lifetime / 4)


class RefreshingToken(TokenSource):
    """A token with an expiry, fetched by ``_fetch()`` (blocking; runs in a thread) and cached.

    Subclasses implement ``_fetch() -> (token, expires_at | None)`` (``expires_at`` in wall-clock epoch
    seconds, as identity libraries give it) and may override ``_error(exc)`` to say which failures are
    worth a retry. ``now`` is the clock the margins are measured on (tests move it).
    """

    def __init__(
        self,
        *,
        refresh_margin: float = REFRESH_MARGIN,
        mandatory_margin: float = MANDATORY_MARGIN,
        timeout: float = REFRESH_TIMEOUT,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not 0 <= mandatory_margin <= refresh_margin:
            raise ValueError("need 0 <= mandatory_margin <= refresh_margin")
        self.refresh_margin = refresh_margin
        self.mandatory_margin = mandatory_margin
        self.timeout = timeout
        self.now = now
        self.refreshes = 0  # fetches that succeeded (tests and diagnostics)
        self._cached: _Cached | None = None
        self._lock = threading.Lock()
        self._pending: concurrent.futures.Future[str] | None = None
        self._quiet_until = 0.0  # no background refresh before this, after one failed

    # -- subclass hooks

    def _fetch(self) -> tuple[str, float | None]:
        raise NotImplementedError

    def _error(self, exc: BaseException) -> APIError:
        return AuthenticationError(f"could not get a {self.what}: {type(exc).__name__}: {exc}")

    # -- the interface

    def token(self) -> str:
        cached = self._usable()
        if cached is not None:
            return cached.token
        try:
            return self._refresh().result(timeout=self.timeout)
        except concurrent.futures.TimeoutError:
            raise APIConnectionError(f"no {self.what} within {self.timeout:g} s") from None

    async def prepare(self) -> None:
        if self._usable() is not None:
            return
        try:
            await asyncio.wait_for(asyncio.wrap_future(self._refresh()), self.timeout)
        except asyncio.TimeoutError:
            raise APIConnectionError(f"no {self.what} within {self.timeout:g} s") from None

    def secrets(self) -> tuple[str, ...]:
        cached = self._cached
        return (cached.token,) if cached is not None else ()

    @property
    def expires_at(self) -> float | None:
        """When the cached token expires (epoch seconds), or None before the first fetch."""
        cached = self._cached
        return cached.expires if cached is not None else None

    # -- internals

    def _usable(self) -> _Cached | None:
        """The cached token if it has more than ``mandatory_margin`` left (starting a background
        refresh inside ``refresh_margin``), else None (both margins at most a quarter / half of its life)."""
        cached, now = self._cached, self.now()
        if cached is None or now >= cached.usable_until:
            return None
        if now >= cached.refresh_at and now >= self._quiet_until:
            self._refresh(background=True)
        return cached

    def _refresh(self, *, background: bool = False) -> concurrent.futures.Future[str]:
        with self._lock:
            if self._pending is not None:
                return self._pending
            future: concurrent.futures.Future[str] = concurrent.futures.Future()
            future.set_running_or_notify_cancel()  # a waiter that gives up cannot cancel the shared refresh
            self._pending = future
        thread = threading.Thread(target=self._run, args=(future, background), name="volley-token-refresh")
        thread.daemon = True
        thread.start()
        return future

    def _run(self, future: concurrent.futures.Future[str], background: bool) -> None:
        try:
            token, expires = self._fetch()
            if not isinstance(token, str) or not token:
                raise AuthenticationError(f"the identity provider returned no {self.what}")
            # the expiry is wall-clock time (what identity libraries give); it is kept as time left on ``now``
            left = UNKNOWN_LIFETIME if expires is None else float(expires) - time.time()
        except BaseException as exc:
            error = exc if isinstance(exc, APIError) else self._error(exc)
            with self._lock:
                self._pending = None
                self._quiet_until = self.now() + 10.0
            if background:
                log.warning("%s refresh failed, the current one is used until it expires: %s", self.what, error)
            future.set_exception(error)
            return
        with self._lock:
            self._cached = _Cached(token, self.now(), left, self.refresh_margin, self.mandatory_margin)
            self._pending = None
            self.refreshes += 1
        future.set_result(token)


class BearerAuth:
    """A resolved credential that is a token source: per attempt ``await prepare()``, then ``headers()``.

    Example: ``BearerAuth(StaticToken("ya29...")).headers()  # {"Authorization": "Bearer ya29..."}``
    """

    __slots__ = ("source",)

    def __init__(self, source: TokenSource) -> None:
        self.source = source

    async def prepare(self) -> None:
        await self.source.prepare()

    def headers(self) -> dict[str, str]:
        extra = getattr(self.source, "headers", None)
        return {"Authorization": f"Bearer {self.source.token()}", **(extra() if callable(extra) else {})}

    def secrets(self) -> tuple[str, ...]:
        return self.source.secrets()

    def __repr__(self) -> str:
        return f"BearerAuth({self.source!r})"
