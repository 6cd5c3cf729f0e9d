"""The throughput engine end to end: iteration, deadline, hedging, streaming races, progress, rate limits."""

import asyncio
import itertools
import time

import pytest

import volley
from volley.engine.race import RaceStats, first_success

KEY = "sk-test-key-0123456789"
Q = [{"role": "user", "content": "which is fastest"}]


def kw(fake, **extra):
    return {"api_base": fake.openai_base, "api_key": KEY, **extra}


def pair(fake, first, second):
    return [
        {"model": f"openai/{first}", "api_base": fake.openai_base},
        {"model": f"groq/{second}", "api_base": fake.openai_base},
    ]


def prompts(n):
    return ([{"role": "user", "content": f"prompt {i}"}] for i in range(n))


def test_iter_yields_as_completed_and_reads_lazily(fake):
    fake.script("m", latency=0.02)
    pulled = 0

    def source():
        nonlocal pulled
        for i in itertools.count():
            pulled += 1
            yield [{"role": "user", "content": f"prompt {i}"}]

    it = volley.iter_batch_completion("openai/m", source(), max_workers=5, **kw(fake, rpm=1e6))
    got = [next(it) for _ in range(20)]
    it.close()
    assert len({i for i, _ in got}) == 20  # no index twice
    for i, r in got:
        assert r.choices[0].message.content == f"echo: prompt {i}"
    # an endless input: only what was needed, what was in flight, and what the input thread reads ahead
    from volley.api import READ_AHEAD

    time.sleep(0.2)  # let the reader thread fill its buffer: it must stop there
    assert 20 <= pulled <= 20 + 5 + 2 * READ_AHEAD + 1


def test_long_prompts_are_read_ahead_by_size_not_only_by_count(fake, monkeypatch):
    from volley import api

    monkeypatch.setattr(api, "READ_AHEAD_TEXT", 1_000_000)  # characters of prompt text ahead (x2 at most)
    fake.script("m", latency=0.05)
    pulled = 0
    big = "x" * 100_000

    def source():
        nonlocal pulled
        for _ in itertools.count():
            pulled += 1
            yield [{"role": "user", "content": big}]

    it = volley.iter_batch_completion("openai/m", source(), max_workers=2, **kw(fake, rpm=1e6))
    next(it)
    time.sleep(0.3)  # the reader thread fills what it may, then waits
    held = pulled
    it.close()
    # 2 in flight + the engine's own read-ahead (max_workers) + about 2 x 10 prompts: far below the count bound
    assert held <= 2 + 2 + 2 * 10 + 3, held


def test_iter_puts_a_bad_item_in_its_slot(fake):
    items = [[{"role": "user", "content": "ok"}], [{"role": "user", "content": 42}], [{"role": "user", "content": "x"}]]
    got = dict(volley.iter_batch_completion("openai/m", iter(items), **kw(fake)))
    assert isinstance(got[1], volley.InvalidRequestError) and "content" in str(got[1])
    assert got[0].choices[0].message.content == "echo: ok" and got[2].choices[0].message.content == "echo: x"
    assert len(fake.requests) == 2


def test_iter_checks_the_setup_before_sending(fake, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(volley.AuthenticationError, match="ANTHROPIC_API_KEY"):
        volley.iter_batch_completion("anthropic/claude-x", prompts(3), api_base=fake.url)
    with pytest.raises(volley.BadRequestError, match="unknown provider"):
        volley.batch_completion("nosuch/m", [Q])
    assert fake.requests == []


def test_deadline_times_out_the_rest_and_loses_nothing(fake):
    fake.script("fast", latency=0.0)
    fake.script("m", latency=5.0)
    t0 = time.perf_counter()
    out = volley.batch_completion("openai/m", list(prompts(6)), deadline=0.3, **kw(fake, rpm=1e6))
    assert time.perf_counter() - t0 < 2
    assert len(out) == 6 and all(isinstance(r, volley.Timeout) for r in out)
    assert "deadline" in str(out[0])


def test_on_result_and_progress(fake, capsys):
    fake.script("m", failures=[404])
    seen = []
    out = volley.batch_completion(
        "openai/m", list(prompts(8)), num_retries=0, progress=True, on_result=lambda i, r: seen.append(i), **kw(fake)
    )
    assert sorted(seen) == list(range(8))
    assert sum(isinstance(r, volley.NotFoundError) for r in out) == 1
    err = capsys.readouterr().err
    assert "done 7" in err and "failed 1" in err


def test_hedging_saves_calls_when_the_first_model_is_fast(fake):
    fake.script("first", latency=0.05)
    fake.script("second", latency=0.05)
    models = pair(fake, "first", "second")
    r = volley.batch_completion_models(models, Q, api_key=KEY, hedge_after=0.5)
    assert r.model == "first"
    assert [q.model for q in fake.requests] == ["first"]  # the second model was never called


def test_hedging_starts_the_next_model_when_the_first_is_slow(fake):
    fake.script("slow", latency=2.0)
    fake.script("backup", latency=0.05)
    models = pair(fake, "slow", "backup")
    t0 = time.perf_counter()
    r = volley.batch_completion_models(models, Q, api_key=KEY, hedge_after=0.1)
    assert r.model == "backup" and time.perf_counter() - t0 < 0.5


def test_hedging_moves_on_at_once_when_a_model_fails(fake):
    fake.script("broken", failures=[500])
    fake.script("backup", latency=0.0)
    models = pair(fake, "broken", "backup")
    t0 = time.perf_counter()
    r = volley.batch_completion_models(models, Q, api_key=KEY, hedge_after=5, num_retries=0)
    assert r.model == "backup" and time.perf_counter() - t0 < 1


async def test_race_stats_count_saved_calls():
    async def quick():
        return "a"

    async def never():
        raise AssertionError("should not start")

    stats = RaceStats()
    assert await first_success([("a", quick), ("b", never), ("c", never)], hedge_after=1.0, stats=stats) == (0, "a")
    assert stats.started == 1 and stats.saved == 2


def test_streaming_race_returns_the_first_to_produce_a_token(fake):
    fake.script("slow-start", latency=0.5)
    fake.script("quick-start", latency=0.02, chunk_delay=0.01)
    models = [
        {"model": "openai/slow-start", "api_base": fake.openai_base},
        {"model": "anthropic/quick-start", "api_base": fake.url},
    ]
    t0 = time.perf_counter()
    stream = volley.batch_completion_models(models, Q, api_key=KEY, stream=True)
    first_token_s = time.perf_counter() - t0
    chunks = list(stream)
    full = volley.stream_chunk_builder(chunks)
    assert full.choices[0].message.content == "echo: which is fastest"
    assert chunks[0].provider == "anthropic" and first_token_s < 0.4
    deadline = time.monotonic() + 2
    while fake.disconnects < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.disconnects == 1  # the slow model's connection was closed


def test_given_rpm_stays_under_the_server_limit(fake):
    # the server allows 5 requests per 0.5 s window (600 RPM); told rpm=600, volley paces instead of bursting
    fake.script("m", rpm=600, window=0.5)
    t0 = time.perf_counter()
    out = volley.batch_completion("openai/m", list(prompts(12)), rpm=600, num_retries=0, **kw(fake))
    took = time.perf_counter() - t0
    assert all(isinstance(r, volley.ModelResponse) for r in out), [type(r).__name__ for r in out]
    assert took >= 1.0  # 12 requests at 10/s cannot finish sooner


def test_429_storm_recovers_with_retries(fake):
    fake.script("m", failures=[429] * 6, retry_after=0.1)
    out = volley.batch_completion(
        "openai/m", list(prompts(6)), num_retries=4, retry_delay=0.01, max_workers=6, **kw(fake, rpm=1e6)
    )
    assert all(isinstance(r, volley.ModelResponse) for r in out)


async def test_async_iter_close_cancels_in_flight(fake):
    fake.script("m", latency=3.0)
    agen = volley.abatch_completion_iter("openai/m", prompts(4), **kw(fake, rpm=1e6))
    task = asyncio.ensure_future(agen.__anext__())
    for _ in range(100):
        await asyncio.sleep(0.01)
        if fake.in_flight == 4:
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await agen.aclose()
    for _ in range(100):
        if fake.disconnects == 4:
            break
        await asyncio.sleep(0.01)
    assert fake.disconnects == 4
