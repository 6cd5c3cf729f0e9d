"""A worker process for the shared-limit tests through volley's public API.

``python _shared_api_worker.py BASE --tag P --n N [--limits-url URL | --unaware] [--rpm R] [--start T]
[--cache-url URL] [--max-workers W] [--num-retries K]`` waits until wall time ``--start``, sends the
prompts ``P-0 .. P-(N-1)`` with ``volley.batch_completion`` to the fake server at ``BASE`` and prints one
JSON line: ``{"answers": [...], "errors": [...], "hits": n, "cpu_s": s}``. With ``--unaware`` the
process keeps its limits to itself (``limits_url=False``), as every process did before issue 16.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

KEY = "sk-shared-api-SECRET-0123456789"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("base")
    p.add_argument("--tag", required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--limits-url")
    p.add_argument("--unaware", action="store_true")
    p.add_argument("--rpm", type=float)
    p.add_argument("--start", type=float, default=0.0)
    p.add_argument("--cache-url")
    p.add_argument("--max-workers", type=int, default=20)
    p.add_argument("--num-retries", type=int, default=8)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    import volley

    params: dict[str, object] = {"api_base": args.base, "api_key": KEY, "num_retries": args.num_retries}
    if args.unaware:
        params["limits_url"] = False
    elif args.limits_url:
        params["limits_url"] = args.limits_url
    if args.rpm:
        params["rpm"] = args.rpm
    if args.cache_url:
        params["cache_url"] = args.cache_url
    prompts = [[{"role": "user", "content": f"{args.tag}-{i}"}] for i in range(args.n)]
    delay = args.start - time.time()
    if delay > 0:
        time.sleep(delay)
    out = volley.batch_completion("gpt-4o-mini", prompts, max_workers=args.max_workers, **params)
    answers = [r.choices[0].message.content if isinstance(r, volley.ModelResponse) else None for r in out]
    errors = [f"{type(r).__name__}: {r}" for r in out if isinstance(r, BaseException)]
    hits = sum(1 for r in out if isinstance(r, volley.ModelResponse) and r.cache_hit)
    print(json.dumps({"answers": answers, "errors": errors, "hits": hits, "cpu_s": time.process_time()}), flush=True)


if __name__ == "__main__":
    main()
