"""What a job writes: its output file, always made from the journal, so a crash can never leave it wrong.

- ``batch`` (:class:`BatchOutput`): the OpenAI Batch output format, one line per finished item, appended
  as results are committed (the journal first, then the lines) and rewritten from the journal when a
  job starts or resumes (a torn, lost or doubled line does not survive).
- a table (:class:`TableOutput`: ``.parquet`` ``.csv`` ``.tsv`` ``.jsonl`` ``.arrow``): every input
  column, then the result columns (:mod:`volley.tables.results`), exactly one row per input row in
  input order. Nothing is appended while the job runs; the file is rebuilt from the input and the
  journal (:func:`volley.tables.resume.rebuild_output`, atomic) when the job starts or resumes and
  after every run, finished or not. Rows not finished yet say ``error_type`` ``NotFinished``.

The output format follows the extension (``.jsonl`` is the Batch format for request-line input and a
table of rows for a table input), unless ``--output-format`` says otherwise.

Example::

    out = open_output(opts, source, schema=None, provider="openai")
    out.repair(journal)          # at setup
    out.open(); out.write([line]); out.close()
    out.finish(journal)          # after the run
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..files import open_private
from .journal import Journal, rewrite_output
from .options import OUTPUT_FORMATS

if TYPE_CHECKING:
    from ..tables.schema import Schema
    from .options import RunOptions
    from .source import Source


class OutputError(Exception):
    """The output cannot be written in the format asked for (unknown extension, a column clash)."""


class BatchOutput:
    """OpenAI Batch output lines, appended as results are committed."""

    format = "batch"
    rebuilt = False  # the file is written as results arrive, not rebuilt after the run

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[Any] | None = None

    def repair(self, journal: Journal) -> None:
        """Make the file exactly the journal's finished lines (OSError when it cannot be written)."""
        rewrite_output(journal, self.path)

    def open(self) -> None:
        self._file = open_private(self.path, "a", encoding="utf-8", newline="\n")

    def write(self, lines: list[str]) -> None:
        """Append lines already committed to the journal, and flush (OSError: disk full...)."""
        if self._file is not None and lines:
            self._file.write("".join(lines))
            self._file.flush()

    def close(self) -> None:
        """Close the file; a write that fails here (a full disk) loses nothing: the journal has every line,
        and the next run rewrites the file from it."""
        if self._file is not None:
            f, self._file = self._file, None
            try:
                f.close()
            except OSError:
                pass

    def finish(self, journal: Journal) -> None:
        """Nothing to do: every committed line was appended."""


class TableOutput:
    """A table of every input column and the result columns, rebuilt from the journal."""

    rebuilt = True

    def __init__(self, path: Path, fmt: str, source: Source, schema: Schema | None, provider: str | None,
                 prefix: str) -> None:  # fmt: skip
        self.path = path
        self.format = fmt
        self.source = source
        self.schema = schema
        self.provider = provider
        self.prefix = prefix

    def check(self) -> None:
        """Raise :class:`OutputError` when a result column would hide an input column."""
        from ..tables.results import check_collisions
        from ..tables.resume import input_columns

        try:
            check_collisions(input_columns(self.source.table()), self.schema, self.prefix)
        except ValueError as exc:
            raise OutputError(
                str(exc).replace(
                    "pass a prefix for the result columns (e.g. prefix='new_')",
                    "pass --prefix for the result columns (e.g. --prefix new_)",
                )
            ) from None

    def repair(self, journal: Journal) -> None:
        self.finish(journal)

    def open(self) -> None:
        pass

    def write(self, lines: list[str]) -> None:
        pass

    def close(self) -> None:
        pass

    def finish(self, journal: Journal) -> None:
        """Rebuild the table from the input and the journal (atomic; OSError when it cannot be written)."""
        from ..tables.resume import rebuild_output

        rebuild_output(self.source.table(), journal.path, self.path, schema=self.schema, provider=self.provider,
                       prefix=self.prefix, format=self.format)  # fmt: skip


Output = BatchOutput | TableOutput


def output_format(opts: RunOptions, source: Source) -> str:
    """``--output-format``, else by the output's extension (``.jsonl``: Batch lines for request-line input)."""
    from ..tables.read import TableError
    from ..tables.write import output_format as by_extension

    if opts.output_format is not None:
        if opts.output_format not in OUTPUT_FORMATS:
            raise OutputError(f"--output-format {opts.output_format!r}: use one of {', '.join(OUTPUT_FORMATS)}")
        return opts.output_format
    try:
        fmt = by_extension(opts.output)
    except TableError:
        raise OutputError(f"cannot tell the output format from {opts.output.name}: name it .jsonl, .csv, .tsv, "
                          ".parquet or .arrow, or pass --output-format FORMAT") from None  # fmt: skip
    if fmt == "jsonl" and source.kind == "requests":
        return "batch"
    return fmt


def open_output(opts: RunOptions, source: Source, *, schema: Schema | None, provider: str | None) -> Output:
    """The job's output (see the module docstring); :class:`OutputError` when it cannot be made."""
    fmt = output_format(opts, source)
    if fmt == "batch":
        return BatchOutput(opts.output)
    out = TableOutput(opts.output, fmt, source, schema, provider, opts.prefix)
    out.check()
    return out
