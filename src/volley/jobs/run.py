"""Run a job to completion, exactly once per input item: ``Job(options).prepare()`` then ``await job.run()``.

``prepare`` does everything that can fail without the network (:mod:`.setup`) and raises
:class:`~.setup.SetupError` before any request. ``run`` sends the pending items through the engine;
every result that is ready at once is committed to the journal in one transaction, then (Batch
output) their lines are appended to the output and flushed. A table output is rebuilt from the
journal after the run, finished or not. Cancelling ``run`` (Ctrl-C) cancels the requests in flight
and leaves the journal consistent: rerunning the same command continues where it stopped.
``dry_run`` builds every request and prints what sending them would cost, sending nothing.

Example::

    job = Job(RunOptions(input=Path("q.csv"), output=Path("a.parquet"), model="gpt-4o-mini", prompt="{q}"))
    try:
        job.prepare()
        summary = asyncio.run(job.run())
    finally:
        job.close()
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from contextlib import aclosing
from functools import partial
from typing import Any, TextIO

from .. import collector
from ..budget import Budget
from ..engine.progress import Progress
from ..engine.run import run_chunks
from ..errors import BudgetExceededError
from ..estimates import Estimate, Estimator
from ..hooks.budget import BudgetHook
from ..prepare import Call
from ..pricing import BATCH_DISCOUNT, usage_counts
from ..send import execute
from ..types import ModelResponse
from .io import Item, dumps, result_record
from .journal import Journal, Outcome
from .options import RunOptions
from .setup import JobSetup, LineError, SetupError, reason
from .summary import RunSummary, percentile

__all__ = ["Job", "RunOptions", "SetupError"]


class Job:
    """One ``volley run``: setup (:meth:`prepare`), then the run (:meth:`run`), or :meth:`dry_run`."""

    def __init__(self, options: RunOptions, *, log: TextIO | None = None) -> None:
        self.opts = options
        self.setup = JobSetup(options, log=log)
        self.log = self.setup.log
        self.journal: Journal | None = None
        self.budget: Budget | None = None
        self._budget_hook: BudgetHook | None = None
        self._attempts: dict[int, int] = {}
        self._custom_ids: dict[int, str] = {}
        self._latencies: list[float] = []
        self._summary = RunSummary(str(options.input), str(options.output), str(options.journal_path))
        self._io_error: _JobIOError | None = None

    @property
    def invalid_items(self) -> list[Item]:
        return self.setup.invalid_items

    # ------------------------------------------------------------------ setup

    def prepare(self) -> None:
        """Check everything and open the journal; raise :class:`SetupError` before any request."""
        o, s = self.opts, self.setup
        s.check()
        s.lock()
        existing = s.existing_journal()
        try:
            rows = s.scan()
            s.report_invalid()
            if o.strict and s.invalid_items:
                raise SetupError(f"{len(s.invalid_items)} malformed {s.source.unit if s.source else 'line'}(s) in "
                                 f"{o.input} (--strict): nothing was sent")  # fmt: skip
        except BaseException:
            if existing is not None:
                existing.close()
            raise
        self.journal = s.open_journal(existing, rows)
        if s.output is not None and s.output.rebuilt:
            self._summary.output_format = s.output.format
        if o.budget_usd is not None:
            self.budget = Budget(o.budget_usd, spent=self.journal.spent())
            self._budget_hook = BudgetHook(self.budget, warn=False)
            self._summary.budget_note = "; ".join(s.budget_notes.values()) or None
            if not o.quiet:
                for note in s.budget_notes.values():
                    print(f"volley: note: --budget-usd: {note}", file=self.log)

    def dry_run(self) -> Estimate:
        """Check the job as :meth:`prepare` does, build every request, and estimate what sending the items
        still to send would cost. Nothing is sent and nothing is written (no journal, no output, no lock)."""
        from .journal import unfinished_lines

        s = self.setup
        s.without_cache()
        s.check()
        assert s.source is not None
        digest = s.source.digest()
        todo = unfinished_lines(self.opts.journal_path, retry_failed=self.opts.retry_failed, digest=digest)
        est = Estimator(discount=BATCH_DISCOUNT if self.opts.batch_api else 1.0)
        finished = 0

        def count(item: Item, call: Call) -> None:
            nonlocal finished
            if todo is None or item.line in todo:
                est.add(call)
            else:
                finished += 1

        s.scan(on_call=count)
        s.report_invalid()
        est.skip(invalid=len(s.invalid_items), finished=finished)
        return est.result()

    # ------------------------------------------------------------------ running

    async def run(self) -> RunSummary:
        """Send every pending item; return the summary. Cancellation stops cleanly (``interrupted``).

        A file that cannot be written (disk full, I/O error) stops the job: the requests in flight are
        cancelled, ``summary.error`` says what failed, and what was committed to the journal is kept.
        """
        assert self.journal is not None and self.setup.output is not None, "call prepare() first"
        s, output = self._summary, self.setup.output
        pending = self.journal.pending_lines()
        label = self.opts.model or "volley run"
        tracker = Progress(len(pending), show=self.opts.progress and bool(pending), label=label)
        started = time.monotonic()
        try:
            output.open()
        except OSError as exc:
            tracker.close()
            s.error = f"cannot write the output {self.opts.output}: {reason(exc)}"
            self._finish_summary()
            return s
        try:
            if pending and self.opts.batch_api:
                await self._run_batch_api(pending, tracker)
            elif pending:
                jobs = self._jobs(pending, tracker)
                with collector.batch(self.opts.concurrency):  # fewer young collections while sending
                    async with aclosing(run_chunks(jobs, concurrency=self.opts.concurrency)) as chunks:
                        async for chunk in chunks:
                            self._record(chunk)
                            for line, result in chunk:
                                if not isinstance(result, BudgetExceededError):
                                    tracker.result(line, result)
                if self._io_error is not None:
                    raise self._io_error
        except asyncio.CancelledError:
            s.interrupted = True
            task = asyncio.current_task()
            if task is not None and hasattr(task, "uncancel"):
                task.uncancel()
        except _JobIOError as exc:
            s.error = str(exc)
        finally:
            output.close()
            tracker.close()
        s.wall_s = time.monotonic() - started
        self._finish_output()
        self._finish_summary()
        return s

    def _finish_output(self) -> None:
        """Rebuild a table output from the journal, and write the report when asked (after every run)."""
        assert self.journal is not None and self.setup.output is not None
        s = self._summary
        try:
            self.setup.output.finish(self.journal)
        except Exception as exc:  # a full disk: the journal holds everything; a rerun rebuilds the table
            s.error = s.error or f"cannot write the output {self.opts.output}: {reason(exc)}"
        if self.opts.report:
            from ..report.run import default_path, write_report

            try:
                s.report = str(write_report(self.opts.output, default_path(self.opts.output),
                                            journal=self.opts.journal_path))  # fmt: skip
            except Exception as exc:
                s.error = s.error or f"cannot write the report {default_path(self.opts.output)}: {reason(exc)}"

    def _jobs(self, pending: set[int], tracker: Progress) -> Iterator[tuple[int, Any]]:
        """The engine's input. Never raises: a file error is kept in ``_io_error`` and ends the input."""
        try:
            for n, call in self._calls(pending):
                if isinstance(call, LineError):
                    self._record_invalid(n, str(call))
                    tracker.result(n, call)
                    continue
                if self.budget is not None and self.budget.exhausted:
                    self._custom_ids.pop(n, None)
                    return
                if self._budget_hook is not None:
                    call.add_hook(self._budget_hook)
                yield n, self._job(n, call, tracker)
        except _JobIOError as exc:
            self._io_error = exc

    async def _run_batch_api(self, pending: set[int], tracker: Progress) -> None:
        """Every pending item through the provider's batch API; batch ids kept in the journal.

        A rerun after a crash attaches to the batches already submitted instead of paying twice;
        results are matched to lines by their ``line-N`` custom ids.
        """
        from ..batch_api import run_batch_api

        journal = self.journal
        assert journal is not None
        lines, calls = [], []
        for n, call in self._calls(pending):
            if isinstance(call, LineError):
                self._record_invalid(n, str(call))
                continue
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
        self._record(list(zip(lines, results)))
        for n, result in zip(lines, results):
            tracker.result(n, result)
        journal.set_meta("batch_ids", [])

    def _calls(self, pending: set[int]) -> Iterator[tuple[int, Call | LineError]]:
        """``(item, prepared call)`` of each pending, well-formed item in input order; a :class:`LineError` in
        place of the call when its request cannot be built. An unreadable input raises ``_JobIOError``.
        The calls the setup pass built and kept are handed out as they are (each once), without reading
        the input again."""
        built, self.setup.built = self.setup.built, None
        if built is not None and pending <= built.keys():
            for n in sorted(pending):
                self._custom_ids[n], kept = built.pop(n)
                yield n, kept
            return
        try:
            for item in self.setup.items(pending):
                n = item.line
                if item.error is not None or item.messages is None:
                    continue  # malformed items were recorded as invalid at setup
                self._custom_ids[n] = item.custom_id
                try:
                    call: Call | LineError = self.setup.build(item)
                except (LineError, SetupError) as exc:
                    call = LineError(str(exc))
                yield n, call
        except OSError as exc:
            raise _JobIOError(f"cannot read the input {self.opts.input}: {reason(exc)}") from None

    def _job(self, line: int, call: Call, tracker: Progress) -> Any:
        """The engine's job for one item: ``execute``'s coroutine when called (partials, not closures: fewer
        objects per item), its retries counted for the item."""
        return partial(execute, call, partial(self._retried, line, tracker))

    def _retried(self, line: int, tracker: Progress, exc: BaseException, attempt: int, wait: float) -> None:
        self._attempts[line] = self._attempts.get(line, 1) + 1
        tracker.retry(exc, attempt, wait)

    def _record_invalid(self, line: int, message: str) -> None:
        """An item whose request cannot be built: final, like a malformed line (journal first, then output)."""
        assert self.journal is not None and self.setup.output is not None
        item = Item(line, self._custom_ids.pop(line, f"line-{line}"), error=message)
        text = self.setup.invalid_line(item)
        print(self.setup.message(line, message), file=self.log)
        try:
            self.journal.mark_invalid(line, output=text)
        except sqlite3.Error as exc:
            raise _JobIOError(f"cannot write the journal {self.opts.journal_path}: {exc}") from None
        self._write([text])

    def _write(self, lines: list[str]) -> None:
        assert self.setup.output is not None
        try:
            self.setup.output.write(lines)
        except OSError as exc:
            raise _JobIOError(f"cannot write the output {self.opts.output}: {reason(exc)}") from None

    def _record(self, results: list[tuple[int, Any]]) -> None:
        """Commit a batch of results to the journal in one transaction, then append their output lines."""
        assert self.journal is not None
        outcomes = [o for o in (self._outcome(line, result) for line, result in results) if o is not None]
        try:
            self.journal.record(outcomes)
        except sqlite3.Error as exc:
            raise _JobIOError(f"cannot write the journal {self.opts.journal_path}: {exc}") from None
        self._write([o.output for o in outcomes])

    def _outcome(self, line: int, result: Any) -> Outcome | None:
        """One result as the journal keeps it, counted in the summary (None: not finished, e.g. refused by
        the budget: the item stays pending)."""
        s = self._summary
        custom_id = self._custom_ids.pop(line)
        attempts = self._attempts.pop(line, 1)
        if isinstance(result, BudgetExceededError):
            s.skipped_budget += 1
            return None
        text = dumps(result_record(custom_id, result))
        if not isinstance(result, ModelResponse):
            s.sent += 1
            return Outcome(line, "failed", text, attempts, error_type=type(result).__name__)
        usage, cost, hit, latency = result.usage, result.cost, result.cache_hit, result.latency  # each read once
        prompt, completion, cached, _, _ = usage_counts(usage)
        if hit:
            s.cache_hits += 1
        else:
            s.sent += 1
            s.prompt_tokens += prompt
            s.completion_tokens += completion
            s.cached_tokens += cached
            if latency is not None:
                self._latencies.append(latency)
            if cost is None:
                s.unpriced += 1
            else:
                s.cost_usd += cost
        return Outcome(
            line, "done", text, 0 if hit else attempts, None,
            usage.prompt_tokens if usage else None, usage.completion_tokens if usage else None,
            cost, latency, hit,
        )  # fmt: skip

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
        self.setup.close()


class _JobIOError(Exception):
    """A file of the job cannot be read or written any more (disk full, I/O error): the run stops."""
