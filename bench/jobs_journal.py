"""``volley run`` (journal, output file) beside the in-process iterator on the same requests (issue 17, item 4).

20 000 lines, 100 in flight (``volley run``'s default), fake server latency 0-5 ms in its own process
(no records kept). Clients, each in a fresh child process that imports and writes its input first,
untimed, then reports wall and CPU (user + sys, the journal's SQLite work included):

- ``iterator``  ``volley.iter_batch_completion`` over the 20 000 prompts (no journal, no file)
- ``run``       ``volley run in.jsonl -o out.jsonl`` (Batch output lines), called in-process
- ``table``     ``volley run in.csv --prompt ... -o out.parquet`` (the table rebuilt from the journal
                after the run); only where the measured source tree has table input

Repeats are interleaved (the order reversed on every other repeat); medians and the ratios to the
iterator are printed, with the per-item overhead in µs.

    .venv/bin/python bench/jobs_journal.py --repeats 5
    .venv/bin/python bench/jobs_journal.py --src /path/to/other/checkout/src     # A/B against another tree
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
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODEL = "openai/bench-model"
KEY = "bench-key"
CLIENTS = ("iterator", "run", "table")


def _question(i: int) -> str:
    return f"Question number {i}: what is {i} plus {i}?"


def child(name: str, base: str, n: int, conc: int, workdir: str) -> None:
    """One client, timed after its imports and its input file are ready; prints wall and CPU as JSON."""
    import aiohttp  # noqa: F401 - imported before the clock by every client

    import volley
    from volley.cli import main as cli

    work = Path(workdir)
    os.environ["OPENAI_API_KEY"] = KEY
    os.environ.pop("OPENAI_BASE_URL", None)
    if name == "run":
        inp = work / "in.jsonl"
        inp.write_text("".join(json.dumps({"custom_id": f"q{i}", "prompt": _question(i)}) + "\n" for i in range(n)))
        argv = ["run", str(inp), "-m", MODEL, "-o", str(work / "out.jsonl")]
    elif name == "table":
        inp = work / "in.csv"
        inp.write_text("id,question\n" + "".join(f"q{i},{_question(i)}\n" for i in range(n)))
        argv = ["run", str(inp), "-m", MODEL, "-o", str(work / "out.parquet"), "--prompt", "{question}",
                "--id-column", "id"]  # fmt: skip
        import pyarrow.parquet  # noqa: F401 - imported before the clock
    argv_common = ["--api-base", base, "--concurrency", str(conc), "-q"]
    volley.iter_batch_completion  # noqa: B018 - resolve the lazy import before the clock
    t0 = time.perf_counter()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    if name == "iterator":
        msgs = ([{"role": "user", "content": _question(i)}] for i in range(n))
        ok = sum(isinstance(r, volley.ModelResponse) for _, r in volley.iter_batch_completion(
            MODEL, msgs, max_workers=conc, api_base=base, api_key=KEY))  # fmt: skip
    else:
        code = cli([*argv, *argv_common])
        ok = n if code == 0 else -code
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print(json.dumps({"ok": ok, "wall": wall, "cpu": cpu}))


SERVER = r"""
import asyncio, sys
from volley.testing import FakeServer
async def main():
    s = FakeServer("127.0.0.1", int(sys.argv[1]), record=False)
    s.script("*", latency=(float(sys.argv[2]), float(sys.argv[3])))
    await s.start()
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(src: str, lo: float, hi: float) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port), str(lo), str(hi)], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": src})  # fmt: skip
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise SystemExit("fake server did not start")
    return proc, f"http://127.0.0.1:{port}/v1"


def run_client(name: str, base: str, n: int, conc: int, src: str) -> dict[str, float] | None:
    with tempfile.TemporaryDirectory(prefix="volley-bench-") as work:
        cmd = [sys.executable, __file__, "--child", name, "--base", base, "-n", str(n), "--concurrency", str(conc),
               "--work", work]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": src}, timeout=1800)
    if out.returncode != 0:
        print(f"  {name} failed: {out.stderr.strip().splitlines()[-3:]}", file=sys.stderr)
        return None
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    if result["ok"] != n:
        print(f"  {name}: {result['ok']} of {n} answered", file=sys.stderr)
    return result


def has_tables(src: str) -> bool:
    return (Path(src) / "volley" / "jobs" / "source.py").exists()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--latency", type=float, nargs=2, default=(0.0, 0.005), metavar=("LO", "HI"))
    ap.add_argument("--src", default=str(HERE.parent / "src"), help="the volley source tree to measure")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--base", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.base, args.n, args.concurrency, args.work)
        return
    clients = [c for c in CLIENTS if c != "table" or has_tables(args.src)]
    print(f"machine: {os.cpu_count()} CPUs, {_cpu()}; Python {sys.version.split()[0]}; load "
          f"{os.getloadavg()[0]:.2f}; volley from {args.src}")  # fmt: skip
    proc, base = start_server(args.src, *args.latency)
    results: dict[str, list[dict[str, float]]] = {c: [] for c in clients}
    try:
        for c in clients:  # warm-up, untimed
            run_client(c, base, 500, args.concurrency, args.src)
        for rep in range(args.repeats):
            for c in clients if rep % 2 == 0 else clients[::-1]:
                r = run_client(c, base, args.n, args.concurrency, args.src)
                if r is not None:
                    results[c].append(r)
    finally:
        proc.terminate()
        proc.wait()
    lo, hi = args.latency
    print(f"\n{args.n} items, {args.concurrency} in flight, latency {lo * 1000:.0f}-{hi * 1000:.0f} ms, "
          f"median of {args.repeats} interleaved repeats")  # fmt: skip
    print(f"{'client':<9} {'wall s':>7} {'CPU s':>7} {'CPU-µs/item':>12} {'wall x':>7} {'CPU x':>6} "
          f"{'+CPU µs/item':>13} {'+wall µs/item':>14}")  # fmt: skip
    med = {c: {k: statistics.median(x[k] for x in rs) for k in ("wall", "cpu")} for c, rs in results.items() if rs}
    ref = med.get("iterator")
    for c, m in med.items():
        extra = ""
        if ref:
            more_cpu, more_wall = (m["cpu"] - ref["cpu"]) / args.n * 1e6, (m["wall"] - ref["wall"]) / args.n * 1e6
            ratios = f"{m['wall'] / ref['wall']:>7.2f} {m['cpu'] / ref['cpu']:>6.2f}"
            extra = f"{ratios} {more_cpu:>13.1f} {more_wall:>14.1f}"
        print(f"{c:<9} {m['wall']:>7.2f} {m['cpu']:>7.2f} {m['cpu'] / args.n * 1e6:>12.1f} {extra}")


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
