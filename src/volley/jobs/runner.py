"""Run a JSONL job to completion, exactly once per line: ``Job(options).prepare()`` then ``await job.run()``.

``prepare`` does everything that can fail without the network (paths, input, model, key, prices,
journal, output repair) and raises :class:`SetupError` before any request. ``run`` sends the pending
items through the engine; each result is committed to the journal, then its line is appended to
the output and flushed. Cancelling ``run`` (Ctrl-C) cancels the requests in flight and leaves the
journal consistent: rerunning the same command continues where it stopped.

Where keys go: a job sends to one provider (``-m``'s, ``api_provider``'s, or else the first line's)
unless ``allow_mixed_providers``; ``api_key`` / ``api_base`` apply only to ``-m``'s provider or the
one ``api_provider`` names, and every other provider uses its own key and base from the environment.
A line whose request cannot be built (at setup, or when it is sent) is that line's error.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
import sys
import time
from collections.abc import Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .. import __version__
from ..budget import Budget
from ..engine.progress import Progress
from ..engine.run import run as run_jobs
from ..errors import APIError, BudgetExceededError, UnsupportedParamsError, redact
from ..files import open_private
from ..hooks.budget import BudgetHook
from ..prepare import Template
from ..pricing import ceiling_note, model_price
from ..providers import get_provider, provider_names
from ..routing import split_model
from ..send import execute
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
    api_key: str | None = None  # for one provider: -m's, or api_provider's
    api_base: str | None = None
    api_provider: str | None = None  # the provider api_key / api_base are for (default: -m's)
    allow_mixed_providers: bool = False  # without -m, lines may route to several providers
    concurrency: int = 100
    rpm: float | None = None
    tpm: float | None = None
    num_retries: int | None = None
    timeout: float | None = None
    budget_usd: float | None = None
    cache: bool = False
    cache_path: str | None = None
    cache_scope: str = "shared"  # "key": answers kept apart per API key
    retry_failed: bool = True
    strict: bool = False
    overwrite: bool = False
    progress: bool = False
    quiet: bool = False  # no notes on stderr (errors are still reported)
    batch_api: bool = False  # send through the provider's batch API (OpenAI, Anthropic, Azure OpenAI)
    poll_interval: float = 30.0
    batch_fallback: bool = False  # items the batch could not answer go through online mode

    @property
    def journal_path(self) -> Path:
        return self.journal or journal_mod.default_path(self.output)

    def settings(self) -> dict[str, Any]:
        """What shapes the answers (kept in the journal to refuse a resume with other settings). No key."""
        out = {"model": self.model, "params": self.params, "api_base": self.api_base}
        if self.api_provider:
            out["api_provider"] = self.api_provider
        return out

    def control(self) -> dict[str, Any]:
        """Control parameters of every line (the key and base are added per provider, see ``Job``)."""
        out: dict[str, Any] = {"max_workers": self.concurrency}
        for name in ("rpm", "tpm", "num_retries", "timeout", "cache_path"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.cache:
            out["cache"] = True
            out["cache_scope"] = self.cache_scope
        return out

    def overrides(self) -> dict[str, Any]:
        """``api_key`` / ``api_base`` given for the job's own provider."""
        return {k: v for k, v in (("api_key", self.api_key), ("api_base", self.api_base)) if v}


class Job:
    """One ``volley run``: setup (:meth:`prepare`), then the run (:meth:`run`)."""

    def __init__(self, options: RunOptions, *, log: TextIO | None = None) -> None:
        self.opts = options
        self.log = log or sys.stderr
        self.journal: Journal | None = None
        self.budget: Budget | None = None
        self._budget_hook: BudgetHook | None = None
        self.invalid_items: list[Item] = []
        self._templates: dict[tuple[str, str], Template] = {}
        self._control = options.control()
        self._attempts: dict[int, int] = {}
        self._custom_ids: dict[int, str] = {}
        self._latencies: list[float] = []
        self._summary = RunSummary(str(options.input), str(options.output), str(options.journal_path))
        self._locks: list[Any] = []
        self._provider: str | None = None  # the job's provider (where api_key / api_base apply)
        self._provider_from = ""  # what set it: "-m", "--api-provider" or "line N"
        self._budget_notes: dict[str, str] = {}
        self._io_error: _JobIOError | None = None

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
        if o.journal_path.resolve() in (o.input.resolve(), o.output.resolve()):
            raise SetupError("the journal must not be the input or the output file")
        self._choose_provider()
        # Both: two runs writing one output (with different journals), or sharing one journal, must not both send.
        self._locks.append(_lock(o.output, "output"))
        self._locks.append(_lock(o.journal_path, "journal"))
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
        except (OSError, RuntimeError, sqlite3.Error) as exc:
            raise SetupError(f"cannot write the journal {journal_path}: {_reason(exc)}") from None
        try:
            rewrite_output(self.journal, o.output)
        except OSError as exc:
            raise SetupError(f"cannot write the output {o.output}: {_reason(exc)}") from None
        if o.budget_usd is not None:
            self.budget = Budget(o.budget_usd, spent=self.journal.spent())
            self._budget_hook = BudgetHook(self.budget, warn=False)
            self._summary.budget_note = "; ".join(self._budget_notes.values()) or None
            if not o.quiet:
                for note in self._budget_notes.values():
                    print(f"volley: note: --budget-usd: {note}", file=self.log)

    def _choose_provider(self) -> None:
        """The job's own provider, when the command line names it (``-m`` or ``--api-provider``)."""
        o = self.opts
        named = o.api_provider
        if named is not None and get_provider(named) is None:
            known = ", ".join(provider_names())
            raise SetupError(f"--api-provider {named!r} is not a known provider; known providers: {known}")
        if o.model:
            try:
                provider = split_model(o.model)[0]
            except APIError as exc:
                raise SetupError(exc.message) from None
            if named is not None and named != provider:
                raise SetupError(
                    f"--api-provider {named} does not match -m {o.model} (provider {provider}): "
                    "with -m, --api-key and --api-base are for its provider; drop --api-provider"
                )
            self._provider, self._provider_from = provider, "-m"
        elif named is not None:
            self._provider, self._provider_from = named, "--api-provider"
        elif o.overrides():
            given = " and ".join(f"--{k.replace('_', '-')}" for k in o.overrides())
            raise SetupError(
                f"{given} apply to one provider, and the input file must not choose it: give -m MODEL, "
                "or name the provider with --api-provider NAME (e.g. --api-provider openai)"
            )

    def _provider_of(self, model: str, where: str, line: int | None) -> str:
        """The provider of a line's model; refused when the job sends to another one (unless mixing is allowed)."""
        try:
            provider = split_model(model)[0]
        except APIError as exc:
            raise SetupError(where + exc.message) from None
        if self._provider is None:
            self._provider, self._provider_from = provider, f"line {line}"
        elif provider != self._provider and not self.opts.allow_mixed_providers:
            raise SetupError(
                f"{where}model {model!r} is for {provider}, but this job sends to {self._provider} "
                f"(from {self._provider_from}); a job sends to one provider, so that keys go only where you "
                "said: pass --allow-mixed-providers to let each line pick its provider (each then uses its own "
                "key and base from the environment)"
            )
        return provider

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
        provider = self._provider_of(model, where, line)
        mine = self.opts.overrides() if provider == self._provider else {}  # never another provider's key or base
        try:
            tpl = Template(model, {**params, **self._control, **mine})
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
        if self.opts.budget_usd is not None and tpl.max_output is None:
            self._budget_notes[tpl.route.label] = ceiling_note(tpl.route.provider, tpl.route.model)[1] + (
                "; pass --max-tokens N to reserve less"
            )
        self._templates[key] = tpl
        return tpl

    def _item_template(self, item: Item) -> Template:
        model = self.opts.model or item.model
        if model is None:
            raise _LineError("no model: give -m MODEL, or a model in the line")
        return self._template(model, {**item.params, **self.opts.params}, item.line, bool(item.params))

    def _build(self, item: Item) -> Any:
        """The prepared call of a well-formed line; a request that cannot be built raises ``_LineError``."""
        assert item.messages is not None
        template = self._item_template(item)
        try:
            return template.call(item.messages, validated=True)
        except Exception as exc:  # the provider cannot map this line (e.g. a tool_choice it cannot express)
            message = exc.message if isinstance(exc, APIError) else f"{type(exc).__name__}: {exc}"
            raise _LineError(redact(message, [v for v in (template.route.api_key,) if v])) from None

    def _check_buildable(self, item: Item) -> None:
        """Setup: build the line's request once, so a line that cannot be sent is found before anything is."""
        self._build(item)

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
                        self._check_buildable(item)
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
        """Send every pending item; return the summary. Cancellation stops cleanly (``interrupted``).

        A file that cannot be written (disk full, I/O error) stops the job: the requests in flight are
        cancelled, ``summary.error`` says what failed, and what was committed to the journal is kept.
        """
        assert self.journal is not None, "call prepare() first"
        s = self._summary
        pending = self.journal.pending_lines()
        label = self.opts.model or "volley run"
        tracker = Progress(len(pending), show=self.opts.progress and bool(pending), label=label)
        started = time.monotonic()
        try:
            out = open_private(self.opts.output, "a", encoding="utf-8", newline="\n")
        except OSError as exc:
            tracker.close()
            s.error = f"cannot write the output {self.opts.output}: {_reason(exc)}"
            self._finish_summary()
            return s
        with out:
            try:
                if pending and self.opts.batch_api:
                    await self._run_batch_api(pending, tracker, out)
                elif pending:
                    jobs = self._jobs(pending, tracker, out)
                    async with aclosing(run_jobs(jobs, concurrency=self.opts.concurrency)) as results:
                        async for line, result in results:
                            self._record(line, result, out)
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
                try:
                    self.journal.release_in_flight()
                except sqlite3.Error:  # a full disk: a rerun makes in-flight items pending anyway
                    pass
                tracker.close()
        s.wall_s = time.monotonic() - started
        self._finish_summary()
        return s

    def _jobs(self, pending: set[int], tracker: Progress, out: TextIO) -> Iterator[tuple[int, Any]]:
        """The engine's input. Never raises: a file error is kept in ``_io_error`` and ends the input."""
        try:
            for n, call in self._calls(pending):
                if isinstance(call, _LineError):
                    self._record_invalid(n, str(call), out)
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

    async def _run_batch_api(self, pending: set[int], tracker: Progress, out: TextIO) -> None:
        """Every pending item through the provider's batch API; batch ids kept in the journal.

        A rerun after a crash attaches to the batches already submitted instead of paying twice;
        results are matched to lines by their ``line-N`` custom ids.
        """
        from ..batch_api import run_batch_api

        journal = self.journal
        assert journal is not None
        lines, calls = [], []
        for n, call in self._calls(pending):
            if isinstance(call, _LineError):
                self._record_invalid(n, str(call), out)
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
        for n, result in zip(lines, results):
            self._record(n, result, out)
            tracker.result(n, result)
        journal.set_meta("batch_ids", [])

    def _calls(self, pending: set[int]) -> Iterator[tuple[int, Any]]:
        """``(line, prepared call)`` of each pending, well-formed line in input order; a ``_LineError`` in place
        of the call when its request cannot be built. Never raises (an unreadable input raises ``_JobIOError``)."""
        try:
            for n, raw in read_lines(self.opts.input):
                if n not in pending:
                    continue
                item = parse_line(raw, n)
                if item.error is not None or item.messages is None:
                    continue  # malformed lines were recorded as invalid at setup
                self._custom_ids[n] = item.custom_id
                try:
                    call = self._build(item)
                except (_LineError, SetupError) as exc:
                    yield n, _LineError(str(exc))
                else:
                    yield n, call
        except OSError as exc:
            raise _JobIOError(f"cannot read the input {self.opts.input}: {_reason(exc)}") from None

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

    def _record_invalid(self, line: int, message: str, out: TextIO) -> None:
        """A line whose request cannot be built: final, like a malformed line (journal first, then output)."""
        assert self.journal is not None
        item = Item(line, self._custom_ids.pop(line, f"line-{line}"), error=message)
        text = dumps(invalid_record(item))
        print(f"{self.opts.input}:{line}: {message}", file=self.log)
        try:
            self.journal.mark_invalid(line, output=text)
        except sqlite3.Error as exc:
            raise _JobIOError(f"cannot write the journal {self.opts.journal_path}: {exc}") from None
        self._write(out, text)

    def _write(self, out: TextIO, text: str) -> None:
        try:
            out.write(text)
            out.flush()
        except OSError as exc:
            raise _JobIOError(f"cannot write the output {self.opts.output}: {_reason(exc)}") from None

    def _record(self, line: int, result: Any, out: TextIO) -> None:
        """Commit one result to the journal, then append its output line (in that order)."""
        try:
            text = self._commit(line, result)
        except sqlite3.Error as exc:
            raise _JobIOError(f"cannot write the journal {self.opts.journal_path}: {exc}") from None
        if text is not None:
            self._write(out, text)

    def _commit(self, line: int, result: Any) -> str | None:
        """Journal one result; its output line (None: not finished, e.g. refused by the budget)."""
        assert self.journal is not None
        s = self._summary
        custom_id = self._custom_ids.pop(line)
        attempts = self._attempts.pop(line, 1)
        if isinstance(result, BudgetExceededError):
            self.journal.mark_pending(line)
            s.skipped_budget += 1
            return None
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
        return text

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
        for lock in self._locks:
            if lock is not None:
                lock.close()  # releases the lock (the file stays: removing it would race)
        self._locks = []


class _LineError(Exception):
    """A problem with one input line (it becomes an invalid item)."""


class _JobIOError(Exception):
    """A file of the job cannot be read or written any more (disk full, I/O error): the run stops."""


def _reason(exc: BaseException) -> str:
    """An OS error's reason without the repeated path (``No space left on device``), else its text."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


def _lock(path: Path, what: str) -> Any:
    """Hold ``PATH.lock`` exclusively, so two runs cannot both write one file (released even on kill -9)."""
    try:
        import fcntl
    except ImportError:  # not Unix: no lock
        return None
    lock_path = str(path) + ".lock"
    try:
        f = open_private(lock_path, "a+")
    except OSError as exc:
        raise SetupError(f"cannot create the lock file {lock_path}: {_reason(exc)}") from None
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise SetupError(
            f"another volley run is using this {what} ({path}); wait for it to finish or stop it first"
        ) from None
    return f


def _check_writable(what: str, path: Path) -> None:
    if path.exists():
        if path.is_dir():
            raise SetupError(f"{what} path {path} is a directory")
        if not stat.S_ISREG(path.stat().st_mode):
            raise SetupError(f"the {what} {path} is not a regular file (it is replaced as the job runs)")
        if not os.access(path, os.W_OK):
            raise SetupError(f"cannot write the {what} {path}: permission denied")
        return
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise SetupError(f"cannot write the {what} {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SetupError(f"cannot write the {what} {path}: directory {parent} is not writable")
