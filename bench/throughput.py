"""Throughput: volley.batch_completion vs raw aiohttp, the openai SDK and LiteLLM, side by side.

Run by hand (not part of the test suite)::

    .venv/bin/python bench/throughput.py                 # 2000 requests, 200 in flight, 100 ms latency
    .venv/bin/python bench/throughput.py --repeats 5 --clients volley,aiohttp

The fake server runs in its own process; every client runs in a fresh child process that imports
its library first (untimed; import time is reported on its own) and then reports the batch's wall
time, CPU time (user + system) and the process's peak RSS. Clients are interleaved
across repeats and the median is reported, with ratios to raw aiohttp, because this machine is
shared and noisy. LiteLLM runs from ``bench/.venv-litellm`` (``bench/setup_litellm.sh``) when present.
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
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
LITELLM_PY = HERE / ".venv-litellm" / "bin" / "python"
MODEL = "bench-model"
KEY = "bench-key"


def _messages(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Question number {i}: what is {i} plus {i}?"}]


# ---------------------------------------------------------------- clients (run in a child process)


def client_volley(base: str, n: int, conc: int) -> Iterator[int | None]:
    import aiohttp  # noqa: F401 - volley imports it on first use; the other clients import it before the clock too

    import volley

    volley.batch_completion  # noqa: B018 - resolve the lazy import before the clock starts
    yield
    out = volley.batch_completion(
        f"openai/{MODEL}", [_messages(i) for i in range(n)], max_workers=conc, api_base=base, api_key=KEY
    )
    yield sum(isinstance(r, volley.ModelResponse) for r in out)


def client_aiohttp(base: str, n: int, conc: int) -> Iterator[int | None]:
    import asyncio

    import aiohttp

    yield

    async def main() -> int:
        sem = asyncio.Semaphore(conc)
        headers = {"Authorization": f"Bearer {KEY}"}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc)) as s:

            async def one(i: int) -> bool:
                async with sem:
                    body = {"model": MODEL, "messages": _messages(i)}
                    async with s.post(f"{base}/chat/completions", json=body, headers=headers) as r:
                        data = await r.json()
                        return bool(data["choices"][0]["message"]["content"])

            return sum(await asyncio.gather(*(one(i) for i in range(n))))

    yield asyncio.run(main())


def client_openai(base: str, n: int, conc: int) -> Iterator[int | None]:
    import asyncio

    import openai

    yield

    async def main() -> int:
        client = openai.AsyncOpenAI(base_url=base, api_key=KEY, max_retries=0)
        sem = asyncio.Semaphore(conc)

        async def one(i: int) -> bool:
            async with sem:
                r = await client.chat.completions.create(model=MODEL, messages=_messages(i))
                return bool(r.choices[0].message.content)

        ok = sum(await asyncio.gather(*(one(i) for i in range(n))))
        await client.close()
        return ok

    yield asyncio.run(main())


def client_litellm(base: str, n: int, conc: int) -> Iterator[int | None]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    yield
    out = litellm.batch_completion(
        model=f"openai/{MODEL}", messages=[_messages(i) for i in range(n)], max_workers=conc, api_base=base, api_key=KEY
    )
    yield sum(1 for r in out if not isinstance(r, Exception))


CLIENTS = {"volley": client_volley, "aiohttp": client_aiohttp, "openai": client_openai, "litellm": client_litellm}


def child(name: str, base: str, n: int, conc: int) -> None:
    steps = CLIENTS[name](base, n, conc)
    next(steps)  # imports: not timed (import cost is reported separately)
    t0 = time.perf_counter()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    ok = next(steps)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print(json.dumps({"ok": ok, "wall": wall, "cpu": cpu, "peak_mb": r1.ru_maxrss / 1024}))


# ---------------------------------------------------------------- driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(latency: float, extra: list[str] | None = None) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    cmd = [sys.executable, "-m", "volley.testing", "--port", str(port), "--latency", str(latency), *(extra or [])]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("fake server did not start")


def run_client(name: str, base: str, n: int, conc: int) -> dict | None:
    py = str(LITELLM_PY) if name == "litellm" else sys.executable
    if name == "litellm" and not LITELLM_PY.exists():
        return None
    cmd = [py, __file__, "--child", name, "--base", base, "--n", str(n), "--concurrency", str(conc)]
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    if out.returncode != 0:
        print(f"  {name} failed: {out.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def import_time(module: str, python: str = sys.executable, repeats: int = 7) -> float:
    """Median seconds for ``python -c 'import module'`` minus a bare interpreter start."""

    def timed(code: str) -> float:
        samples = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            subprocess.run([python, "-c", code], check=True)
            samples.append(time.perf_counter() - t0)
        return statistics.median(samples)

    return timed(f"import {module}") - timed("pass")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--child")
    ap.add_argument("--base")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--clients", default="aiohttp,volley,openai,litellm")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.base, args.n, args.concurrency)
        return

    names = args.clients.split(",")
    proc, port = start_server(args.latency)
    base = f"http://127.0.0.1:{port}/v1"
    results: dict[str, list[dict]] = {n: [] for n in names}
    try:
        for name in names:  # warm-up, untimed
            run_client(name, base, min(200, args.n), args.concurrency)
        for _ in range(args.repeats):
            for name in names:
                r = run_client(name, base, args.n, args.concurrency)
                if r is not None:
                    results[name].append(r)
    finally:
        proc.terminate()
        proc.wait()

    med = {
        n: {k: statistics.median(x[k] for x in rs) for k in ("wall", "cpu", "peak_mb", "ok")}
        for n, rs in results.items()
        if rs
    }
    ref = med.get("aiohttp")
    print(f"\n{args.n} requests, {args.concurrency} in flight, {args.latency * 1000:.0f} ms latency, "
          f"median of {args.repeats}")  # fmt: skip
    print(f"{'client':<10} {'ok':>6} {'wall s':>8} {'CPU s':>7} {'peak MB':>8} {'wall x':>7} {'CPU x':>6} {'mem x':>6}")
    for n, m in med.items():
        ratios = (
            f"{m['wall'] / ref['wall']:>7.2f} {m['cpu'] / ref['cpu']:>6.2f} {m['peak_mb'] / ref['peak_mb']:>6.2f}"
            if ref
            else ""
        )
        print(f"{n:<10} {m['ok']:>6.0f} {m['wall']:>8.2f} {m['cpu']:>7.2f} {m['peak_mb']:>8.0f} {ratios}")
    print(f"\nimport volley: {import_time('volley') * 1000:.0f} ms (interpreter start subtracted)")


if __name__ == "__main__":
    main()
