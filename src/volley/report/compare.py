"""The side-by-side page of ``volley compare``: one prompt, each model's answer, latency, tokens and cost.

Takes the rows ``volley.commands.compare.row(model, result)`` makes (``model, ok, content,
latency_s, prompt_tokens, completion_tokens, cost_usd, error``), so ``volley compare`` can write it
with one call after printing its table.

Example::

    rows = [row(m, r) for m, r in zip(models, results)]
    write_compare_report(rows, "compare.html", prompt=prompt)
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import figures
from .page import Page, money, seconds
from .run import write_html


def render_compare(rows: Sequence[dict[str, Any]], prompt: str) -> str:
    """The page as HTML text."""
    ok = [r for r in rows if r.get("ok")]
    shown = prompt if len(prompt) <= 200 else prompt[:199] + "…"
    page = Page(f"volley compare: {len(rows)} models", "prompt: " + shown)
    page.card("models", str(len(rows)))
    page.card("answered", str(len(ok)))
    timed = [r for r in ok if r.get("latency_s") is not None]
    if timed:
        fastest = min(timed, key=lambda r: r["latency_s"])
        page.card(f"fastest: {fastest['model']}", seconds(fastest["latency_s"]))
    priced = [r for r in ok if r.get("cost_usd") is not None]
    if priced:
        cheapest = min(priced, key=lambda r: r["cost_usd"])
        page.card(f"cheapest: {cheapest['model']}", money(cheapest["cost_usd"]))
    page.open_grid()
    page.add_chart(figures.compare_bars(rows, "latency_s", "Latency by model", "seconds"), "chart-latency")
    page.add_chart(figures.compare_bars(rows, "cost_usd", "Cost by model (USD)", "USD"), "chart-cost")
    page.add_chart(
        figures.compare_bars(rows, "completion_tokens", "Completion tokens by model", "tokens"), "chart-tokens"
    )
    page.close_grid()
    page.add_table(
        "Models",
        ["model", "latency", "prompt tokens", "completion tokens", "cost", "outcome"],
        [
            (
                r["model"],
                seconds(r.get("latency_s")),
                r.get("prompt_tokens"),
                r.get("completion_tokens"),
                money(r.get("cost_usd")),
                "answered" if r.get("ok") else f"failed: {r.get('error')}",
            )
            for r in rows
        ],
        table_id="models",
        numeric=(1, 2, 3, 4),
    )
    page.add_html('<section id="prompt"><h2>Prompt</h2><div class="answer">' + html.escape(prompt) + "</div></section>")
    page.open_grid()
    for r in rows:
        body = html.escape(r.get("content") or "") if r.get("ok") else "failed: " + html.escape(str(r.get("error")))
        page.add_html(
            f'<section class="side"><h2>{html.escape(str(r["model"]))}</h2><div class="answer">{body}</div></section>'
        )
    page.close_grid()
    return page.render()


def write_compare_report(rows: Sequence[dict[str, Any]], path: str | os.PathLike[str], *, prompt: str) -> Path:
    """Write the side-by-side page to ``path`` (atomically, mode 0600); returns the path.

    Example::

        write_compare_report([row("gpt-4o-mini", r1), row("claude-3-5-haiku", r2)], "cmp.html", prompt="Hi")
    """
    target = Path(path)
    write_html(target, render_compare(rows, prompt))
    return target
