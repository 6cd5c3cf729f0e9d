"""The hooks ``batch_completion(..., mode="batch_api")`` and ``volley run --batch-api`` call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .run import Result, run_batch_api

if TYPE_CHECKING:
    from ..prepare import Template

BATCH_OPTIONS = frozenset(
    {"poll_interval", "max_poll_interval", "on_submitted", "resume_ids", "custom_ids", "fallback", "on_status",
     "max_requests", "max_bytes"}
)  # fmt: skip
"""Keyword arguments of batch mode (they steer volley, not the model): take them out before ``Template``."""


def split_options(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``params`` → ``(batch options, the rest)``.

    Example::

        options, params = split_options({"poll_interval": 30, "temperature": 0})
    """
    options = {k: v for k, v in params.items() if k in BATCH_OPTIONS}
    rest = {k: v for k, v in params.items() if k not in BATCH_OPTIONS}
    return options, rest


async def run_template(
    template: Template, messages: Sequence[Any], *, validated: bool = False, **options: Any
) -> list[Result]:
    """Every message list through ``template`` and the provider's batch API; a list aligned with ``messages``.

    ``options`` are :func:`run_batch_api`'s (``poll_interval``, ``on_submitted``, ``resume_ids``, ``fallback``...).

    Example::

        out = await run_template(Template("gpt-4o-mini", {}), prompts, poll_interval=30)
    """
    calls = [template.call(m, validated=validated) for m in messages]
    return await run_batch_api(calls, **options)
