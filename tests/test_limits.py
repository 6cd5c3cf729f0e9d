"""Lane policies, driven by a fake clock: no real sleeping."""

import asyncio

import pytest

from volley.engine.limits import PROBE, SAFETY, Lane, Pacer
from volley.engine.limits import reset as limits_reset
from volley.providers.ratelimits import anthropic_style, openai_style, parse_reset


class FakeClock:
    def __init__(self):
        self.now = 1000.0
        self.slept = []

    def __call__(self):
        return self.now

    async def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def test_pacer_spaces_requests_evenly():
    clock = FakeClock()
    p = Pacer(10.0, clock)  # 10 per second
    waits = [p.reserve() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    clock.now += 10  # idle time does not bank a burst
    assert p.reserve() == 0.0 and p.reserve() == pytest.approx(0.1)


def test_pacer_tokens_and_correction():
    clock = FakeClock()
    p = Pacer(100.0, clock)  # 100 tokens per second
    assert p.reserve(500) == 0.0
    assert p.reserve(100) == pytest.approx(5.0)
    p.adjust(-300)  # the first request used 300 tokens fewer than reserved
    assert p.reserve(100) == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("2.5", 2.5), (None, None), ("soon", None)],
)
def test_parse_reset(value, seconds):
    assert parse_reset(value) == (pytest.approx(seconds) if seconds is not None else None)


def test_parse_reset_rfc3339():
    assert parse_reset("2026-01-01T00:00:30Z", now_wall=1767225600.0) == pytest.approx(30.0)


async def test_probe_then_open_up():
    lane = Lane()
    lane.configure(max_workers=50)
    assert lane.limit == PROBE
    for _ in range(PROBE):
        await lane.acquire()
    blocked = asyncio.ensure_future(lane.acquire())
    await asyncio.sleep(0)
    assert not blocked.done()  # the fifth waits for the first answer
    lane.release(ok=True)
    await asyncio.sleep(0)
    assert blocked.done() and lane.limit == 50


async def test_given_rpm_skips_the_probe_and_paces():
    clock = FakeClock()
    lane = Lane(clock=clock, sleep=clock.sleep)
    lane.configure(max_workers=100, rpm=600)
    for _ in range(30):
        await lane.acquire()
    assert lane.in_flight == 30
    assert clock.now - 1000.0 == pytest.approx(2.9 / SAFETY)  # 30 requests at 10/s (less a margin)


async def test_429_halves_concurrency_and_pauses_the_lane():
    clock = FakeClock()
    lane = Lane(clock=clock, sleep=clock.sleep)
    lane.configure(max_workers=64, rpm=1e9)
    await lane.acquire()
    lane.release(ok=False, rate_limited=True, retry_after=2.0)
    assert lane.limit == 32 and lane.rate_limited == 1
    await lane.acquire()
    assert clock.now == pytest.approx(1002.0)  # waited out the retry-after
    lane.release(ok=True)
    assert lane.cwnd == pytest.approx(32 + 1 / 32)  # additive increase


async def test_a_burst_of_429s_halves_concurrency_once():
    # 64 attempts in flight all refused: one cut, as TCP cuts once per window (each 429 halving again
    # left the lane at 1 in flight, and 1/cwnd per success took thousands of answers to grow back)
    clock = FakeClock()
    lane = Lane(clock=clock, sleep=clock.sleep)
    lane.configure(max_workers=64, rpm=1e9)
    for _ in range(64):
        await lane.acquire()
    for _ in range(64):
        lane.release(ok=False, rate_limited=True, retry_after=2.0)
    assert lane.limit == 32 and lane.rate_limited == 64
    await lane.acquire()  # waits out the pause
    lane.release(ok=False, rate_limited=True, retry_after=2.0)  # refused again after it: a new burst
    assert lane.limit == 16


async def test_learns_openai_headers():
    clock = FakeClock()
    lane = Lane(clock=clock, sleep=clock.sleep)
    lane.configure(max_workers=100)
    await lane.acquire()
    lane.release(ok=True, rate=openai_style({
        "x-ratelimit-limit-requests": "600", "x-ratelimit-remaining-requests": "599",
        "x-ratelimit-reset-requests": "100ms", "x-ratelimit-limit-tokens": "60000",
        "x-ratelimit-remaining-tokens": "59000", "x-ratelimit-reset-tokens": "1s",
    }))  # fmt: skip
    assert lane.learned_rpm == 600 and lane.learned_tpm == 60000 and not lane.probing
    start = clock.now
    for _ in range(11):
        await lane.acquire()
    assert clock.now - start == pytest.approx(10 / (10 * SAFETY))


async def test_remaining_zero_pauses_until_reset():
    clock = FakeClock()
    lane = Lane(clock=clock, sleep=clock.sleep)
    await lane.acquire()
    lane.release(ok=True, rate=anthropic_style({
        "anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "3s",
    }))  # fmt: skip
    assert lane.learned_rpm == 50
    await lane.acquire()
    assert clock.now - 1000.0 >= 3.0


async def test_cancelled_waiter_does_not_leak_a_slot():
    lane = Lane()
    lane.configure(max_workers=1, rpm=1e9)
    await lane.acquire()
    waiter = asyncio.ensure_future(lane.acquire())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    lane.release(ok=True)
    assert lane.in_flight == 0
    await asyncio.wait_for(lane.acquire(), 1)
    assert lane.in_flight == 1


async def test_slowdown_after_429_survives_reconfiguring_with_the_same_limits():
    clock = FakeClock()
    lane = Lane(clock=clock, sleep=clock.sleep)
    lane.configure(max_workers=10, rpm=600)
    await lane.acquire()
    lane.release(ok=False, rate_limited=True, retry_after=0.0)
    slowed = lane._req_pacer.rate
    assert slowed == pytest.approx(10 * SAFETY * 0.9)
    lane.configure(max_workers=10, rpm=600)  # every item of a batch passes its limits again
    assert lane._req_pacer.rate == pytest.approx(slowed)
    for _ in range(5):  # successes win the pace back slowly
        await lane.acquire()
        lane.release(ok=True)
    assert slowed < lane._req_pacer.rate < 10 * SAFETY


async def test_a_pause_that_begins_while_waiting_for_the_pacer_is_honoured():
    clock = FakeClock()
    lane = Lane(clock=clock, sleep=clock.sleep)
    lane.configure(max_workers=10, rpm=60)  # one request a second (less the margin)
    await lane.acquire()
    waiter = asyncio.ensure_future(lane.acquire())  # reserves the next slot, ~1 s ahead
    await asyncio.sleep(0)
    lane.paused_until = clock.now + 30  # e.g. "remaining: 0, reset in 30 s" arrived meanwhile
    await waiter
    assert clock.now >= 1000.0 + 30


# ------------------------------------------------------------------ server hints never hold a call past its limits


async def test_a_pause_longer_than_the_calls_timeout_fails_at_once():
    from volley.errors import RateLimitError

    clock = FakeClock()
    lane = Lane(clock=clock, sleep=clock.sleep)
    lane.paused_until = clock.now + 30
    with pytest.raises(RateLimitError, match="its timeout") as ei:
        await lane.acquire(patience=5)
    assert ei.value.retry_after == pytest.approx(30) and clock.slept == [] and lane.in_flight == 0
    await lane.acquire(patience=60)  # a call that may wait that long waits it out
    assert clock.now == pytest.approx(1030)


async def test_a_pause_is_capped_whatever_the_server_says():
    from volley.errors import MAX_SERVER_WAIT

    clock = FakeClock()
    lane = Lane(clock=clock, sleep=clock.sleep)
    await lane.acquire()
    lane.release(ok=False, rate_limited=True, retry_after=float("inf"))
    assert lane.paused_until - clock.now == MAX_SERVER_WAIT
    await lane.acquire()
    lane.release(ok=True, rate=openai_style({"x-ratelimit-limit-requests": "10", "x-ratelimit-remaining-requests": "0",
                                   "x-ratelimit-reset-requests": "1000000h"}))  # fmt: skip
    assert lane.paused_until - clock.now == MAX_SERVER_WAIT


async def test_a_given_pace_past_the_batch_deadline_fails_at_once_and_gives_its_turn_back():
    from volley.engine.run import _deadline
    from volley.errors import RateLimitError

    lane = Lane()  # the real clock: the four take their turns at once
    lane.configure(max_workers=10, rpm=120)  # ~0.52 s apart: turns at 0, 0.52, 1.03, 1.55 s
    token = _deadline.set(asyncio.get_running_loop().time() + 1.3)
    try:
        waits = [asyncio.ensure_future(lane.acquire()) for _ in range(4)]
        outcomes = await asyncio.gather(*waits, return_exceptions=True)
    finally:
        _deadline.reset(token)
    assert [isinstance(o, RateLimitError) for o in outcomes] == [False, False, False, True]
    assert "the batch deadline" in str(outcomes[3]) and lane.in_flight == 3
    assert lane._req_pacer.reserve() < 0.8  # the refused call gave its turn back (else ~1.03 s)


async def test_a_learned_pace_waits_at_most_the_calls_timeout():
    clock = FakeClock()
    lane = Lane(clock=clock, sleep=clock.sleep)
    await lane.acquire()
    lane.release(ok=True, rate=openai_style({"x-ratelimit-limit-tokens": "1"}))  # "one token a minute"
    for _ in range(3):
        start = clock.now
        await lane.acquire(tokens=5000, patience=2)
        assert clock.now - start <= 2
        lane.release(ok=True, tokens_reserved=5000, tokens_used=10**15)  # and a wild usage report


async def test_an_exhausted_quota_refuses_calls_for_a_while():
    from volley.errors import MAX_SERVER_WAIT, QuotaExceededError

    clock = FakeClock()
    lane = Lane(clock=clock, sleep=clock.sleep)
    await lane.acquire()
    lane.release(ok=False, quota_exhausted="insufficient_quota")
    with pytest.raises(QuotaExceededError, match="insufficient_quota"):
        await lane.acquire()
    assert lane.in_flight == 0
    clock.now += MAX_SERVER_WAIT + 1
    await lane.acquire()  # then one call may find out whether the quota came back


def test_a_lane_that_answered_opens_at_once_on_the_next_loop_and_probes_again_after_a_429():
    from volley.engine.limits import get_lane

    async def first(ok: bool) -> None:
        lane = get_lane(("p", "base", "m"))
        lane.configure(max_workers=50)
        assert lane.limit == PROBE  # fresh in this process: probes
        await lane.acquire()
        lane.release(ok=ok, rate_limited=not ok, retry_after=0.0)

    async def limit() -> int:
        lane = get_lane(("p", "base", "m"))
        lane.configure(max_workers=30)
        return lane.limit

    asyncio.run(first(True))
    assert asyncio.run(limit()) == 30  # a new loop's lane remembers that this one answered
    assert asyncio.run(limit()) == 30

    async def limited() -> None:
        lane = get_lane(("p", "base", "m"))
        await lane.acquire()
        lane.release(ok=False, rate_limited=True, retry_after=0.0)

    asyncio.run(limited())
    assert asyncio.run(limit()) == PROBE  # after a 429 the next fresh lane probes again
    limits_reset()
    assert asyncio.run(limit()) == PROBE


def test_learned_limits_carry_over_to_the_next_loop():
    from volley.engine.limits import RateInfo, get_lane

    async def learn() -> None:
        lane = get_lane(("p", "b", "m2"))
        await lane.acquire()
        lane.release(ok=True, rate=RateInfo(limit_requests=600, remaining_requests=10))

    async def learned() -> tuple[float | None, bool]:
        lane = get_lane(("p", "b", "m2"))
        return lane.learned_rpm, lane.probing

    asyncio.run(learn())
    assert asyncio.run(learned()) == (600.0, False)


async def test_try_acquire_takes_only_a_turn_acquire_would_give_at_once():
    clock = FakeClock()
    lane = Lane(clock=clock, sleep=clock.sleep)
    lane.configure(max_workers=2)
    assert lane.try_acquire() and lane.in_flight == 1
    lane.release(ok=True)  # the probe's answer: the lane opens up to 2
    assert lane.try_acquire() and lane.try_acquire() and lane.in_flight == 2
    assert not lane.try_acquire() and lane.in_flight == 2  # full: acquire would queue
    lane.release(ok=True)
    lane.release(ok=True)
    lane.paused_until = clock.now + 5
    assert not lane.try_acquire() and lane.in_flight == 0  # paused: acquire waits (or refuses)
    lane.paused_until = 0.0
    lane.quota_until = clock.now + 5
    assert not lane.try_acquire()  # quota used up: acquire raises
    lane.quota_until = 0.0
    lane.configure(rpm=60)
    assert not lane.try_acquire()  # paced: acquire reserves a turn
    lane = Lane(clock=clock, sleep=clock.sleep)
    lane.configure(tpm=6000)
    assert lane.try_acquire(0.0) and not lane.try_acquire(10.0)  # a token pace counts only for tokens


async def test_a_lane_without_429s_follows_a_raised_max_workers_at_once():
    # a second batch in the same process with more workers (found by bench/paths.py --warm-lane:
    # the lane stayed at the first batch's 100 and grew by 1/cwnd per answer)
    lane = Lane()
    lane.configure(max_workers=100)
    await lane.acquire()
    lane.release(ok=True)  # the probe answered: open at 100
    assert lane.limit == 100
    lane.configure(max_workers=200)
    assert lane.limit == 200
    await lane.acquire()
    lane.release(ok=False, rate_limited=True, retry_after=0.0)  # a 429: halved, and then AIMD decides
    halved = lane.limit
    lane.configure(max_workers=300)
    assert lane.limit == halved < 200
