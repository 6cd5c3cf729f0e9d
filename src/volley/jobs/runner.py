"""Run a JSONL job to completion, exactly once per line: ``Job(options).prepare()`` then ``await job.run()``.

``prepare`` does everything that can fail without the network (paths, input, model, key, prices,
journal, output repair) and raises :class:`SetupError` before any request. ``run`` sends the pending
items through the engine; each result is committed to the journal, then its line is appended to
the output and flushed. Cancelling ``run`` (Ctrl-C) cancels the requests in flight and leaves the
journal consistent: rerunning the same command continues where it stopped.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .. import __version__
from ..call import Template, execute
from ..cost import Budget, BudgetExceededError, model_price
from ..engine.progress import Progress
from ..engine.run import run as run_jobs
from ..errors import APIError, UnsupportedParamsError
from ..types import ModelResponse
from ..validate import InvalidRequestError
from . import journal as journal_mod
from .io import Item, dumps, file_digest, invalid_record, parse_line, read_lines, result_record
from .journal import Journal, rewrite_output
from .summary import RunSummary, percentile

MAX_REPORTED = 20  # malformed lines printed one by one; the rest are counted


class SetupError(Exception):
    """The job cannot start; nothing was sent. The message says why and what to do."""


@dataclass
class RunOptions:
    """The settings of one ``volley run``."""

    input: Path
    output: Path
    journal: Path | None = None
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)  # completion parameters; override each line's
    api_key: str | None = None
    api_base: str | None = None
    concurrency: int = 100
    rpm: float | None = None
    tpm: float | None = None
    num_retries: int | None = None
    timeout: float | None = None
    budget_usd: float | None = None
    cache: bool = False
    cache_path: str | None = None
    retry_failed: bool = True
    strict: bool = False
    overwrite: bool = False
    progress: bool = False
    batch_api: bool = False  # send through the provider's batch API (OpenAI Batch, Anthropic Message Batches)
    poll_interval: float = 30.0
    batch_fallback: bool = False  # items the batch could not answer go through online mode

    @property
    def journal_path(self) -> Path:
        return self.journal or journal_mod.default_path(self.output)

    def settings(self) -> dict[str, Any]:
        """What shapes the answers (kept in the journal to refuse a resume with other settings). No key."""
        return {"model": self.model, "params": self.params, "api_base": self.api_base}

    def control(self) -> dict[str, Any]:
        out: dict[str, Any] = {"max_workers": self.concurrency}
        for name in ("api_key", "api_base", "rpm", "tpm", "num_retries", "timeout", "cache_path"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.cache:
            out["cache"] = True
        return out


class Job:
    """One ``volley run``: setup (:meth:`prepare`), then the run (:meth:`run`)."""

    def __init__(self, options: RunOptions, *, log: TextIO | None = None) -> None:
        self.opts = options
        self.log = log or sys.stderr
        self.journal: Journal | None = None
        self.budget: Budget | None = None
        self.invalid_items: list[Item] = []
        self._templates: dict[tuple[str, str], Template] = {}
        self._control = options.control()
        self._attempts: dict[int, int] = {}
        self._custom_ids: dict[int, str] = {}
        self._latencies: list[float] = []
        self._summary = RunSummary(str(options.input), str(options.output), str(options.journal_path))
        self._lock: Any = None

    # ------------------------------------------------------------------ setup

    def prepare(self) -> None:
        """Check everything and open the journal; raise :class:`SetupError` before any request."""
        o = self.opts
        if not o.input.is_file():
            raise SetupError(f"input {o.input} does not exist (or is not a file)")
        if not os.access(o.input, os.R_OK):
            raise SetupError(f"input {o.input} is not readable")
        if o.input.resolve() == o.output.resolve():
            raise SetupError("the output must not be the input file")
        for what, path in (("output", o.output), ("journal", o.journal_path)):
            _check_writable(what, path)
        if o.batch_api and (o.budget_usd is not None or o.cache):
            raise SetupError("--batch-api does not apply --budget-usd or --cache yet; run without them")
        self._lock = _lock(o.journal_path)
        if o.model:
            self._template(o.model, dict(o.params))
        journal_path = o.journal_path
        if o.overwrite:
            journal_mod.remove(journal_path)
            o.output.unlink(missing_ok=True)
        existing = self.journal = self._open_existing(journal_path)
        if existing is not None:
            self._check_same_job(existing)
        elif o.output.exists() and o.output.stat().st_size > 0:
            raise SetupError(
                f"{o.output} already exists and has no journal ({journal_path}); "
                "pass --overwrite to replace it, or choose another -o"
            )
        rows = self._scan()
        self._report_invalid()
        if o.strict and self.invalid_items:
            raise SetupError(f"{len(self.invalid_items)} malformed line(s) in {o.input} (--strict): nothing was sent")
        try:
            if existing is None:
                self.journal = Journal(journal_path)
                self.journal.create(self._meta(), rows)
            else:
                existing.resume(retry_failed=o.retry_failed)
            rewrite_output(self.journal, o.output)
        except (OSError, RuntimeError) as exc:
            raise SetupError(str(exc)) from None
        if o.budget_usd is not None:
            self.budget = Budget(o.budget_usd, spent=self.journal.spent())

    def _open_existing(self, path: Path) -> Journal | None:
        if not path.exists():
            return None
        try:
            j = Journal(path)
        except Exception as exc:
            raise SetupError(f"cannot open the journal {path}: {exc}") from None
        if j.initialised():
            return j
        j.close()  # a crash while the job was being created: start it again
        journal_mod.remove(path)
        return None

    def _meta(self) -> dict[str, Any]:
        o = self.opts
        return {
            "input": str(o.input.resolve()),
            "input_size": o.input.stat().st_size,
            "input_sha256": file_digest(o.input),
            "settings": o.settings(),
            "volley_version": __version__,
        }

    def _check_same_job(self, j: Journal) -> None:
        o = self.opts
        meta = j.meta()
        if meta.get("input_size") != o.input.stat().st_size or meta.get("input_sha256") != file_digest(o.input):
            raise SetupError(
                f"{o.input} changed since this job started (journal {o.journal_path}); "
                "pass --overwrite to start over, or choose another -o"
            )
        before, now = meta.get("settings") or {}, json.loads(json.dumps(o.settings()))
        if before != now:
            diff = "; ".join(
                f"{k}: {before.get(k)!r} then, {now.get(k)!r} now" for k in sorted(set(before) | set(now))
                if before.get(k) != now.get(k)
            )  # fmt: skip
            raise SetupError(
                f"this job was started with other settings ({diff}); rerun with the same settings "
                "to resume, or pass --overwrite to start over"
            )

    def _template(self, model: str, params: dict[str, Any], line: int | None = None, own: bool = False) -> Template:
        """The template for a model and parameters (one per distinct pair). ``own``: the line set parameters."""
        key = (model, json.dumps(params, sort_keys=True, default=str))
        tpl = self._templates.get(key)
        if tpl is not None:
            return tpl
        where = f"{self.opts.input}:{line}: " if line is not None else ""
        try:
            tpl = Template(model, {**params, **self._control})
        except (InvalidRequestError, UnsupportedParamsError) as exc:
            if own:  # the line's own parameters are at fault: that line is malformed
                raise _LineError(exc.message) from None
            raise SetupError(where + exc.message) from None
        except APIError as exc:  # unknown model or provider, missing key or base
            raise SetupError(where + exc.message) from None
        except (OSError, ValueError) as exc:  # the cache file cannot be opened, a provider's own check
            raise SetupError(where + str(exc)) from None
        if self.opts.budget_usd is not None and model_price(tpl.route.model, tpl.route.provider) is None:
            raise SetupError(
                f"{where}--budget-usd needs a price for {tpl.route.label}: give one with --prices FILE "
                '(a JSON object like {"%s": {"input": 0.5, "output": 1.5}}, USD per million tokens)' % tpl.route.label
            )
        self._templates[key] = tpl
        return tpl

    def _item_template(self, item: Item) -> Template:
        model = self.opts.model or item.model
        if model is None:
            raise _LineError("no model: give -m MODEL, or a model in the line")
        return self._template(model, {**item.params, **self.opts.params}, item.line, bool(item.params))

    def _scan(self) -> list[tuple[int, str, str | None, str | None]]:
        """Parse every line once: malformed ones become invalid rows; model and key problems raise."""
        rows: list[tuple[int, str, str | None, str | None]] = []
        seen: dict[str, int] = {}
        try:
            for n, raw in read_lines(self.opts.input):
                item = parse_line(raw, n)
                if item.error is None and item.custom_id in seen:
                    item.error = f"duplicate custom_id {item.custom_id!r} (first on line {seen[item.custom_id]})"
                if item.error is None:
                    seen[item.custom_id] = n
                    try:
                        self._item_template(item)
                    except _LineError as exc:
                        item.error = str(exc)
                if item.error is not None:
                    self.invalid_items.append(item)
                    rows.append((n, item.custom_id, dumps(invalid_record(item)), "invalid_request"))
                else:
                    rows.append((n, item.custom_id, None, None))
        except OSError as exc:
            raise SetupError(f"cannot read {self.opts.input}: {exc}") from None
        if not rows:
            raise SetupError(f"{self.opts.input} holds no input lines")
        return rows

    def _report_invalid(self) -> None:
        for item in self.invalid_items[:MAX_REPORTED]:
            print(f"{self.opts.input}:{item.line}: {item.error}", file=self.log)
        more = len(self.invalid_items) - MAX_REPORTED
        if more > 0:
            print(f"... and {more} more malformed lines", file=self.log)

    # ------------------------------------------------------------------ running

    async def run(self) -> RunSummary:
        """Send every pending item; return the summary. Cancellation stops cleanly (``interrupted``)."""
        assert self.journal is not None, "call prepare() first"
        s = self._summary
        pending = self.journal.pending_lines()
        label = self.opts.model or "volley run"
        tracker = Progress(len(pending), show=self.opts.progress and bool(pending), label=label)
        started = time.monotonic()
        with open(self.opts.output, "a", encoding="utf-8", newline="\n") as out:
            try:
                if pending and self.opts.batch_api:
                    await self._run_batch_api(pending, tracker, out)
                elif pending:
                    jobs = self._jobs(pending, tracker)
                    async for line, result in run_jobs(jobs, concurrency=self.opts.concurrency):
                        self._record(line, result, out)
                        if not isinstance(result, BudgetExceededError):
                            tracker.result(line, result)
            except asyncio.CancelledError:
                s.interrupted = True
                task = asyncio.current_task()
                if task is not None and hasattr(task, "uncancel"):
                    task.uncancel()
            finally:
                self.journal.release_in_flight()
                tracker.close()
        s.wall_s = time.monotonic() - started
        self._finish_summary()
        return s

    def _jobs(self, pending: set[int], tracker: Progress) -> Iterator[tuple[int, Any]]:
        for n, call, _ in self._calls(pending):
            if self.budget is not None and self.budget.exhausted:
                self._custom_ids.pop(n, None)
                return
            call.budget = self.budget
            yield n, self._job(n, call, tracker)

    async def _run_batch_api(self, pending: set[int], tracker: Progress, out: TextIO) -> None:
        """Every pending item through the provider's batch API; batch ids kept in the journal.

        A rerun after a crash attaches to the batches already submitted instead of paying twice;
        results are matched to lines by their ``line-N`` custom ids.
        """
        from ..batch_api import run_batch_api

        journal = self.journal
        assert journal is not None
        lines, calls = [], []
        for n, call, _ in self._calls(pending):
            lines.append(n)
            calls.append(call)
        if not calls:
            return
        results = await run_batch_api(
            calls,
            custom_ids=[f"line-{n}" for n in lines],
            resume_ids=journal.meta().get("batch_ids") or None,
            on_submitted=lambda ids: journal.set_meta("batch_ids", list(ids)),
            fallback="online" if self.opts.batch_fallback else None,
            poll_interval=self.opts.poll_interval,
        )
        for n, result in zip(lines, results):
            self._record(n, result, out)
            tracker.result(n, result)
        journal.set_meta("batch_ids", [])

    def _calls(self, pending: set[int]) -> Iterator[tuple[int, Any, Item]]:
        """The prepared call of each pending, well-formed line, in input order."""
        for n, raw in read_lines(self.opts.input):
            if n not in pending:
                continue
            item = parse_line(raw, n)
            if item.error is not None or item.messages is None:
                continue  # malformed lines were recorded as invalid at setup
            self._custom_ids[n] = item.custom_id
            yield n, self._item_template(item).call(item.messages, validated=True), item

    def _job(self, line: int, call: Any, tracker: Progress) -> Any:
        journal = self.journal
        assert journal is not None

        def on_retry(exc: BaseException, attempt: int, wait: float) -> None:
            self._attempts[line] = self._attempts.get(line, 1) + 1
            tracker.retry(exc, attempt, wait)

        async def go() -> ModelResponse:
            journal.mark_in_flight(line)
            return await execute(call, on_retry=on_retry)

        return go

    def _record(self, line: int, result: Any, out: TextIO) -> None:
        """Commit one result to the journal, then append its output line (in that order)."""
        assert self.journal is not None
        s = self._summary
        custom_id = self._custom_ids.pop(line)
        attempts = self._attempts.pop(line, 1)
        if isinstance(result, BudgetExceededError):
            self.journal.mark_pending(line)
            s.skipped_budget += 1
            return
        text = dumps(result_record(custom_id, result))
        if isinstance(result, ModelResponse):
            usage = result.usage
            cost = result.cost
            hit = result.cache_hit
            self.journal.finish(
                line, ok=True, output=text, attempts=0 if hit else attempts,
                prompt_tokens=usage.prompt_tokens if usage else None,
                completion_tokens=usage.completion_tokens if usage else None,
                cost_usd=cost, latency_s=result.latency, cache_hit=hit,
            )  # fmt: skip
            if hit:
                s.cache_hits += 1
            else:
                s.sent += 1
                if usage is not None:
                    s.prompt_tokens += usage.prompt_tokens or 0
                    s.completion_tokens += usage.completion_tokens or 0
                if result.latency is not None:
                    self._latencies.append(result.latency)
                if cost is None:
                    s.unpriced += 1
                else:
                    s.cost_usd += cost
        else:
            self.journal.finish(line, ok=False, output=text, attempts=attempts, error_type=type(result).__name__)
            s.sent += 1
        out.write(text)
        out.flush()

    def _finish_summary(self) -> None:
        assert self.journal is not None
        s, counts = self._summary, self.journal.counts()
        s.items = sum(counts.values())
        s.done, s.failed, s.invalid = counts["done"], counts["failed"], counts["invalid"]
        s.pending = counts["pending"] + counts["in_flight"]
        s.errors = dict(self.journal.errors())
        s.job_cost_usd = self.journal.spent()
        s.latency_p50_s = percentile(self._latencies, 0.50)
        s.latency_p95_s = percentile(self._latencies, 0.95)
        s.requests_per_s = s.sent / s.wall_s if s.wall_s > 0 else 0.0
        if self.budget is not None:
            s.budget_usd = self.budget.limit
            s.budget_reached = self.budget.exhausted or (s.pending > 0 and self.budget.spent >= self.budget.limit)
            if s.budget_reached and not s.interrupted:
                s.skipped_budget = max(s.skipped_budget, s.pending)

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()
            self.journal = None
        if self._lock is not None:
            self._lock.close()  # releases the lock (the file stays: removing it would race)
            self._lock = None


class _LineError(Exception):
    """A problem with one input line (it becomes an invalid item)."""


def _lock(journal_path: Path) -> Any:
    """Hold ``JOURNAL.lock`` exclusively, so two runs of one job cannot both send (released even on kill -9)."""
    try:
        import fcntl
    except ImportError:  # not Unix: no lock
        return None
    f = open(str(journal_path) + ".lock", "a+")  # noqa: SIM115 (held until Job.close)
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise SetupError(
            f"another volley run is using this job ({journal_path}); wait for it to finish or stop it first"
        ) from None
    return f


def _check_writable(what: str, path: Path) -> None:
    if path.exists():
        if path.is_dir():
            raise SetupError(f"{what} path {path} is a directory")
        if not os.access(path, os.W_OK):
            raise SetupError(f"cannot write the {what} {path}: permission denied")
        return
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise SetupError(f"cannot write the {what} {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SetupError(f"cannot write the {what} {path}: directory {parent} is not writable")
