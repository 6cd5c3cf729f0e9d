"""The response cache in a real redis-server: shared between processes, one request in flight per key."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from volley.errors import InternalServerError
from volley.hooks.cache import CacheView, request_key
from volley.prepare import prepare
from volley.send import execute
from volley.shared.redis_cache import RedisCache

KEY = "sk-test-redis-cache-SECRET-0123456789"
WORKER = str(Path(__file__).with_name("_shared_worker.py"))


def _call(fake, text="x", key=KEY, **params):
    return prepare("gpt-4o-mini", [{"role": "user", "content": text}],
                   {"api_base": fake.openai_base, "api_key": key, **params})  # fmt: skip


async def _dump(url: str) -> str:
    r = aioredis.Redis.from_url(url, decode_responses=True)
    out = []
    async for k in r.scan_iter("*"):
        out.append(k)
        if await r.type(k) == "string":
            out.append(await r.get(k) or "")
    await r.aclose()
    return "\n".join(out)


async def test_hit_after_miss_same_key_as_the_sqlite_cache_and_no_credential_stored(fake, redis_url):
    cache = RedisCache(redis_url)
    call = _call(fake)
    first = await cache.fetch(call, lambda: execute(call))
    again = await cache.fetch(_call(fake), lambda: execute(call))
    assert len(fake.requests) == 1
    assert not first.cache_hit and again.cache_hit and again.cost == 0.0
    assert again.provider == "openai" and again.response_headers.get("x-volley-cache") == "hit"
    assert again.choices[0].message.content == first.choices[0].message.content == "echo: x"
    stored = await _dump(redis_url)
    assert request_key(call) in stored  # the same key derivation as the SQLite cache
    assert KEY not in stored and "SECRET" not in stored


async def test_identical_requests_in_one_process_are_sent_once(fake, redis_url):
    fake.script("gpt-4o-mini", latency=0.2)
    cache = RedisCache(redis_url)
    calls = [_call(fake, "same") for _ in range(5)]
    out = await asyncio.gather(*(cache.fetch(c, lambda c=c: execute(c)) for c in calls))
    assert len(fake.requests) == 1
    assert sorted(r.cache_hit for r in out) == [False, True, True, True, True]


async def test_two_caches_on_one_redis_wait_for_each_other(fake, redis_url):
    fake.script("gpt-4o-mini", latency=0.3)
    a, b = RedisCache(redis_url), RedisCache(redis_url)  # two processes' views of one Redis
    ca, cb = _call(fake, "q"), _call(fake, "q")
    ra, rb = await asyncio.gather(a.fetch(ca, lambda: execute(ca)), b.fetch(cb, lambda: execute(cb)))
    assert len(fake.requests) == 1
    assert [ra.cache_hit, rb.cache_hit].count(True) == 1


async def test_scope_key_keeps_each_keys_answers_apart(fake, redis_url):
    cache = RedisCache(redis_url)
    shared, per_key = CacheView(cache, "shared"), CacheView(cache, "key")
    c1, c2 = _call(fake, "s"), _call(fake, "s", key="sk-other-key-987654321")
    await shared.fetch(c1, lambda: execute(c1))
    assert (await shared.fetch(c2, lambda: execute(c2))).cache_hit  # shared: any key gets the answer
    assert len(fake.requests) == 1
    k1, k2 = _call(fake, "k"), _call(fake, "k", key="sk-other-key-987654321")
    await per_key.fetch(k1, lambda: execute(k1))
    assert not (await per_key.fetch(k2, lambda: execute(k2))).cache_hit  # another key: its own answer
    assert (await per_key.fetch(k1, lambda: execute(k1))).cache_hit
    assert len(fake.requests) == 3
    with pytest.raises(ValueError, match="cache_scope"):
        CacheView(cache, "global")


async def test_when_the_first_request_fails_the_waiter_sends_its_own(fake, redis_url):
    fake.script("gpt-4o-mini", latency=0.2, failures=[500])
    a, b = RedisCache(redis_url), RedisCache(redis_url)
    ca, cb = _call(fake, "f", num_retries=0), _call(fake, "f", num_retries=0)
    ra, rb = await asyncio.gather(a.fetch(ca, lambda: execute(ca)), b.fetch(cb, lambda: execute(cb)),
                                  return_exceptions=True)  # fmt: skip
    results = [ra, rb]
    assert sum(isinstance(r, InternalServerError) for r in results) == 1
    ok = next(r for r in results if not isinstance(r, BaseException))
    assert ok.choices[0].message.content == "echo: f" and not ok.cache_hit
    assert len(fake.requests) == 2


async def test_a_lock_left_by_a_dead_process_expires(fake, redis_url):
    cache = RedisCache(redis_url)
    call = _call(fake, "orphan")
    r = aioredis.Redis.from_url(redis_url, decode_responses=True)
    await r.set(f"volley:cache:lock:{request_key(call)}", "dead-holder", px=500)  # as a crashed holder left it
    await r.aclose()
    started = time.monotonic()
    resp = await cache.fetch(call, lambda: execute(call))
    waited = time.monotonic() - started
    assert resp.choices[0].message.content == "echo: orphan" and len(fake.requests) == 1
    assert 0.3 < waited < 3.0


async def test_unreachable_redis_sends_without_the_cache(fake, caplog, tmp_path):
    from _redis_server import free_port

    cache = RedisCache(f"redis://:pw-SECRET@127.0.0.1:{free_port()}/0")
    call = _call(fake, "down")
    with caplog.at_level(logging.WARNING, "volley.cache"):
        resp = await cache.fetch(call, lambda: execute(call))
    assert resp.choices[0].message.content == "echo: down" and len(fake.requests) == 1
    assert "unreachable" in caplog.text and "pw-SECRET" not in caplog.text and "***" in caplog.text


def test_dedupe_across_two_processes(fake, redis_url):
    fake.script("gpt-4o-mini", latency=0.8)
    start = time.time() + 3.0
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    args = [sys.executable, WORKER, "cache", redis_url, "--start", str(start), "--base", fake.openai_base]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]  # fmt: skip
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    results = [json.loads(o.strip().splitlines()[-1]) for o, _ in outs]
    assert [r["answer"] for r in results] == ["echo: shared", "echo: shared"]
    assert sorted(r["hit"] for r in results) == [False, True]
    assert len(fake.requests) == 1  # one request for two processes
