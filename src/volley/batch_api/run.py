"""``run_batch_api``: prepared Calls → provider batches → results in input order, like online mode.

Steps: check every call (before any request) → attach to ``resume_ids`` and wait for those batches →
group the calls still without a result by (provider, base, key, model) → split each group within the
provider's limits → submit → poll with backoff → read the results → map each back to its slot by
``custom_id`` → optionally send the items that did not succeed through online mode.

Results are matched by ``custom_id`` only (``volley-<index>`` unless the caller gives stable ids), so a
resume needs no particular order or plan: whatever a resumed batch answered fills its slots, and the
calls no resumed batch answered are submitted anew.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import APIError, AuthenticationError, BadRequestError, NotFoundError, redact
from ..types import ModelResponse
from ._types import Adapter, BatchInfo, ItemResult
from .adapters import SUPPORTED_PROVIDERS, adapter_for_call, provider_of, unsupported
from .discount import mark_batch
from .errors import BatchItemCanceled, BatchItemError, BatchItemExpired, BatchModeUnsupportedError, BatchResumeError

if TYPE_CHECKING:
    from ..prepare import Call

Result = ModelResponse | BaseException
OnSubmitted = Callable[[list[str]], None]
OnStatus = Callable[[BatchInfo], None]

DEFAULT_POLL_INTERVAL = 10.0
DEFAULT_MAX_POLL_INTERVAL = 300.0
POLL_BACKOFF = 1.5
DEFAULT_FALLBACK_CONCURRENCY = 100
_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def custom_id(index: int) -> str:
    """The ``custom_id`` of input ``index`` (unique across all batches of one run)."""
    return f"volley-{index}"


def index_of(cid: str) -> int | None:
    """The input index a ``custom_id`` stands for, or None if it is not one of volley's."""
    head, _, tail = cid.partition("-")
    return int(tail) if head == "volley" and tail.isdigit() else None


@dataclass(slots=True)
class Chunk:
    """One provider batch to be: the adapter that sends it and the input indices it holds."""

    adapter: Adapter
    indices: list[int]


def check(calls: Sequence[Call], fallback: str | None = None, poll_interval: float = DEFAULT_POLL_INTERVAL) -> None:
    """Raise before any request when these calls cannot go through a batch API."""
    if fallback not in (None, "online"):
        raise BadRequestError(f"fallback must be None or 'online'; got {fallback!r}")
    if isinstance(poll_interval, bool) or not isinstance(poll_interval, (int, float)) or not poll_interval > 0:
        raise BadRequestError(f"poll_interval must be a positive number of seconds; got {poll_interval!r}")
    for call in calls:
        if call.stream:
            raise BatchModeUnsupportedError("stream=True cannot go through a provider batch API")
        if call.transport.limited and call.route.provider not in SUPPORTED_PROVIDERS:
            raise unsupported(call.route.provider)


def body_of(call: Call) -> dict[str, Any]:
    """The online request body of ``call``, as a batch item carries it (never a stream)."""
    body = call.request.body
    assert isinstance(body, dict)
    if "stream" in body or "stream_options" in body:
        body = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    return body


def split(sizes: Sequence[int], max_requests: int, max_bytes: int) -> tuple[list[list[int]], list[int]]:
    """Positions grouped into consecutive chunks of at most ``max_requests`` items and ``max_bytes`` bytes.

    Returns ``(chunks, too_large)``: positions whose item alone exceeds ``max_bytes`` are left out.

    >>> split([5, 5, 5, 20, 5], max_requests=2, max_bytes=12)
    ([[0, 1], [2, 4]], [3])
    """
    chunks: list[list[int]] = []
    too_large: list[int] = []
    current: list[int] = []
    used = 0
    for pos, size in enumerate(sizes):
        if size > max_bytes:
            too_large.append(pos)
            continue
        if current and (len(current) >= max_requests or used + size > max_bytes):
            chunks.append(current)
            current, used = [], 0
        current.append(pos)
        used += size
    if current:
        chunks.append(current)
    return chunks, too_large


def plan(
    calls: Sequence[Call], ids: Sequence[str], todo: Sequence[int], **limits: Any
) -> tuple[list[Chunk], dict[int, BaseException]]:
    """The batches that send the calls at positions ``todo`` (grouped by provider, base, key and model).

    Also returns the slots decided without a batch: items too large for any batch.
    """
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i in todo:
        r = calls[i].route
        groups.setdefault((r.provider, r.api_base, r.api_key, r.model), []).append(i)
    chunks: list[Chunk] = []
    early: dict[int, BaseException] = {}
    for indices in groups.values():
        adapter = adapter_for_call(calls[indices[0]], **limits)
        sizes = [adapter.item_size(ids[i], body_of(calls[i])) for i in indices]
        parts, too_large = split(sizes, adapter.max_requests, adapter.max_bytes)
        chunks.extend(Chunk(adapter, [indices[p] for p in part]) for part in parts)
        for p in too_large:
            call = calls[indices[p]]
            early[indices[p]] = BatchItemError(
                f"the request alone ({sizes[p]} bytes) exceeds the {adapter.provider} batch limit "
                f"of {adapter.max_bytes} bytes; it was not sent",
                reason="too_large",
                provider=call.route.provider,
                model=call.route.model,
                custom_id=ids[indices[p]],
            )
    return chunks, early


def check_ids(ids: Sequence[str], n: int) -> list[str]:
    """Validate caller-given custom ids: one per call, unique, ``[a-zA-Z0-9_-]{1,64}`` (Anthropic's rule)."""
    ids = list(ids)
    if len(ids) != n:
        raise BadRequestError(f"custom_ids must give one id per call: {len(ids)} ids for {n} calls")
    for cid in ids:
        if not isinstance(cid, str) or not _CUSTOM_ID.match(cid):
            raise BadRequestError(f"custom_id {cid!r} must be 1-64 characters of a-z, A-Z, 0-9, '_' and '-'")
    if len(set(ids)) != n:
        raise BadRequestError("custom_ids must be unique")
    return ids


def to_result(call: Call, cid: str, item: ItemResult | None, info: BatchInfo) -> Result:
    """One item's outcome → the ModelResponse (marked as batch-priced) or the exception for its slot."""
    r = call.route
    where = {"provider": r.provider, "model": r.model, "batch_id": info.id, "custom_id": cid}
    secrets = call.request.secrets
    if item is not None and item.kind == "succeeded":
        from ..send import parse_answer

        try:
            resp = parse_answer(call, item.body)
        except APIError as exc:
            return exc
        resp._provider = r.provider
        return mark_batch(resp, info.id)
    if item is None:
        return _missing(info, where)
    message = redact(item.message or f"the item {item.kind}", secrets)
    if item.kind == "expired":
        return BatchItemExpired(message, error_type=item.error_type, **where)
    if item.kind == "canceled":
        return BatchItemCanceled(message, error_type=item.error_type, **where)
    return BatchItemError(message, status_code=item.status, error_type=item.error_type, **where)


def _missing(info: BatchInfo, where: dict[str, Any]) -> BatchItemError:
    status = info.status
    if status == "expired":
        return BatchItemExpired(f"batch {info.id} expired before this item ran", **where)
    if status in ("cancelled", "canceled", "cancelling", "canceling"):
        return BatchItemCanceled(f"batch {info.id} was cancelled before this item ran", **where)
    if status == "failed":
        detail = "; ".join(info.errors[:5]) or "no details given"
        return BatchItemError(f"batch {info.id} failed: {detail}", reason="failed", **where)
    return BatchItemError(f"batch {info.id} ended ({status}) without a result for this item", reason="missing", **where)


async def _follow(
    adapter: Adapter, info: BatchInfo, poll_interval: float, max_poll_interval: float, on_status: OnStatus | None
) -> tuple[BatchInfo, dict[str, ItemResult]]:
    """Poll one batch until it ends (waits grow by 1.5x up to ``max_poll_interval``); its results."""
    wait = poll_interval
    while not info.done:
        await asyncio.sleep(wait)
        wait = min(max_poll_interval, wait * POLL_BACKOFF)
        info = await adapter.retrieve(info.id)
        if on_status is not None:
            on_status(info)
    return info, await adapter.results(info)


async def _all(aws: Sequence[Awaitable[Any]]) -> list[Any]:
    """``gather`` that cancels the others when one fails."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _online(calls: Sequence[Call], indices: list[int]) -> dict[int, Result]:
    from ..engine.run import run
    from ..send import execute

    if not indices:
        return {}
    workers = calls[indices[0]].limits.get("max_workers", DEFAULT_FALLBACK_CONCURRENCY)
    jobs = ((i, (lambda c=calls[i]: execute(c))) for i in indices)
    return {i: r async for i, r in run(jobs, concurrency=min(workers, len(indices)))}


async def _attach(batch_id: str, adapters: Sequence[Adapter]) -> tuple[Adapter, BatchInfo]:
    """The adapter (of these calls' providers, bases and keys) that knows ``batch_id``, and the batch."""
    provider = provider_of(batch_id)
    candidates = [a for a in adapters if provider in (None, a.provider)] or list(adapters)
    last: APIError | None = None
    for adapter in candidates:
        try:
            return adapter, await adapter.retrieve(batch_id)
        except (NotFoundError, AuthenticationError) as exc:
            last = exc
    raise BatchResumeError(
        f"cannot resume batch {batch_id}: none of these calls' providers knows it ({last})", provider=provider or ""
    )


async def run_batch_api(
    calls: Sequence[Call],
    *,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
    on_submitted: OnSubmitted | None = None,
    resume_ids: Sequence[str] | None = None,
    custom_ids: Sequence[str] | None = None,
    fallback: str | None = None,
    on_status: OnStatus | None = None,
    max_requests: int | None = None,
    max_bytes: int | None = None,
) -> list[Result]:
    """Send prepared ``calls`` through the provider's batch API; a list aligned with ``calls``.

    Each slot holds a ``ModelResponse`` (the same as online mode would give, marked
    ``_batch_discount = 0.5`` for cost accounting) or the exception for that item: a
    ``BatchItemError`` (``BatchItemExpired``, ``BatchItemCanceled``; ``.reason`` says why).
    With ``fallback="online"`` those items are sent again through online mode.

    Large inputs are split into several batches within the provider's limits (``max_requests`` /
    ``max_bytes`` per batch override them). ``on_submitted(ids)`` is called after each batch is
    submitted with the ids of every batch of this run so far (resumed ones first): store them, and
    after a crash pass them back as ``resume_ids`` to attach to those batches instead of submitting
    (and paying for) them again. Resumed batches are matched to calls by ``custom_id``: give
    ``custom_ids`` (stable ids, e.g. journal line numbers) when the calls of the resumed run may
    differ in number or order; the default ``volley-<index>`` needs the same calls in the same
    order. Calls that no resumed batch answered are submitted once those batches have ended.

    Cancelling this coroutine leaves the batches running at the provider. ``on_status(info)`` sees
    every poll. Raises before any request when a call cannot be batched (``BatchModeUnsupportedError``),
    and raises the provider's error when a batch cannot be created or followed (e.g. a wrong key).

    Example::

        template = Template("gpt-4o-mini", {"api_key": key})
        calls = [template.call(m) for m in prompts]
        results = await run_batch_api(calls, poll_interval=30, on_submitted=journal.save_batch_ids)
    """
    calls = list(calls)
    check(calls, fallback, poll_interval)
    ids = check_ids(custom_ids, len(calls)) if custom_ids is not None else [custom_id(i) for i in range(len(calls))]
    limits = {k: v for k, v in (("max_requests", max_requests), ("max_bytes", max_bytes)) if v is not None}
    results: list[Result | None] = [None] * len(calls)
    batchable = [i for i, c in enumerate(calls) if c.transport.limited]  # mock_response: answered locally

    slot = {ids[i]: i for i in batchable}

    def settle(answered: Sequence[tuple[BatchInfo, dict[str, ItemResult]]], sent: Sequence[list[int]] = ()) -> None:
        """Fill the slots of every result (by custom_id), then of the sent items that got none."""
        for info, got in answered:
            for cid, item in got.items():
                i = slot.get(cid)
                if i is not None and results[i] is None:
                    results[i] = to_result(calls[i], cid, item, info)
        for (info, _), indices in zip(answered, sent):
            for i in indices:
                if results[i] is None:
                    results[i] = to_result(calls[i], ids[i], None, info)

    def follow(adapter: Adapter, info: BatchInfo) -> Awaitable[tuple[BatchInfo, dict[str, ItemResult]]]:
        return _follow(adapter, info, poll_interval, max_poll_interval, on_status)

    submitted: list[str] = []
    if resume_ids and batchable:
        seen: dict[tuple[str, str, str | None], Adapter] = {}
        for i in batchable:
            r = calls[i].route
            seen.setdefault((r.provider, r.api_base, r.api_key), adapter_for_call(calls[i], **limits))
        attached = [await _attach(rid, list(seen.values())) for rid in dict.fromkeys(resume_ids)]
        submitted = [info.id for _, info in attached]
        settle(await _all([follow(a, info) for a, info in attached]))

    chunks, early = plan(calls, ids, [i for i in batchable if results[i] is None], **limits)
    for i, exc in early.items():
        results[i] = exc
    infos: list[BatchInfo] = []
    for chunk in chunks:
        infos.append(await chunk.adapter.submit([(ids[i], body_of(calls[i])) for i in chunk.indices]))
        submitted.append(infos[-1].id)
        if on_submitted is not None:
            on_submitted(list(submitted))
    settle(await _all([follow(c.adapter, info) for c, info in zip(chunks, infos)]), [c.indices for c in chunks])

    mocks = [i for i, c in enumerate(calls) if not c.transport.limited]
    again = [i for i in batchable if isinstance(results[i], BatchItemError)] if fallback == "online" else []
    for i, answer in (await _online(calls, mocks + again)).items():
        results[i] = answer
    return results  # type: ignore[return-value]
