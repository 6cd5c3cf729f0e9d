"""Everything a ``volley run`` checks before its first request: :class:`JobSetup`.

Paths, the input (a JSONL file of request lines or a table with a template), the schema, the output
format, the provider (where keys may go), one template per model and parameters, every item's
request built once, the locks, and the journal (created, or resumed after checking that the input
and the settings are the same). A problem raises :class:`SetupError` before anything is sent.

Where keys go: a job sends to one provider (``-m``'s, ``api_provider``'s, or else the first line's)
unless ``allow_mixed_providers``; ``api_key`` / ``api_base`` apply only to ``-m``'s provider or the
one ``api_provider`` names, and every other provider uses its own key and base from the environment.
A line whose request cannot be built (at setup, or when it is sent) is that line's error.

Example::

    setup = JobSetup(opts)
    setup.check()                       # no file is written
    rows = setup.scan()                 # every item parsed and its request built once
    journal = setup.open_journal(rows)  # locks, then the journal created or resumed
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import sys
from collections.abc import Callable, Container, Iterator
from pathlib import Path
from typing import Any, TextIO

from .. import __version__
from .._optional import MissingDependencyError
from ..errors import APIError, UnsupportedParamsError, redact
from ..prepare import Call, Template
from ..pricing import ceiling_note, model_price
from ..providers import get_provider, provider_names
from ..routing import split_model
from ..validate import InvalidRequestError
from . import journal as journal_mod
from .io import Item, dumps, invalid_record
from .journal import Journal
from .options import RunOptions
from .output import Output, OutputError, open_output
from .source import Source, SourceError, describe, load_schema, open_source

MAX_REPORTED = 20  # malformed lines printed one by one; the rest are counted
#: The requests the setup pass builds are kept for the run (not read and built a second time) while their
#: bodies and prompts take at most this many bytes; a larger input is read again as it is sent.
KEEP_BUILT_BYTES = 64 * 2**20

Row = tuple[int, str, str | None, str | None]  # (line, custom_id, invalid output line or None, error type)


class SetupError(Exception):
    """The job cannot start; nothing was sent. The message says why and what to do."""


class LineError(Exception):
    """A problem with one input item (it becomes an invalid item)."""


class JobSetup:
    """The checked setup of one job: its source, output, templates and provider (see the module docstring)."""

    def __init__(self, options: RunOptions, *, log: TextIO | None = None) -> None:
        self.opts = options
        self.log = log or sys.stderr
        self.source: Source | None = None
        self.output: Output | None = None
        self.schema: Any = None
        self.params: dict[str, Any] = dict(options.params)  # with the schema's response_format
        self.invalid_items: list[Item] = []
        #: line -> (custom_id, call) of each item the setup pass built; None when they were too many to
        #: keep (``KEEP_BUILT_BYTES``) or the pass did not run: the run then reads the input again
        self.built: dict[int, tuple[str, Call]] | None = None
        self.budget_notes: dict[str, str] = {}
        self._templates: dict[tuple[str, str], Template] = {}
        self._by_model: dict[str, Template] = {}  # the template of items that set no parameters, by model
        self._control = options.control()
        self._locks: list[Any] = []
        self.provider: str | None = None  # the job's provider (where api_key / api_base apply)
        self._provider_from = ""  # what set it: "-m", "--api-provider" or "line N"

    # ------------------------------------------------------------------ checks (nothing written)

    def check(self) -> None:
        """Paths, input, schema, provider, output format and ``-m``'s template; :class:`SetupError` if wrong."""
        o = self.opts
        try:
            self.source = open_source(o)
            self.schema = load_schema(o.schema)
        except (SourceError, MissingDependencyError) as exc:
            raise SetupError(str(exc)) from None
        if o.input.resolve() == o.output.resolve():
            raise SetupError("the output must not be the input file")
        for what, path in (("output", o.output), ("journal", o.journal_path)):
            _check_writable(what, path)
        if o.batch_api and (o.budget_usd is not None or o.cache or o.cache_url):
            raise SetupError("--batch-api does not apply --budget-usd or --cache yet; run without them")
        if o.cache_url and o.cache_path:
            raise SetupError("give --cache-path (a file) or --cache-url (a Redis), not both")
        if o.journal_path.resolve() in (o.input.resolve(), o.output.resolve()):
            raise SetupError("the journal must not be the input or the output file")
        if self.source.kind == "table" and not o.model:
            raise SetupError(f"{o.input}: table rows name no model: give -m MODEL")
        if self.schema is not None:
            if "response_format" in self.params:
                raise SetupError("give --schema or a response_format parameter, not both")
            self.params["response_format"] = self.schema.response_format()
        if o.report:
            try:
                from .._optional import need

                need("plotly", extra="report", purpose="--report (the HTML report)")
            except MissingDependencyError as exc:
                raise SetupError(str(exc)) from None
        self._choose_provider()
        try:
            self.output = open_output(o, self.source, schema=self.schema, provider=self._row_provider())
        except (OutputError, MissingDependencyError) as exc:
            raise SetupError(str(exc)) from None
        if o.model:
            self._template(o.model, dict(self.params))

    def _row_provider(self) -> str | None:
        """The provider column of the output's rows: the job's one provider (None when lines mix them)."""
        return None if self.opts.allow_mixed_providers and not self.opts.model else self.provider

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
            self.provider, self._provider_from = provider, "-m"
        elif named is not None:
            self.provider, self._provider_from = named, "--api-provider"
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
        if self.provider is None:
            self.provider, self._provider_from = provider, f"line {line}"
        elif provider != self.provider and not self.opts.allow_mixed_providers:
            raise SetupError(
                f"{where}model {model!r} is for {provider}, but this job sends to {self.provider} "
                f"(from {self._provider_from}); a job sends to one provider, so that keys go only where you "
                "said: pass --allow-mixed-providers to let each line pick its provider (each then uses its own "
                "key and base from the environment)"
            )
        return provider

    # ------------------------------------------------------------------ templates and calls

    def where(self, line: int | None) -> str:
        """``in.jsonl:3: `` or ``in.csv: row 3: ``: how messages name an item."""
        if line is None:
            return ""
        unit = self.source.unit if self.source is not None else "line"
        return f"{self.opts.input}:{line}: " if unit == "line" else f"{self.opts.input}: row {line}: "

    def _template(self, model: str, params: dict[str, Any], line: int | None = None, own: bool = False) -> Template:
        """The template for a model and parameters (one per distinct pair). ``own``: the line set parameters."""
        key = (model, json.dumps(params, sort_keys=True, default=str))
        tpl = self._templates.get(key)
        if tpl is not None:
            return tpl
        where = self.where(line)
        provider = self._provider_of(model, where, line)
        mine = self.opts.overrides() if provider == self.provider else {}  # never another provider's key or base
        try:
            tpl = Template(model, {**params, **self._control, **mine})
        except (InvalidRequestError, UnsupportedParamsError) as exc:
            if own:  # the line's own parameters are at fault: that line is malformed
                raise LineError(exc.message) from None
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
            self.budget_notes[tpl.route.label] = ceiling_note(tpl.route.provider, tpl.route.model)[1] + (
                "; pass --max-tokens N to reserve less"
            )
        self._templates[key] = tpl
        return tpl

    def _item_template(self, item: Item) -> Template:
        model = self.opts.model or item.model
        if model is None:
            raise LineError("no model: give -m MODEL, or a model in the line")
        if not item.params:  # most items: the job's parameters alone, one template per model (no key to build)
            tpl = self._by_model.get(model)
            if tpl is None:
                tpl = self._by_model[model] = self._template(model, dict(self.params), item.line)
            return tpl
        return self._template(model, {**item.params, **self.params}, item.line, True)

    def build(self, item: Item) -> Call:
        """The prepared call of a well-formed item; a request that cannot be built raises :class:`LineError`."""
        assert item.messages is not None
        template = self._item_template(item)
        try:
            return template.call(item.messages, validated=True)
        except Exception as exc:  # the provider cannot map this line (e.g. a tool_choice it cannot express)
            message = exc.message if isinstance(exc, APIError) else f"{type(exc).__name__}: {exc}"
            raise LineError(redact(message, [v for v in (template.route.api_key,) if v])) from None

    def _check_buildable(self, item: Item) -> Call:
        """Setup: build the item's request once, so an item that cannot be sent is found before anything is."""
        return self.build(item)

    def items(self, only: Container[int] | None = None) -> Iterator[Item]:
        """The input's items (with ``only``: those whose number it holds); an unreadable input raises ``OSError``."""
        assert self.source is not None, "call check() first"
        return self.source.items(only)

    def without_cache(self) -> None:
        """Build calls without the response cache (a dry run must not create its file)."""
        for name in ("cache", "cache_path", "cache_scope", "cache_url"):
            self._control.pop(name, None)

    def scan(self, on_call: Callable[[Item, Call], None] | None = None) -> list[Row]:
        """Parse every item once and build its request: malformed ones become invalid rows (and are kept in
        ``invalid_items``); model and key problems raise. ``on_call(item, call)`` sees each built request."""
        rows: list[Row] = []
        seen: dict[str, int] = {}
        built: dict[int, tuple[str, Call]] | None = {} if on_call is None else None  # (a dry run sends nothing)
        size = 0
        try:
            for item in self.items():
                if item.error is None and item.custom_id in seen:
                    item.error = f"duplicate custom_id {item.custom_id!r} (first on line {seen[item.custom_id]})"
                if item.error is None:
                    seen[item.custom_id] = item.line
                    try:
                        call = self._check_buildable(item)
                    except LineError as exc:
                        item.error = str(exc)
                    else:
                        if on_call is not None and call is not None:
                            on_call(item, call)
                        if built is not None:
                            size += _weight(call)
                            if size > KEEP_BUILT_BYTES or call is None:  # (None: a setup that builds nothing)
                                built = None
                            else:
                                built[item.line] = (item.custom_id, call)
                if item.error is not None:
                    self.invalid_items.append(item)
                    rows.append((item.line, item.custom_id, self.invalid_line(item), "invalid_request"))
                else:
                    rows.append((item.line, item.custom_id, None, None))
        except OSError as exc:
            raise SetupError(f"cannot read {self.opts.input}: {exc}") from None
        if not rows:
            raise SetupError(f"{self.opts.input} holds no input {self.source.unit if self.source else 'line'}s")
        self.built = built
        return rows

    def invalid_line(self, item: Item) -> str:
        """The output line (Batch format, as the journal keeps it) of an item that cannot be sent."""
        assert self.source is not None
        return dumps(invalid_record(item, unit=self.source.unit))

    def report_invalid(self) -> None:
        for item in self.invalid_items[:MAX_REPORTED]:
            print(self.message(item.line, item.error or ""), file=self.log)
        more = len(self.invalid_items) - MAX_REPORTED
        if more > 0:
            print(f"... and {more} more malformed {self.source.unit if self.source else 'line'}s", file=self.log)

    def message(self, line: int, error: str) -> str:
        """``in.csv: row 3: <error>`` (an error that already names the input is left as it is)."""
        return error if error.startswith(str(self.opts.input)) else self.where(line) + error

    # ------------------------------------------------------------------ the journal (writes)

    def settings(self) -> dict[str, Any]:
        """What shapes the answers (the journal refuses a resume with other settings). No key."""
        out = self.opts.settings()
        if self.schema is not None:
            out["response_format"] = self.schema.response_format()
        return out

    def _meta(self) -> dict[str, Any]:
        assert self.source is not None
        return {**describe(self.source), "settings": self.settings(), "volley_version": __version__}

    def lock(self) -> None:
        """Hold the output's and the journal's locks: two runs writing one output (with different journals),
        or sharing one journal, must not both send."""
        o = self.opts
        self._locks.append(_lock(o.output, "output"))
        self._locks.append(_lock(o.journal_path, "journal"))

    def existing_journal(self) -> Journal | None:
        """The journal of this job from an earlier run (checked to be the same job), after ``--overwrite``'s
        removal; :class:`SetupError` when the output exists without one."""
        o = self.opts
        path = o.journal_path
        if o.overwrite:
            journal_mod.remove(path)
            o.output.unlink(missing_ok=True)
        existing = _open_existing(path)
        if existing is not None:
            try:
                self._check_same_job(existing)
            except BaseException:
                existing.close()
                raise
        elif o.output.exists() and (o.output.is_dir() or o.output.stat().st_size > 0):
            raise SetupError(
                f"{o.output} already exists and has no journal ({path}); "
                "pass --overwrite to replace it, or choose another -o"
            )
        return existing

    def open_journal(self, existing: Journal | None, rows: list[Row]) -> Journal:
        """Create the journal with ``rows``, or resume ``existing``; then repair the output from it."""
        o = self.opts
        journal = existing
        try:
            if journal is None:
                journal = Journal(o.journal_path)
                journal.create(self._meta(), rows)
            else:
                journal.resume(retry_failed=o.retry_failed)
        except (OSError, RuntimeError, sqlite3.Error) as exc:
            if journal is not None:
                journal.close()
            raise SetupError(f"cannot write the journal {o.journal_path}: {reason(exc)}") from None
        assert self.output is not None
        try:
            self.output.repair(journal)
        except (OSError, ValueError) as exc:  # ValueError: a table that cannot be rebuilt (e.g. not UTF-8)
            journal.close()
            raise SetupError(f"cannot write the output {o.output}: {reason(exc)}") from None
        return journal

    def _check_same_job(self, j: Journal) -> None:
        o = self.opts
        assert self.source is not None
        meta = j.meta()
        if meta.get("input_size") != self.source.size() or meta.get("input_sha256") != self.source.digest():
            raise SetupError(
                f"{o.input} changed since this job started (journal {o.journal_path}); "
                "pass --overwrite to start over, or choose another -o"
            )
        before, now = meta.get("settings") or {}, json.loads(json.dumps(self.settings()))
        if before != now:
            diff = "; ".join(
                f"{k}: {before.get(k)!r} then, {now.get(k)!r} now" for k in sorted(set(before) | set(now))
                if before.get(k) != now.get(k)
            )  # fmt: skip
            raise SetupError(
                f"this job was started with other settings ({diff}); rerun with the same settings "
                "to resume, or pass --overwrite to start over"
            )

    def close(self) -> None:
        for lock in self._locks:
            if lock is not None:
                lock.close()  # releases the lock (the file stays: removing it would race)
        self._locks = []


def _open_existing(path: Path) -> Journal | None:
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


def reason(exc: BaseException) -> str:
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
    from ..files import open_private

    lock_path = str(path) + ".lock"
    try:
        f = open_private(lock_path, "a+")
    except OSError as exc:
        raise SetupError(f"cannot create the lock file {lock_path}: {reason(exc)}") from None
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


def _weight(call: Call | None) -> int:
    """About the bytes a kept call holds: its request body and its prompt text (twice: str and body)."""
    return 2 * len(call.request.content or b"") + 256 if call is not None else 0
