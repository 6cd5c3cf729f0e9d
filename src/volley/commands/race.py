"""``volley race -m A -m B "prompt"``: the fastest answer, and how every model did (losers are cancelled)."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from ..engine.race import first_success
from ..errors import AllModelsFailedError, APIError
from ..prepare import Call, prepare
from ..send import execute
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
    non_negative_float,
    read_prompt,
    run_cancellable,
)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="volley race",
        description="Send one prompt to several models at once; print the first successful answer and "
        "each model's latency. The other requests are cancelled. Exit status 1 when every model failed.",
    )
    p.add_argument("prompt", nargs="?", help="the prompt (default: stdin)")
    p.add_argument("-m", "--model", action="append", required=True, dest="models", metavar="MODEL",
                   help="a model to race (repeat: -m A -m B)")  # fmt: skip
    p.add_argument("--hedge-after", type=non_negative_float, metavar="S",
                   help="start the models one by one, the next after S seconds without an answer")  # fmt: skip
    add_model_options(p)
    return p


async def race(calls: list[Call], hedge_after: float | None) -> tuple[list[dict[str, Any]], ModelResponse | None]:
    """Race prepared calls; each model's row (status, latency, error) and the winning answer (None: all failed)."""
    rows: list[dict[str, Any]] = [
        {"model": c.label, "status": "not started", "latency_s": None, "error": None} for c in calls
    ]

    def job(i: int, call: Call) -> Any:
        async def go() -> ModelResponse:
            rows[i]["status"] = "cancelled"  # until it finishes
            started = time.perf_counter()
            try:
                r = await execute(call)
            except Exception as exc:
                rows[i].update(status="failed", latency_s=time.perf_counter() - started, error=_error(exc))
                raise
            rows[i].update(status="finished", latency_s=r.latency)
            return r

        return go

    try:
        pos, winner = await first_success([(c.label, job(i, c)) for i, c in enumerate(calls)], hedge_after=hedge_after)
    except AllModelsFailedError:
        return rows, None
    rows[pos]["status"] = "won"
    return rows, winner


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"


def _fmt_latency(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def render(rows: list[dict[str, Any]], winner: ModelResponse | None) -> str:
    width = max(len(r["model"]) for r in rows)
    lines = []
    if winner is not None:
        win = next(r for r in rows if r["status"] == "won")
        lines += [f"winner: {win['model']} ({_fmt_latency(win['latency_s'])})", "", _content(winner), ""]
    else:
        lines += ["every model failed", ""]
    for r in rows:
        status = r["status"] if r["error"] is None else f"failed ({r['error']})"
        lines.append(f"  {r['model']:<{width}}  {_fmt_latency(r['latency_s']):>9}  {status}")
    return "\n".join(lines)


def _content(r: ModelResponse) -> str:
    msg = r.choices[0].message if r.choices else None
    if msg is None:
        return ""
    if msg.content:
        return msg.content
    if msg.tool_calls:
        return "\n".join(f"[tool call] {t.function.name}({t.function.arguments})" for t in msg.tool_calls)
    return ""


def main(argv: list[str]) -> int:
    """Entry point of ``volley race``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        load_prices(args)
        check_one_provider(args.models, args)
        prompt = read_prompt(args.prompt)
        params = {**completion_params(args), **control_params(args)}
        messages = [{"role": "user", "content": prompt}]
        calls = [prepare(m, messages, params) for m in args.models]
    except UsageError as exc:
        return fail(str(exc))
    except APIError as exc:
        return fail(exc.message)
    try:
        rows, winner = run_cancellable(lambda: race(calls, args.hedge_after))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    if args.json:
        out = {
            "winner": next((r["model"] for r in rows if r["status"] == "won"), None),
            "content": _content(winner) if winner is not None else None,
            "response": winner.model_dump(mode="json") if winner is not None else None,
            "models": rows,
        }
        print(json.dumps(out))
    else:
        print(render(rows, winner))
    return 0 if winner is not None else 1
