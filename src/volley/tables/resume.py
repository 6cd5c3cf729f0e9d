"""A ``volley run`` journal and its input table → the output table: exactly one row per input row, in order.

The journal (``OUT.journal.sqlite``, see ``volley.jobs.journal``) holds each item's state, attempts,
tokens, cost, latency, error type and output line (OpenAI Batch output JSON), keyed by ``line``,
the item's number (its row's position, or for JSONL its line number: ``Table.numbered_rows``).
:func:`rebuild_output` walks the input rows and the journal's items side by side (both in row
order, so neither is held in memory) and writes every input column, then the result columns.
Because it is rebuilt from the journal, whatever a crash did to the output file does not matter:
run it after every run, interrupted or not.

Rows the job has not finished (pending, in flight: interrupted, or held back by the budget) are
written with ``error_type`` ``"NotFinished"``; pass ``include_unfinished=False`` to leave them out.

Example::

    table = open_table("questions.csv")
    rebuild_output(table, "answers.parquet.journal.sqlite", "answers.parquet", provider="openai")
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .read import Table, TableError
from .results import check_collisions, column_names, column_types, error_columns, prefixed, response_columns
from .schema import Schema
from .write import write_table

NOT_FINISHED = "NotFinished"
_COLUMNS = ("line, custom_id, state, attempts, output, error_type, prompt_tokens, completion_tokens, cost_usd,"
            " latency_s, cache_hit, updated")  # fmt: skip


@dataclass(slots=True)
class JournalItem:
    """One item of a journal, as stored (``output`` parsed from its JSON)."""

    line: int
    custom_id: str
    state: str
    attempts: int
    output: dict[str, Any] | None
    error_type: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    latency_s: float | None
    cache_hit: bool
    updated: float | None


def connect(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open a journal read-only (a running job may hold it; nothing here writes)."""
    p = Path(path)
    if not p.is_file():
        raise TableError(f"no journal at {p} (volley run writes OUT.journal.sqlite beside its output)")
    try:
        db = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0)
        db.execute("SELECT 1 FROM items LIMIT 1")
    except sqlite3.Error as exc:
        raise TableError(f"{p} is not a volley run journal: {exc}") from None
    return db


def read_meta(db: sqlite3.Connection) -> dict[str, Any]:
    """The journal's ``meta`` table (settings, input digest, created time...)."""
    return {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}


def journal_items(db: sqlite3.Connection) -> Iterator[JournalItem]:
    """Every item in row order, read as it is iterated."""
    for r in db.execute(f"SELECT {_COLUMNS} FROM items ORDER BY line"):
        try:
            output = json.loads(r[4]) if r[4] else None
        except ValueError:
            output = None
        yield JournalItem(r[0], r[1], r[2], r[3] or 0, output if isinstance(output, dict) else None, r[5],
                          r[6], r[7], r[8], r[9], bool(r[10]), r[11])  # fmt: skip


def _error_type(item: JournalItem) -> str:
    if item.error_type in (None, "invalid_request"):
        return "InvalidRequestError" if item.state == "invalid" else (item.error_type or "APIError")
    return item.error_type


def item_columns(
    item: JournalItem, schema: Schema | None = None, *, provider: str | None = None, model: str | None = None
) -> dict[str, Any]:
    """The result columns of one journal item (``provider`` / ``model``: the job's, for rows it cannot tell)."""
    if item.state in ("pending", "in_flight"):
        out = error_columns(NOT_FINISHED, "not finished yet (interrupted, or held back by the budget): run the "
                            "same command again to resume", schema, model=model, provider=provider)  # fmt: skip
        out["attempts"] = item.attempts
        return out
    record = item.output or {}
    response = record.get("response") or {}
    error = record.get("error")
    if item.state == "done" and not error and isinstance(response.get("body"), dict):
        out = response_columns(response["body"], schema)
        out["provider"] = provider
    else:
        message = (error or {}).get("message") if isinstance(error, dict) else None
        out = error_columns(_error_type(item), message or "failed", schema, model=model, provider=provider)
    if item.prompt_tokens is not None:
        out["prompt_tokens"] = item.prompt_tokens
    if item.completion_tokens is not None:
        out["completion_tokens"] = item.completion_tokens
    out["cost_usd"] = item.cost_usd
    out["latency_s"] = item.latency_s
    out["attempts"] = item.attempts
    return out


def input_columns(table: Table) -> list[str]:
    """The input's columns; for JSONL the union of every row's keys (one pass), else the schema's."""
    if table.format != "jsonl":
        return list(table.columns)
    names: dict[str, None] = {}
    for _, row in table.numbered_rows():
        if isinstance(row, dict):
            names.update(dict.fromkeys(row))
    return list(names)


def rebuild_output(
    table: Table,
    journal: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    schema: Schema | None = None,
    provider: str | None = None,
    prefix: str = "",
    include_unfinished: bool = True,
    format: str | None = None,
) -> int:
    """Write ``output`` (format by extension, or ``format``) from ``table``'s rows and the ``journal``; returns
    rows written.

    Raises :class:`TableError` when the journal does not hold an item for some input row (it is not
    this input's journal). ``provider`` fills the provider column (the journal does not store it).

    Example::

        n = rebuild_output(open_table("in.csv"), "out.csv.journal.sqlite", "out.csv", provider="openai")
    """
    inputs = input_columns(table)
    check_collisions(inputs, schema, prefix)
    columns = inputs + column_names(schema, prefix)
    types = {n: table.arrow_schema.field(n).type for n in table.columns} if table.arrow_schema is not None else {}
    types.update(column_types(schema, prefix))
    db = connect(journal)
    try:
        settings = read_meta(db).get("settings") or {}
        model = settings.get("model") if isinstance(settings, dict) else None
        return write_table(output, _joined(table, journal_items(db), schema, provider, model, prefix,
                                           include_unfinished), columns=columns, types=types,
                           format=format)  # fmt: skip
    finally:
        db.close()


def _joined(
    table: Table,
    items: Iterator[JournalItem],
    schema: Schema | None,
    provider: str | None,
    model: str | None,
    prefix: str,
    include_unfinished: bool,
) -> Iterator[dict[str, Any]]:
    item = next(items, None)
    for n, row in table.numbered_rows():
        while item is not None and item.line < n:
            item = next(items, None)
        if item is None or item.line != n:
            where = f"line {n}" if table.format == "jsonl" else f"row {n}"
            raise TableError(f"the journal has no item for {where} of {table.path}: it is not this input's journal")
        if not include_unfinished and item.state in ("pending", "in_flight"):
            continue
        values = row if isinstance(row, dict) else {}
        yield {**values, **prefixed(item_columns(item, schema, provider=provider, model=model), prefix)}
