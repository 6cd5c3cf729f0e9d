"""A ``volley run`` as data for its report: the journal's items with their result columns, and the figures of merit.

The journal (``OUT.journal.sqlite`` beside the output, see ``volley.jobs.journal``) is the source:
each item's state, attempts, tokens, cost, latency, error and finish time (``updated``), and its
output line (OpenAI Batch output JSON), from which the model that answered and the cached prompt
tokens are read. The output file itself is only named: every format rebuilds from the journal.

Example::

    run = load_run("answers.jsonl")
    run.counts, run.latency_percentiles()
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..jobs.summary import percentile
from ..tables.resume import connect, item_columns, journal_items, read_meta

FINISHED = ("done", "failed", "invalid")


@dataclass(slots=True)
class ReportItem:
    """One item: the journal's fields and the result columns read from its output line."""

    line: int
    custom_id: str
    state: str
    attempts: int
    updated: float | None
    cache_hit: bool
    model: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost_usd: float | None
    latency_s: float | None
    error_type: str | None
    error_message: str | None


@dataclass
class RunData:
    """Everything the report shows, read once."""

    output: Path
    journal: Path
    meta: dict[str, Any]
    items: list[ReportItem] = field(default_factory=list)

    @property
    def counts(self) -> Counter[str]:
        """Items per state (``done``, ``failed``, ``invalid``, ``pending``, ``in_flight``)."""
        return Counter(i.state for i in self.items)

    @property
    def finished(self) -> list[ReportItem]:
        """Items with a final result, in the order they finished."""
        done = [i for i in self.items if i.state in FINISHED and i.updated is not None]
        return sorted(done, key=lambda i: i.updated or 0.0)

    @property
    def latencies(self) -> list[float]:
        """Latency of each answered item that was sent (cache hits left out)."""
        return [i.latency_s for i in self.items if i.latency_s is not None and not i.cache_hit]

    def latency_percentiles(self) -> dict[str, float | None]:
        """``{"p50": s, "p95": s, "p99": s}`` (None without latencies)."""
        lat = self.latencies
        return {f"p{q}": percentile(lat, q / 100) for q in (50, 95, 99)}

    @property
    def total_cost(self) -> float:
        return sum(i.cost_usd or 0.0 for i in self.items)

    @property
    def unpriced(self) -> int:
        """Answered items without a price (a model missing from the price table)."""
        return sum(1 for i in self.items if i.state == "done" and i.cost_usd is None and not i.cache_hit)

    def span(self) -> tuple[float, float] | None:
        """``(first, last)`` finish time of the job's items (epoch seconds), None before any finished."""
        times = [i.updated for i in self.finished if i.updated is not None]
        return (min(times), max(times)) if times else None

    def by_model(self) -> dict[str, dict[str, float]]:
        """Per model that answered: answered items, prompt / cached / completion tokens and cost."""
        out: dict[str, dict[str, float]] = {}
        for i in self.items:
            if i.state != "done":
                continue
            m = out.setdefault(i.model, dict.fromkeys(("items", "prompt", "cached", "completion", "cost"), 0.0))
            m["items"] += 1
            m["prompt"] += i.prompt_tokens
            m["cached"] += i.cached_tokens
            m["completion"] += i.completion_tokens
            m["cost"] += i.cost_usd or 0.0
        return out

    def errors(self) -> dict[str, list[ReportItem]]:
        """Failed and invalid items by error type, most frequent first."""
        groups: dict[str, list[ReportItem]] = {}
        for i in self.items:
            if i.state in ("failed", "invalid"):
                groups.setdefault(i.error_type or "unknown", []).append(i)
        return dict(sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])))


def default_journal(output: str | os.PathLike[str]) -> Path:
    """``OUT`` → ``OUT.journal.sqlite`` (where ``volley run`` puts it)."""
    return Path(str(output) + ".journal.sqlite")


def load_run(output: str | os.PathLike[str], journal: str | os.PathLike[str] | None = None) -> RunData:
    """Read a run's journal (default: beside ``output``); ``TableError`` when there is none.

    Example::

        run = load_run("out.jsonl")
        print(len(run.items), run.total_cost)
    """
    jpath = Path(journal) if journal is not None else default_journal(output)
    db = connect(jpath)
    try:
        meta = read_meta(db)
        raw = meta.get("settings")
        settings: dict[str, Any] = raw if isinstance(raw, dict) else {}
        asked = str(settings.get("model") or "")
        items = []
        for it in journal_items(db):
            cols = item_columns(it)
            items.append(
                ReportItem(
                    line=it.line,
                    custom_id=it.custom_id,
                    state=it.state,
                    attempts=it.attempts,
                    updated=it.updated,
                    cache_hit=it.cache_hit,
                    model=cols["model"] or asked or "(unknown)",
                    prompt_tokens=cols["prompt_tokens"] or 0,
                    completion_tokens=cols["completion_tokens"] or 0,
                    cached_tokens=cols["cached_tokens"] or 0,
                    cost_usd=cols["cost_usd"],
                    latency_s=cols["latency_s"],
                    error_type=cols["error_type"] if it.state in ("failed", "invalid") else None,
                    error_message=cols["error_message"] if it.state in ("failed", "invalid") else None,
                )
            )
    finally:
        db.close()
    return RunData(Path(output), jpath, meta, items)
