"""The kinds of data ``volley.map`` takes, as rows, and its results back as the same kind.

==================================  ===============================================  ==========================
input                               rows                                             returned
==================================  ===============================================  ==========================
a list of strings                   ``{"text": s}``                                  a list of dicts
a list of dicts                     the dicts                                        a list of new dicts
``pandas.DataFrame``                ``df.to_dict("records")``                        a copy with the new columns
``polars.DataFrame``                ``df.to_dicts()``                                ``df.with_columns(...)``
``datasets.Dataset``                its Arrow rows (features not decoded)            the dataset plus columns
==================================  ===============================================  ==========================

None of pandas, polars or datasets is imported unless the data is of that kind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .write import arrow_table, json_text

TEXT_COLUMN = "text"  # the column of a list of strings


@dataclass
class Frame:
    """Input data as rows: its ``kind``, its column names in order, and the original object."""

    kind: str
    columns: list[str]
    rows: list[dict[str, Any]]
    original: Any


def _kind(data: Any) -> str | None:
    cls = type(data)
    top = cls.__module__.split(".")[0]
    if top in ("pandas", "polars", "datasets"):
        if cls.__name__ in ("DataFrame", "Dataset"):
            return top
        hint = {
            "DatasetDict": "pick a split, e.g. data['train']",
            "IterableDataset": "load it as a Dataset",
            "Series": "pass a DataFrame (e.g. s.to_frame()) or a list",
            "LazyFrame": "collect() it first",
        }
        raise TypeError(f"volley.map cannot take a {top}.{cls.__name__}: {hint.get(cls.__name__, 'see the docs')}")
    return None


def read_data(data: Any) -> Frame:
    """``data`` → a :class:`Frame`; ``TypeError`` for a kind that is not supported."""
    kind = _kind(data)
    if kind == "pandas":
        columns = [str(c) for c in data.columns]
        if len(set(columns)) != len(columns):
            raise ValueError("the DataFrame has duplicate column names")
        rows = [{str(k): v for k, v in r.items()} for r in data.to_dict("records")]
        return Frame(kind, columns, rows, data)
    if kind == "polars":
        return Frame(kind, list(data.columns), data.to_dicts(), data)
    if kind == "datasets":
        return Frame(kind, list(data.column_names), data.with_format("arrow")[:].to_pylist(), data)
    if isinstance(data, (str, bytes)) or not isinstance(data, Sequence):
        raise TypeError("volley.map takes a list of strings, a list of dicts, a pandas or polars DataFrame or a "
                        f"datasets.Dataset; got {type(data).__name__}")  # fmt: skip
    items = list(data)
    if all(isinstance(x, str) for x in items):
        return Frame("strings", [TEXT_COLUMN], [{TEXT_COLUMN: x} for x in items], data)
    if all(isinstance(x, Mapping) for x in items):
        rows = [dict(x) for x in items]
        return Frame("dicts", list(dict.fromkeys(k for r in rows for k in r)), rows, data)
    bad = next(i for i, x in enumerate(items) if not isinstance(x, (str, Mapping)))
    raise TypeError(f"volley.map takes a list of strings or a list of dicts; item {bad} is a "
                    f"{type(items[bad]).__name__}")  # fmt: skip


def with_results(frame: Frame, results: list[dict[str, Any]], names: Sequence[str], types: Mapping[str, str]) -> Any:
    """The input plus the result columns ``names`` (``types``: Arrow type names of the fixed ones)."""
    if frame.kind in ("strings", "dicts"):
        return [{**row, **res} for row, res in zip(frame.rows, results)]
    columns = {n: [r[n] for r in results] for n in names}
    if frame.kind == "pandas":
        import pandas as pd

        out = frame.original.copy()
        pandas_types = {"int64": "Int64", "float64": "Float64"}
        for n, values in columns.items():
            dtype = pandas_types.get(types.get(n, ""))
            out[n] = pd.array(values, dtype=dtype) if dtype else pd.Series(values, index=out.index, dtype=object)
        return out
    if frame.kind == "polars":
        import polars as pl

        polars_types = {"int64": pl.Int64, "float64": pl.Float64, "string": pl.String}
        series = []
        for n, values in columns.items():
            kind: Any = polars_types.get(types.get(n, ""))
            try:
                series.append(pl.Series(n, values, dtype=kind, strict=kind is not None))
            except (TypeError, ValueError, pl.exceptions.PolarsError):
                series.append(pl.Series(n, [json_text(v) for v in values], dtype=pl.String))
        return frame.original.with_columns(series)
    import datasets

    new = datasets.Dataset(arrow_table(results, list(names), dict(types)))
    return datasets.concatenate_datasets([frame.original, new], axis=1)
