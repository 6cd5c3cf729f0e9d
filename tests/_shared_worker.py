"""A worker process for the shared-limit tests: ``python _shared_worker.py MODE URL [options]``.

Modes (each prints JSON lines on stdout):

- ``loop``: from wall time ``--start`` until ``--start + --seconds``, ``--tasks`` coroutines each
  acquire a lease on a SharedLane, hold it ``--hold`` seconds, release it; prints one
  ``{"t": wall time of the grant}`` per grant, then ``{"done": grants}``.
- ``hold``: acquires ``--leases`` leases, prints ``{"held": n}`` and sleeps (to be SIGKILLed).
- ``resilient``: like ``loop`` through a ResilientLane (Redis may die and come back meanwhile); prints
  ``{"t", "origin", "lease"}`` per grant and ``{"done", "iterations", "errors"}``.
- ``cache``: at wall time ``--start``, fetches one request through RedisCache from the fake server at
  ``--base``; prints ``{"answer", "hit"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time

KEY = ("openai", "http://127.0.0.1:1/v1", "gpt-test")


def emit(obj: object) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def wait_until(wall: float) -> None:
    delay = wall - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def loop(args: argparse.Namespace) -> None:
    from volley.shared.redis_limits import RedisLimitStore, SharedLane

    lane = SharedLane(RedisLimitStore.from_url(args.url, KEY), lease_ttl=args.ttl)
    lane.configure(max_workers=args.max_workers, rpm=args.rpm)
    end = args.start + args.seconds
    grants = 0

    async def task() -> None:
        nonlocal grants
        while time.time() < end:
            lease = await lane.acquire(1)
            now = time.time()
            if now >= end:  # granted past the end: hand it back unused
                await lane.release(lease, ok=False)
                break
            grants += 1
            emit({"t": now})
            await asyncio.sleep(args.hold)
            await lane.release(lease, ok=True)

    await wait_until(args.start)
    await asyncio.gather(*(task() for _ in range(args.tasks)))
    emit({"done": grants})
    await lane.aclose()


async def hold(args: argparse.Namespace) -> None:
    from volley.shared.redis_limits import RedisLimitStore, SharedLane

    lane = SharedLane(RedisLimitStore.from_url(args.url, KEY), lease_ttl=args.ttl)
    lane.configure(max_workers=args.max_workers)
    for _ in range(args.leases):
        await lane.acquire()
    emit({"held": args.leases})
    await asyncio.sleep(3600)


async def resilient(args: argparse.Namespace) -> None:
    from volley.shared.fallback import ResilientLane
    from volley.shared.redis_limits import RedisLimitStore

    lane = ResilientLane(KEY, RedisLimitStore.from_url(args.url, KEY), lease_ttl=args.ttl, rejoin_every=0.2)
    lane.configure(max_workers=args.max_workers, rpm=args.rpm)
    end = args.start + args.seconds
    iterations = errors = 0

    async def task() -> None:
        nonlocal iterations, errors
        while time.time() < end:
            iterations += 1
            try:
                lease = await lane.acquire(1)
            except Exception as exc:  # a lost admission: the test fails on it
                errors += 1
                emit({"error": f"{type(exc).__name__}: {exc}"})
                continue
            emit({"t": time.time(), "origin": lease.origin, "lease": lease.id})
            await asyncio.sleep(args.hold)
            await lane.release(lease, ok=True)

    await wait_until(args.start)
    await asyncio.gather(*(task() for _ in range(args.tasks)))
    emit({"done": True, "iterations": iterations, "errors": errors, "fallbacks": lane.fallbacks})
    await lane.aclose()


async def cache(args: argparse.Namespace) -> None:
    from volley.prepare import prepare
    from volley.send import execute
    from volley.shared.redis_cache import RedisCache

    store = RedisCache(args.url)
    call = prepare("gpt-4o-mini", [{"role": "user", "content": "shared"}],
                   {"api_base": args.base, "api_key": "sk-worker-SECRET-42"})  # fmt: skip
    await wait_until(args.start)
    resp = await store.fetch(call, lambda: execute(call))
    emit({"answer": resp.choices[0].message.content, "hit": resp.cache_hit})


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["loop", "hold", "resilient", "cache"])
    p.add_argument("url")
    p.add_argument("--start", type=float, default=0.0)
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--tasks", type=int, default=4)
    p.add_argument("--hold", type=float, default=0.02)
    p.add_argument("--rpm", type=float, default=600)
    p.add_argument("--max-workers", type=int, default=50)
    p.add_argument("--ttl", type=float, default=30.0)
    p.add_argument("--leases", type=int, default=1)
    p.add_argument("--base", default="")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s")
    asyncio.run({"loop": loop, "hold": hold, "resilient": resilient, "cache": cache}[args.mode](args))


if __name__ == "__main__":
    main()
