"""Write rows to a table file whose format follows the extension, atomically (temp file, fsync, rename).

==========================  ==========================================================
extension                   written
==========================  ==========================================================
``.parquet`` ``.pq``        Parquet via pyarrow (``pip install 'volley-llm[tables]'``)
``.arrow`` ``.feather``     Arrow IPC file (Feather v2) via pyarrow
``.csv`` / ``.tsv``         a header, then one line per row; nested values as JSON text
``.jsonl``                  one JSON object per row
==========================  ==========================================================

Rows are dicts; ``columns`` fixes the column order (every row is written with exactly those
columns, a missing key as null). ``types`` gives a column its Arrow type (``"int64"``, or a
``pyarrow.DataType``), e.g. the input table's own types; others are inferred. A column whose values
Arrow cannot hold together (a dict in one row, text in another) is written as JSON text.
The file is created 0600 (answers are the user's data), and a crash never leaves half a file.

Example::

    write_table("answers.parquet", rows, columns=["id", "question", "answer"])
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import decimal
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import IO, Any

from .._optional import need
from ..files import replace_private
from .read import TableError

OUTPUT_FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
}
CHUNK_ROWS = 10_000  # rows converted to Arrow at a time


def output_format(path: str | os.PathLike[str]) -> str:
    """The output format of ``path`` from its extension; :class:`TableError` for one that is not known."""
    fmt = OUTPUT_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise TableError(f"{path}: the output format follows the extension; use one of "
                         f"{', '.join(OUTPUT_FORMATS)}")  # fmt: skip
    return fmt


def write_table(
    path: str | os.PathLike[str],
    rows: Iterable[Mapping[str, Any]],
    *,
    columns: Sequence[str] | None = None,
    types: Mapping[str, Any] | None = None,
    format: str | None = None,
) -> int:
    """Write ``rows`` to ``path`` (format from the extension unless ``format``); returns the rows written.

    Without ``columns`` the rows are read into memory first to find them (the union of their keys,
    in order of first appearance).

    Example::

        n = write_table("out.csv", [{"q": "hi", "answer": "hello"}])
    """
    fmt = format or output_format(path)
    if columns is None:
        rows = list(rows)
        columns = list(dict.fromkeys(k for r in rows for k in r))
    with replace_private(path, "wb") as f:
        if fmt in ("parquet", "arrow"):
            n = _write_arrow(f, fmt, rows, list(columns), types or {})
        elif fmt in ("csv", "tsv"):
            n = _write_csv(f, "\t" if fmt == "tsv" else ",", rows, list(columns))
        elif fmt == "jsonl":
            n = _write_jsonl(f, rows, list(columns))
        else:
            raise TableError(f"unknown output format {fmt!r}")
    return n


# ------------------------------------------------------------------ plain values


def plain(value: Any) -> Any:
    """A value as JSON-able data: NaN → None, dates → ISO text, bytes → base64, numpy → Python."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return plain(value.tolist())
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    if value != value:  # pandas NA / NaT
        return None
    return str(value)


def json_text(value: Any) -> str | None:
    value = plain(value)
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _cell(value: Any) -> str:
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


# ------------------------------------------------------------------ text formats


def _text(f: IO[bytes]) -> Any:
    import io

    return io.TextIOWrapper(f, encoding="utf-8", newline="", write_through=True)


def _write_csv(f: IO[bytes], delimiter: str, rows: Iterable[Mapping[str, Any]], columns: list[str]) -> int:
    out = _text(f)
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(columns)
    n = 0
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
        n += 1
    out.flush()
    out.detach()
    return n


def _write_jsonl(f: IO[bytes], rows: Iterable[Mapping[str, Any]], columns: list[str]) -> int:
    n = 0
    for row in rows:
        line = json.dumps({c: plain(row.get(c)) for c in columns}, ensure_ascii=False, separators=(",", ":"))
        f.write(line.encode("utf-8") + b"\n")
        n += 1
    return n


# ------------------------------------------------------------------ arrow formats


def _chunks(rows: Iterable[Mapping[str, Any]]) -> Iterator[list[Mapping[str, Any]]]:
    it = iter(rows)
    while chunk := list(islice(it, CHUNK_ROWS)):
        yield chunk


def arrow_table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], types: Mapping[str, Any]) -> Any:
    """Rows → a ``pyarrow.Table`` with ``columns``; ``types`` fixes some columns' types."""
    pa = need("pyarrow", extra="tables", purpose="writing Parquet or Arrow")
    wanted = {c: (pa.type_for_alias(t) if isinstance(t, str) else t) for c, t in types.items()}
    chunks: list[dict[str, Any]] = []
    for chunk in _chunks(rows):
        chunks.append({c: _array(pa, [r.get(c) for r in chunk], wanted.get(c)) for c in columns})
    if not chunks:
        fields = [pa.field(c, wanted.get(c, pa.null())) for c in columns]
        return pa.schema(fields).empty_table()
    for c in columns:
        kinds = {ch[c].type for ch in chunks}
        if len(kinds) > 1:
            try:
                common = pa.unify_schemas([pa.schema([(c, t)]) for t in kinds], promote_options="permissive")[0].type
                for ch in chunks:
                    ch[c] = ch[c].cast(common)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                for ch in chunks:
                    ch[c] = pa.array([json_text(v) for v in ch[c].to_pylist()], pa.string())
    return pa.concat_tables([pa.table({c: ch[c] for c in columns}) for ch in chunks])


def _array(pa: Any, values: list[Any], type_: Any) -> Any:
    try:
        return pa.array(values, type=type_, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError, OverflowError):
        pass
    try:
        return pa.array([plain(v) for v in values], type=type_, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError, OverflowError):
        return pa.array([json_text(v) for v in values], pa.string())


def _write_arrow(
    f: IO[bytes], fmt: str, rows: Iterable[Mapping[str, Any]], columns: list[str], types: Mapping[str, Any]
) -> int:
    table = arrow_table(rows, columns, types)
    if fmt == "parquet":
        pq = need("pyarrow.parquet", extra="tables", purpose="writing Parquet", package="pyarrow")
        pq.write_table(table, f)
    else:
        from pyarrow import feather

        feather.write_feather(table, f)
    return int(table.num_rows)
