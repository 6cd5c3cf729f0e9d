"""Per-lane limits: concurrency (AIMD), requests and tokens per minute (smooth pacing), learned from headers.

A *lane* is one ``(provider, api_base, model)``; every call in the process that goes to the same
lane shares its limits (one lane table per event loop; all sync calls share the private loop).

- Concurrency: at most ``min(max_workers, cwnd)`` attempts in flight. ``cwnd`` halves on a 429 (once
  per burst: not again for the 429s that arrive while the lane is paused, as the first one paused it)
  and grows back by ``1/cwnd`` per success (AIMD); the pace slows likewise, x0.9 per burst. Until the
  lane's first answer arrives, and unless the caller gave ``rpm``/``tpm``, only a few probe requests
  go out, not ``max_workers`` blind. What a lane
  learned (that it answered without a 429, the limits read from headers) is remembered in the process
  and, for a day, on disk (:mod:`volley.engine.lane_memory`): the same lane on another event loop or in
  the next process opens at once; after a 429 it probes again.
- Pacing: a GCRA pacer per limit spaces requests ``60/rpm`` seconds apart, and tokens at ``tpm/60``
  per second, instead of letting a minute's budget go out in one burst.
- Learning: the limits a host reads from its responses (a neutral ``RateInfo``: the engine knows
  no header names) set the pace when the caller gave none; a used-up budget (``remaining == 0``)
  pauses the lane until its reset.
- A 429 pauses the whole lane for the server's ``retry-after`` (or one second) and slows it down.
- Server hints are capped (``errors.MAX_SERVER_WAIT``): a pause, and the pacing one request costs
  under a learned limit, last at most that long. A call never waits out a pause longer than its own
  ``timeout`` or the batch deadline: it fails at once with a ``RateLimitError`` that says so (and
  carries the pause as ``retry_after``, so ``num_retries`` decides whether it waits visibly). It
  waits for a learned pace at most its timeout (then sends), for the caller's own ``rpm``/``tpm``
  as long as the pace needs, unless that runs past the batch deadline.
- A ``QuotaExceededError`` (quota or credit used up) makes the lane refuse calls at once for
  ``MAX_SERVER_WAIT`` seconds instead of sending each one to be refused.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Protocol

from .._loops import PerLoop
from ..errors import MAX_SERVER_WAIT, QuotaExceededError, RateLimitError, server_wait
from . import lane_memory
from .run import deadline_left

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

#: Pace at this share of a limit (given or learned): a server counts arrivals in windows that start
#: when *its* clock saw the first request, so exact pacing would land some requests on a window edge.
SAFETY = 0.97
#: Attempts allowed in flight while a lane has not seen its first answer.
PROBE = 4
#: Pause after a 429 that gave no retry-after.
DEFAULT_PAUSE = 1.0


@dataclass(frozen=True, slots=True)
class RateInfo:
    """What a response said about the account's rate limits, in neutral terms (seconds, counts).

    A host reads it from its response headers (``Provider.rate_info``); lanes learn from it and
    know no header names.
    """

    limit_requests: float | None = None  # per minute
    limit_tokens: float | None = None  # per minute
    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    reset_requests: float | None = None  # seconds until the request budget refills
    reset_tokens: float | None = None

    @property
    def pause(self) -> float | None:
        """Seconds to hold off when a budget is used up (``remaining == 0``), else None."""
        waits = [
            reset
            for remaining, reset in ((self.remaining_requests, self.reset_requests),
                                     (self.remaining_tokens, self.reset_tokens))
            if remaining == 0 and reset
        ]  # fmt: skip
        return max(waits) if waits else None


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
        """Correct the schedule once the real cost is known (positive: it cost more than reserved).

        A correction moves the schedule by at most ``MAX_SERVER_WAIT`` seconds (the real cost comes
        from the server's usage report: a wild one must not stop the lane).
        """
        shift = delta_cost / self.rate
        if math.isfinite(shift):
            self._tat += min(max(shift, -MAX_SERVER_WAIT), MAX_SERVER_WAIT)


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
        self._limited_until = 0.0  # end of the latest pause a 429 imposed
        self.quota_until = 0.0  # refuse calls until then: the account's quota ran out
        self.quota_message = ""
        self.rate_limited = 0  # 429s seen
        self.slowdown = 1.0  # share of the pace kept after 429s (x0.9 each), recovering with successes
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._req_pacer: Pacer | None = None
        self._tok_pacer: Pacer | None = None
        self._opened = False  # opened from the process's memory: follow max_workers until a 429
        known = None if key is None else _memory.get(key) or lane_memory.recall(key)
        if known is not None:
            opened, self.learned_rpm, self.learned_tpm = known
            if opened:
                self.probing, self._opened = False, True
                self.cwnd = float(self.max_workers)
            self._repace()

    # ------------------------------------------------------------------ configuration

    def configure(self, *, max_workers: int | None = None, rpm: float | None = None, tpm: float | None = None) -> None:
        """Apply the caller's limits (None leaves a setting as it is; the same values again change nothing)."""
        if max_workers is not None and max_workers != self.max_workers:
            self.max_workers = max_workers
            if self._opened or (not self.probing and not self.rate_limited):  # no 429 yet: the new bound at once
                self.cwnd = float(max_workers)
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

    def _remember(self, opened: bool) -> None:
        if self.key is not None:
            known = (opened, self.learned_rpm, self.learned_tpm)
            if _memory.get(self.key) != known:
                _memory[self.key] = known
                lane_memory.store(self.key, known)  # the next process opens at once too

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

    def try_acquire(self, tokens: float = 0.0) -> bool:
        """Take a slot at once when nothing would make :meth:`acquire` wait or refuse (a free slot, no
        queue, pause, pacer or used-up quota): True if taken; else False, and nothing changed."""
        if (
            self.in_flight < self.limit
            and not self._waiters
            and self._req_pacer is None
            and (self._tok_pacer is None or not tokens)
        ):
            now = self._clock()
            if self.paused_until <= now and self.quota_until <= now:
                self.in_flight += 1
                return True
        return False

    async def acquire(self, tokens: float = 0.0, *, patience: float | None = None) -> None:
        """Wait for a concurrency slot, any pause, and the pacers; then the caller may send.

        ``patience`` (the call's timeout) bounds the wait for a server-imposed pause, and the batch
        deadline (``engine.run``) bounds it and the pacers: a longer wait raises ``RateLimitError``
        at once, with the wait as ``retry_after``. A pace learned from headers is waited for at most
        ``patience``. Waiting for a slot behind the lane's other calls, or for the caller's own
        ``rpm``/``tpm`` pace, is queueing and does not count against ``patience``.
        """
        self.check_quota()
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
            give_up = None if patience is None else self._clock() + patience
            held: int | None = None  # a turn kept through a used-up budget's pause (the 429s seen then)
            while True:
                self.check_quota()
                wait = self.paused_until - self._clock()
                if wait > 0:
                    self._check_wait(wait, give_up, "pause")
                    await self._sleep(wait)
                    continue
                if held is not None and held == self.rate_limited:
                    break
                delay = self._reserve(tokens, give_up)
                if delay > 0:
                    await self._sleep(delay)
                if self.paused_until <= self._clock():
                    break
                # A pause began while this request waited for its turn: wait it out. After a 429's pause
                # it takes a new turn (the pace was too fast); after a used-up budget's (remaining 0 until
                # the reset) it keeps its turn and goes at the reset: a new turn would waste this one.
                held = self.rate_limited if self._limited_until < self.paused_until else None
        except BaseException:
            self._release_slot()
            raise

    def _reserve(self, tokens: float, give_up: float | None) -> float:
        """Take this request's turn in the pacers; return how long to wait for it.

        A pace the caller gave (rpm=, tpm=) is waited out in full, unless that runs past the batch
        deadline. A pace learned from headers is only a server hint: it costs one request at most
        ``MAX_SERVER_WAIT`` of the schedule, and the call waits for it at most that long and never
        past its own timeout (``give_up``); sending early at worst brings a 429, which pauses the lane.
        """
        turns = []
        if self._req_pacer is not None:
            turns.append((self._req_pacer, 1.0, self.rpm is None))
        if self._tok_pacer is not None and tokens:
            turns.append((self._tok_pacer, tokens, self.tpm is None))
        given = learned = 0.0
        taken = []
        for pacer, cost, is_learned in turns:
            if is_learned:
                cost = min(cost, pacer.rate * MAX_SERVER_WAIT)
                learned = max(learned, pacer.reserve(cost))
            else:
                given = max(given, pacer.reserve(cost))
            taken.append((pacer, cost))
        if learned > 0:
            left = MAX_SERVER_WAIT if give_up is None else max(give_up - self._clock(), 0.0)
            learned = min(learned, MAX_SERVER_WAIT, left)
        delay = max(given, learned)
        if delay > 0:
            try:
                self._check_wait(delay, None, "pace")
            except RateLimitError:
                for pacer, cost in taken:
                    pacer.adjust(-cost)  # give the turn back: this request is not sent now
                raise
        return delay

    def _check_wait(self, wait: float, give_up: float | None, what: str) -> None:
        """Raise ``RateLimitError`` now if ``wait`` seconds run past this call's timeout or the batch deadline."""
        left = deadline_left()
        limit, reason = None, ""
        if give_up is not None:
            limit, reason = give_up - self._clock(), "its timeout"
        if left is not None and (limit is None or left < limit):
            limit, reason = left, "the batch deadline"
        if limit is None or wait <= limit:
            return
        cause = "the server's rate limit paused this lane" if what == "pause" else "the rate limit's pace"
        raise RateLimitError(
            f"not sent: {cause} for {wait:.1f} s more, longer than this call may wait ({reason}, "
            f"{max(limit, 0.0):.1f} s left)",
            retry_after=wait,
        )

    def check_quota(self) -> None:
        """Raise ``QuotaExceededError`` while an earlier call found the account's quota used up."""
        if self.quota_until > self._clock():
            raise QuotaExceededError(
                f"not sent: an earlier call on this lane found the quota used up ({self.quota_message}); "
                f"volley tries the lane again {MAX_SERVER_WAIT:.0f} s after that answer"
            )

    def release(
        self,
        *,
        ok: bool,
        rate: RateInfo | None = None,
        tokens_reserved: float = 0.0,
        tokens_used: float | None = None,
        rate_limited: bool = False,
        retry_after: float | None = None,
        quota_exhausted: str | None = None,
    ) -> None:
        """Return the slot and learn from the outcome of the attempt.

        ``quota_exhausted`` (the error's message) makes the lane refuse calls for ``MAX_SERVER_WAIT``.
        """
        now = self._clock()
        if quota_exhausted is not None:
            self.quota_until = now + MAX_SERVER_WAIT
            self.quota_message = quota_exhausted[:300]
        if rate is not None:
            self._learn(rate, now)
        if tokens_used is not None and self._tok_pacer is not None:
            self._tok_pacer.adjust(tokens_used - tokens_reserved)
        if rate_limited:
            self.rate_limited += 1
            self._remember(False)  # the next fresh lane probes again
            self._opened = False
            self.probing = False
            if now >= self.paused_until:  # once per burst: a 429 answered while the lane is paused was
                self.cwnd = max(1.0, self.limit / 2.0)  # sent before the pause began, and cuts nothing more
                self.slowdown = max(0.1, self.slowdown * 0.9)  # the pace was too fast for this server
            hint = server_wait(retry_after)
            pause = hint if hint is not None else DEFAULT_PAUSE
            self.paused_until = max(self.paused_until, now + pause)
            self._limited_until = self.paused_until
            self._repace()
        elif ok:
            if self.probing:
                self._end_probe()
                if not self.rate_limited:
                    self._remember(True)
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

    def _learn(self, rate: RateInfo, now: float) -> None:
        """Pace by the limits the server reported, and pause while a reported budget is used up."""
        limit_r, limit_t = rate.limit_requests, rate.limit_tokens
        if (limit_r and limit_r != self.learned_rpm) or (limit_t and limit_t != self.learned_tpm):
            self.learned_rpm = float(limit_r) if limit_r else self.learned_rpm
            self.learned_tpm = float(limit_t) if limit_t else self.learned_tpm
            self._repace()
        wait = server_wait(rate.pause)
        if wait:
            self.paused_until = max(self.paused_until, now + wait)
        if limit_r or limit_t or rate.remaining_requests is not None or rate.remaining_tokens is not None:
            self._end_probe()
            self._remember(not self.rate_limited)


class LeasedLane(Protocol):
    """A lane whose turns are leases that ``release`` takes back, awaited: the limits a lane shares with
    other processes (``volley.shared.fallback.ResilientLane``). ``acquire`` and ``release`` take what
    :class:`Lane`'s do; ``send.Slot`` treats both alike."""

    def configure(
        self, *, max_workers: int | None = None, rpm: float | None = None, tpm: float | None = None
    ) -> None: ...

    async def acquire(self, tokens: float = 0.0, *, patience: float | None = None) -> Any: ...

    async def release(
        self,
        lease: Any,
        *,
        ok: bool,
        rate: RateInfo | None = None,
        tokens_reserved: float | None = None,
        tokens_used: float | None = None,
        rate_limited: bool = False,
        retry_after: float | None = None,
        quota_exhausted: str | None = None,
    ) -> None: ...


#: Where a call's lanes come from when they are not this process's own: lane key -> its leased lane.
LaneSource = Callable[[Hashable], LeasedLane]

_lanes: PerLoop[dict[Hashable, Lane]] = PerLoop()
#: What each lane learned, kept across event loops: (answered without a 429, learned rpm, learned tpm).
_memory: dict[Hashable, tuple[bool, float | None, float | None]] = {}


def get_lane(key: Hashable) -> Lane:
    """The lane for ``key`` on the running event loop, created on first use."""
    loop = asyncio.get_running_loop()
    table = _lanes.get(loop)
    if table is None:
        table = _lanes.set(loop, {})
    lane = table.get(key)
    if lane is None:
        lane = table[key] = Lane(key)
    return lane


def reset() -> None:
    """Forget every lane and what it learned (tests; or after changing accounts)."""
    _lanes.clear()
    _memory.clear()
    lane_memory.forget()
