"""Per-lane limits: concurrency (AIMD), requests and tokens per minute (smooth pacing), learned from headers.

A *lane* is one ``(provider, api_base, model)``; every call in the process that goes to the same
lane shares its limits (one lane table per event loop; all sync calls share the private loop).

- Concurrency: at most ``min(max_workers, cwnd)`` attempts in flight. ``cwnd`` halves on a 429 and
  grows back by ``1/cwnd`` per success (AIMD). Until the lane's first answer arrives, and unless the
  caller gave ``rpm``/``tpm``, only a few probe requests go out, not ``max_workers`` blind.
- Pacing: a GCRA pacer per limit spaces requests ``60/rpm`` seconds apart, and tokens at ``tpm/60``
  per second, instead of letting a minute's budget go out in one burst.
- Learning: ``x-ratelimit-limit-requests/-tokens`` (OpenAI, Groq, ...) and
  ``anthropic-ratelimit-*`` set the pace when the caller gave none; ``remaining == 0`` pauses the
  lane until the matching ``reset``.
- A 429 pauses the whole lane for the server's ``retry-after`` (or one second) and slows it down.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Mapping
from datetime import datetime

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

#: Pace at this share of a limit (given or learned): a server counts arrivals in windows that start
#: when *its* clock saw the first request, so exact pacing would land some requests on a window edge.
SAFETY = 0.97
#: Attempts allowed in flight while a lane has not seen its first answer.
PROBE = 4
#: Pause after a 429 that gave no retry-after.
DEFAULT_PAUSE = 1.0


class Pacer:
    """GCRA pacing at ``rate`` units per second; ``reserve(cost)`` returns how long to wait.

    Reservations are taken in call order, so waiters are served first come, first served.
    """

    def __init__(self, rate: float, clock: Clock = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        self.rate = rate
        self._clock = clock
        self._tat = clock()  # theoretical arrival time of the next unit

    def reserve(self, cost: float = 1.0) -> float:
        now = self._clock()
        start = max(self._tat, now)
        self._tat = start + cost / self.rate
        return start - now

    def adjust(self, delta_cost: float) -> None:
        """Correct the schedule once the real cost is known (positive: it cost more than reserved)."""
        self._tat += delta_cost / self.rate


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_reset(value: str | None, now_wall: float | None = None) -> float | None:
    """Seconds until a rate-limit reset: ``"1s"``, ``"6m0s"``, ``"20ms"``, ``"2.5"`` or an RFC 3339 time."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parts = _DURATION.findall(value)
    if parts and "".join(n + u for n, u in parts) == value:
        scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
        return sum(float(n) * scale[u] for n, u in parts)
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(0.0, at.timestamp() - (time.time() if now_wall is None else now_wall))


def _int(headers: Mapping[str, str], name: str) -> int | None:
    v = headers.get(name)
    if v is None:
        return None
    try:
        return int(float(v))
    except ValueError:
        return None


class Lane:
    """The shared limits of one (provider, api_base, model)."""

    def __init__(self, key: Hashable = None, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self.key = key
        self._clock = clock
        self._sleep = sleep
        self.max_workers = 100
        self.rpm: float | None = None  # given by the caller
        self.tpm: float | None = None
        self.learned_rpm: float | None = None  # read from response headers
        self.learned_tpm: float | None = None
        self.cwnd = float(PROBE)
        self.probing = True
        self.in_flight = 0
        self.paused_until = 0.0
        self.rate_limited = 0  # 429s seen
        self.slowdown = 1.0  # share of the pace kept after 429s (x0.9 each), recovering with successes
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._req_pacer: Pacer | None = None
        self._tok_pacer: Pacer | None = None

    # ------------------------------------------------------------------ configuration

    def configure(self, *, max_workers: int | None = None, rpm: float | None = None, tpm: float | None = None) -> None:
        """Apply the caller's limits (None leaves a setting as it is; the same values again change nothing)."""
        if max_workers is not None and max_workers != self.max_workers:
            self.max_workers = max_workers
            self._wake()
        if (rpm is not None and rpm != self.rpm) or (tpm is not None and tpm != self.tpm):
            self.rpm = rpm if rpm is not None else self.rpm
            self.tpm = tpm if tpm is not None else self.tpm
            self._end_probe()
            self._repace()
            self._wake()

    def _end_probe(self) -> None:
        if self.probing:
            self.probing = False
            self.cwnd = float(self.max_workers)

    def _repace(self) -> None:
        rpm = self.rpm or self.learned_rpm
        tpm = self.tpm or self.learned_tpm
        scale = SAFETY * self.slowdown / 60.0
        self._req_pacer = self._set_rate(self._req_pacer, rpm * scale if rpm else None)
        self._tok_pacer = self._set_rate(self._tok_pacer, tpm * scale if tpm else None)

    def _set_rate(self, pacer: Pacer | None, rate: float | None) -> Pacer | None:
        if rate is None:
            return None
        if pacer is None:
            return Pacer(rate, self._clock)
        pacer.rate = rate
        return pacer

    @property
    def limit(self) -> int:
        """Attempts allowed in flight right now."""
        return max(1, min(self.max_workers, math.floor(self.cwnd)))

    # ------------------------------------------------------------------ admission

    async def acquire(self, tokens: float = 0.0) -> None:
        """Wait for a concurrency slot, any pause, and the pacers; then the caller may send."""
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
        else:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():  # granted just as we were cancelled: pass it on
                    self._release_slot()
                else:
                    try:
                        self._waiters.remove(fut)
                    except ValueError:
                        pass
                raise
        try:
            while True:
                wait = self.paused_until - self._clock()
                while wait > 0:
                    await self._sleep(wait)
                    wait = self.paused_until - self._clock()
                delay = 0.0
                if self._req_pacer is not None:
                    delay = self._req_pacer.reserve(1.0)
                if self._tok_pacer is not None and tokens:
                    delay = max(delay, self._tok_pacer.reserve(tokens))
                if delay > 0:
                    await self._sleep(delay)
                if self.paused_until <= self._clock():
                    break
                # a pause began while this request waited for its turn: wait it out, then take a new turn
        except BaseException:
            self._release_slot()
            raise

    def release(
        self,
        *,
        ok: bool,
        headers: Mapping[str, str] | None = None,
        tokens_reserved: float = 0.0,
        tokens_used: float | None = None,
        rate_limited: bool = False,
        retry_after: float | None = None,
    ) -> None:
        """Return the slot and learn from the outcome of the attempt."""
        now = self._clock()
        if headers:
            self._learn(headers, now)
        if tokens_used is not None and self._tok_pacer is not None:
            self._tok_pacer.adjust(tokens_used - tokens_reserved)
        if rate_limited:
            self.rate_limited += 1
            self.probing = False
            self.cwnd = max(1.0, self.limit / 2.0)
            pause = retry_after if retry_after is not None else DEFAULT_PAUSE
            self.paused_until = max(self.paused_until, now + pause)
            self.slowdown = max(0.1, self.slowdown * 0.9)  # the pace was too fast for this server
            self._repace()
        elif ok:
            if self.probing:
                self._end_probe()
            else:
                self.cwnd = min(float(self.max_workers), self.cwnd + 1.0 / max(self.cwnd, 1.0))
            if self.slowdown < 1.0:
                self.slowdown = min(1.0, self.slowdown + 0.002)
                self._repace()
        self._release_slot()

    def _release_slot(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.limit:
            fut = self._waiters.popleft()
            if not fut.done():
                self.in_flight += 1
                fut.set_result(None)

    # ------------------------------------------------------------------ learning

    def _learn(self, h: Mapping[str, str], now: float) -> None:
        for names in _HEADER_STYLES:
            lim_r, rem_r, reset_r, lim_t, rem_t, reset_t = names
            if lim_r not in h and lim_t not in h:
                continue
            limit_r, limit_t = _int(h, lim_r), _int(h, lim_t)
            if (limit_r and limit_r != self.learned_rpm) or (limit_t and limit_t != self.learned_tpm):
                self.learned_rpm = float(limit_r) if limit_r else self.learned_rpm
                self.learned_tpm = float(limit_t) if limit_t else self.learned_tpm
                self._repace()
            for remaining, reset in ((rem_r, reset_r), (rem_t, reset_t)):
                if _int(h, remaining) == 0:
                    wait = parse_reset(h.get(reset))
                    if wait:
                        self.paused_until = max(self.paused_until, now + wait)
            self._end_probe()
            return


# (limit, remaining, reset) for requests, then tokens, in each provider family's header names
_HEADER_STYLES = (
    ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
     "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"),
    ("anthropic-ratelimit-requests-limit", "anthropic-ratelimit-requests-remaining",
     "anthropic-ratelimit-requests-reset", "anthropic-ratelimit-tokens-limit",
     "anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-reset"),
)  # fmt: skip


_lanes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, Lane]] = weakref.WeakKeyDictionary()


def get_lane(key: Hashable) -> Lane:
    """The lane for ``key`` on the running event loop, created on first use."""
    loop = asyncio.get_running_loop()
    table = _lanes.get(loop)
    if table is None:
        table = _lanes[loop] = {}
    lane = table.get(key)
    if lane is None:
        lane = table[key] = Lane(key)
    return lane


def reset() -> None:
    """Forget every lane and what it learned (tests; or after changing accounts)."""
    _lanes.clear()
