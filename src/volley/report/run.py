"""The report of one ``volley run``: progress and throughput over time, latency (p50/p95/p99), tokens and
cost by model, errors by type with examples, and the slowest and most expensive items.

Example::

    path = write_report("answers.jsonl")          # answers.jsonl.report.html, from answers.jsonl.journal.sqlite
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from ..files import replace_private
from . import figures
from .data import RunData, load_run
from .page import Page, count, money, seconds

TOP = 10  # rows in the slowest / most expensive tables
EXAMPLES = 3  # examples per error type


def default_path(output: str | os.PathLike[str]) -> Path:
    """``OUT`` → ``OUT.report.html``."""
    return Path(str(output) + ".report.html")


def render(run: RunData) -> str:
    """The report page of ``run`` as HTML text."""
    counts = run.counts
    raw = run.meta.get("settings")
    settings: dict[str, Any] = raw if isinstance(raw, dict) else {}
    created = run.meta.get("created")
    when = dt.datetime.fromtimestamp(created).strftime("%Y-%m-%d %H:%M:%S") if isinstance(created, float) else "?"
    page = Page(
        f"volley run report: {run.output.name}",
        f"output {run.output} · journal {run.journal} · model {settings.get('model') or '(per line)'} · "
        f"started {when} · report written {dt.datetime.now():%Y-%m-%d %H:%M:%S}",
    )
    span = run.span()
    wall = (span[1] - span[0]) if span else None
    finished = len(run.finished)
    pct = run.latency_percentiles()
    models = run.by_model()
    page.card("items", count(len(run.items)))
    for state in ("done", "failed", "invalid"):
        page.card(state, count(counts[state]))
    page.card("not finished", count(counts["pending"] + counts["in_flight"]))
    page.card("cost" + (f" ({run.unpriced} unpriced)" if run.unpriced else ""), money(run.total_cost))
    page.card("prompt tokens", count(sum(m["prompt"] for m in models.values())))
    page.card("cached prompt tokens", count(sum(m["cached"] for m in models.values())))
    page.card("completion tokens", count(sum(m["completion"] for m in models.values())))
    page.card("first to last result", seconds(wall))
    page.card("throughput", f"{finished / wall:.1f} items/s" if wall else "-")
    for k, v in pct.items():
        page.card(f"latency {k}", seconds(v))

    page.add_chart(figures.progress(run), "chart-progress")
    page.open_grid()
    page.add_chart(figures.latency(run), "chart-latency", empty="no latencies: nothing was answered yet")
    page.add_chart(figures.errors(run.errors()), "chart-errors", empty="no errors")
    page.add_chart(figures.tokens_by_model(models), "chart-tokens")
    page.add_chart(figures.cost_by_model(models), "chart-cost")
    page.close_grid()

    groups = run.errors()
    page.add_table(
        "Errors by type, with examples",
        ["error type", "items", "example ids", "example message"],
        [
            (t, len(items), ", ".join(i.custom_id for i in items[:EXAMPLES]), items[0].error_message or "")
            for t, items in groups.items()
        ],
        table_id="errors",
        empty="no errors",
        numeric=(1,),
    )
    timed = sorted((i for i in run.items if i.latency_s is not None), key=lambda i: -(i.latency_s or 0.0))
    page.add_table(
        f"Slowest {TOP} items",
        ["id", "line", "latency", "attempts", "model", "prompt / completion tokens", "cost"],
        [
            (
                i.custom_id,
                i.line,
                seconds(i.latency_s),
                i.attempts,
                i.model,
                f"{i.prompt_tokens} / {i.completion_tokens}",
                money(i.cost_usd),
            )
            for i in timed[:TOP]
        ],
        table_id="slowest",
        empty="no answered items yet",
        numeric=(1, 2, 3),
    )
    priced = sorted((i for i in run.items if i.cost_usd), key=lambda i: -(i.cost_usd or 0.0))
    page.add_table(
        f"Most expensive {TOP} items",
        ["id", "line", "cost", "prompt / cached / completion tokens", "model", "latency"],
        [
            (
                i.custom_id,
                i.line,
                money(i.cost_usd),
                f"{i.prompt_tokens} / {i.cached_tokens} / {i.completion_tokens}",
                i.model,
                seconds(i.latency_s),
            )
            for i in priced[:TOP]
        ],
        table_id="expensive",
        empty="no priced items",
        numeric=(1, 2),
    )
    page.add_table(
        "Tokens and cost by model",
        ["model", "answered items", "prompt tokens", "cached", "completion tokens", "cost", "cost per item"],
        [
            (
                m,
                count(v["items"]),
                count(v["prompt"]),
                count(v["cached"]),
                count(v["completion"]),
                money(v["cost"]),
                money(v["cost"] / v["items"] if v["items"] else None),
            )
            for m, v in models.items()
        ],
        table_id="models",
        empty="no finished items",
        numeric=(1, 2, 3, 4, 5, 6),
    )
    return page.render()


def write_report(
    output: str | os.PathLike[str],
    path: str | os.PathLike[str] | None = None,
    *,
    journal: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the report of the run whose output is ``output`` (default: ``OUT.report.html``); returns its path.

    Example::

        write_report("answers.parquet", "report.html")
    """
    html_text = render(load_run(output, journal))
    target = Path(path) if path is not None else default_path(output)
    write_html(target, html_text)
    return target


def write_html(target: Path, text: str) -> None:
    """Write a page atomically, private to the user (it holds answers and error messages)."""
    with replace_private(target, "w", encoding="utf-8") as f:
        f.write(text)
