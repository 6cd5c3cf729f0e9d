"""Tokens per second through volley's ``local`` provider vs llama-cpp-python called directly; time to first answer.

Same GGUF (SmolLM2-135M-Instruct Q4_1), same prompts, same settings (greedy, fixed seed, same n_ctx and
n_threads), runs interleaved and alternated so drift (thermal, other load) hits both sides alike.
Needs the local extra. Run by hand::

    .venv/bin/python bench/local_tokens.py [--repeats 5] [--max-tokens 64] [--prompts 6]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import volley
from volley.local import runtime
from volley.protocols import local

ROOT = Path(__file__).resolve().parent.parent
MODEL = "local/smollm2"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def prompts(n: int) -> list[list[dict[str, Any]]]:
    rows = [json.loads(x) for x in (ROOT / "examples/questions.jsonl").read_text().splitlines() if x.strip()]
    return [r["messages"] for r in rows[:n]]


def settings(max_tokens: int) -> dict[str, Any]:
    return {"max_tokens": max_tokens, "temperature": 0, "seed": 0}


def run_direct(llama: Any, msgs: list[list[dict[str, Any]]], kw: dict[str, Any]) -> tuple[int, float]:
    t0 = time.perf_counter()
    tokens = 0
    for m in msgs:
        tokens += llama.create_chat_completion(messages=m, **kw)["usage"]["completion_tokens"]
    return tokens, time.perf_counter() - t0


def run_direct_stream(llama: Any, msgs: list[list[dict[str, Any]]], kw: dict[str, Any]) -> tuple[int, float]:
    """Chunks carry no usage: the caller counts the tokens of the same greedy answers from a non-stream pass."""
    t0 = time.perf_counter()
    for m in msgs:
        for _ in llama.create_chat_completion(messages=m, stream=True, **kw):
            pass
    return 0, time.perf_counter() - t0


def run_volley(msgs: list[list[dict[str, Any]]], kw: dict[str, Any]) -> tuple[int, float]:
    t0 = time.perf_counter()
    tokens = sum(volley.completion(MODEL, m, **kw).usage.completion_tokens for m in msgs)
    return tokens, time.perf_counter() - t0


def run_volley_batch(msgs: list[list[dict[str, Any]]], kw: dict[str, Any]) -> tuple[int, float]:
    t0 = time.perf_counter()
    out = volley.batch_completion(MODEL, msgs, **kw)
    wall = time.perf_counter() - t0
    return sum(r.usage.completion_tokens for r in out), wall


def run_volley_stream(msgs: list[list[dict[str, Any]]], kw: dict[str, Any]) -> tuple[int, float]:
    t0 = time.perf_counter()
    tokens = 0
    for m in msgs:
        for c in volley.completion(MODEL, m, stream=True, **kw):
            if c.usage:
                tokens += c.usage.completion_tokens
    return tokens, time.perf_counter() - t0


def first_answer(code: str, repeats: int) -> list[float]:
    """Wall seconds of a fresh interpreter running ``code`` (start, imports, model load, one short answer)."""
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        out.append(time.perf_counter() - t0)
    return out


FRESH_VOLLEY = (
    "import volley; "
    "r = volley.completion('local/smollm2', [{'role': 'user', 'content': 'What is the capital of France?'}], "
    "max_tokens=16, temperature=0); assert r.choices[0].message.content"
)


def fresh_direct(path: str, opts: dict[str, Any], extra_bufts: bool) -> str:
    """llama-cpp-python alone, with the same load settings as volley's worker (extra buffer types too)."""
    return (
        "import llama_cpp; from volley.local.runtime import model_params\n"
        f"with model_params(use_extra_bufts={extra_bufts!r}):\n"
        f"    m = llama_cpp.Llama(model_path={path!r}, **{opts!r})\n"
        "r = m.create_chat_completion(messages=[{'role': 'user', 'content': 'What is the capital of France?'}], "
        "max_tokens=16, temperature=0); assert r['choices'][0]['message']['content']"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--prompts", type=int, default=6)
    ap.add_argument("--fresh-repeats", type=int, default=3)
    args = ap.parse_args()

    import llama_cpp

    path = local.smollm2_path()
    opts = runtime.load_options()
    extra_bufts, _ = runtime.extra_bufts_default()  # what volley's worker starts with on this CPU
    msgs, kw = prompts(args.prompts), settings(args.max_tokens)
    print(
        f"machine: {os.cpu_count()} CPUs, {cpu_model()}; Python {platform.python_version()}; "
        f"llama-cpp-python {llama_cpp.__version__}; load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"model: {Path(path).name}; n_ctx {opts['n_ctx']}, n_threads {opts['n_threads']}/{opts['n_threads_batch']}; "
        f"extra buffer types {'on' if extra_bufts else 'off'} on both sides; {len(msgs)} prompts "
        f"x max_tokens {args.max_tokens}, greedy, seed 0; {args.repeats} interleaved repeats"
    )

    with runtime.model_params(use_extra_bufts=extra_bufts):
        direct = llama_cpp.Llama(model_path=path, **opts)
    volley.completion(MODEL, msgs[0], **settings(4))  # load volley's copy outside the timings
    direct.create_chat_completion(messages=msgs[0], **settings(4))

    modes = {
        "direct": lambda: run_direct(direct, msgs, kw),
        "volley": lambda: run_volley(msgs, kw),
        "volley batch": lambda: run_volley_batch(msgs, kw),
        "volley stream": lambda: run_volley_stream(msgs, kw),
        "direct stream": lambda: run_direct_stream(direct, msgs, kw),
    }
    rates: dict[str, list[float]] = {k: [] for k in modes}
    tokens_seen: dict[str, int] = {"direct stream": run_direct(direct, msgs, kw)[0]}
    order = list(modes)
    for rep in range(args.repeats):
        for name in order if rep % 2 == 0 else order[::-1]:
            tokens, wall = modes[name]()
            tokens = tokens or tokens_seen[name]
            tokens_seen[name] = tokens
            rates[name].append(tokens / wall)
    print(f"\ncompletion tokens per pass: {tokens_seen}")
    print(f"{'mode':<14} {'median tok/s':>12} {'min':>8} {'max':>8}  vs direct")
    base = {"direct": statistics.median(rates["direct"]), "direct stream": statistics.median(rates["direct stream"])}
    for name, rs in rates.items():
        ref = "direct stream" if "stream" in name else "direct"
        med = statistics.median(rs)
        print(f"{name:<14} {med:>12.1f} {min(rs):>8.1f} {max(rs):>8.1f}  {med / base[ref]:.3f}x ({ref})")
    per_rep = [v / d for v, d in zip(rates["volley"], rates["direct"], strict=True)]
    print(f"volley/direct per repeat: {', '.join(f'{r:.3f}' for r in per_rep)}")
    print(f"load average now {os.getloadavg()[0]:.2f} (other processes skew both sides alike, not the ratio)")

    print(f"\ntime to first answer in a fresh process (median of {args.fresh_repeats}, max_tokens 16):")
    tv = first_answer(FRESH_VOLLEY, args.fresh_repeats)
    td = first_answer(fresh_direct(path, opts, extra_bufts), args.fresh_repeats)
    for label, ts in (("volley.completion('local/smollm2')", tv), ("llama_cpp.Llama + create_chat_completion", td)):
        print(f"  {label:<42} {statistics.median(ts):.2f} s  ({', '.join(f'{t:.2f}' for t in ts)})")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import volley"], check=True)
    print(f"  (python -c 'import volley' alone: {time.perf_counter() - t0:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
