"""A shared lane that keeps working when its store does not: local limits meanwhile, then it rejoins.

:class:`ResilientLane` takes the same calls as :class:`volley.engine.limits.Lane` (``configure``,
``acquire``, ``release`` with the attempt's headers and outcome), except that ``acquire`` returns the
:class:`~volley.shared.store.Lease` that ``release`` takes back, and ``release`` is awaited.

While the store answers, every admission is the store's (:class:`~volley.shared.store.SharedLane`).
When a call to it fails, one warning is logged and admissions go to a local ``Lane`` configured with
this process's share of the limits (the limit divided by the processes last seen on the lane), and a
background probe pings the store every ``rejoin_every`` seconds; when it answers, a second warning
says so and new admissions are the store's again. At each switch the turns already given on the side
being left still go out at their times, and the other side starts after them (no double burst).
An attempt is admitted exactly once either way:
a lease granted by the store whose answer was lost expires there on its own (it holds a slot for at
most its time to live, and is never used); a lease taken locally is returned locally.

Example::

    lane = ResilientLane(key, RedisLimitStore.from_url(url, key))
    lane.configure(max_workers=50, rpm=600)
    lease = await lane.acquire(tokens=300)
    await lane.release(lease, ok=True, rate=host.rate_info(resp.response_headers), tokens_used=280)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
import weakref
from collections.abc import Hashable
from typing import Literal

from ..engine.limits import Lane, RateInfo
from ..errors import MAX_SERVER_WAIT, server_wait
from .store import LEASE_TTL, RAY_ACTOR, Lease, LimitStore, SharedLane, StoreUnavailable, lane_id

log = logging.getLogger("volley.shared")


def rate_facts(rate: RateInfo | None) -> tuple[float | None, float | None, float]:
    """``(rpm, tpm, pause)`` that a host's ``RateInfo`` states: the limits, and seconds until a used-up one
    resets (capped like every server hint)."""
    if rate is None:
        return None, None, 0.0
    return rate.limit_requests, rate.limit_tokens, server_wait(rate.pause) or 0.0


def _label(key: Hashable) -> str:
    if isinstance(key, tuple) and len(key) >= 3:
        return f"{key[0]}/{key[2]}"
    return f"lane {lane_id(key)[:12]}"


class ResilientLane:
    """Shared limits through ``store``, local ones while it is unreachable. See the module docstring."""

    def __init__(
        self,
        key: Hashable,
        store: LimitStore,
        *,
        lease_ttl: float = LEASE_TTL,
        rejoin_every: float = 0.25,
        local: Lane | None = None,
    ) -> None:
        self.key = key
        self.shared = SharedLane(store, lease_ttl=lease_ttl)
        self.local = local if local is not None else Lane(key)
        self.rejoin_every = rejoin_every
        self.mode: Literal["shared", "local"] = "shared"
        self.fallbacks = 0  # outages seen
        self._learned: tuple[float | None, float | None] = (None, None)
        self._rejoin: asyncio.Task[None] | None = None
        self._local_waiting = 0  # acquires waiting in the local lane
        self._drained = asyncio.Event()
        self._drained.set()
        self._given: tuple[int | None, float | None, float | None] | None = None

    @property
    def store(self) -> LimitStore:
        return self.shared.store

    def configure(self, *, max_workers: int | None = None, rpm: float | None = None, tpm: float | None = None) -> None:
        """The caller's limits for the lane (shared ones; the local fallback gets this process's share).
        The same limits again (every attempt of a batch gives them) change nothing."""
        if (max_workers, rpm, tpm) == self._given:
            return
        self._given = (max_workers, rpm, tpm)
        self.shared.configure(max_workers=max_workers, rpm=rpm, tpm=tpm)
        self._configure_local()

    def _configure_local(self) -> None:
        n = max(1, self.shared.members)
        cfg = self.shared.cfg
        rpm = cfg.rpm or self._learned[0] or self.local.learned_rpm
        tpm = cfg.tpm or self._learned[1] or self.local.learned_tpm
        self.local.configure(
            max_workers=max(1, cfg.max_workers // n),
            rpm=rpm / n if rpm else None,
            tpm=tpm / n if tpm else None,
        )

    async def acquire(self, tokens: float = 0.0, *, patience: float | None = None) -> Lease:
        """Wait for a turn (shared, or local while the store is unreachable); send once, then :meth:`release`.

        ``patience`` bounds the wait for a server-imposed pause, as ``Lane.acquire``'s does.
        """
        self.local.check_quota()  # this process found the account's quota used up: refuse at once
        if self.mode == "shared":
            if not self._drained.is_set():  # just rejoined: the local turns already given go first
                await self._drained.wait()
            try:
                return await self.shared.acquire(tokens, patience=patience)
            except StoreUnavailable as exc:
                self._fall_back(exc)
        self._local_waiting += 1
        self._drained.clear()
        try:
            await self.local.acquire(tokens, patience=patience)
        finally:
            self._local_waiting -= 1
            if not self._local_waiting:
                self._drained.set()
        return Lease(uuid.uuid4().hex, float(tokens), origin="local")

    async def release(
        self,
        lease: Lease,
        *,
        ok: bool,
        rate: RateInfo | None = None,
        tokens_reserved: float | None = None,
        tokens_used: float | None = None,
        rate_limited: bool = False,
        retry_after: float | None = None,
        quota_exhausted: str | None = None,
    ) -> None:
        """Return ``lease`` where it came from, with what the attempt taught (as ``Lane.release``).

        ``quota_exhausted`` (the error's message) makes this process refuse the lane's calls for
        ``MAX_SERVER_WAIT`` seconds (other processes find out with their own next answer).
        """
        if lease.origin == "local":
            reserved = lease.tokens if tokens_reserved is None else tokens_reserved
            self.local.release(ok=ok, rate=rate, tokens_reserved=reserved, tokens_used=tokens_used,
                               rate_limited=rate_limited, retry_after=retry_after,
                               quota_exhausted=quota_exhausted)  # fmt: skip
            if self.local.learned_rpm or self.local.learned_tpm:
                self._learned = (self.local.learned_rpm or self._learned[0], self.local.learned_tpm or self._learned[1])
                self._configure_local()  # the share of what the headers say, not all of it
            return
        if quota_exhausted is not None:
            self.local.quota_until = time.monotonic() + MAX_SERVER_WAIT
            self.local.quota_message = quota_exhausted[:300]
        rpm, tpm, pause = rate_facts(rate)
        if rpm or tpm:
            self._learned = (rpm or self._learned[0], tpm or self._learned[1])
        try:
            await self.shared.release(
                lease, ok=ok, tokens_used=tokens_used, rate_limited=rate_limited, retry_after=retry_after,
                pause=pause, learned_rpm=rpm, learned_tpm=tpm,
            )  # fmt: skip
        except StoreUnavailable as exc:
            self._fall_back(exc)  # the lease expires in the store on its own

    async def pause(self, seconds: float) -> None:
        """Pause the lane for every process (or, while the store is unreachable, for this one)."""
        if self.mode == "shared":
            try:
                await self.shared.pause(seconds)
                return
            except StoreUnavailable as exc:
                self._fall_back(exc)
        self.local.paused_until = max(self.local.paused_until, time.monotonic() + max(0.0, seconds))

    def _fall_back(self, exc: BaseException) -> None:
        if self.mode == "local":
            return
        self.mode = "local"
        self.fallbacks += 1
        self.shared.offline = True
        self._configure_local()
        # the turns the store gave this process still go out at their times: local ones start after them
        shared = self.shared
        self.local.paused_until = max(self.local.paused_until, shared.paused_until, shared.scheduled_until)
        log.warning("volley: %s; %s is limited locally to this process's share (1/%d of the limits) until it is back",
                    exc, _label(self.key), max(1, self.shared.members))  # fmt: skip
        if self._rejoin is None or self._rejoin.done():
            self._rejoin = asyncio.ensure_future(self._rejoin_when_back())

    async def _rejoin_when_back(self) -> None:
        while self.mode == "local":
            await asyncio.sleep(self.rejoin_every)
            try:
                await self.store.ping()
                if self._learned != (None, None):
                    await self.store.learn(*self._learned)
            except StoreUnavailable:
                continue
            self.shared.offline = False
            self.mode = "shared"
            log.warning("volley: the shared limit store %s is reachable again; %s rejoined the shared limits",
                        self.store.name, _label(self.key))  # fmt: skip

    async def aclose(self) -> None:
        """Stop the background tasks."""
        if self._rejoin is not None and not self._rejoin.done():
            self._rejoin.cancel()
            with contextlib.suppress(BaseException):
                await self._rejoin
        await self.shared.aclose()


_lanes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, Hashable], ResilientLane]] = (
    weakref.WeakKeyDictionary()
)


def shared_lane(key: Hashable, url: str) -> ResilientLane:
    """The lane for ``key`` shared through the store at ``url``, on the running loop (created on first use).

    What a call's lanes are when ``limits_url=`` (or ``$VOLLEY_REDIS_URL``) is set: ``url`` is a Redis
    (``redis://``, ``rediss://``, ``unix://``), or ``ray-actor://NAMESPACE/NAME``, the named limits actor
    of :mod:`volley.ray`. ``key`` should name the account where the provider limits per key (it is
    hashed before it reaches the store).

    Example::

        lane = shared_lane(("openai", base, "gpt-4o-mini", key_id(api_key)), "redis://127.0.0.1:6379/0")
    """
    table = _lanes.setdefault(asyncio.get_running_loop(), {})
    lane = table.get((url, key))
    if lane is None:
        lane = table[(url, key)] = ResilientLane(key, _store(key, url))
    return lane


def _store(key: Hashable, url: str) -> LimitStore:
    if url.startswith(RAY_ACTOR + "://"):
        from ..ray import RayActorStore

        namespace, _, name = url[len(RAY_ACTOR) + 3 :].partition("/")
        return RayActorStore(key, name=name, namespace=namespace)
    from .redis_limits import RedisLimitStore

    return RedisLimitStore.from_url(url, key)


def reset() -> None:
    """Forget every shared lane of this process (tests)."""
    _lanes.clear()
