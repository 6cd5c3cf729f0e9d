"""What a job reads: its input as numbered items, and as the table its output rows are built beside.

Two kinds of input:

- **request lines** (``RequestLines``): a JSONL file in one of ``volley run``'s own formats (OpenAI
  Batch input lines, or ``{"messages": [...]}`` / ``{"prompt": "..."}`` lines with their own
  parameters), parsed by :mod:`.io`. Items are numbered by line.
- **table rows** (``TableRows``): CSV/TSV, Parquet, Arrow, a saved Hugging Face dataset, or JSONL
  whose lines are plain rows, with a template (``--prompt``, ``--system``, ``--messages-column``,
  ``--id-column``) saying what to send for each row (:mod:`volley.tables`). Items are numbered by
  row (for JSONL, by line), the number :func:`volley.tables.resume.rebuild_output` joins on.

A JSONL input is read as request lines unless the command line gives a template; every other
format is a table.

Example::

    source = open_source(opts)          # SetupError for a missing file, an unknown format, a bad template
    for item in source.items():
        print(item.line, item.custom_id, item.error or item.messages)
"""

from __future__ import annotations

import os
from collections.abc import Container, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .io import Item, file_digest, parse_line, read_lines

if TYPE_CHECKING:
    from ..tables.read import Table
    from ..tables.schema import Schema
    from ..tables.template import RowTemplate
    from .options import RunOptions


class SourceError(Exception):
    """The input cannot be used; nothing was sent. The message says why."""


class RequestLines:
    """A JSONL file of request lines (see :mod:`.io`)."""

    kind = "requests"
    unit = "line"  # how an item's number is named in messages

    def __init__(self, path: Path) -> None:
        self.path = path

    def items(self, only: Container[int] | None = None) -> Iterator[Item]:
        """Every non-blank line as an item, in order (a malformed line has ``error`` set); with ``only``, just
        the lines it holds (the others are not parsed). Raises OSError."""
        for n, raw in read_lines(self.path):
            if only is None or n in only:
                yield parse_line(raw, n)

    def table(self) -> Table:
        """The lines as table rows (for a table output: every key of a line is an input column)."""
        from ..tables.read import open_table

        return open_table(self.path, "jsonl")

    def size(self) -> int:
        return self.path.stat().st_size

    def digest(self) -> str:
        return file_digest(self.path)


class TableRows:
    """A table whose rows a template turns into messages (see :mod:`volley.tables`)."""

    kind = "table"
    unit = "row"

    def __init__(self, table: Table, template: RowTemplate) -> None:
        self.path = table.path
        self._table = table
        self.template = template
        if table.format == "jsonl":
            self.unit = "line"

    def items(self, only: Container[int] | None = None) -> Iterator[Item]:
        """Every row as an item, in order (a row that cannot be sent has ``error`` set); with ``only``, just
        the rows it holds. Raises OSError."""
        from ..tables.items import table_items

        for it in table_items(self._table, self.template):  # every row: ids are checked for duplicates
            if only is None or it.line in only:
                yield Item(it.line, it.custom_id, None, it.messages, {}, it.error)

    def table(self) -> Table:
        return self._table

    def size(self) -> int:
        p = self.path
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else p.stat().st_size

    def digest(self) -> str:
        return file_digest(self.path) if self.path.is_file() else self._table.digest()


Source = RequestLines | TableRows


def input_format(opts: RunOptions) -> str:
    """The input's format: ``--input-format``, else from its name (a directory is a saved dataset)."""
    from ..tables.read import TableError, detect_format

    if opts.input_format is not None:
        return opts.input_format
    try:
        return detect_format(opts.input)
    except TableError as exc:
        raise SourceError(str(exc)) from None


def open_source(opts: RunOptions) -> Source:
    """The job's input, checked: readable, of a known format, and (for a table) with a template that
    fits its columns, tried on its first row. Raises :class:`SourceError` (or ``MissingDependencyError``)."""
    from ..tables.read import TableError, open_table
    from ..tables.template import make_template

    p = opts.input
    if not p.exists():
        raise SourceError(f"input {p} does not exist")
    if not os.access(p, os.R_OK):
        raise SourceError(f"input {p} is not readable")
    fmt = input_format(opts)
    if fmt == "jsonl" and not opts.templated:
        if p.is_dir():
            raise SourceError(f"input {p} is a directory, not a JSONL file")
        return RequestLines(p)
    if fmt != "hf" and not p.is_file():
        raise SourceError(f"input {p} does not exist (or is not a file)")
    try:
        table = open_table(p, fmt)
        template = make_template(
            table.columns if fmt != "jsonl" else _jsonl_columns(table),
            opts.prompt,
            system=opts.system,
            messages_column=opts.messages_column,
            id_column=opts.id_column,
            first=table.first(),
        )
    except TableError as exc:
        raise SourceError(_flag_names(str(exc))) from None
    return TableRows(table, template)


def _jsonl_columns(table: Table) -> list[str]:
    """A JSONL table's columns: every key of every line (rows may differ), in order of first appearance."""
    from ..tables.resume import input_columns

    return input_columns(table)


def _flag_names(message: str) -> str:
    """A template message in the command line's words (``--prompt`` rather than "the prompt")."""
    for words, flag in (("the prompt template", "--prompt"), ("the system template", "--system")):
        message = message.replace(words, f"{flag} template")
    return message


def load_schema(spec: str | None) -> Schema | None:
    """``--schema``: a pydantic class by import path (``pkg.mod:Model``) or a JSON Schema file."""
    if spec is None:
        return None
    from ..tables.schema import Schema, SchemaError

    try:
        return Schema.load(spec)
    except SchemaError as exc:
        raise SourceError(f"--schema: {exc}") from None


def describe(source: Source) -> dict[str, Any]:
    """What the journal keeps about the input: its path, size and SHA-256 (proof it did not change)."""
    return {"input": str(source.path.resolve()), "input_size": source.size(), "input_sha256": source.digest()}
