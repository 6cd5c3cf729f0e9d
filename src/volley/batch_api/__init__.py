"""Provider batch APIs (OpenAI Batch, Anthropic Message Batches): the same results as online mode, at half the price.

Example::

    from volley.batch_api import run_batch_api
    from volley.prepare import Template

    template = Template("claude-3-5-haiku-latest", {"max_tokens": 100})
    results = await run_batch_api([template.call(m) for m in prompts], poll_interval=30)

Management: :func:`list_batches`, :func:`batch_status`, :func:`cancel_batch`, :func:`batch_results`.
Cost: a response that came through a batch has ``response._batch_discount == 0.5`` (see ``discount``).
"""

from __future__ import annotations

from ._types import BatchInfo, ItemResult
from .adapters import SUPPORTED_PROVIDERS, make_adapter, provider_of
from .discount import BATCH_DISCOUNT, batch_discount, batch_id_of, mark_batch
from .entry import BATCH_OPTIONS, run_template, split_options
from .errors import (
    BatchItemCanceled,
    BatchItemError,
    BatchItemExpired,
    BatchModeUnsupportedError,
    BatchResumeError,
)
from .manage import batch_results, batch_status, cancel_batch, list_batches
from .run import check, custom_id, index_of, run_batch_api, split

__all__ = [
    "BATCH_DISCOUNT",
    "BATCH_OPTIONS",
    "SUPPORTED_PROVIDERS",
    "BatchInfo",
    "BatchItemCanceled",
    "BatchItemError",
    "BatchItemExpired",
    "BatchModeUnsupportedError",
    "BatchResumeError",
    "ItemResult",
    "batch_discount",
    "batch_id_of",
    "batch_results",
    "batch_status",
    "cancel_batch",
    "check",
    "custom_id",
    "index_of",
    "list_batches",
    "make_adapter",
    "mark_batch",
    "provider_of",
    "run_batch_api",
    "run_template",
    "split",
    "split_options",
]
