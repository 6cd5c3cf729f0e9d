"""A table and a template → the items a job sends, one per row, in order (the reader side of ``volley run``).

A row that cannot be sent (unreadable, a messages column that holds no messages, an empty or
duplicate id) comes back with ``error`` set and no messages: the job records it as invalid and
goes on, as it does for a malformed JSONL line. ``line`` is the row's number (``Table.numbered_rows``:
its 1-based position, or for JSONL its line number), the key the journal and :mod:`.resume` use to
put each result back beside its row.

Example::

    table = open_table("questions.csv")
    template = make_template(table.columns, "Answer: {question}", id_column="id", first=table.first())
    for item in table_items(table, template):
        if item.error is None:
            send(item.custom_id, item.messages)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .read import Table, TableError
from .template import RowError, RowTemplate


@dataclass(slots=True)
class TableItem:
    """One row to send: ``messages``, or why it cannot be sent (``error``)."""

    line: int
    custom_id: str
    messages: list[dict[str, Any]] | None = None
    error: str | None = None


def table_items(table: Table, template: RowTemplate) -> Iterator[TableItem]:
    """Every row of ``table`` as a :class:`TableItem`, lazily, in order. Never raises for one bad row."""
    seen: dict[str, int] = {}
    for n, row in table.numbered_rows():
        if isinstance(row, TableError):
            yield TableItem(n, f"row-{n}", error=str(row))
            continue
        try:
            custom_id = template.row_id(row, n)
        except RowError as exc:
            yield TableItem(n, f"row-{n}", error=str(exc))
            continue
        if custom_id in seen:
            yield TableItem(n, custom_id, error=f"duplicate id {custom_id!r} (first in row {seen[custom_id]})")
            continue
        seen[custom_id] = n
        try:
            yield TableItem(n, custom_id, template.messages(row))
        except RowError as exc:
            yield TableItem(n, custom_id, error=str(exc))
