"""``volley compare -m A -m B "prompt"``: every model's answer side by side, with latency, tokens and cost."""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

from ..api import abatch_completion_models_all_responses
from ..errors import APIError
from ..routing import split_model
from ..types import ModelResponse
from .common import (
    EXIT_INTERRUPTED,
    Parser,
    UsageError,
    add_model_options,
    check_one_provider,
    completion_params,
    control_params,
    fail,
    load_prices,
    read_prompt,
    run_cancellable,
)
from .race import _content, _error

PREVIEW = 48  # characters of each answer shown in the table


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="volley compare",
        description="Send one prompt to several models and show every answer with its latency, tokens and "
        "cost. Exit status 1 when every model failed.",
    )
    p.add_argument("prompt", nargs="?", help="the prompt (default: stdin)")
    p.add_argument("-m", "--model", action="append", required=True, dest="models", metavar="MODEL",
                   help="a model to ask (repeat: -m A -m B)")  # fmt: skip
    p.add_argument(
        "--report",
        type=Path,
        metavar="FILE.html",
        help="also write the answers side by side as one HTML page (needs plotly: volley-llm[report])",
    )
    add_model_options(p)
    return p


def check_report(path: Path) -> None:
    """Refuse a report that cannot be written, before anything is sent."""
    from .._optional import MissingDependencyError, need

    try:
        need("plotly", extra="report", purpose="--report (the HTML page)")
    except MissingDependencyError as exc:
        raise UsageError(str(exc)) from None
    if path.is_dir():
        raise UsageError(f"--report {path} is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write the report {path}: directory {parent} does not exist or is not writable")


def row(model: str, result: Any) -> dict[str, Any]:
    """One model's outcome as plain data."""
    if isinstance(result, ModelResponse):
        usage = result.usage
        return {
            "model": model,
            "ok": True,
            "content": _content(result),
            "latency_s": result.latency,
            "prompt_tokens": usage.prompt_tokens if usage else None,
            "completion_tokens": usage.completion_tokens if usage else None,
            "cost_usd": result.cost,
            "error": None,
        }
    return {"model": model, "ok": False, "content": None, "latency_s": None, "prompt_tokens": None,
            "completion_tokens": None, "cost_usd": None, "error": _error(result)}  # fmt: skip


def render(rows: list[dict[str, Any]]) -> str:
    """A table (model, latency, tokens, cost, answer preview), then each answer in full."""

    def cell(r: dict[str, Any]) -> list[str]:
        if not r["ok"]:
            return [r["model"], "-", "-", "-", "-", "failed: " + r["error"]]
        one_line = " ".join((r["content"] or "").split())
        preview = one_line if len(one_line) <= PREVIEW else one_line[: PREVIEW - 1] + "…"
        cost = "n/a" if r["cost_usd"] is None else f"${r['cost_usd']:.6f}"
        latency = "-" if r["latency_s"] is None else f"{r['latency_s']:.2f} s"
        return [r["model"], latency, str(r["prompt_tokens"] or 0), str(r["completion_tokens"] or 0), cost, preview]

    table = [["model", "latency", "in", "out", "cost", "answer"], *(cell(r) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    right = {1, 2, 3, 4}
    lines = [
        "  ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(line)).rstrip()
        for line in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in rows:
        if r["ok"]:
            lines += ["", f"== {r['model']} ==", textwrap.dedent(r["content"] or "").strip()]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Entry point of ``volley compare``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        load_prices(args)
        check_one_provider(args.models, args)
        prompt = read_prompt(args.prompt)
        if args.report is not None:
            check_report(args.report)
    except UsageError as exc:
        return fail(str(exc))
    params = {**completion_params(args), **control_params(args)}
    messages = [{"role": "user", "content": prompt}]

    async def ask() -> list[Any]:
        return await abatch_completion_models_all_responses(args.models, messages, return_exceptions=True, **params)

    try:
        results = run_cancellable(ask)
    except APIError as exc:  # raised before any request: unknown model, missing key, bad parameter
        return fail(exc.message)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    rows = [row("/".join(split_model(m)), r) for m, r in zip(args.models, results)]
    print(json.dumps({"models": rows}) if args.json else render(rows))
    if args.report is not None:
        from ..report.compare import write_compare_report

        try:
            write_compare_report(rows, args.report, prompt=prompt)
        except OSError as exc:  # the answers are printed: not a usage error
            print(f"volley: error: cannot write the report {args.report}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        print(f"volley: wrote {args.report}", file=sys.stderr)
    return 0 if any(r["ok"] for r in rows) else 1
