"""Shared limits through volley's public API (issue 16): four processes on one 600 RPM lane against the
fake server's enforced limit, shared through Redis vs four processes unaware of each other; and what
a shared lane adds to each request (Redis round trips, latency, throughput).

Run by hand (needs redis-server on the PATH and the ``redis`` extra)::

    .venv/bin/python bench/shared_api.py                     # both figures, the contrast for 60 s
    .venv/bin/python bench/shared_api.py --seconds 20 --json /tmp/shared_api.json

Figures:

- ``contrast``: a fake server allowing 600 RPM (10 requests per 1 s window, 429 + retry-after beyond,
  50 ms latency), four processes each calling ``volley.batch_completion(..., rpm=600, max_workers=20,
  deadline=SECONDS)`` over more prompts than fit. ``shared``: ``limits_url=`` the Redis; ``unaware``:
  ``limits_url=False`` (each process paces itself at the whole limit, as before issue 16). Per mode:
  answers within the window and their share of the limit (goodput), requests answered 429 (share of all
  requests), the most answers in any 1 s, answers per process, CPU seconds per process.
- ``per_request``: one process, fake server without limits or latency: ``volley.batch_completion`` of
  N prompts one at a time (``max_workers=1``) and 50 at a time, with and without ``limits_url=``: wall
  time per request (the latency a shared lane adds), Redis commands the client sent per request (its
  round trips: one script call to reserve, one to release) and commands Redis ran per request.
"""

from __future__ import annotations

import argparse
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

SRC = str(Path(__file__).parents[1] / "src")
KEY = "sk-bench-shared-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis() -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("redis-server")
    if exe is None:
        sys.exit("redis-server is not installed (Debian: apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", tempfile.mkdtemp()], stdout=subprocess.DEVNULL)  # fmt: skip
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"redis://127.0.0.1:{port}/0"


def redis_calls(url: str) -> int:
    """Commands the Redis server ran so far (those inside scripts included), INFO itself excluded."""
    import asyncio

    import redis.asyncio as aioredis

    async def go() -> int:
        r = aioredis.Redis.from_url(url)
        stats = await r.info("commandstats")
        await r.aclose()
        return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")

    return asyncio.run(go())


def count_client_commands() -> list[int]:
    """Count every command (and pipeline) this process sends to Redis: its round trips."""
    import redis.asyncio as aioredis
    import redis.asyncio.client as client

    counter = [0]
    original = aioredis.Redis.execute_command
    original_pipe = client.Pipeline.execute

    async def counted(self, *args, **options):  # type: ignore[no-untyped-def]
        counter[0] += 1
        return await original(self, *args, **options)

    async def counted_pipe(self, *args, **options):  # type: ignore[no-untyped-def]
        counter[0] += 1
        return await original_pipe(self, *args, **options)

    aioredis.Redis.execute_command = counted  # type: ignore[method-assign]
    client.Pipeline.execute = counted_pipe  # type: ignore[method-assign]
    return counter


# ---------------------------------------------------------------------------- contrast (child processes)


def child(args: argparse.Namespace) -> None:
    import volley

    params: dict[str, object] = {"api_base": args.base, "api_key": KEY, "rpm": 600, "num_retries": 8}
    params["limits_url"] = args.url if args.url else False
    prompts = ([{"role": "user", "content": f"{args.tag}-{i}"}] for i in range(100_000))
    # warm (imports, connection pool, Redis scripts) before the common start, outside the measured window
    warm = {**params, "rpm": None}
    volley.completion("gpt-4o-mini", [{"role": "user", "content": f"warm-{args.tag}"}], **warm)
    late = time.time() - args.start
    time.sleep(max(0.0, -late))
    answered = 0
    try:
        for _, r in volley.iter_batch_completion("gpt-4o-mini", prompts, max_workers=20, deadline=args.seconds,
                                                 **params):  # fmt: skip
            answered += isinstance(r, volley.ModelResponse)
    except volley.Timeout:  # the deadline passed with input left: what was answered by then is the figure
        pass
    print(json.dumps({"answered": answered, "cpu_s": time.process_time(), "late_s": max(0.0, late)}), flush=True)


def counting_fake() -> object:
    """A FakeServer that notes when it admits a request and counts the ones it refuses (429)."""
    from volley.testing import FakeServer

    class Counting(FakeServer):
        admitted: list[float]
        refused = 0

        def _admit(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            headers, wait = super()._admit(*args, **kwargs)
            if wait is None:
                self.admitted.append(time.time())
            else:
                self.refused += 1
            return headers, wait

    server = Counting(record=False)
    server.admitted = []
    return server


def contrast(url: str | None, seconds: float) -> dict[str, object]:
    with counting_fake() as fake:  # type: ignore[attr-defined]
        fake.script("gpt-4o-mini", rpm=600, window=1.0, latency=0.05)
        start = time.time() + 20.0  # every process imported and warmed by then (on a loaded machine too)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
        env.pop("VOLLEY_REDIS_URL", None)
        cmd = [sys.executable, __file__, "--child", "--base", fake.openai_base, "--start", str(start), "--seconds",
               str(seconds), "--url", url or ""]  # fmt: skip
        procs = [subprocess.Popen([*cmd, "--tag", f"p{i}"], stdout=subprocess.PIPE, text=True, env=env)
                 for i in range(4)]  # fmt: skip
        outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
        admitted = sorted(t for t in fake.admitted if start <= t < start + seconds)
        refused = fake.refused
        warm = 4  # one warm-up request per process, before the window
        requests = len(fake.admitted) + refused - warm
    best, j = 0, 0
    for i, t in enumerate(admitted):
        while admitted[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    limit = 600 * seconds / 60
    return {
        "answers": len(admitted), "limit": limit, "goodput": round(len(admitted) / limit, 4),
        "requests": requests, "answered_429": refused, "share_429": round(refused / max(1, requests), 4),
        "max_answers_in_1s": best, "per_process": [o["answered"] for o in outs],
        "cpu_s_per_process": [round(o["cpu_s"], 2) for o in outs],
        "started_late_s": [round(o["late_s"], 2) for o in outs],
    }  # fmt: skip


# ---------------------------------------------------------------------------- per request (this process)


def per_request(url: str, n: int) -> dict[str, object]:
    import volley
    from volley.testing import FakeServer

    counter = count_client_commands()
    out: dict[str, object] = {}
    with FakeServer(record=False) as fake:
        base = {"api_base": fake.openai_base, "api_key": KEY}
        prompts = [[{"role": "user", "content": f"q{i}"}] for i in range(n)]
        volley.batch_completion("gpt-4o-mini", prompts[:200], max_workers=10, **base)  # warm: pool, imports
        volley.batch_completion("gpt-4o-mini", prompts[:200], max_workers=10, limits_url=url, **base)
        for workers in (1, 50):
            for shared in (False, True):
                kw = {"limits_url": url} if shared else {"limits_url": False}
                before, trips = redis_calls(url), counter[0]
                cpu, t0 = time.process_time(), time.perf_counter()
                res = volley.batch_completion("gpt-4o-mini", prompts, max_workers=workers, **kw, **base)
                wall, cpu = time.perf_counter() - t0, time.process_time() - cpu
                assert all(isinstance(r, volley.ModelResponse) for r in res), [r for r in res if not hasattr(r, "id")]
                name = f"{'shared' if shared else 'local'}_x{workers}"
                out[name] = {
                    "us_per_request": round(wall / n * 1e6, 1), "requests_per_s": round(n / wall),
                    "cpu_us_per_request": round(cpu / n * 1e6, 1),
                    "client_round_trips_per_request": round((counter[0] - trips) / n, 3),
                    "redis_commands_per_request": round((redis_calls(url) - before - 1) / n, 2),
                }  # fmt: skip
                print(name, json.dumps(out[name]), flush=True)
    for w in (1, 50):
        shared, local = out[f"shared_x{w}"], out[f"local_x{w}"]
        out[f"added_us_per_request_x{w}"] = round(shared["us_per_request"] - local["us_per_request"], 1)  # type: ignore[index,operator]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("-n", type=int, default=2000, help="requests per per_request run")
    p.add_argument("--only", choices=("contrast", "per_request"))
    p.add_argument("--json", help="also write the figures here")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--base", help=argparse.SUPPRESS)
    p.add_argument("--start", type=float, default=0.0, help=argparse.SUPPRESS)
    p.add_argument("--url", default="", help=argparse.SUPPRESS)
    p.add_argument("--tag", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    sys.path.insert(0, SRC)
    server, url = start_redis()
    try:
        import redis

        cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")), platform.processor())  # fmt: skip
        version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2]
        info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "redis_py": redis.__version__,
                "redis_server": version, "date": time.strftime("%Y-%m-%d"),
                "load_avg_at_start": os.getloadavg()[0]}  # fmt: skip
        print(json.dumps(info), flush=True)
        figures: dict[str, object] = {"machine": info}
        if args.only in (None, "per_request"):
            figures["per_request"] = per_request(url, args.n)
            print("per_request", json.dumps(figures["per_request"]), flush=True)
        if args.only in (None, "contrast"):
            figures["shared"] = contrast(url, args.seconds)
            print("shared", json.dumps(figures["shared"]), flush=True)
            figures["unaware"] = contrast(None, args.seconds)
            print("unaware", json.dumps(figures["unaware"]), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2))
    finally:
        server.kill()


if __name__ == "__main__":
    main()
