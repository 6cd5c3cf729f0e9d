"""Limits and cache shared through Redis, through volley's public calls (limits_url=, cache_url=,
$VOLLEY_REDIS_URL): a real redis-server, the fake server's enforced limit, worker processes."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

import volley
from volley.engine.limits import Lane
from volley.errors import QuotaExceededError, RateLimitError
from volley.prepare import Template
from volley.send import lane_of
from volley.shared import _redis, wire
from volley.shared.fallback import ResilientLane
from volley.shared.redis_limits import RedisLimitStore
from volley.shared.store import MemoryStore

WORKER = str(Path(__file__).with_name("_shared_api_worker.py"))
KEY = "sk-shared-api-SECRET-0123456789"


def _msgs(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _params(fake, **kw):
    return {"api_base": fake.openai_base, "api_key": KEY, **kw}


@pytest.fixture(autouse=True)
def _no_env_url(monkeypatch):
    monkeypatch.delenv("VOLLEY_REDIS_URL", raising=False)
    wire.reset()


# ---------------------------------------------------------------- setup: checked before any request


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "redis-ish", 42, "ray-actor://only-namespace"])
def test_a_bad_limits_url_is_refused_before_any_request(fake, url):
    with pytest.raises(volley.InvalidRequestError, match="limits_url"):
        volley.completion("gpt-4o-mini", _msgs("hi"), limits_url=url, **_params(fake))
    assert fake.requests == []


def test_a_bad_url_from_the_environment_is_refused_and_its_password_never_shows(fake, monkeypatch):
    monkeypatch.setenv("VOLLEY_REDIS_URL", "http://user:hunter2-pass@127.0.0.1:6379/0")
    with pytest.raises(volley.InvalidRequestError) as info:
        volley.batch_completion("gpt-4o-mini", [_msgs("hi")], **_params(fake))
    assert "hunter2" not in str(info.value) and "***" in str(info.value)
    assert fake.requests == []
    # limits_url=False: this process's own lanes, whatever the environment says
    assert volley.completion("gpt-4o-mini", _msgs("hi"), limits_url=False, **_params(fake)).choices


def test_bad_cache_url_and_cache_path_with_cache_url_are_refused(fake, tmp_path):
    with pytest.raises(volley.InvalidRequestError, match="cache_url"):
        volley.completion("gpt-4o-mini", _msgs("hi"), cache_url="ray-actor://volley/x", **_params(fake))
    with pytest.raises(volley.InvalidRequestError, match="not both"):
        volley.completion("gpt-4o-mini", _msgs("hi"), cache_url="redis://127.0.0.1:1/0",
                          cache_path=str(tmp_path / "c.sqlite"), **_params(fake))  # fmt: skip
    assert fake.requests == []


async def test_unconfigured_calls_use_the_local_lane_and_no_extra_hook(fake):
    t = Template("gpt-4o-mini", _params(fake))
    call = t.call(_msgs("hi"))
    assert call.lanes is None and t.hooks == ()
    assert type(lane_of(call)) is Lane
    assert "volley.shared.wire" not in sys.modules or wire._sources == {}


# ---------------------------------------------------------------- one process


async def test_a_batch_takes_its_turns_in_the_shared_lane(fake, redis_url):
    n = 12
    t = Template("gpt-4o-mini", _params(fake, limits_url=redis_url))
    out = await volley.abatch_completion("gpt-4o-mini", [_msgs(f"s{i}") for i in range(n)], max_workers=4,
                                         limits_url=redis_url, **_params(fake))  # fmt: skip
    assert [r.choices[0].message.content for r in out] == [f"echo: s{i}" for i in range(n)]
    lane = lane_of(t.call(_msgs("x")))
    assert isinstance(lane, ResilientLane) and lane.mode == "shared"
    state = await RedisLimitStore.from_url(redis_url, t.route.lane).snapshot()
    assert int(state["gr"]) == n and state["in_flight"] == 0  # every turn was the store's, every lease returned
    keys = await lane.store.client.keys("*")
    assert keys and not [k for k in keys if KEY in k or t.route.lane[3] in k]  # the account is hashed
    await lane.aclose()


async def test_a_pause_set_by_another_process_holds_this_one_back(fake, redis_url):
    t = Template("gpt-4o-mini", _params(fake, limits_url=redis_url, num_retries=0, timeout=1.0))
    store = RedisLimitStore.from_url(redis_url, t.route.lane)
    await store.pause(30)  # as a 429 in another process would
    started = time.monotonic()
    with pytest.raises(RateLimitError, match="paused this shared lane") as info:
        await volley.acompletion("gpt-4o-mini", _msgs("p"), limits_url=redis_url, num_retries=0, timeout=1.0,
                                 **_params(fake))  # fmt: skip
    assert time.monotonic() - started < 1.0  # longer than the call may wait: refused at once
    assert info.value.retry_after > 25 and fake.requests == []


async def test_a_429_pauses_the_shared_lane_and_slows_it(fake, redis_url):
    fake.script("gpt-4o-mini", failures=[429], retry_after=0.5)
    t = Template("gpt-4o-mini", _params(fake, limits_url=redis_url))
    store = RedisLimitStore.from_url(redis_url, t.route.lane)
    r = await volley.acompletion("gpt-4o-mini", _msgs("r"), limits_url=redis_url, **_params(fake))
    assert r.choices[0].message.content == "echo: r" and len(fake.requests) == 2
    state = await store.snapshot()
    assert int(state["rl"]) == 1 and float(state["sd"]) < 1.0  # every process now knows and slows down


async def test_a_used_up_quota_is_refused_at_once_on_a_shared_lane():
    lane = ResilientLane(("p", "b", "m", ""), MemoryStore())
    lease = await lane.acquire(1)
    await lane.release(lease, ok=False, quota_exhausted="insufficient_quota")
    with pytest.raises(QuotaExceededError, match="insufficient_quota"):
        await lane.acquire(1)
    await lane.aclose()


async def test_the_shared_cache_answers_again_without_a_request_and_holds_no_key(fake, redis_url):
    prompts = [_msgs(f"c{i}") for i in range(5)]
    first = await volley.abatch_completion("gpt-4o-mini", prompts, cache_url=redis_url, **_params(fake))
    again = await volley.abatch_completion("gpt-4o-mini", prompts, cache_url=redis_url, **_params(fake))
    assert [r.choices[0].message.content for r in again] == [r.choices[0].message.content for r in first]
    assert all(r.cache_hit for r in again) and not any(r.cache_hit for r in first)
    assert len(fake.requests) == 5
    client = _redis.client(redis_url)
    values = [await client.get(k) for k in await client.keys("volley:cache:*")]
    assert len(values) == 5 and not [v for v in values if v and KEY in v]


# ---------------------------------------------------------------- many processes


def _spawn(base: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    paths = [str(Path(__file__).parents[1] / "src"), os.environ.get("PYTHONPATH", "")]
    full = {k: v for k, v in os.environ.items() if k != "VOLLEY_REDIS_URL"}
    full.update(PYTHONPATH=os.pathsep.join(paths), **(env or {}))
    return subprocess.Popen([sys.executable, WORKER, base, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=full)  # fmt: skip


def _finish(procs: list[subprocess.Popen[str]], timeout: float = 240) -> list[tuple[dict, str]]:
    outs = [p.communicate(timeout=timeout) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e[-2000:] for _, e in outs]
    return [(json.loads(o.strip().splitlines()[-1]), e) for o, e in outs]


def _sent(fake) -> tuple[int, list[float]]:
    """(429s answered, wall times of the answered requests): a prompt's last request is its answer."""
    last: dict[str, float] = {}
    count: Counter[str] = Counter()
    for r in fake.requests:
        text = r.json["messages"][0]["content"]
        count[text] += 1
        last[text] = max(last.get(text, 0.0), r.time)
    return sum(count.values()) - len(count), sorted(last.values())


def _run_four(fake, *mode: str, per_process: int) -> tuple[int, list[float], list[dict]]:
    fake.reset()
    fake.script("gpt-4o-mini", rpm=600, window=1.0, latency=0.02)  # the server allows 10 requests a second
    start = time.time() + 5.0  # every process imported and set up by then
    procs = [_spawn(fake.openai_base, "--tag", f"w{i}", "--n", str(per_process), "--rpm", "600", "--start",
                    str(start), *mode) for i in range(4)]  # fmt: skip
    results = [r for r, _ in _finish(procs)]
    refused, answered = _sent(fake)
    return refused, answered, results


def test_four_processes_share_one_600_rpm_lane_unlike_four_unaware_ones(fake, redis_url):
    per = 30
    refused, answered, results = _run_four(fake, "--limits-url", redis_url, per_process=per)
    for i, r in enumerate(results):
        assert r["errors"] == [] and r["answers"] == [f"echo: w{i}-{j}" for j in range(per)]
    n = 4 * per
    goodput = (n - 1) / (answered[-1] - answered[0]) * 60
    print(f"\nshared: {n} answers, {refused} answered 429 ({refused / (n + refused):.1%}), {goodput:.0f} RPM")
    # bench/shared_api.py shows >= 95 % over 60 s; this 12 s run on a machine loaded by other jobs has
    # measured 89.8 %; broken sharing shows as a fraction (each process at its quarter: 25 %) or as 429s
    assert goodput >= 0.85 * 600, goodput
    assert refused <= 2, refused  # < 1 % of the bench's 2 400; one or two here are the machine's jitter
    burst = max(sum(1 for u in answered if t <= u < t + 2.0) for t in answered)
    assert burst <= 22, burst

    refused_u, answered_u, results_u = _run_four(fake, "--unaware", per_process=per)
    ok_u = sum(1 for r in results_u for a in r["answers"] if a)
    goodput_u = (len(answered_u) - 1) / (answered_u[-1] - answered_u[0]) * 60
    print(f"unaware: {ok_u} answers, {refused_u} answered 429 ({refused_u / (len(answered_u) + refused_u):.1%}), "
          f"{goodput_u:.0f} RPM")  # fmt: skip
    assert refused_u >= max(15, 8 * refused), (refused_u, refused)  # each process paced at the whole limit


def _tag(request) -> str:
    return request.json["messages"][0]["content"].split("-")[0]


def wait_until(cond, timeout: float) -> None:
    end = time.time() + timeout
    while not cond():
        assert time.time() < end, "timed out waiting"
        time.sleep(0.02)


def test_redis_killed_and_restarted_mid_job(fake, tmp_path):
    from _redis_server import RedisServer

    fake.script("gpt-4o-mini", latency=0.05)  # no limit at the server: every request is sent exactly once
    server = RedisServer(tmp_path).start()
    per = 50
    try:
        start = time.time() + 4.0
        procs = [_spawn(fake.openai_base, "--tag", f"k{i}", "--n", str(per), "--rpm", "600", "--limits-url",
                        server.url, "--start", str(start)) for i in range(2)]  # fmt: skip
        # mid-job: once both processes are sending through the shared lane (each knows the other is there),
        # however long they took to start on a loaded machine
        wait_until(lambda: all(sum(1 for r in fake.requests if _tag(r) == f"k{i}") >= 5 for i in range(2)), 60)
        server.kill()
        killed = time.time()
        time.sleep(2.0)
        server.start()
        restarted = time.time()
        results = _finish(procs)
    finally:
        server.kill()
    for i, (r, err) in enumerate(results):
        assert r["errors"] == [] and r["answers"] == [f"echo: k{i}-{j}" for j in range(per)]  # nothing lost
        assert "unreachable" in err and "limited locally" in err and "(1/2 of the limits)" in err, err
        assert "rejoined" in err, err
        assert KEY not in err
    sent = Counter(r.json["messages"][0]["content"] for r in fake.requests)
    assert len(sent) == 2 * per and set(sent.values()) == {1}  # nothing sent twice
    times = sorted(r.time for r in fake.requests)
    during = [t for t in times if killed <= t < restarted]
    after = [t for t in times if t >= restarted + 1.5]
    assert during and after  # the job went on during the outage (local share) and after the rejoin
    burst = max(sum(1 for u in times if t <= u < t + 2.0) for t in times)
    print(f"\noutage: {len(times)} requests, {len(during)} during the outage, largest 2 s count {burst}")
    # both processes together near 10/s throughout (20 in 2 s; unaware of each other: 40): no double burst
    assert burst <= 26, burst


def test_identical_requests_in_two_processes_are_sent_once(fake, redis_url):
    fake.script("gpt-4o-mini", latency=0.3)
    start = time.time() + 4.0
    procs = [_spawn(fake.openai_base, "--tag", "same", "--n", "6", "--cache-url", redis_url, "--start", str(start))
             for _ in range(2)]  # fmt: skip
    results = [r for r, _ in _finish(procs)]
    assert [r["answers"] for r in results] == [[f"echo: same-{j}" for j in range(6)]] * 2
    assert sum(r["hits"] for r in results) == 6 and len(fake.requests) == 6


def test_the_environment_url_shares_the_lanes_of_every_call(fake, redis_url):
    start = time.time() + 3.0
    procs = [_spawn(fake.openai_base, "--tag", f"e{i}", "--n", "5", "--start", str(start),
                    env={"VOLLEY_REDIS_URL": redis_url}) for i in range(2)]  # fmt: skip
    _finish(procs)
    route = Template("gpt-4o-mini", _params(fake)).route

    async def granted() -> int:
        return int((await RedisLimitStore.from_url(redis_url, route.lane).snapshot())["gr"])

    assert asyncio.run(granted()) == 10


def test_shared_lane_warnings_name_no_key(caplog, tmp_path, fake):
    from _redis_server import RedisServer

    server = RedisServer(tmp_path).start()
    url = server.url
    server.kill()
    with caplog.at_level(logging.WARNING):
        out = volley.batch_completion("gpt-4o-mini", [_msgs("w")], limits_url=url, **_params(fake))
    assert out[0].choices[0].message.content == "echo: w"  # Redis down from the start: local limits, answered
    assert "unreachable" in caplog.text and KEY not in caplog.text
