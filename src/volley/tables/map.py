"""``volley.map``: one request per row of a table, and the table back with the answers beside the rows.

The requests go through ``volley.iter_batch_completion`` (``amap``: ``abatch_completion_iter``), so
concurrency, rate limits, retries, the cache and the budget are volley's own (``max_workers``,
``rpm``, ``num_retries``, ``cache``... pass through). Everything that can be wrong with the input
(a template naming a missing column, a bad schema, a column that would be overwritten) and with
the setup (unknown model, missing key) raises before the first request. Once sending, nothing
raises for a row: a failed row is a row whose ``error_type`` / ``error_message`` say why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .frames import Frame, read_data, with_results
from .results import check_collisions, column_names, column_types, error_columns, prefixed, result_columns
from .schema import Schema
from .template import RowError, make_template


@dataclass
class _Plan:
    frame: Frame
    schema: Schema | None
    prefix: str
    messages: list[list[dict[str, Any]] | RowError]
    params: dict[str, Any]

    def to_send(self) -> tuple[list[int], list[list[dict[str, Any]]]]:
        rows = [i for i, m in enumerate(self.messages) if not isinstance(m, RowError)]
        return rows, [self.messages[i] for i in rows]  # type: ignore[misc]

    def finish(self, results: Mapping[int, Any]) -> Any:
        columns = []
        for i, m in enumerate(self.messages):
            if isinstance(m, RowError):
                cols = error_columns("InvalidRequestError", f"row {i}: {m}", self.schema)
            else:
                cols = result_columns(results[i], schema=self.schema)
            columns.append(prefixed(cols, self.prefix))
        names = column_names(self.schema, self.prefix)
        return with_results(self.frame, columns, names, column_types(self.schema, self.prefix))


def _plan(
    data: Any,
    prompt: str | None,
    system: str | None,
    schema: Any,
    messages_column: str | None,
    prefix: str,
    params: dict[str, Any],
) -> _Plan:
    frame = read_data(data)
    parsed = Schema.of(schema) if schema is not None else None
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a string, got {type(prefix).__name__}")
    check_collisions(frame.columns, parsed, prefix)
    first = frame.rows[0] if frame.rows else None
    template = make_template(frame.columns, prompt, system=system, messages_column=messages_column, first=first)
    messages: list[list[dict[str, Any]] | RowError] = []
    for row in frame.rows:
        try:
            messages.append(template.messages(row))
        except RowError as exc:
            messages.append(exc)
    if parsed is not None:
        if params.get("response_format") is not None:
            raise ValueError("give schema= or response_format=, not both")
        params = {**params, "response_format": parsed.response_format()}
    return _Plan(frame, parsed, prefix, messages, params)


def map(  # volley.map, as the issue names it (shadows the builtin only in this module)
    data: Any,
    model: Any,
    prompt: str | None = None,
    system: str | None = None,
    schema: Any = None,
    *,
    messages_column: str | None = None,
    prefix: str = "",
    **params: Any,
) -> Any:
    """One request per row of ``data``; returns the same kind of object with the result columns added, in order.

    ``data``: a list of strings (column ``text``), a list of dicts, a pandas or polars DataFrame, or a
    ``datasets.Dataset``. ``prompt``: a template over the columns (``"Summarize: {text}"``; default:
    the ``messages``, ``prompt`` or ``text`` column); ``system``: a system prompt (a template too);
    ``messages_column``: a column holding an OpenAI messages list (or its JSON text). ``schema``: a
    pydantic model class or a JSON Schema dict, sent as ``response_format`` (strict JSON Schema), each
    answer parsed into one column per top-level field. ``prefix``: put before every result column's
    name (``"summary_"`` → ``summary_answer``...), e.g. to map over a table that has them already.
    Other keywords go to ``volley.iter_batch_completion`` (``max_workers``, ``rpm``, ``temperature``,
    ``api_base``, ``progress``...).

    Result columns: ``answer``, the schema's fields, ``finish_reason``, ``prompt_tokens``,
    ``completion_tokens``, ``cached_tokens``, ``cost_usd``, ``latency_s``, ``model``, ``provider``,
    ``attempts``, ``error_type``, ``error_message``. A failed row has the error columns set; an
    answer that does not match the schema keeps its text in ``answer``.

    Example::

        df = pd.DataFrame({"review": ["Great phone", "Broke in a day"]})
        out = volley.map(df, "gpt-4o-mini", "Sentiment of: {review}. One word.", max_workers=50)
        out[["review", "answer", "cost_usd"]]

        class Verdict(pydantic.BaseModel):
            positive: bool
            reason: str

        out = volley.map(df, "gpt-4o-mini", "Review: {review}", schema=Verdict)
        out[["review", "positive", "reason"]]
    """
    from ..api import iter_batch_completion

    plan = _plan(data, prompt, system, schema, messages_column, prefix, params)
    rows, messages = plan.to_send()
    results: dict[int, Any] = {}
    if messages:
        for j, result in iter_batch_completion(model, messages, **plan.params):
            results[rows[j]] = result
    return plan.finish(results)


async def amap(
    data: Any,
    model: Any,
    prompt: str | None = None,
    system: str | None = None,
    schema: Any = None,
    *,
    messages_column: str | None = None,
    prefix: str = "",
    **params: Any,
) -> Any:
    """Async twin of :func:`map` (same parameters and result), sending through ``abatch_completion_iter``.

    Example::

        out = await volley.amap(["What is 2+2?", "Name a prime."], "gpt-4o-mini", max_workers=20)
        [r["answer"] for r in out]
    """
    from ..api import abatch_completion_iter

    plan = _plan(data, prompt, system, schema, messages_column, prefix, params)
    rows, messages = plan.to_send()
    results: dict[int, Any] = {}
    if messages:
        async for j, result in abatch_completion_iter(model, messages, **plan.params):
            results[rows[j]] = result
    return plan.finish(results)
