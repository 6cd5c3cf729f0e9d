import asyncio
import random

import pytest

from volley.engine.race import first_success
from volley.engine.retry import RetryPolicy, retrying
from volley.engine.run import run
from volley.errors import AllModelsFailedError, BadRequestError, InternalServerError, RateLimitError


async def test_run_bounds_concurrency_and_keeps_every_result():
    in_flight = peak = 0

    def job(i):
        async def go():
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(random.random() / 200)
            in_flight -= 1
            if i % 7 == 0:
                raise ValueError(f"item {i}")
            return i * 2

        return go

    got = {}
    async for i, r in run(((i, job(i)) for i in range(100)), concurrency=8):
        got[i] = r
    assert peak == 8
    assert sorted(got) == list(range(100))
    for i, r in got.items():
        if i % 7 == 0:
            assert isinstance(r, ValueError) and str(r) == f"item {i}"
        else:
            assert r == i * 2


async def test_run_reads_input_lazily():
    pulled = 0

    def source():
        nonlocal pulled
        for i in range(1000):
            pulled += 1
            yield i, (lambda i=i: asyncio.sleep(0, result=i))

    agen = run(source(), concurrency=4)
    first = await agen.__anext__()
    assert first[0] in range(5)
    assert pulled <= 8  # only what the workers took, not the whole input
    await agen.aclose()


async def test_closing_run_cancels_in_flight_jobs():
    cancelled = 0

    async def slow():
        nonlocal cancelled
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled += 1
            raise

    async def fast():
        return "fast"

    jobs = [(0, fast), (1, slow), (2, slow)]
    agen = run(iter(jobs), concurrency=3)
    assert await agen.__anext__() == (0, "fast")
    await agen.aclose()
    assert cancelled == 2


async def test_race_returns_first_success_and_cancels_the_rest():
    cancelled = []

    def delayed(name, delay, fail=False):
        async def go():
            try:
                await asyncio.sleep(delay)
            except asyncio.CancelledError:
                cancelled.append(name)
                raise
            if fail:
                raise InternalServerError("boom")
            return name

        return go

    jobs = [("slow", delayed("slow", 1.0)), ("fails-fast", delayed("ff", 0.0, True)), ("mid", delayed("mid", 0.05))]
    pos, result = await first_success(jobs)
    assert (pos, result) == (2, "mid")
    assert cancelled == ["slow"]


async def test_race_all_fail_carries_each_error():
    async def bad():
        raise BadRequestError("nope")

    async def worse():
        raise InternalServerError("down")

    with pytest.raises(AllModelsFailedError) as ei:
        await first_success([("a", bad), ("b", worse), ("a", bad)])
    errs = ei.value.exceptions
    assert set(errs) == {"a#0", "b", "a#2"}
    assert isinstance(errs["b"], InternalServerError)
    assert "down" in str(ei.value) and "nope" in str(ei.value)


async def test_retrying_retries_only_retryable_errors():
    calls = 0

    async def flaky():
        nonlocal calls
        calls += 1
        if calls < 3:
            raise InternalServerError("transient")
        return "ok"

    seen = []
    assert await retrying(flaky, RetryPolicy(3, base_delay=0.001), lambda e, a, w: seen.append(a)) == "ok"
    assert calls == 3 and seen == [0, 1]

    calls = 0

    async def bad():
        nonlocal calls
        calls += 1
        raise BadRequestError("no")

    with pytest.raises(BadRequestError):
        await retrying(bad, RetryPolicy(5, base_delay=0.001))
    assert calls == 1


async def test_retrying_gives_up_after_num_retries():
    calls = 0

    async def down():
        nonlocal calls
        calls += 1
        raise InternalServerError("down")

    with pytest.raises(InternalServerError):
        await retrying(down, RetryPolicy(2, base_delay=0.001))
    assert calls == 3


def test_backoff_is_full_jitter_and_honours_retry_after():
    p = RetryPolicy(5, base_delay=1.0, max_delay=4.0)
    rng = random.Random(1)
    waits = [p.delay(InternalServerError("x"), k, rng) for k in range(6) for _ in range(50)]
    assert all(0 <= w <= 4.0 for w in waits)
    assert max(waits[:50]) <= 1.0
    assert p.delay(RateLimitError("slow down", retry_after=2.5), 0) == 2.5
    assert p.delay(RateLimitError("slow down", retry_after=1e6), 0) == p.max_retry_after


async def test_a_slow_consumer_holds_the_workers_back():
    from volley.engine.run import run_chunks

    started = 0

    def job(i):
        async def go():
            nonlocal started
            started += 1
            return i

        return go

    agen = run_chunks(((i, job(i)) for i in range(10_000)), concurrency=4)
    got = []
    for _ in range(5):
        got += await agen.__anext__()
        await asyncio.sleep(0.01)  # the consumer is slow
    await agen.aclose()
    assert started <= len(got) + 2 * 4 + 1  # at most a queue's worth and the workers' jobs ahead
    assert len({i for i, _ in got}) == len(got)


async def test_workers_start_lazily_for_a_few_items():
    most = 0

    def job(i):
        async def go():
            nonlocal most
            most = max(most, len(asyncio.all_tasks()))
            await asyncio.sleep(0.01)
            return i

        return go

    got = [r async for _, r in run(((i, job(i)) for i in range(3)), concurrency=10**6)]
    assert sorted(got) == [0, 1, 2]
    assert most <= 3 + 2  # the test's own task, and one worker per item (plus one that finds the end)
