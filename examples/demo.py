"""The demo job: a batch of questions through volley, start to finish, with no API key.

The "model" is volley's own fake provider server, started
in-process on 127.0.0.1: the requests, connection pool, retries and parsing are all real.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import volley
from volley.testing import FakeServer

HERE = Path(__file__).parent


def main() -> int:
    rows = [json.loads(line) for line in (HERE / "questions.jsonl").read_text().splitlines() if line.strip()]
    with FakeServer() as server:
        server.script("*", latency=0.2)
        started = time.perf_counter()
        results = volley.batch_completion(
            "openai/demo-model",
            [r["messages"] for r in rows],
            api_base=server.openai_base,
            api_key="demo-key",
            max_workers=8,
        )
        wall = time.perf_counter() - started
        # One prompt to three providers, each speaking its own wire format: the fastest answer wins.
        server.script("gpt-demo", latency=0.30)
        server.script("claude-demo", latency=0.05)
        server.script("command-demo", latency=0.60)
        models = [
            {"model": "openai/gpt-demo", "api_base": server.openai_base},
            {"model": "anthropic/claude-demo", "api_base": server.url},
            {"model": "cohere/command-demo", "api_base": server.url},
        ]
        question = [{"role": "user", "content": "Which model answers first?"}]
        t0 = time.perf_counter()
        fastest = volley.batch_completion_models(models=models, messages=question, api_key="demo-key")
        race_s = time.perf_counter() - t0
        everyone = volley.batch_completion_models_all_responses(models=models, messages=question, api_key="demo-key")
    ok = [r for r in results if isinstance(r, volley.ModelResponse)]
    for row, r in zip(rows, results):
        answer = r.choices[0].message.content if isinstance(r, volley.ModelResponse) else f"ERROR {r}"
        print(f"{row['custom_id']:>4}  {answer}")
    lat = sorted(r.latency for r in ok if r.latency is not None)
    tokens = sum(r.usage.total_tokens for r in ok if r.usage)
    print(
        f"\n{len(ok)}/{len(rows)} done in {wall:.2f} s  |  {tokens} tokens  |  "
        f"p50 {statistics.median(lat) * 1000:.0f} ms  |  {len(rows) / wall:.1f} req/s"
    )
    print(f"race: {fastest.provider}/{fastest.model} answered first, in {race_s * 1000:.0f} ms")
    print("all responses: " + ", ".join(f"{r.provider} {r.latency * 1000:.0f} ms" for r in everyone))
    return 0 if len(ok) == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
