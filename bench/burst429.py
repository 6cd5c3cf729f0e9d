"""How a lane recovers from one burst of 429s: every request in flight refused at once, then none.

The fake server (in a thread of each client's own process) refuses the first ``--burst`` requests
with 429 + ``retry-after: 1``, then answers everything after ``--latency`` seconds. The client's lane
is open before the clock (one untimed call), so the burst meets ``--workers`` requests in flight; then
``batch_completion`` sends ``--n`` prompts (the refused ones retried). Reported: wall time, the
requests the server saw, the lane's concurrency limit at the end. Each tree runs in a fresh child
process (no lane memory); trees interleaved over ``--repeats``, medians printed.

    .venv/bin/python bench/burst429.py --also before=/path/to/old/src
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child(n: int, workers: int, burst: int, latency: float) -> None:
    import volley
    from volley.engine import limits
    from volley.testing import FakeServer

    server = FakeServer().start_in_thread()
    try:
        kw = {"api_base": server.openai_base, "api_key": "bench-key", "max_workers": workers}
        server.script("*", latency=latency)
        volley.batch_completion("openai/bench-model", [[{"role": "user", "content": "warm"}]], **kw)
        server.script("*", latency=latency, failures=[429] * burst, retry_after=1)
        seen = len(server.requests)
        msgs = [[{"role": "user", "content": f"q{i}"}] for i in range(n)]
        t0 = time.perf_counter()
        out = volley.batch_completion("openai/bench-model", msgs, num_retries=5, **kw)
        wall = time.perf_counter() - t0
        lanes = [lane for table in limits._lanes.values() for lane in table.values()]
        ok = sum(isinstance(r, volley.ModelResponse) for r in out)
        print(json.dumps({"wall": wall, "ok": ok, "requests": len(server.requests) - seen,
                          "limit": max(lane.limit for lane in lanes)}))  # fmt: skip
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=100)
    ap.add_argument("--burst", type=int, default=100)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--also", action="append", default=[], metavar="NAME=SRC")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.n, a.workers, a.burst, a.latency)
        return
    trees = {"volley": str(HERE.parent / "src"), **dict(s.split("=", 1) for s in a.also)}
    runs: dict[str, list[dict[str, float]]] = {t: [] for t in trees}
    for rep in range(a.repeats):
        for name in trees if rep % 2 == 0 else list(trees)[::-1]:
            env = {**os.environ, "PYTHONPATH": trees[name], "VOLLEY_LANE_MEMORY": "0"}
            cmd = [sys.executable, __file__, "--child", "--n", str(a.n), "--workers", str(a.workers),
                   "--burst", str(a.burst), "--latency", str(a.latency)]  # fmt: skip
            out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
            if out.returncode != 0:
                print(f"{name} failed: {out.stderr.strip().splitlines()[-3:]}", file=sys.stderr)
                continue
            runs[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{a.n} prompts, {a.workers} in flight, the first {a.burst} refused (429, retry-after 1 s), "
          f"latency {a.latency * 1000:.0f} ms; median of {a.repeats}")  # fmt: skip
    print(f"{'tree':<10} {'wall s':>7} {'ok':>6} {'requests':>9} {'limit at end':>13}")
    for name, rs in runs.items():
        if rs:
            med = {k: statistics.median(r[k] for r in rs) for k in ("wall", "ok", "requests", "limit")}
            print(f"{name:<10} {med['wall']:>7.2f} {med['ok']:>6.0f} {med['requests']:>9.0f} {med['limit']:>13.0f}")


if __name__ == "__main__":
    main()
