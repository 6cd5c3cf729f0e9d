"""Open an input table by path and read its rows lazily, as dicts.

Formats, by extension (or ``format=``):

==========  ====================================================  ==========================
format      files                                                 rows read
==========  ====================================================  ==========================
jsonl       ``.jsonl`` ``.ndjson`` (also ``.gz``): one object a line  a line at a time
csv / tsv   ``.csv`` / ``.tsv`` ``.tab`` (also ``.gz``), with a header  a line at a time; values are text
parquet     ``.parquet`` ``.pq``                                  a record batch at a time
arrow       ``.arrow`` ``.feather`` ``.ipc`` ``.arrows``: IPC file or stream  a record batch at a time
hf          a directory written by ``datasets.Dataset.save_to_disk``  a batch at a time
==========  ====================================================  ==========================

CSV values stay text exactly as written (``"007"`` is not turned into 7); an empty cell is ``""``.
Parquet and Arrow need ``pyarrow`` (``pip install 'volley-llm[tables]'``), a saved dataset also
``datasets`` (``pip install datasets``); they are imported only when such a table is opened.

Example::

    table = open_table("questions.parquet")
    print(table.columns, table.num_rows)     # ['id', 'question'] 1000
    for row in table.rows():                  # {'id': 'q1', 'question': '...'}
        ...
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .._optional import need

FORMATS = ("jsonl", "csv", "tsv", "parquet", "arrow", "hf")
_SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
    ".arrows": "arrow",
}
BATCH_ROWS = 1024  # rows per record batch read from Parquet / Arrow / datasets

Row = dict[str, Any]


class TableError(ValueError):
    """A table cannot be read: the message names the file (and line or row) and what is wrong."""


@dataclass
class Table:
    """An opened input table. :meth:`rows` reads it from the start each time it is called.

    ``columns`` are the table's column names in order (for JSONL, the first row's keys);
    ``num_rows`` is known when it is cheap to know (Parquet, Arrow files, datasets), else None.
    """

    path: Path
    format: str
    columns: list[str]
    num_rows: int | None
    _numbered: Callable[[], Iterator[tuple[int, Row | TableError]]] = field(repr=False)
    arrow_schema: Any = field(default=None, repr=False)  # a pyarrow.Schema for typed formats

    def numbered_rows(self) -> Iterator[tuple[int, Row | TableError]]:
        """``(number, row)``; a row that cannot be read is a :class:`TableError` in its place.

        The number is the row's 1-based position, except in JSONL, where it is the line number in the
        file (blank lines are skipped, not rows), as ``volley run`` numbers JSONL items in its journal.
        """
        return self._numbered()

    def rows(self) -> Iterator[Row]:
        """Every row as a dict, in order; raises :class:`TableError` at the first unreadable row."""
        for _, row in self._numbered():
            if isinstance(row, TableError):
                raise row
            yield row

    def first(self) -> Row | None:
        """The first readable row (None for an empty table)."""
        for _, row in self._numbered():
            if not isinstance(row, TableError):
                return row
        return None

    def digest(self) -> str:
        """SHA-256 of the table's bytes (every file of a dataset directory): proof the input did not change."""
        h = hashlib.sha256()
        files = sorted(p for p in self.path.rglob("*") if p.is_file()) if self.path.is_dir() else [self.path]
        for p in files:
            if self.path.is_dir():
                h.update(str(p.relative_to(self.path)).encode() + b"\0")
            with open(p, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
        return h.hexdigest()


def detect_format(path: str | os.PathLike[str]) -> str:
    """The format of ``path`` from its extension (or, for a directory, a saved Hugging Face dataset)."""
    p = Path(path)
    if p.is_dir():
        return "hf"
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    fmt = _SUFFIXES.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        known = " ".join(sorted(_SUFFIXES))
        raise TableError(f"{p}: cannot tell the table format from its name (known extensions: {known}, "
                         "or a saved Hugging Face dataset directory)")  # fmt: skip
    return fmt


def open_table(path: str | os.PathLike[str], format: str | None = None) -> Table:
    """Open a table by path; its format from the extension unless ``format`` (one of :data:`FORMATS`) is given.

    Raises :class:`TableError` (missing file, unknown format, no header, bad dataset directory) and
    ``MissingDependencyError`` (pyarrow or datasets not installed) before any row is read.

    Example::

        table = open_table("reviews.csv")
        first = table.first()
    """
    p = Path(path)
    if not p.exists():
        raise TableError(f"{p} does not exist")
    fmt = format or detect_format(p)
    if fmt not in FORMATS:
        raise TableError(f"unknown table format {fmt!r}; known formats: {', '.join(FORMATS)}")
    if fmt != "hf" and p.is_dir():
        raise TableError(f"{p} is a directory, not a {fmt} file")
    opener = {"jsonl": _jsonl, "csv": _csv, "tsv": _csv, "parquet": _parquet, "arrow": _arrow, "hf": _hf}[fmt]
    try:
        return opener(p, fmt)
    except TableError:
        raise
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise TableError(f"{p}: cannot read it as {fmt}: {exc}") from None


# ------------------------------------------------------------------ text formats


def _text(path: Path) -> IO[str]:
    if path.suffix.lower() == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _jsonl(path: Path, fmt: str) -> Table:
    def numbered() -> Iterator[tuple[int, Row | TableError]]:
        with _text(path) as f:
            for lineno, line in enumerate(f, 1):
                if line.strip():
                    yield lineno, _json_row(path, lineno, line)

    first = next((r for _, r in numbered() if not isinstance(r, TableError)), None)
    return Table(path, fmt, list(first) if first else [], None, numbered)


def _json_row(path: Path, lineno: int, line: str) -> Row | TableError:
    try:
        obj = json.loads(line)
    except ValueError as exc:
        return TableError(f"{path}:{lineno}: not valid JSON ({exc})")
    if not isinstance(obj, dict):
        return TableError(f"{path}:{lineno}: a line must be a JSON object, got {type(obj).__name__}")
    return obj


def _csv(path: Path, fmt: str) -> Table:
    delimiter = "\t" if fmt == "tsv" else ","
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # a long document in one cell is normal here
    try:
        with _text(path) as f:
            header = next(csv.reader(f, delimiter=delimiter), None)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise TableError(f"{path}: cannot read the header: {exc}") from None
    if not header or not any(h.strip() for h in header):
        raise TableError(f"{path}: no header line (the first line must name the columns)")
    seen: set[str] = set()
    for i, name in enumerate(header, 1):
        if not name.strip():
            raise TableError(f"{path}: column {i} of the header has no name")
        if name in seen:
            raise TableError(f"{path}: column {name!r} appears twice in the header")
        seen.add(name)

    def numbered() -> Iterator[tuple[int, Row | TableError]]:
        with _text(path) as f:
            reader = csv.reader(f, delimiter=delimiter)
            n = 0
            try:
                next(reader, None)
                for values in reader:
                    if not values:  # a blank line
                        continue
                    n += 1
                    if len(values) != len(header):
                        yield n, TableError(f"{path}:{reader.line_num}: {len(values)} fields, but the header "
                                            f"has {len(header)} ({', '.join(header)})")  # fmt: skip
                    else:
                        yield n, dict(zip(header, values))
            except (csv.Error, UnicodeDecodeError) as exc:
                yield n + 1, TableError(f"{path}:{reader.line_num}: {exc}")

    return Table(path, fmt, list(header), None, numbered)


# ------------------------------------------------------------------ arrow formats


def _pyarrow(purpose: str) -> Any:
    return need("pyarrow", extra="tables", purpose=purpose)


def _batches_rows(batches: Callable[[], Iterator[Any]]) -> Callable[[], Iterator[tuple[int, Row | TableError]]]:
    def numbered() -> Iterator[tuple[int, Row | TableError]]:
        n = 0
        for batch in batches():
            for row in batch.to_pylist():
                n += 1
                yield n, row

    return numbered


def _parquet(path: Path, fmt: str) -> Table:
    pq = need("pyarrow.parquet", extra="tables", purpose="reading Parquet", package="pyarrow")
    pf = pq.ParquetFile(path)
    schema = pf.schema_arrow

    def batches() -> Iterator[Any]:
        with pq.ParquetFile(path) as f:
            yield from f.iter_batches(batch_size=BATCH_ROWS)

    return Table(path, fmt, list(schema.names), pf.metadata.num_rows, _batches_rows(batches), schema)


def _arrow(path: Path, fmt: str) -> Table:
    pa = _pyarrow("reading Arrow files")
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic == b"ARROW1":  # IPC file format (Feather v2)
        with pa.memory_map(str(path)) as source:
            reader = pa.ipc.open_file(source)
            schema = reader.schema
            num_rows = sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))

        def file_batches() -> Iterator[Any]:
            with pa.memory_map(str(path)) as src:
                r = pa.ipc.open_file(src)
                for i in range(r.num_record_batches):
                    yield r.get_batch(i)

        return Table(path, fmt, list(schema.names), num_rows, _batches_rows(file_batches), schema)
    with pa.memory_map(str(path)) as source:  # IPC stream format
        schema = pa.ipc.open_stream(source).schema

    def stream_batches() -> Iterator[Any]:
        with pa.memory_map(str(path)) as src:
            yield from pa.ipc.open_stream(src)

    return Table(path, fmt, list(schema.names), None, _batches_rows(stream_batches), schema)


def _hf(path: Path, fmt: str) -> Table:
    if (path / "dataset_dict.json").exists():
        splits = sorted(p.name for p in path.iterdir() if (p / "state.json").exists())
        raise TableError(f"{path} holds a DatasetDict with splits {', '.join(splits) or '(none)'}: "
                         f"give one split's directory, e.g. {path / (splits[0] if splits else 'train')}")  # fmt: skip
    if not (path / "state.json").exists():
        raise TableError(f"{path} is a directory but not a saved Hugging Face dataset (no state.json: "
                         "write one with datasets.Dataset.save_to_disk)")  # fmt: skip
    datasets = need("datasets", extra=None, purpose="reading a saved Hugging Face dataset")
    ds = datasets.load_from_disk(str(path))

    def batches() -> Iterator[Any]:
        arrow = ds.with_format("arrow")
        for start in range(0, len(arrow), BATCH_ROWS):
            yield arrow[start : start + BATCH_ROWS]

    schema = ds.features.arrow_schema
    return Table(path, fmt, list(ds.column_names), len(ds), _batches_rows(batches), schema)
