"""Managing provider batches by id (for ``volley batches list | status ID | cancel ID | results ID``).

Each function takes the provider (``"openai"``, ``"anthropic"``, ``"groq"``, ``"mistral"`` or ``"gemini"``;
:func:`provider_of` guesses it from an id: Groq's look like OpenAI's, Mistral's tell nothing, Gemini's
start with ``batches/``), and
``api_base`` / ``api_key`` (default: the usual environment variables).
"""

from __future__ import annotations

from typing import Any

from ..errors import BadRequestError
from ..types import ModelResponse
from ._types import BatchInfo, ItemResult
from .adapters import adapter_from_env
from .discount import mark_batch
from .errors import BatchItemCanceled, BatchItemError, BatchItemExpired


async def list_batches(
    provider: str, *, api_base: str | None = None, api_key: str | None = None, limit: int = 20
) -> list[BatchInfo]:
    """The provider's most recent batches, newest first.

    Example::

        for b in await list_batches("anthropic"):
            print(b.id, b.status, b.counts)
    """
    return await adapter_from_env(provider, api_base, api_key).list_batches(limit)


async def batch_status(
    provider: str, batch_id: str, *, api_base: str | None = None, api_key: str | None = None
) -> BatchInfo:
    """One batch's state.

    Example::

        info = await batch_status("openai", "batch_abc123")
        print(info.status, info.counts, info.done)
    """
    return await adapter_from_env(provider, api_base, api_key).retrieve(batch_id)


async def cancel_batch(
    provider: str, batch_id: str, *, api_base: str | None = None, api_key: str | None = None
) -> BatchInfo:
    """Ask the provider to cancel a batch; its state right after (``cancelling`` / ``canceling``).

    Example::

        await cancel_batch("anthropic", "msgbatch_01abc")
    """
    return await adapter_from_env(provider, api_base, api_key).cancel(batch_id)


async def batch_results(
    provider: str, batch_id: str, *, api_base: str | None = None, api_key: str | None = None
) -> dict[str, ModelResponse | BatchItemError]:
    """The results of an ended batch by ``custom_id``: a ``ModelResponse`` or a ``BatchItemError`` each.

    Raises ``BadRequestError`` while the batch is still running.

    Example::

        for cid, r in (await batch_results("openai", "batch_abc123")).items():
            print(cid, r.choices[0].message.content if isinstance(r, ModelResponse) else r)
    """
    adapter = adapter_from_env(provider, api_base, api_key)
    info = await adapter.retrieve(batch_id)
    if not info.done:
        raise BadRequestError(f"batch {batch_id} is still {info.status}: no results yet", provider=provider)
    return {cid: _result(provider, cid, item, info) for cid, item in (await adapter.results(info)).items()}


def _result(provider: str, cid: str, item: ItemResult, info: BatchInfo) -> ModelResponse | BatchItemError:
    from ..routing import provider as host_of

    where: dict[str, Any] = {"provider": provider, "batch_id": info.id, "custom_id": cid}
    if item.kind == "succeeded":
        model = str(item.body.get("model", "")) if isinstance(item.body, dict) else ""
        try:  # the host's protocol reads it (Groq's and Mistral's answers are OpenAI's shape)
            resp = ModelResponse.model_validate(host_of(provider).wire.parse_response(item.body, model))
        except Exception as exc:
            return BatchItemError(f"unreadable result: {exc}", **where)
        resp._provider = provider
        marked: ModelResponse = mark_batch(resp, info.id)
        return marked
    cls = {"expired": BatchItemExpired, "canceled": BatchItemCanceled}.get(item.kind, BatchItemError)
    return cls(item.message or f"the item {item.kind}", status_code=item.status, error_type=item.error_type, **where)
