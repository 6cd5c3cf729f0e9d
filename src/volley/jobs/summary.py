"""What a ``volley run`` did: job totals (from the journal) and this run's numbers, as text or JSON."""

from __future__ import annotations

import math
import textwrap
from dataclasses import asdict, dataclass, field
from typing import Any

EXIT_OK = 0  # every item done
EXIT_INCOMPLETE = 1  # some items failed, were malformed, or are still pending (budget, a file error)
EXIT_SETUP = 2  # nothing sent: bad arguments, input, model, key or paths
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGTERM: stopped cleanly, rerun to resume
WIDTH = 80  # columns of the summary (a terminal's usual width)


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values`` by nearest rank; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


@dataclass
class RunSummary:
    """Job state after the run (``items`` .. ``errors``, ``job_cost_usd``) and this run's own numbers."""

    input: str
    output: str
    journal: str
    items: int = 0  # input lines (items) in the job
    done: int = 0
    failed: int = 0
    invalid: int = 0  # malformed input lines
    pending: int = 0  # not finished: skipped by the budget, or interrupted
    errors: dict[str, int] = field(default_factory=dict)  # failed items by error type
    job_cost_usd: float = 0.0  # every run of this job
    # this run
    sent: int = 0  # items answered by a request (not the cache), done or failed
    cache_hits: int = 0
    skipped_budget: int = 0  # items left pending because the budget was reached
    budget_usd: float | None = None
    budget_reached: bool = False
    budget_note: str | None = None  # how requests were reserved, when no max_tokens bounds them
    prompt_tokens: int = 0  # tokens billed this run (cache hits excluded)
    completion_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens read from the provider's prompt cache (in prompt_tokens)
    cost_usd: float = 0.0  # this run; cache hits cost 0
    unpriced: int = 0  # answers whose model has no known price (not in cost_usd)
    wall_s: float = 0.0
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    requests_per_s: float = 0.0
    interrupted: bool = False
    error: str | None = None  # why the run stopped early (a file that cannot be written); rerun to resume
    resume: str | None = None  # the command that continues the job, when it is not finished
    output_format: str | None = None  # a table format (the output is rebuilt from the journal); None: Batch lines
    report: str | None = None  # the HTML report written after the run (--report)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.failed or self.invalid or self.pending or self.error:
            return EXIT_INCOMPLETE
        return EXIT_OK

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["exit_code"] = self.exit_code
        for k in ("job_cost_usd", "cost_usd", "wall_s", "requests_per_s"):
            data[k] = round(data[k], 6)
        return data

    def text(self, width: int = WIDTH) -> str:
        """A few human lines, each within ``width`` columns (a path or command longer than that is kept whole
        on a line of its own, so it can be copied)."""
        errors = ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items(), key=lambda kv: -kv[1]))
        lat = (
            f"latency p50 {self.latency_p50_s:.2f} s, p95 {self.latency_p95_s:.2f} s"
            if self.latency_p50_s is not None and self.latency_p95_s is not None
            else "latency -"
        )
        cached = f" ({self.cached_tokens:,} cached)" if self.cached_tokens else ""
        table = f", output {self.output_format}: one row per input row" if self.output_format else ""
        lines = [
            f"volley run: {self.items:,} items{table}",
            f"  done {self.done:,}  failed {self.failed:,}  invalid {self.invalid:,}  pending {self.pending:,}",
        ]
        if errors:
            lines += textwrap.wrap(f"failed by error: {errors}", width, initial_indent="  ", subsequent_indent="    ")
        lines += [
            f"  this run: {self.sent:,} sent, {self.cache_hits:,} cache hits, {self.skipped_budget:,} held back "
            "by the budget",
            f"  {self.wall_s:.1f} s, {self.requests_per_s:.1f} req/s; {lat}",
            f"  tokens {self.prompt_tokens:,} in{cached} / {self.completion_tokens:,} out",
            f"  cost {_usd(self.cost_usd)} this run, {_usd(self.job_cost_usd)} for the job",
        ]
        if self.unpriced:
            lines.append(f"  (+{self.unpriced:,} answers of models with no known price, not in the cost)")
        lines.append(f"  output  {self.output}")
        if self.report:
            lines.append(f"  report  {self.report}")
        lines.append(f"  journal {self.journal}")
        if self.budget_usd is not None and self.budget_note:
            lines += textwrap.wrap(f"budget: {self.budget_note}", width, initial_indent="  ",
                                   subsequent_indent="    ")  # fmt: skip
        if self.budget_reached:
            lines.append(f"  budget ${self.budget_usd:.4f} reached: stopped sending; {self.pending:,} items left "
                         "pending")  # fmt: skip
        if self.interrupted:
            lines.append("  interrupted: requests in flight were cancelled; the journal is consistent")
        if self.resume and self.budget_reached and not self.interrupted:
            lines += ["  to continue, rerun with a larger --budget-usd:", f"    {self.resume}"]
        elif self.resume:
            lines += ["  to resume, run the same command:", f"    {self.resume}"]
        return "\n".join(_fit(line, width) for line in lines)


def _usd(value: float) -> str:
    """Dollars with 4 decimals, or 6 for a sum below a cent (so a small job does not read $0.0000)."""
    return f"${value:.4f}" if value >= 0.01 or value == 0 else f"${value:.6f}"


def _fit(line: str, width: int) -> str:
    """A line within ``width``, cut at a space where it is too long, unless it ends with a path or command."""
    if len(line) <= width or line.lstrip().startswith(("output ", "report ", "journal ", "volley ")):
        return line
    return "\n".join(textwrap.wrap(line, width, subsequent_indent="    ")) or line
