"""Shared limits in Redis (issue 16), the store alone: what one reservation costs, and how well four
processes share one 600 RPM lane.

Run by hand (not part of the test suite; needs redis-server on the PATH and the ``redis`` extra)::

    .venv/bin/python bench/shared_limits.py                  # every figure below, rpm run for 60 s
    .venv/bin/python bench/shared_limits.py --rpm-seconds 20 --json /tmp/shared.json

Figures:

- ``latency``: one coroutine, free lane (no rpm, slots to spare): ``acquire`` + ``release`` wall time per
  reservation through :class:`~volley.shared.store.SharedLane` over Redis (p50 / p99 µs), beside the local
  :class:`volley.engine.limits.Lane` — the latency a shared lane adds to each request.
- ``round trips``: commands the client sends per reservation (counted in ``execute_command``; the target
  is one script call for ``acquire`` and one for ``release``), and the commands Redis runs for them
  (``INFO commandstats``, the ones inside the scripts included).
- ``throughput``: grants per second with 1 process x 64 coroutines and 4 processes x 64 coroutines on one
  unlimited lane (the ceiling of the store, far above any provider's limit).
- ``rpm``: four processes, each with 8 coroutines looping acquire / 20 ms / release on one lane of 600 RPM
  for ``--rpm-seconds``: grants, goodput (share of 600 RPM) and the largest count in any 1 s window.

A redis-server without persistence is started on a free loopback port for the run (``--url`` uses yours).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KEY = ("openai", "http://127.0.0.1:1/v1", "bench")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis() -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("redis-server")
    if exe is None:
        sys.exit("redis-server is not installed (Debian: apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", tempfile.mkdtemp()], stdout=subprocess.DEVNULL)  # fmt: skip
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"redis://127.0.0.1:{port}/0"


ROUND_TRIPS = [0]


def count_round_trips() -> None:
    """Count every command this process sends (one request/answer each: a round trip)."""
    import redis.asyncio as aioredis

    original = aioredis.Redis.execute_command

    async def counted(self, *args, **options):  # type: ignore[no-untyped-def]
        ROUND_TRIPS[0] += 1
        return await original(self, *args, **options)

    aioredis.Redis.execute_command = counted  # type: ignore[method-assign]


async def command_calls(url: str) -> int:
    """Commands the server ran (those inside scripts included)."""
    import redis.asyncio as aioredis

    r = aioredis.Redis.from_url(url)
    stats = await r.info("commandstats")
    await r.aclose()
    return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")


async def latency(url: str, n: int) -> dict[str, float]:
    from volley.engine.limits import Lane
    from volley.shared.redis_limits import RedisLimitStore, SharedLane

    lane = SharedLane(RedisLimitStore.from_url(url, (*KEY, "latency")))
    lane.configure(max_workers=1000)
    for _ in range(200):  # warm: connection, scripts loaded, listener subscribed
        await lane.release(await lane.acquire(10), ok=True, tokens_used=10)
    before, trips = await command_calls(url), ROUND_TRIPS[0]
    acq, rel = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        lease = await lane.acquire(10)
        t1 = time.perf_counter()
        await lane.release(lease, ok=True, tokens_used=12)
        t2 = time.perf_counter()
        acq.append(t1 - t0)
        rel.append(t2 - t1)
    after, trips = await command_calls(url), ROUND_TRIPS[0] - trips
    await lane.aclose()
    local = Lane()
    local.configure(max_workers=1000, rpm=10**9)
    loc = []
    for _ in range(n):
        t0 = time.perf_counter()
        await local.acquire(10)
        local.release(ok=True, tokens_reserved=10, tokens_used=12)
        loc.append(time.perf_counter() - t0)

    def pct(xs: list[float], p: float) -> float:
        return sorted(xs)[int(p * (len(xs) - 1))] * 1e6

    return {
        "acquire_p50_us": pct(acq, 0.5), "acquire_p99_us": pct(acq, 0.99),
        "release_p50_us": pct(rel, 0.5), "release_p99_us": pct(rel, 0.99),
        "local_lane_p50_us": pct(loc, 0.5), "local_lane_p99_us": pct(loc, 0.99),
        "round_trips_per_reservation": trips / n,  # acquire + release
        "server_commands_per_reservation": (after - before - 1) / n,  # inside the scripts; -1: one INFO
    }  # fmt: skip


async def hammer(url: str, seconds: float, tasks: int, start: float, rpm: float | None, hold: float) -> list[float]:
    """Coroutines looping acquire / hold / release until ``start + seconds``; the wall times of the grants."""
    from volley.shared.redis_limits import RedisLimitStore, SharedLane

    lane = SharedLane(RedisLimitStore.from_url(url, (*KEY, "rpm" if rpm else "free")))
    lane.configure(max_workers=10_000, rpm=rpm)
    end = start + seconds
    grants: list[float] = []

    async def task() -> None:
        while time.time() < end:
            lease = await lane.acquire(1)
            now = time.time()
            if now >= end:
                await lane.release(lease, ok=False)
                return
            grants.append(now)
            if hold:
                await asyncio.sleep(hold)
            await lane.release(lease, ok=True)

    await asyncio.sleep(max(0.0, start - time.time()))
    await asyncio.gather(*(task() for _ in range(tasks)))
    await lane.aclose()
    return grants


def child(args: argparse.Namespace) -> None:
    count_round_trips()
    grants = asyncio.run(hammer(args.url, args.seconds, args.tasks, args.start, args.rpm or None, args.hold))
    cpu = time.process_time()
    print(json.dumps({"grants": grants, "cpu_s": cpu, "round_trips": ROUND_TRIPS[0]}))


def run_processes(url: str, procs: int, tasks: int, seconds: float, rpm: float | None, hold: float) -> dict:
    start = time.time() + 3.0
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    cmd = [sys.executable, __file__, "--child", "--url", url, "--seconds", str(seconds), "--tasks", str(tasks),
           "--start", str(start), "--rpm", str(rpm or 0), "--hold", str(hold)]  # fmt: skip
    before = asyncio.run(command_calls(url))
    ps = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env) for _ in range(procs)]
    outs = [json.loads(p.communicate()[0]) for p in ps]
    after = asyncio.run(command_calls(url))
    times = sorted(t for o in outs for t in o["grants"])
    out = {
        "processes": procs, "coroutines_each": tasks, "seconds": seconds, "grants": len(times),
        "grants_per_s": len(times) / seconds, "per_process": [len(o["grants"]) for o in outs],
        "round_trips_per_grant": sum(o["round_trips"] for o in outs) / max(1, len(times)),
        "server_commands_per_grant": (after - before - 1) / max(1, len(times)),
        "cpu_s_per_process": [round(o["cpu_s"], 2) for o in outs],
    }  # fmt: skip
    if rpm:
        out["limit"] = rpm * seconds / 60
        out["goodput"] = len(times) / out["limit"]
        j = 0
        best = 0
        for i, t in enumerate(times):  # largest count in any 1 s window
            while times[j] < t - 1.0:
                j += 1
            best = max(best, i - j + 1)
        out["max_in_1s"] = best
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", help="an existing Redis (default: start one on a free port)")
    p.add_argument("--rpm-seconds", type=float, default=60.0)
    p.add_argument("--latency-n", type=int, default=5000)
    p.add_argument("--throughput-seconds", type=float, default=5.0)
    p.add_argument("--json", help="also write the figures here")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--seconds", type=float, default=0, help=argparse.SUPPRESS)
    p.add_argument("--tasks", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--start", type=float, default=0, help=argparse.SUPPRESS)
    p.add_argument("--rpm", type=float, default=0, help=argparse.SUPPRESS)
    p.add_argument("--hold", type=float, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    server, url = (None, args.url) if args.url else start_redis()
    try:
        import redis

        cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")), platform.processor())  # fmt: skip
        version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2]
        info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
                "redis_py": redis.__version__, "redis_server": version}  # fmt: skip
        print(json.dumps(info))
        figures: dict = {"machine": info}
        count_round_trips()
        figures["latency"] = asyncio.run(latency(url, args.latency_n))
        print("latency", json.dumps(figures["latency"]))
        figures["throughput_1x64"] = run_processes(url, 1, 64, args.throughput_seconds, None, 0.0)
        print("throughput 1x64", json.dumps(figures["throughput_1x64"]))
        figures["throughput_4x64"] = run_processes(url, 4, 64, args.throughput_seconds, None, 0.0)
        print("throughput 4x64", json.dumps(figures["throughput_4x64"]))
        if args.rpm_seconds > 0:
            figures["rpm_4x8_600"] = run_processes(url, 4, 8, args.rpm_seconds, 600, 0.02)
            print("rpm 4x8 @600", json.dumps(figures["rpm_4x8_600"]))
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2))
    finally:
        if server is not None:
            server.kill()


if __name__ == "__main__":
    main()
