"""Tables in, tables out: prompts from the rows of a file or a DataFrame, answers beside them.

- :mod:`.read`: open JSONL, CSV/TSV, Parquet, Arrow/Feather or a saved Hugging Face dataset as lazy rows.
- :mod:`.template`: a row → its chat messages (``"Summarize: {text}"``, a system prompt, a messages column).
- :mod:`.schema`: structured output: a pydantic class or JSON Schema → ``response_format`` and parsed fields.
- :mod:`.results`: one result (answer or error) → the result columns.
- :mod:`.items`: a table + template → the items a job sends (for ``volley run``).
- :mod:`.write`: rows → ``.parquet`` / ``.csv`` / ``.tsv`` / ``.jsonl`` / ``.arrow``, chosen by extension, atomically.
- :mod:`.resume`: a ``volley run`` journal + its input → the output table, one row per input row.
- :mod:`.map`: ``volley.map(data, model, prompt=...)`` over lists, pandas, polars and ``datasets``.

Only the standard library is imported here; pyarrow, pandas, polars and datasets load when used.

Example::

    from volley.tables import open_table, make_template

    table = open_table("questions.csv")
    template = make_template(table.columns, prompt="Answer briefly: {question}")
    for row in table.rows():
        print(template.messages(row))
"""

from __future__ import annotations

from .read import Table, TableError, open_table
from .results import RESULT_COLUMNS, result_columns
from .template import RowTemplate, TemplateError, make_template
from .write import write_table

__all__ = [
    "RESULT_COLUMNS",
    "RowTemplate",
    "Table",
    "TableError",
    "TemplateError",
    "make_template",
    "open_table",
    "result_columns",
    "write_table",
]
