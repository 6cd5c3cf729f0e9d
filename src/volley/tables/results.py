"""One result (a ``ModelResponse`` or the error an item ended with) → the result columns of its row.

Columns, in order (``<fields>``: a schema's top-level properties, when one is given)::

    answer, <fields>, finish_reason, prompt_tokens, completion_tokens, cached_tokens,
    cost_usd, latency_s, model, provider, attempts, error_type, error_message

A failed row has ``error_type`` (the exception's class name, e.g. ``RateLimitError``) and
``error_message``; an answer that does not parse or match the schema keeps its text in ``answer``
(and its tokens and cost: it was paid for) with ``error_type`` ``OutputParseError`` or
``OutputValidationError``. ``attempts`` is None where it is not known.

Example::

    result_columns(response)["answer"]       # 'echo: hi'
    result_columns(RateLimitError("slow down"))["error_type"]   # 'RateLimitError'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .schema import OutputParseError, OutputValidationError, Schema

#: Each result column and its value type (an Arrow type name), in output order; fields go after ``answer``.
RESULT_COLUMNS: dict[str, str] = {
    "answer": "string",
    "finish_reason": "string",
    "prompt_tokens": "int64",
    "completion_tokens": "int64",
    "cached_tokens": "int64",
    "cost_usd": "float64",
    "latency_s": "float64",
    "model": "string",
    "provider": "string",
    "attempts": "int64",
    "error_type": "string",
    "error_message": "string",
}


def column_names(schema: Schema | None = None, prefix: str = "") -> list[str]:
    """The result column names in order, with a schema's fields after ``answer``."""
    names = list(RESULT_COLUMNS)
    if schema is not None:
        names[1:1] = schema.fields
    return [prefix + n for n in names]


def column_types(schema: Schema | None = None, prefix: str = "") -> dict[str, str]:
    """Arrow type names of the fixed result columns (schema fields are left to inference)."""
    return {prefix + k: v for k, v in RESULT_COLUMNS.items()}


def check_collisions(input_columns: Sequence[str], schema: Schema | None = None, prefix: str = "") -> None:
    """Raise ``ValueError`` when an input column has a result column's name (the result would hide it)."""
    taken = sorted(set(input_columns) & set(column_names(schema, prefix)))
    if taken:
        raise ValueError(f"the input already has column(s) {', '.join(taken)}, which the results would replace; "
                         "pass a prefix for the result columns (e.g. prefix='new_') or rename them")  # fmt: skip
    if schema is not None and prefix + "answer" in schema.fields:
        raise ValueError("the schema has a field named 'answer', the name of the answer column; pass a prefix")


def empty_columns(schema: Schema | None = None) -> dict[str, Any]:
    """Every result column, set to None."""
    return dict.fromkeys(column_names(schema))


def response_columns(body: Any, schema: Schema | None = None) -> dict[str, Any]:
    """The columns a chat.completion gives: ``body`` is a ``ModelResponse`` or its JSON dict."""
    out = empty_columns(schema)
    choices = _get(body, "choices") or []
    first = choices[0] if choices else None
    message = _get(first, "message")
    out["answer"] = _get(message, "content")
    out["finish_reason"] = _get(first, "finish_reason")
    usage = _get(body, "usage")
    out["prompt_tokens"] = _get(usage, "prompt_tokens")
    out["completion_tokens"] = _get(usage, "completion_tokens")
    out["cached_tokens"] = _get(_get(usage, "prompt_tokens_details"), "cached_tokens")
    out["model"] = _get(body, "model") or None
    if schema is not None:
        try:
            out.update(schema.parse(out["answer"]))
        except (OutputParseError, OutputValidationError) as exc:
            out["error_type"], out["error_message"] = type(exc).__name__, str(exc)
    return out


def error_columns(
    error_type: str, message: str, schema: Schema | None = None, *, model: str | None = None,
    provider: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The columns of a row that got no answer."""
    out = empty_columns(schema)
    out.update(error_type=error_type, error_message=message, model=model or None, provider=provider or None)
    return out


def result_columns(result: Any, *, schema: Schema | None = None, attempts: int | None = None) -> dict[str, Any]:
    """The result columns of one item: ``result`` is a ``ModelResponse`` or the exception it ended with.

    Example::

        for i, r in volley.iter_batch_completion(model, prompts):
            row = result_columns(r)
    """
    if isinstance(result, BaseException):
        model, provider = getattr(result, "model", None), getattr(result, "provider", None)
        out = error_columns(type(result).__name__, _message(result), schema, model=model, provider=provider)
    else:
        out = response_columns(result, schema)
        try:
            out["cost_usd"] = result.cost
        except Exception:  # a price table problem must not lose the answer
            out["cost_usd"] = None
        out["latency_s"] = getattr(result, "latency", None)
        out["provider"] = getattr(result, "provider", None) or None
    out["attempts"] = attempts if attempts is not None else getattr(result, "attempts", None)
    return out


def prefixed(columns: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """``columns`` with ``prefix`` before every name."""
    return {prefix + k: v for k, v in columns.items()} if prefix else dict(columns)


def _message(exc: BaseException) -> str:
    return str(getattr(exc, "message", "") or exc) or type(exc).__name__


def _get(obj: Any, key: str) -> Any:
    """``obj[key]`` for a dict or a volley response object; None when absent."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(key)
    getter = getattr(obj, "get", None)
    if callable(getter):
        return getter(key)
    return getattr(obj, key, None)
