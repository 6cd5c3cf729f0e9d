"""The seed's three calls end to end against the fake server."""

import asyncio
import time

import pytest

import volley
from volley.engine import limits

KEY = "sk-test-key-0123456789"
Q = [{"role": "user", "content": "Hey, how's it going"}]


def prompts(n):
    return [[{"role": "user", "content": f"prompt {i}"}] for i in range(n)]


def models_at(fake, *specs):
    """Per-model override dicts for models of different providers, each scripted with a latency."""
    out = []
    for provider, name, latency, failures in specs:
        fake.script(name, latency=latency, **({"failures": failures} if failures else {}))
        base = fake.openai_base if provider in ("openai", "groq") else fake.url
        out.append({"model": f"{provider}/{name}", "api_base": base})
    return out


def test_batch_keeps_order_and_puts_errors_in_their_slots(fake):
    fake.script("m", latency=(0.0, 0.03), seed=7)
    fake.script("m-bad", failures=[400])
    msgs = prompts(40)
    out = volley.batch_completion("openai/m", msgs, api_base=fake.openai_base, api_key=KEY, num_retries=0)
    assert [r.choices[0].message.content for r in out] == [f"echo: prompt {i}" for i in range(40)]

    fake.script("m", failures=[404])  # the first request to arrive fails
    out = volley.batch_completion("openai/m", msgs, api_base=fake.openai_base, api_key=KEY, num_retries=0)
    errors = [i for i, r in enumerate(out) if isinstance(r, Exception)]
    assert len(errors) == 1 and isinstance(out[errors[0]], volley.NotFoundError)
    for i, r in enumerate(out):
        if i not in errors:
            assert r.choices[0].message.content == f"echo: prompt {i}"


def test_batch_bounds_requests_in_flight(fake):
    fake.script("m", latency=0.05)
    out = volley.batch_completion("openai/m", prompts(30), max_workers=5, api_base=fake.openai_base, api_key=KEY)
    assert all(isinstance(r, volley.ModelResponse) for r in out)
    assert fake.max_in_flight == 5


def test_batch_retries_per_item(fake):
    fake.script("m", failures=[500, "drop", 503, 429])
    out = volley.batch_completion(
        "openai/m", prompts(10), api_base=fake.openai_base, api_key=KEY, num_retries=2, retry_delay=0.01
    )
    assert all(isinstance(r, volley.ModelResponse) for r in out)
    assert len(fake.requests) == 14


def test_batch_mixed_providers_via_mock_needs_no_network():
    out = volley.batch_completion("claude-3-5-haiku-latest", prompts(3), mock_response="hi")
    assert [r.choices[0].message.content for r in out] == ["hi"] * 3


def test_batch_empty():
    assert volley.batch_completion("gpt-4o", [], mock_response="x") == []


def test_race_returns_the_fastest_and_closes_the_losers(fake):
    models = models_at(
        fake, ("openai", "gpt-slow", 1.0, None), ("anthropic", "claude-fast", 0.05, None),
        ("cohere", "command-mid", 0.3, None),
    )  # fmt: skip
    volley.completion("openai/warmup", Q, api_base=fake.openai_base, api_key=KEY)  # open the pool first
    fake.reset()
    models_at(fake, ("openai", "gpt-slow", 1.0, None), ("anthropic", "claude-fast", 0.05, None),
              ("cohere", "command-mid", 0.3, None))  # fmt: skip
    t0 = time.perf_counter()
    r = volley.batch_completion_models(models=models, messages=Q, api_key=KEY)
    took = time.perf_counter() - t0
    assert r.model == "claude-fast" and r.provider == "anthropic"
    assert took < 0.25, took  # the fastest answers at 50 ms; the next would have taken 300 ms
    deadline = time.monotonic() + 2
    while fake.disconnects < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.disconnects == 2  # both losers' connections were closed, not left to finish
    assert fake.in_flight == 0


def test_a_model_that_fails_fast_does_not_win(fake):
    models = models_at(fake, ("openai", "gpt-broken", 0.0, [500]), ("gemini", "gemini-ok", 0.1, None))
    r = volley.batch_completion_models(models=models, messages=Q, api_key=KEY, num_retries=0)
    assert r.model == "gemini-ok"


def test_race_all_fail_raises_one_error_with_each(fake):
    models = models_at(
        fake,
        ("openai", "gpt-a", 0.0, [500]),
        ("anthropic", "claude-b", 0.0, [401]),
        ("cohere", "command-c", 0.0, [404]),
    )
    with pytest.raises(volley.AllModelsFailedError) as ei:
        volley.batch_completion_models(models=models, messages=Q, api_key=KEY, num_retries=0)
    errs = ei.value.exceptions
    assert isinstance(errs["openai/gpt-a"], volley.InternalServerError)
    assert isinstance(errs["anthropic/claude-b"], volley.AuthenticationError)
    assert isinstance(errs["cohere/command-c"], volley.NotFoundError)


def test_all_responses_in_models_order(fake):
    models = models_at(
        fake,
        ("openai", "gpt-a", 0.2, None),
        ("anthropic", "claude-b", 0.0, [500]),
        ("cohere", "command-c", 0.05, None),
        ("gemini", "gemini-d", 0.1, None),
    )
    rs = volley.batch_completion_models_all_responses(models=models, messages=Q, api_key=KEY, num_retries=0)
    assert [r.model for r in rs] == ["gpt-a", "command-c", "gemini-d"]  # the failed one is left out
    fake.script("claude-b", failures=[500])
    rs = volley.batch_completion_models_all_responses(
        models=models, messages=Q, api_key=KEY, num_retries=0, return_exceptions=True
    )
    assert isinstance(rs[1], volley.InternalServerError)
    assert [r.model if isinstance(r, volley.ModelResponse) else None for r in rs] == [
        "gpt-a",
        None,
        "command-c",
        "gemini-d",
    ]


def test_per_model_keys(fake):
    models = [
        {"model": "openai/gpt-a", "api_base": fake.openai_base, "api_key": "key-a"},
        {"model": "groq/llama-b", "api_base": fake.openai_base, "api_key": "key-b"},
    ]
    volley.batch_completion_models_all_responses(models=models, messages=Q)
    auth = sorted(r.headers["authorization"] for r in fake.requests)
    assert auth == ["Bearer key-a", "Bearer key-b"]


async def test_async_twins(fake):
    out = await volley.abatch_completion("openai/m", prompts(5), api_base=fake.openai_base, api_key=KEY)
    assert [r.choices[0].message.content for r in out] == [f"echo: prompt {i}" for i in range(5)]
    models = models_at(fake, ("openai", "gpt-a", 0.2, None), ("cohere", "command-b", 0.0, None))
    r = await volley.abatch_completion_models(models=models, messages=Q, api_key=KEY)
    assert r.model == "command-b"
    rs = await volley.abatch_completion_models_all_responses(models=models, messages=Q, api_key=KEY)
    assert [x.model for x in rs] == ["gpt-a", "command-b"]


async def test_cancelling_a_batch_cancels_its_requests(fake):
    fake.script("m", latency=5.0)
    task = asyncio.ensure_future(
        volley.abatch_completion("openai/m", prompts(6), api_base=fake.openai_base, api_key=KEY, rpm=6000)
    )
    for _ in range(200):
        await asyncio.sleep(0.01)
        if fake.in_flight == 6:
            break
    assert fake.in_flight == 6
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(200):
        if fake.disconnects == 6:
            break
        await asyncio.sleep(0.01)
    assert fake.disconnects == 6


async def test_a_new_lane_probes_before_opening_up(fake):
    fake.script("m", latency=0.6)
    task = asyncio.ensure_future(
        volley.abatch_completion("openai/m", prompts(12), api_base=fake.openai_base, api_key=KEY, max_workers=10)
    )
    await asyncio.sleep(0.3)
    assert fake.in_flight == limits.PROBE  # no answer yet: only the probes are out
    await asyncio.sleep(0.6)
    assert fake.in_flight == 8  # the first answers arrived: the lane opened up to max_workers
    out = await task
    assert all(isinstance(r, volley.ModelResponse) for r in out)


def test_bad_item_in_batch_sends_nothing(fake):
    msgs = [*prompts(3), [{"role": "robot", "content": "x"}]]
    with pytest.raises(volley.InvalidRequestError, match=r"role"):
        volley.batch_completion("openai/m", msgs, api_base=fake.openai_base, api_key=KEY)
    with pytest.raises(volley.InvalidRequestError, match="max_workers"):
        volley.batch_completion("openai/m", prompts(2), max_workers=0, api_base=fake.openai_base, api_key=KEY)
    assert fake.requests == []
