"""volley's overhead on each request path, beside raw aiohttp in the same run (issue 17's scenarios).

Scenarios (one command each; every client runs in a fresh child process, clients interleaved across
repeats, medians and ratios to raw aiohttp reported, because the machine is shared and noisy):

- ``standard``  2000 requests, 200 in flight, 100 ms latency
- ``cpu``       20 000 requests, 500 in flight, 0-5 ms latency (CPU-bound: CPU-µs per request)
- ``stream``    500 streams x ~200 chunks, 100 in flight (CPU-µs per chunk)
- ``big``       500 requests with 200 KB prompts, 50 in flight
- ``memory``    the iterator over 20 000 and 200 000 prompts (peak RSS must stay flat)

    .venv/bin/python bench/paths.py cpu stream --repeats 5
    .venv/bin/python bench/paths.py cpu --src /path/to/other/checkout/src   # A/B against another tree
    .venv/bin/python bench/paths.py cpu --also before=/path/to/old/src --no-fast  # interleaved in one run

``--also NAME=SRC`` adds volley from another source tree as client ``NAME``; ``--no-fast`` adds
``volley-nofast`` (this tree with ``VOLLEY_FAST=0``: the [fast] extra's orjson and uvloop unused);
``--warm-lane`` adds ``volley-warm`` (one untimed call first, so its lane opens at once, as a rerun's
does with the lane memory). Every other client starts cold: ``VOLLEY_LANE_MEMORY=0``.

The fake server (``volley.testing``) runs in its own process and keeps no records.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MODEL = "bench-model"
KEY = "bench-key"
STREAM_WORDS = 200

SCENARIOS: dict[str, dict[str, Any]] = {
    "standard": {"n": 2000, "conc": 200, "latency": (0.1, 0.1), "stream": False, "prompt": 0},
    "cpu": {"n": 20000, "conc": 500, "latency": (0.0, 0.005), "stream": False, "prompt": 0},
    "stream": {"n": 500, "conc": 100, "latency": (0.0, 0.0), "stream": True, "prompt": 0},
    "big": {"n": 500, "conc": 50, "latency": (0.0, 0.005), "stream": False, "prompt": 200_000},
    "memory": {"n": 200_000, "conc": 200, "latency": (0.0, 0.0), "stream": False, "prompt": 0, "iterate": True},
}


def _messages(i: int, prompt: int) -> list[dict[str, str]]:
    text = f"Question number {i}: what is {i} plus {i}?"
    if prompt:
        text = (text + " ") * (prompt // (len(text) + 1) + 1)
        text = text[:prompt]
    return [{"role": "user", "content": text}]


# ---------------------------------------------------------------- clients (run in a child process)


def client_volley(base: str, spec: dict[str, Any]) -> Iterator[int | None]:
    import aiohttp  # noqa: F401 - imported before the clock, as the raw client does

    import volley

    volley.abatch_completion_iter  # noqa: B018 - resolve the lazy import before the clock
    n, conc, prompt = spec["n"], spec["conc"], spec["prompt"]
    kw = {"api_base": base, "api_key": KEY}
    if os.environ.get("BENCH_WARM_LANE") == "1":  # one untimed call first: the lane is known, as it is
        volley.batch_completion(f"openai/{MODEL}", [_messages(0, 0)], **kw)  # to a rerun (lane memory)
    yield
    if spec["stream"]:
        import asyncio

        async def streams() -> int:
            sem = asyncio.Semaphore(conc)

            async def one(i: int) -> int:
                async with sem:
                    s = await volley.acompletion(f"openai/{MODEL}", _messages(i, prompt), stream=True, **kw)
                    return len([1 async for c in s if c.choices and c.choices[0].delta.content])

            return sum(await asyncio.gather(*(one(i) for i in range(n))))

        yield asyncio.run(streams())
        return
    msgs = (_messages(i, prompt) for i in range(n))
    ok = 0
    for _, r in volley.iter_batch_completion(f"openai/{MODEL}", msgs, max_workers=conc, **kw):
        ok += isinstance(r, volley.ModelResponse)
    yield ok


def client_aiohttp(base: str, spec: dict[str, Any]) -> Iterator[int | None]:
    import asyncio

    import aiohttp

    n, conc, prompt = spec["n"], spec["conc"], spec["prompt"]
    yield

    async def main() -> int:
        headers = {"Authorization": f"Bearer {KEY}"}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc)) as s:
            it = iter(range(n))

            async def worker() -> int:
                got = 0
                for i in it:
                    body: dict[str, Any] = {"model": MODEL, "messages": _messages(i, prompt)}
                    if spec["stream"]:
                        body["stream"] = True
                    async with s.post(f"{base}/chat/completions", json=body, headers=headers) as r:
                        if not spec["stream"]:
                            data = await r.json()
                            got += bool(data["choices"][0]["message"]["content"])
                            continue
                        async for line in r.content:
                            if line.startswith(b"data: ") and line[6:12] != b"[DONE]":
                                ch = json.loads(line[6:])
                                got += bool(ch["choices"] and ch["choices"][0]["delta"].get("content"))
                return got

            return sum(await asyncio.gather(*(worker() for _ in range(min(conc, n)))))

    yield asyncio.run(main())


CLIENTS: dict[str, Callable[[str, dict[str, Any]], Iterator[int | None]]] = {
    "volley": client_volley,
    "aiohttp": client_aiohttp,
}


def child(name: str, base: str, spec: dict[str, Any]) -> None:
    steps = CLIENTS[name](base, spec)
    next(steps)
    t0 = time.perf_counter()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    ok = next(steps)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print(json.dumps({"ok": ok, "wall": wall, "cpu": cpu, "peak_mb": _peak_mb()}))


def _peak_mb() -> float:
    try:  # this process's own high-water mark (ru_maxrss can carry the parent's)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- driver

SERVER = r"""
import asyncio, sys
from volley.testing import FakeServer
async def main():
    s = FakeServer("127.0.0.1", int(sys.argv[1]), record=False)
    lo, hi = float(sys.argv[2]), float(sys.argv[3])
    s.script("*", latency=(lo, hi) if hi > lo else lo, content=sys.argv[4] or None)
    await s.start()
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(spec: dict[str, Any], src: str) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    lo, hi = spec["latency"]
    content = " ".join(f"w{i}" for i in range(STREAM_WORDS)) if spec["stream"] else ""
    env = {**os.environ, "PYTHONPATH": src}
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port), str(lo), str(hi), content],
                            stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise SystemExit("fake server did not start")
    return proc, f"http://127.0.0.1:{port}/v1"


#: extra clients: name -> (the client it runs, its source tree or None for --src, extra environment)
VARIANTS: dict[str, tuple[str, str | None, dict[str, str]]] = {}


def run_client(name: str, base: str, spec: dict[str, Any], src: str) -> dict[str, float] | None:
    client, own_src, env = VARIANTS.get(name, (name, None, {}))
    cmd = [sys.executable, __file__, "--child", client, "--base", base, "--spec", json.dumps(spec)]
    env = {**os.environ, "PYTHONPATH": own_src or src, **env}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if out.returncode != 0:
        print(f"  {name} failed: {out.stderr.strip().splitlines()[-3:]}", file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def scenario(name: str, repeats: int, src: str) -> None:
    spec = SCENARIOS[name]
    sizes = [20_000, spec["n"]] if spec.get("iterate") else [spec["n"]]
    for n in sizes:
        run = {**spec, "n": n}
        proc, base = start_server(run, src)
        clients = [*CLIENTS, *VARIANTS]
        results: dict[str, list[dict[str, float]]] = {c: [] for c in clients}
        try:
            for c in clients:  # warm-up, untimed
                run_client(c, base, {**run, "n": min(200, n)}, src)
            for rep in range(repeats):
                for c in clients if rep % 2 == 0 else clients[::-1]:
                    r = run_client(c, base, run, src)
                    if r is not None:
                        results[c].append(r)
        finally:
            proc.terminate()
            proc.wait()
        unit = STREAM_WORDS * n if spec["stream"] else n
        what = "chunk" if spec["stream"] else "request"
        print(f"\n{name}: {n} {'streams' if spec['stream'] else 'requests'}, {spec['conc']} in flight, latency "
              f"{spec['latency'][0] * 1000:.0f}-{spec['latency'][1] * 1000:.0f} ms, prompt {spec['prompt']} chars, "
              f"median of {repeats}")  # fmt: skip
        print(f"{'client':<14} {'ok':>7} {'wall s':>7} {'CPU s':>7} {'CPU-µs/' + what:>16} {'peak MB':>8} "
              f"{'wall x':>7} {'CPU x':>6} {'mem x':>6}")  # fmt: skip
        med = {c: {k: statistics.median(x[k] for x in rs) for k in ("ok", "wall", "cpu", "peak_mb")}
               for c, rs in results.items() if rs}  # fmt: skip
        ref = med.get("aiohttp")
        for c, m in med.items():
            ratio = ""
            if ref:
                ratio = " ".join(f"{m[k] / ref[k]:>{w}.2f}" for k, w in (("wall", 7), ("cpu", 6), ("peak_mb", 6)))
            print(f"{c:<14} {m['ok']:>7.0f} {m['wall']:>7.2f} {m['cpu']:>7.2f} {m['cpu'] / unit * 1e6:>16.1f} "
                  f"{m['peak_mb']:>8.0f} {ratio}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenarios", nargs="*", default=["standard", "cpu", "stream", "big"], help=", ".join(SCENARIOS))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--src", default=str(HERE.parent / "src"), help="the volley source tree to measure")
    ap.add_argument("--also", action="append", default=[], metavar="NAME=SRC", help="volley from another tree too")
    ap.add_argument("--no-fast", action="store_true", help="also this tree with VOLLEY_FAST=0")
    ap.add_argument("--warm-lane", action="store_true",
                    help="also this tree with its lane known before the clock (a rerun: no probe wait)")  # fmt: skip
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--base", help=argparse.SUPPRESS)
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.base, json.loads(args.spec))
        return
    for spec in args.also:
        name, _, path = spec.partition("=")
        VARIANTS[name] = ("volley", path, {})
    if args.no_fast:
        VARIANTS["volley-nofast"] = ("volley", None, {"VOLLEY_FAST": "0"})
    if args.warm_lane:
        VARIANTS["volley-warm"] = ("volley", None, {"BENCH_WARM_LANE": "1"})
    # Every client starts cold (its lane probes) unless it is the warm variant: no lane memory from
    # an earlier client or repeat is read (volley.engine.lane_memory).
    os.environ["VOLLEY_LANE_MEMORY"] = "0"
    print(f"machine: {os.cpu_count()} CPUs, {_cpu()}; Python {sys.version.split()[0]}; load {os.getloadavg()[0]:.2f}; "
          f"volley from {args.src}")  # fmt: skip
    for name in args.scenarios:
        scenario(name, args.repeats, args.src)


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
