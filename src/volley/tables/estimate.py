"""``volley.estimate``: what sending a batch would cost, per model, before anything is sent.

It takes what ``volley.batch_completion`` takes (a list of message lists) or what ``volley.map``
takes (a list of strings or dicts, a pandas or polars DataFrame, a ``datasets.Dataset``, with a
``prompt`` template), builds every request as a real call would (same parameter checks), and adds
them up with :class:`volley.estimates.Estimator`. Nothing is sent, and no API key is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import AuthenticationError
from ..estimates import Estimate, Estimator
from ..pricing import BATCH_DISCOUNT


def estimate(
    model: str | Sequence[str],
    data: Any,
    prompt: str | None = None,
    system: str | None = None,
    schema: Any = None,
    *,
    messages_column: str | None = None,
    batch_api: bool = False,
    **params: Any,
) -> Estimate:
    """Items, prompt tokens, the output-token bound and the cost range of sending ``data`` to each ``model``.

    ``data``: a list of message lists, or anything ``volley.map`` takes (then ``prompt`` / ``system`` /
    ``messages_column`` / ``schema`` say what to send, as there). ``model``: one model or several
    (each gets its own line). ``batch_api=True`` prices at the provider batch discount. Other keywords
    are the completion parameters (``max_tokens`` bounds the output). Prompt tokens come from
    ``volley.tokens.count_tokens``: exact where a tokenizer is installed, else an estimate, and the
    result says which. Rows whose messages cannot be made are counted as ``invalid``.

    Example::

        est = volley.estimate("gpt-4o-mini", df, "Summarize: {text}", max_tokens=200)
        print(est)                      # items, tokens, bound, $low .. $high per model
        est.cost_high                   # USD if every answer used its 200 tokens
    """
    from ..prepare import Template

    messages, invalid = _messages(data, prompt, system, schema, messages_column, params)
    if schema is not None:
        from .schema import Schema

        params = {**params, "response_format": Schema.of(schema).response_format()}
    est = Estimator(discount=BATCH_DISCOUNT if batch_api else 1.0)
    for name in [model] if isinstance(model, str) else list(model):
        try:
            template = Template(name, params)
        except AuthenticationError:  # no key in the environment: an estimate sends nothing, so it needs none
            template = Template(name, {**params, "api_key": "volley-estimate-sends-nothing"})
        for m in messages:
            est.add(template.call(m))
    est.skip(invalid=invalid)
    return est.result()


def _messages(
    data: Any, prompt: str | None, system: str | None, schema: Any, messages_column: str | None,
    params: dict[str, Any],
) -> tuple[list[Any], int]:  # fmt: skip
    """The message lists of ``data``, and how many rows could not give one."""
    if isinstance(data, (list, tuple)) and data and isinstance(data[0], (list, tuple)) and prompt is None:
        return list(data), 0
    from .map import _plan
    from .template import RowError

    plan = _plan(data, prompt, system, None, messages_column, "", dict(params))
    ok = [m for m in plan.messages if not isinstance(m, RowError)]
    return ok, len(plan.messages) - len(ok)
