"""A lane's limits kept in a store that many processes share, and the client that uses it.

The store holds, for one lane (provider, base, model and account): the GCRA schedules of requests
and tokens (theoretical arrival times on the *store's* clock), the concurrency slots as leases that
expire (a worker that dies cannot keep one), the shared pause after a 429, the AIMD window and
slowdown, and the limits learned from response headers. One call, :meth:`LimitStore.reserve`, does
pause check, slot and pacing atomically; the Redis store runs it as one Lua script (one round trip).

:class:`LaneState` is the algorithm in Python (the reference the Lua script mirrors, and the state a
Ray actor keeps); :class:`MemoryStore` serves one in this process. :class:`SharedLane` is the client
side: what :class:`volley.engine.limits.Lane` does locally, over any store.

Example::

    lane = SharedLane(MemoryStore())
    lane.configure(max_workers=8, rpm=600)
    lease = await lane.acquire(tokens=300)
    ...  # send the request
    await lane.release(lease, ok=True, tokens_used=280)
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Hashable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..engine.limits import DEFAULT_PAUSE, PROBE, SAFETY
from ..engine.run import deadline_left
from ..errors import RateLimitError

log = logging.getLogger("volley.shared")

#: Longest shared pause one call may set (a bogus retry-after must not stop every worker for a day).
MAX_PAUSE = 300.0
#: A lease not renewed for this long is dropped (its holder died); holders renew every third of it.
LEASE_TTL = 30.0
#: A process not seen for this long no longer counts among the lane's members.
MEMBER_TTL = 15.0
#: ``limits_url`` scheme of the named limits actor of :mod:`volley.ray`: ``ray-actor://NAMESPACE/NAME``.
RAY_ACTOR = "ray-actor"

Status = Literal["granted", "paused", "full"]


class StoreUnavailable(ConnectionError):
    """The shared store cannot be reached (or answered nonsense); callers fall back to local limits."""


@dataclass(frozen=True, slots=True)
class LaneConfig:
    """The caller's limits for a lane: sent with every reservation (so the store needs no setup)."""

    max_workers: int = 100
    rpm: float | None = None
    tpm: float | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """A reservation's answer. ``wait``: seconds to wait before sending (granted), pause left
    (paused), or until the oldest lease expires (full). ``members``: processes using the lane."""

    status: Status
    wait: float
    members: int = 1


@dataclass(slots=True)
class Lease:
    """One granted attempt. ``origin`` is ``"shared"`` (a store lease) or ``"local"`` (a fallback slot)."""

    id: str
    tokens: float = 0.0
    origin: Literal["shared", "local"] = "shared"
    granted_at: float = field(default_factory=time.monotonic)


class LimitStore(Protocol):
    """What a shared store offers one lane. Every method may raise :class:`StoreUnavailable`."""

    name: str  # for messages: never carries a password

    async def reserve(self, lease: str, member: str, tokens: float, cfg: LaneConfig, ttl: float) -> Reply: ...

    async def release(
        self,
        lease: str,
        cfg: LaneConfig,
        *,
        tokens_delta: float = 0.0,
        ok: bool = True,
        rate_limited: bool = False,
        pause: float = 0.0,
        learned_rpm: float | None = None,
        learned_tpm: float | None = None,
    ) -> float: ...

    async def renew(self, leases: list[str], member: str, ttl: float) -> int: ...

    async def pause(self, seconds: float) -> float: ...

    async def paused(self) -> float: ...

    async def learn(self, rpm: float | None, tpm: float | None) -> None: ...

    async def learned(self) -> tuple[float | None, float | None]: ...

    async def ping(self) -> None: ...

    def events(self) -> AsyncIterator[tuple[str, float]] | None:
        """Pushed events: ``("ready", 0)`` once subscribed, then ``("free", 0)`` (a slot was returned),
        ``("pause", seconds)`` (a used-up budget's shared pause began) and ``("limited", seconds)`` (a 429's,
        or one set by ``pause``); None for a store that cannot push."""
        ...

    async def aclose(self) -> None: ...


def lane_id(key: Hashable) -> str:
    """A lane key as a store name: a hash, so no API key or account name shows in the store."""
    return hashlib.sha256(repr(key).encode("utf-8")).hexdigest()[:32]


def member_id() -> str:
    """This process's name among a lane's members."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def clamp_pause(seconds: float | None) -> float:
    """A pause in ``[0, MAX_PAUSE]`` seconds (NaN and negatives are 0)."""
    if seconds is None or not seconds > 0:
        return 0.0
    return min(float(seconds), MAX_PAUSE)


class LaneState:
    """The shared state of one lane and the algorithm over it (times in seconds on the store's clock).

    The Lua scripts in :mod:`volley.shared.redis_limits` implement exactly these steps.
    """

    __slots__ = ("cwnd", "granted", "learned_rpm", "learned_tpm", "leases", "members", "paused_until", "probing",
                 "rate_limited", "slowdown", "tat_r", "tat_t")  # fmt: skip

    def __init__(self) -> None:
        self.leases: dict[str, float] = {}  # lease id -> expiry
        self.members: dict[str, float] = {}  # member -> expiry
        self.tat_r = 0.0
        self.tat_t = 0.0
        self.paused_until = 0.0
        self.learned_rpm = 0.0
        self.learned_tpm = 0.0
        self.slowdown = 1.0
        self.cwnd: float | None = None
        self.probing = True
        self.rate_limited = 0
        self.granted = 0  # turns given

    def _see(self, now: float, member: str, member_ttl: float) -> int:
        self.members[member] = now + member_ttl
        for m in [m for m, exp in self.members.items() if exp <= now]:
            del self.members[m]
        return len(self.members)

    def _expire(self, now: float) -> None:
        for lease in [k for k, exp in self.leases.items() if exp <= now]:
            del self.leases[lease]

    def _window(self, mw: int) -> float:
        if self.cwnd is None:
            self.cwnd = float(PROBE) if self.probing else float(mw)
        return self.cwnd

    def reserve(self, now: float, lease: str, member: str, tokens: float, cfg: LaneConfig,
                ttl: float, member_ttl: float = MEMBER_TTL) -> Reply:  # fmt: skip
        members = self._see(now, member, member_ttl)
        if self.paused_until > now:
            return Reply("paused", self.paused_until - now, members)
        rpm, tpm = cfg.rpm or 0.0, cfg.tpm or 0.0
        if self.probing and (rpm or tpm or self.learned_rpm or self.learned_tpm):
            self.probing, self.cwnd = False, float(cfg.max_workers)
        cwnd = self._window(cfg.max_workers)
        self._expire(now)
        if lease not in self.leases:
            limit = max(1, min(cfg.max_workers, math.floor(cwnd)))
            if len(self.leases) >= limit:
                return Reply("full", max(0.0, min(self.leases.values()) - now), members)
        rate_r, rate_t = rpm or self.learned_rpm, tpm or self.learned_tpm
        scale = SAFETY * self.slowdown / 60.0
        start = now
        if rate_r:
            start = max(start, self.tat_r)
        if rate_t and tokens:
            start = max(start, self.tat_t)
        if rate_r:
            self.tat_r = start + 1.0 / (rate_r * scale)
        if rate_t and tokens:
            self.tat_t = start + tokens / (rate_t * scale)
        self.leases[lease] = start + ttl
        self.granted += 1
        return Reply("granted", start - now, members)

    def release(self, now: float, lease: str, cfg: LaneConfig, *, tokens_delta: float = 0.0, ok: bool = True,
                rate_limited: bool = False, pause: float = 0.0, learned_rpm: float | None = None,
                learned_tpm: float | None = None) -> tuple[bool, float]:  # fmt: skip
        """Return ``lease``; learn from the attempt. ``(lease was held, pause left)``."""
        removed = self.leases.pop(lease, None) is not None
        rate_t = (cfg.tpm or 0.0) or self.learned_tpm
        if tokens_delta and rate_t:
            self.tat_t += tokens_delta / (rate_t * SAFETY * self.slowdown / 60.0)
        if learned_rpm or learned_tpm:
            self.learned_rpm = float(learned_rpm or self.learned_rpm)
            self.learned_tpm = float(learned_tpm or self.learned_tpm)
            if self.probing:
                self.probing, self.cwnd = False, float(cfg.max_workers)
        mw = cfg.max_workers
        if rate_limited:
            self.rate_limited += 1
            self.probing = False
            if now >= self.paused_until:  # once per burst, as a local lane (engine.limits)
                limit = max(1, min(mw, math.floor(self._window(mw))))
                self.cwnd = max(1.0, limit / 2.0)
                self.slowdown = max(0.1, self.slowdown * 0.9)
        elif ok:
            if self.probing:
                self.probing, self.cwnd = False, float(mw)
            else:
                cwnd = self._window(mw)
                self.cwnd = min(float(mw), cwnd + 1.0 / max(cwnd, 1.0))
            if self.slowdown < 1.0:
                self.slowdown = min(1.0, self.slowdown + 0.002)
        if pause > 0:
            self.paused_until = max(self.paused_until, now + pause)
        return removed, max(0.0, self.paused_until - now)

    def renew(self, now: float, leases: list[str], member: str, ttl: float, member_ttl: float = MEMBER_TTL) -> int:
        self._see(now, member, member_ttl)
        self._expire(now)
        n = 0
        for lease in leases:
            if lease in self.leases:
                self.leases[lease] = max(self.leases[lease], now + ttl)
                n += 1
        return n

    def pause(self, now: float, seconds: float) -> float:
        if seconds > 0:
            self.paused_until = max(self.paused_until, now + seconds)
        return max(0.0, self.paused_until - now)

    def paused(self, now: float) -> float:
        return max(0.0, self.paused_until - now)

    def learn(self, rpm: float | None, tpm: float | None) -> None:
        self.learned_rpm = float(rpm or self.learned_rpm)
        self.learned_tpm = float(tpm or self.learned_tpm)

    def learned(self) -> tuple[float | None, float | None]:
        return (self.learned_rpm or None, self.learned_tpm or None)

    def snapshot(self, now: float) -> dict[str, float]:
        """What the lane looks like (tests, benchmarks): leases held, members, turns given, pause left, window."""
        self._expire(now)
        members = sum(1 for exp in self.members.values() if exp > now)
        return {"in_flight": len(self.leases), "members": members, "granted": self.granted,
                "paused": max(0.0, self.paused_until - now), "cwnd": self.cwnd or 0.0, "slowdown": self.slowdown,
                "rate_limited": self.rate_limited}  # fmt: skip


class MemoryStore:
    """A :class:`LimitStore` in this process (tests; one process with several loops; the Ray actor's core)."""

    name = "memory"

    def __init__(self, state: LaneState | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.state = state or LaneState()
        self._clock = clock

    def _now(self) -> float:
        return self._clock()

    async def reserve(self, lease: str, member: str, tokens: float, cfg: LaneConfig, ttl: float) -> Reply:
        return self.state.reserve(self._now(), lease, member, tokens, cfg, ttl)

    async def release(self, lease: str, cfg: LaneConfig, **kw: object) -> float:
        return self.state.release(self._now(), lease, cfg, **kw)[1]  # type: ignore[arg-type]

    async def renew(self, leases: list[str], member: str, ttl: float) -> int:
        return self.state.renew(self._now(), leases, member, ttl)

    async def pause(self, seconds: float) -> float:
        return self.state.pause(self._now(), clamp_pause(seconds))

    async def paused(self) -> float:
        return self.state.paused(self._now())

    async def learn(self, rpm: float | None, tpm: float | None) -> None:
        self.state.learn(rpm, tpm)

    async def learned(self) -> tuple[float | None, float | None]:
        return self.state.learned()

    async def ping(self) -> None:
        return None

    def events(self) -> AsyncIterator[tuple[str, float]] | None:
        return None

    async def aclose(self) -> None:
        return None


#: How often a lane whose slots are all taken asks again when the store cannot push "a slot is free".
POLL = 0.05
#: ... and when it can (a safety net for a lost message).
POLL_PUSHED = 0.5


class SharedLane:
    """One lane's limits, kept in ``store`` and shared with every process that uses the same store and lane.

    Mirrors :class:`volley.engine.limits.Lane`: ``configure`` takes the caller's limits, ``acquire``
    waits for the pause, a concurrency slot (a lease, renewed in the background while held) and the
    pacers, ``release`` returns the slot with what the attempt taught. One process asks the store one
    reservation at a time (first come, first served); waiting for a slot is woken by the store's
    "free" events when it pushes them. Raises :class:`StoreUnavailable` when the store is unreachable.

    Example::

        lane = SharedLane(RedisLimitStore.from_url("redis://127.0.0.1:6379/0", key))
        lane.configure(rpm=600)
        lease = await lane.acquire(tokens=300)
        await lane.release(lease, ok=True, tokens_used=250)
    """

    def __init__(self, store: LimitStore, *, lease_ttl: float = LEASE_TTL, member: str | None = None) -> None:
        if not lease_ttl > 0:
            raise ValueError(f"lease_ttl must be > 0 seconds, got {lease_ttl!r}")
        self.store = store
        self.lease_ttl = float(lease_ttl)
        self.member = member or member_id()
        self.cfg = LaneConfig()
        self.members = 1  # processes seen on the lane at the last reservation
        self.paused_until = 0.0  # local view of the shared pause (monotonic), fed by replies and events
        self.limited_until = 0.0  # ... and of the last pause known to follow a 429 (or of unknown cause)
        self.held: dict[str, Lease] = {}
        self.scheduled_until = 0.0  # (monotonic) when the last request granted here is due to go out
        self._gate: asyncio.Lock | None = None
        self._freed: asyncio.Event | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._pushed = False  # subscribed to the store's events
        self._listen_after = 0.0
        self._offline = False

    @property
    def offline(self) -> bool:
        """Set by an owner that stopped using the store: waiting acquires then raise StoreUnavailable."""
        return self._offline

    @offline.setter
    def offline(self, value: bool) -> None:
        self._offline = value
        if value and self._freed is not None:
            self._freed.set()

    # ------------------------------------------------------------------ configuration

    def configure(self, *, max_workers: int | None = None, rpm: float | None = None, tpm: float | None = None) -> None:
        """The caller's limits (None leaves one as it is); sent with each reservation."""
        c = self.cfg
        self.cfg = LaneConfig(max_workers if max_workers is not None else c.max_workers,
                              rpm if rpm is not None else c.rpm, tpm if tpm is not None else c.tpm)  # fmt: skip

    # ------------------------------------------------------------------ admission

    async def acquire(self, tokens: float = 0.0, *, patience: float | None = None) -> Lease:
        """Wait for the shared pause, a slot and the pacers; the caller may then send (once).

        As with a local lane, ``patience`` (the call's timeout) and the batch deadline bound the wait
        for a shared pause: a longer one raises ``RateLimitError`` at once, with the pause as
        ``retry_after``. Waiting for a slot or a pacing turn is queueing (the batch deadline cancels it).
        """
        if self._gate is None:
            self._gate, self._freed = asyncio.Lock(), asyncio.Event()
        self._start_listener()
        give_up = None if patience is None else time.monotonic() + patience
        lease = Lease(uuid.uuid4().hex, float(tokens))
        async with self._gate:
            delay = await self._reserve(lease, give_up)
        try:
            while True:
                self.scheduled_until = max(self.scheduled_until, time.monotonic() + delay)
                if delay > 0:
                    await asyncio.sleep(delay)
                if not self._pushed and delay > 0:  # nobody told us of a pause that began meanwhile: ask
                    try:
                        left = await self.store.paused()
                    except StoreUnavailable:  # the store granted this turn: it goes out at its time
                        left = 0.0
                    self.paused_until = max(self.paused_until, time.monotonic() + left)
                if self.paused_until <= time.monotonic():
                    return lease
                # A pause began while this request waited for its turn: wait it out. After a 429's (or one of
                # unknown cause) it takes a new turn, the pace was too fast; after a used-up budget's pause,
                # as the local lane does, it keeps its turn and goes at the reset: a new turn would waste it.
                keep = self._pushed and self.limited_until < self.paused_until
                wait = self.paused_until - time.monotonic()
                _check_wait(wait, give_up)
                await asyncio.sleep(wait)
                if keep and self.limited_until < self.paused_until and self.paused_until <= time.monotonic():
                    return lease
                async with self._gate:
                    delay = await self._reserve(lease, give_up)
        except BaseException:
            self._forget(lease)
            raise

    async def _reserve(self, lease: Lease, give_up: float | None = None) -> float:
        """Ask until granted; the pacing delay to wait before sending. The caller holds the gate."""
        assert self._freed is not None
        while True:
            if self._offline:
                raise StoreUnavailable(f"the shared limit store {self.store.name} was given up")
            self._freed.clear()
            reply = await self._ask(lease)
            self.members = max(1, reply.members)
            if reply.status == "granted":
                self.held[lease.id] = lease
                self._start_renewer()
                return reply.wait
            if reply.status == "paused":
                self.paused_until = max(self.paused_until, time.monotonic() + reply.wait)
                _check_wait(reply.wait, give_up)
                await asyncio.sleep(reply.wait)
                continue
            poll = POLL_PUSHED if self._pushed else POLL
            wait = min(poll, reply.wait) if reply.wait > 0 else poll
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._freed.wait(), wait)

    async def _ask(self, lease: Lease) -> Reply:
        # Shielded: if we are cancelled while the store grants, the grant is handed back, not leaked.
        task = asyncio.ensure_future(self.store.reserve(lease.id, self.member, lease.tokens, self.cfg, self.lease_ttl))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(lambda t: self._cancelled_grant(t, lease))
            raise

    def _cancelled_grant(self, task: asyncio.Task[Reply], lease: Lease) -> None:
        if not task.cancelled() and task.exception() is None and task.result().status == "granted":
            self.held[lease.id] = lease
            self._forget(lease)

    def _forget(self, lease: Lease) -> None:
        """Hand back a lease whose request was never sent (cancelled while waiting): slot and tokens."""
        if self.held.pop(lease.id, None) is None:
            return

        async def give_back() -> None:
            with contextlib.suppress(StoreUnavailable):
                await self.store.release(lease.id, self.cfg, tokens_delta=-lease.tokens, ok=False)

        _background(give_back())

    async def release(
        self,
        lease: Lease,
        *,
        ok: bool,
        tokens_used: float | None = None,
        rate_limited: bool = False,
        retry_after: float | None = None,
        pause: float | None = None,
        learned_rpm: float | None = None,
        learned_tpm: float | None = None,
    ) -> None:
        """Return ``lease`` and tell the lane what the attempt taught.

        ``rate_limited``: a 429 (shared pause of ``retry_after`` or one second, the window halves, the
        pace slows). ``pause``: seconds until a ``remaining == 0`` limit resets. ``learned_*``: limits
        read from the answer's headers. ``tokens_used`` corrects the token schedule.
        """
        self.held.pop(lease.id, None)
        now = time.monotonic()
        wait = clamp_pause(pause)
        if rate_limited:
            wait = max(wait, clamp_pause(retry_after if retry_after is not None else DEFAULT_PAUSE))
        if wait:
            self.paused_until = max(self.paused_until, now + wait)  # this process knows at once
            if rate_limited:
                self.limited_until = max(self.limited_until, now + wait)
        delta = (tokens_used - lease.tokens) if tokens_used is not None else 0.0
        left = await self.store.release(
            lease.id, self.cfg, tokens_delta=delta, ok=ok, rate_limited=rate_limited, pause=wait,
            learned_rpm=learned_rpm, learned_tpm=learned_tpm,
        )  # fmt: skip
        if left:
            self.paused_until = max(self.paused_until, time.monotonic() + left)

    async def pause(self, seconds: float) -> float:
        """Pause the lane for every process (clamped to ``[0, MAX_PAUSE]``); the pause left."""
        left = await self.store.pause(clamp_pause(seconds))
        self.paused_until = max(self.paused_until, time.monotonic() + left)
        self.limited_until = max(self.limited_until, self.paused_until)
        return left

    async def learn(self, rpm: float | None = None, tpm: float | None = None) -> None:
        """Publish limits read from headers; every process paces to them when the caller gave none."""
        await self.store.learn(rpm, tpm)

    async def learned(self) -> tuple[float | None, float | None]:
        """The (rpm, tpm) learned by any process, or None each."""
        return await self.store.learned()

    # ------------------------------------------------------------------ background

    def _start_renewer(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.ensure_future(self._renew())

    async def _renew(self) -> None:
        """While leases are held, renew them all (one call) every third of their time to live."""
        while self.held:
            await asyncio.sleep(self.lease_ttl / 3.0)
            ids = list(self.held)
            if not ids:
                break
            try:
                kept = await self.store.renew(ids, self.member, self.lease_ttl)
            except StoreUnavailable:
                continue
            if kept < len([i for i in ids if i in self.held]):
                log.debug("%s: %d lease(s) expired before renewal", self.store.name, len(ids) - kept)

    def _start_listener(self) -> None:
        if (self._listener is None or self._listener.done()) and time.monotonic() >= self._listen_after:
            self._listen_after = time.monotonic() + 1.0  # a store that keeps dropping us is retried once a second
            events = self.store.events()
            if events is not None:
                self._listener = asyncio.ensure_future(self._listen(events))

    async def _listen(self, events: AsyncIterator[tuple[str, float]]) -> None:
        try:
            async for kind, value in events:
                if kind == "ready":
                    self._pushed = True
                elif kind == "free" and self._freed is not None:
                    self._freed.set()
                elif kind == "pause":
                    self.paused_until = max(self.paused_until, time.monotonic() + value)
                elif kind == "limited":
                    self.paused_until = max(self.paused_until, time.monotonic() + value)
                    self.limited_until = max(self.limited_until, self.paused_until)
        except (StoreUnavailable, OSError):
            pass
        finally:
            self._pushed = False

    async def aclose(self) -> None:
        """Stop the background tasks (held leases expire on their own)."""
        for task in (self._renewer, self._listener):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task


def _check_wait(wait: float, give_up: float | None) -> None:
    """Raise ``RateLimitError`` if a shared pause of ``wait`` seconds runs past the call's ``give_up``
    (a ``time.monotonic()``) or the batch deadline: the call fails at once rather than wait it out."""
    left = deadline_left()
    limit, reason = None, ""
    if give_up is not None:
        limit, reason = give_up - time.monotonic(), "its timeout"
    if left is not None and (limit is None or left < limit):
        limit, reason = left, "the batch deadline"
    if limit is None or wait <= limit:
        return
    raise RateLimitError(
        f"not sent: the server's rate limit paused this shared lane for {wait:.1f} s more, longer than this "
        f"call may wait ({reason}, {max(limit, 0.0):.1f} s left)",
        retry_after=wait,
    )


_tasks: set[asyncio.Task[None]] = set()


def _background(coro: Coroutine[Any, Any, None]) -> None:
    task = asyncio.ensure_future(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
