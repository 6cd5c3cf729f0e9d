"""The public calls: ``completion``, the seed's three batch calls and the streaming batch iterator.

Each has a sync and an async form; the sync forms run the async core on volley's private loop.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncGenerator, AsyncIterable, Coroutine, Iterable, Iterator, Mapping, Sequence
from contextlib import aclosing
from functools import partial
from typing import Any, Literal, overload

from . import collector
from ._sync import SyncIterator, ThreadedInput, run_sync
from .engine.progress import OnResult, Progress
from .engine.race import first_success
from .engine.run import run, run_chunks, within
from .prepare import Call, Template, prepare
from .send import execute
from .stream import AsyncStream, SyncStream, open_stream
from .types import ModelResponse
from .validate import InvalidRequestError, positive_int, positive_seconds, validate_messages

ModelSpec = str | Mapping[str, Any]
Result = ModelResponse | BaseException
DEFAULT_MAX_WORKERS = 100
READ_AHEAD = 1024  # lazy input items the sync API's reader thread keeps ready (fewer: it waits on the GIL more)
READ_AHEAD_TEXT = 2_000_000  # ... and at most about this many characters of their prompts (long prompts)


Messages = Sequence[Mapping[str, Any]]


@overload
async def acompletion(model: ModelSpec, messages: Messages, *, stream: Literal[True], **params: Any) -> AsyncStream: ...
@overload
async def acompletion(
    model: ModelSpec, messages: Messages, *, stream: Literal[False] = False, **params: Any
) -> ModelResponse: ...
async def acompletion(model: ModelSpec, messages: Messages, *, stream: bool = False, **params: Any) -> Any:
    """One chat completion, async. With ``stream=True`` returns an async iterator of chunks.

    Example::

        r = await volley.acompletion("anthropic/claude-3-5-haiku-latest",
                                     [{"role": "user", "content": "Hi"}], max_tokens=50)
    """
    call = prepare(model, messages, {**params, "stream": stream} if stream else params)
    if call.stream:
        return await open_stream(call)
    return await execute(call)


@overload
def completion(model: ModelSpec, messages: Messages, *, stream: Literal[True], **params: Any) -> SyncStream: ...
@overload
def completion(
    model: ModelSpec, messages: Messages, *, stream: Literal[False] = False, **params: Any
) -> ModelResponse: ...
def completion(model: ModelSpec, messages: Messages, *, stream: bool = False, **params: Any) -> Any:
    """One chat completion. With ``stream=True`` returns an iterator of chunks.

    Example::

        r = volley.completion("gpt-4o-mini", [{"role": "user", "content": "Hi"}])
        print(r.choices[0].message.content)
    """
    call = prepare(model, messages, {**params, "stream": stream} if stream else params)
    if call.stream:
        return SyncStream(run_sync(open_stream(call)))
    return run_sync(execute(call))


# ------------------------------------------------------------------ many prompts, one model


def _stream_refused(params: Mapping[str, Any], fn: str) -> None:
    if params.get("stream"):
        raise InvalidRequestError(f"{fn} does not take stream=True", status_code=400)


def _deadline(seconds: Any) -> float | None:
    """``deadline=`` seconds → the ``loop.time()`` instant it ends (checked: a finite positive number)."""
    if seconds is None:
        return None
    return asyncio.get_running_loop().time() + positive_seconds("deadline", seconds)


async def abatch_completion_iter(
    model: ModelSpec,
    messages: Iterable[list[dict[str, Any]]] | AsyncIterable[list[dict[str, Any]]],
    max_workers: int | None = DEFAULT_MAX_WORKERS,
    *,
    deadline: float | None = None,
    progress: bool = False,
    on_result: OnResult | None = None,
    **params: Any,
) -> AsyncGenerator[tuple[int, Result], None]:
    """Many prompts to one model; yield ``(index, response or exception)`` as each one finishes.

    ``messages`` is read lazily (any iterable, e.g. a generator over a file, or an async iterable),
    and only the requests in flight are held in memory. The model, key and parameters are checked
    before the first request; an item whose messages are malformed (or whose request cannot be
    built) yields its error. If ``messages`` itself raises, no more items are read: the requests in
    flight finish and are yielded, then its exception is raised. ``deadline`` (seconds) bounds the
    whole run: unfinished items then yield ``Timeout`` (and input still awaited raises it).
    ``progress=True`` shows a progress bar; ``on_result(index, result)`` is called as each finishes.

    Example::

        async for i, r in volley.abatch_completion_iter("gpt-4o-mini", prompts, max_workers=50, rpm=500):
            print(i, r.choices[0].message.content if isinstance(r, volley.ModelResponse) else r)
    """
    template = _batch_template(model, max_workers, params)
    async with aclosing(_run_batch(template, messages, deadline, progress, on_result, validated=False)) as chunks:
        async for chunk in chunks:
            for item in chunk:
                yield item


def _batch_template(model: ModelSpec, max_workers: Any, params: Mapping[str, Any]) -> Template:
    """Check a batch's setup once, before any request: bad model, key or parameters raise here.
    ``max_workers=None`` (LiteLLM's thread-pool default) means volley's default."""
    workers = DEFAULT_MAX_WORKERS if max_workers is None else positive_int("max_workers", max_workers)
    _stream_refused(params, "batch_completion")
    return Template(model, {**params, "max_workers": workers})


async def _run_batch(
    template: Template,
    messages: Iterable[Any] | AsyncIterable[Any],
    deadline: float | None,
    progress: bool,
    on_result: OnResult | None,
    *,
    validated: bool,
    threaded: bool = False,
) -> AsyncGenerator[list[tuple[int, Result]], None]:
    """The batch core: yields the results that are ready, a list at a time (one hop per list).

    ``threaded``: read a lazy sync ``messages`` in a thread of its own (the sync API: the caller's
    generator must not run on volley's loop thread, where a slow ``next()`` stalls every request).
    With OpenTelemetry set up (the template traces), the batch is a span, its requests' spans its children.
    """
    until = _deadline(deadline)
    total = len(messages) if isinstance(messages, Sequence) else None
    tracker = Progress(total, show=progress, on_result=on_result, label=template.route.label)
    workers = template.limits["max_workers"]
    if threaded and total is None and not isinstance(messages, AsyncIterable):
        messages = ThreadedInput(messages, ahead=READ_AHEAD, weigh=_text_size, budget=READ_AHEAD_TEXT)
    span = _batch_span(template, total)

    on_retry = tracker.retry

    def job(m: Any) -> Any:
        if span is None:  # a partial, not a closure: fewer objects per item for the collector
            return partial(_item, template, m, validated, on_retry)
        return _traced(template, m, validated, tracker, span)

    jobs = _numbered(messages, job)
    collector.enter(workers)  # fewer young collections while the batch runs (process-wide; see volley.collector)
    try:
        async with aclosing(run_chunks(jobs, concurrency=workers, deadline=until)) as chunks:
            async for chunk in chunks:
                for i, result in chunk:
                    tracker.result(i, result)
                    if span is not None:
                        span.result(result)
                yield chunk
    finally:
        collector.leave()
        tracker.close()
        if span is not None:
            span.end()
        if isinstance(messages, ThreadedInput):
            await messages.aclose()  # stops its thread and closes the caller's generator there


def _item(template: Template, messages: Any, validated: bool, on_retry: Any) -> Coroutine[Any, Any, ModelResponse]:
    """One batch item's job: its call prepared (an invalid item raises here) and sent."""
    return execute(template.call(messages, validated=validated), on_retry)


def _text_size(messages: Any) -> int:
    """Characters of a lazy input item's message texts (what the reader thread's budget counts)."""
    if not isinstance(messages, list):
        return 0
    return sum(len(c) for m in messages if isinstance(m, dict) and isinstance(c := m.get("content"), str))


def _batch_span(template: Template, total: int | None) -> Any:
    """The batch's span when the template traces (``otel.enabled``); else None."""
    from . import otel

    if otel.traced not in template.hooks:
        return None
    return otel.BatchSpan(template.route.model, provider=template.route.provider, size=total)


def _traced(template: Template, m: Any, validated: bool, tracker: Progress, span: Any) -> Any:
    """A traced batch's job: its request span a child of the batch's, counted in the queue depth."""

    async def go() -> ModelResponse:
        span.queued(1)
        try:
            call = template.call(m, validated=validated)
            call.hooks = span.hooks(call.hooks)
            return await execute(call, on_retry=tracker.retry)
        finally:
            span.queued(-1)

    return go


def _numbered(messages: Iterable[Any] | AsyncIterable[Any], job: Any) -> Any:
    """``(index, job(item))`` for each item, as a sync or an async iterable like ``messages``."""
    if not isinstance(messages, AsyncIterable):
        return ((i, job(m)) for i, m in enumerate(messages))

    async def numbered() -> AsyncGenerator[tuple[int, Any], None]:
        i = 0
        async for m in messages:
            yield i, job(m)
            i += 1

    return numbered()


def iter_batch_completion(
    model: ModelSpec,
    messages: Iterable[list[dict[str, Any]]],
    max_workers: int | None = DEFAULT_MAX_WORKERS,
    *,
    deadline: float | None = None,
    progress: bool = False,
    on_result: OnResult | None = None,
    **params: Any,
) -> Iterator[tuple[int, Result]]:
    """Many prompts to one model; yield ``(index, response or exception)`` as each one finishes.

    Sync twin of :func:`abatch_completion_iter` (same parameters). Stop early with ``.close()``,
    which cancels the requests in flight. A lazy ``messages`` (a generator) is read in a thread of
    its own, a bounded number of items ahead, so a slow generator never delays the requests in
    flight (nor makes them time out).

    Example::

        for i, r in volley.iter_batch_completion("gpt-4o-mini", ([{"role": "user", "content": q}] for q in qs)):
            print(i, r)
    """
    template = _batch_template(model, max_workers, params)  # fail now, not at the first next()
    batch = _run_batch(template, messages, deadline, progress, on_result, validated=False, threaded=True)
    return _flatten(SyncIterator(batch))


def _flatten(chunks: SyncIterator[list[tuple[int, Result]]]) -> Iterator[tuple[int, Result]]:
    # One hop to the private loop per ready list, not per item: cheaper and it keeps up with the workers.
    try:
        for chunk in chunks:
            yield from chunk
    finally:
        chunks.close()


#: ``mode=`` of the batch calls besides "online": the module that runs a whole batch another way
#: (``split_options(params)`` and ``run_template(template, messages, validated=, **options)``), imported
#: on first use — the provider batch APIs live around the core, not in it.
BATCH_MODES = {"batch_api": "volley.batch_api"}


def _mode(mode: Any) -> Any:
    path = BATCH_MODES.get(mode) if isinstance(mode, str) else None
    if path is None:
        raise InvalidRequestError(f"mode must be 'online' or {' or '.join(map(repr, BATCH_MODES))}; got {mode!r}")
    return importlib.import_module(path)


def _check_batch(messages: Any) -> list[Any]:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise InvalidRequestError("messages must be a list of message lists", status_code=400)
    if messages and isinstance(messages[0], Mapping):
        raise InvalidRequestError(
            "batch_completion takes a list of message lists, e.g. [[{'role': 'user', 'content': 'hi'}], ...]; "
            "got a single message list",
            status_code=400,
        )
    return [validate_messages(m, f"messages[{i}]") for i, m in enumerate(messages)]


async def abatch_completion(
    model: ModelSpec,
    messages: Sequence[list[dict[str, Any]]],
    max_workers: int | None = DEFAULT_MAX_WORKERS,
    *,
    deadline: float | None = None,
    progress: bool = False,
    on_result: OnResult | None = None,
    mode: str = "online",
    **params: Any,
) -> list[Result]:
    """Many prompts to one model; a list aligned with ``messages``, each slot a response or the error it raised.

    Every item is validated before the first request is sent. Takes the parameters of
    :func:`abatch_completion_iter` too (``rpm``, ``tpm``, ``deadline``, ``progress``, ``on_result``).
    ``mode="batch_api"`` sends the whole batch through the provider's batch API instead (OpenAI
    Batch, Anthropic Message Batches, Azure OpenAI Batch: half the price, results within 24 h), with the same result
    shape and order; it takes ``poll_interval``, ``fallback="online"``, ``on_submitted`` and
    ``resume_ids`` (see ``volley.batch_api.run_batch_api``).

    Example::

        out = await volley.abatch_completion("gpt-4o-mini", [[{"role": "user", "content": q}] for q in qs])
    """
    if mode != "online":
        runner = _mode(mode)
        options, params = runner.split_options(params)
        template = _batch_template(model, max_workers, params)
        return await runner.run_template(template, _check_batch(messages), validated=True, **options)  # type: ignore[no-any-return]
    template = _batch_template(model, max_workers, params)
    items = _check_batch(messages)
    results: list[Result | None] = [None] * len(items)
    async with aclosing(_run_batch(template, items, deadline, progress, on_result, validated=True)) as chunks:
        async for chunk in chunks:
            for i, result in chunk:
                results[i] = result
    return results  # type: ignore[return-value]


def batch_completion(
    model: ModelSpec,
    messages: Sequence[list[dict[str, Any]]],
    max_workers: int | None = DEFAULT_MAX_WORKERS,
    **params: Any,
) -> list[Result]:
    """Many prompts to one model; a list aligned with ``messages``, each slot a response or the error it raised.

    Example::

        out = volley.batch_completion("claude-3-5-haiku-latest",
                                      [[{"role": "user", "content": "good morning?"}],
                                       [{"role": "user", "content": "what's the time?"}]])
    """
    return run_sync(abatch_completion(model, messages, max_workers=max_workers, **params))


# ------------------------------------------------------------------ one prompt, many models


def _check_models(models: Any, deployments: Any = None) -> list[ModelSpec]:
    """``models`` as a list: a list of names or override dicts, or a string (``"a"``, ``"a, b"``);
    LiteLLM's ``deployments=[{"model": ..., "api_base": ..., ...}]`` are override dicts."""
    if deployments is not None:
        if models is not None:
            raise InvalidRequestError("give models= or deployments=, not both", status_code=400)
        if not isinstance(deployments, Sequence) or not all(isinstance(d, Mapping) for d in deployments):
            raise InvalidRequestError("deployments must be a list of dicts with a 'model' key", status_code=400)
        models = list(deployments)
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    if isinstance(models, (bytes, Mapping)) or not isinstance(models, Sequence):
        raise InvalidRequestError(
            f"models must be a list of model names (or override dicts) or a 'a, b' string; got {models!r}",
            status_code=400,
        )
    if not models:
        raise InvalidRequestError("models is empty: give at least one model", status_code=400)
    return list(models)


def _models_call(models: Any, messages: Any, params: dict[str, Any]) -> tuple[list[ModelSpec], Any]:
    """LiteLLM's keyword forms of the many-models calls: ``deployments=``, and ``model`` / ``model_list``
    (which LiteLLM ignores there); ``messages`` is required."""
    deployments = params.pop("deployments", None)
    params.pop("model", None)
    params.pop("model_list", None)
    if messages is None:
        raise InvalidRequestError("messages is missing: give one message list", status_code=400)
    return _check_models(models, deployments), messages


def _job(call: Call) -> Any:
    return lambda: execute(call)


def _stream_job(call: Call) -> Any:
    async def first_token() -> AsyncStream:
        stream = await open_stream(call)
        try:
            await stream.first_output()
        except BaseException:
            await stream.aclose()
            raise
        return stream

    return first_token


async def abatch_completion_models(
    models: Sequence[ModelSpec] | str | None = None,
    messages: list[dict[str, Any]] | None = None,
    *,
    hedge_after: float | None = None,
    deadline: float | None = None,
    **params: Any,
) -> Any:
    """One prompt to many models; the first *successful* answer by wall clock. The rest are cancelled.

    ``hedge_after=s`` starts the models one after another instead of all at once: the next only
    when no answer came within ``s`` seconds (or the previous ones failed), saving calls when the
    first model is usually fast. ``stream=True`` returns the stream of the first model to produce
    its first token. Raises ``AllModelsFailedError`` (with each model's exception) when all fail.
    ``deadline`` (seconds) bounds the whole race: a model not answered by then fails with ``Timeout``.
    ``models`` may be a string (``"gpt-4o-mini, claude-3-5-haiku-latest"``); LiteLLM's
    ``deployments=[{"model": ..., "api_base": ..., "api_key": ...}]`` work in its place.

    Example::

        r = await volley.abatch_completion_models(["gpt-4o-mini", "claude-3-5-haiku-latest"], msgs)
        print(r.model, r.latency)
    """
    if hedge_after is not None:
        positive_seconds("hedge_after", hedge_after, zero=True)
    specs, messages = _models_call(models, messages, params)
    until = _deadline(deadline)
    calls = [prepare(m, messages, params) for m in specs]
    make = _stream_job if params.get("stream") else _job
    jobs = [(c.label, make(c) if until is None else _bounded(make(c), until)) for c in calls]
    _, result = await first_success(jobs, hedge_after=hedge_after, discard=_discard)
    return result


def _bounded(job: Any, until: float) -> Any:
    return lambda: within(job, until)


async def _discard(result: Any) -> None:
    if isinstance(result, AsyncStream):
        await result.aclose()


def batch_completion_models(
    models: Sequence[ModelSpec] | str | None = None, messages: list[dict[str, Any]] | None = None, **params: Any
) -> Any:
    """One prompt to many models; the fastest successful answer. The other requests are cancelled.

    Example::

        r = volley.batch_completion_models(models=["gpt-4o-mini", "claude-3-5-haiku-latest", "command-r"],
                                           messages=[{"role": "user", "content": "Hey, how's it going"}])
    """
    result = run_sync(abatch_completion_models(models, messages, **params))
    return SyncStream(result) if isinstance(result, AsyncStream) else result


async def abatch_completion_models_all_responses(
    models: Sequence[ModelSpec] | str | None = None,
    messages: list[dict[str, Any]] | None = None,
    return_exceptions: bool = False,
    *,
    deadline: float | None = None,
    **params: Any,
) -> list[Any]:
    """One prompt to many models; every answer, in ``models`` order.

    Failed models are left out, as in LiteLLM, unless ``return_exceptions=True`` keeps the
    exception in that model's slot. ``deadline`` (seconds): a model not answered by then fails with
    ``Timeout``.

    Example::

        rs = await volley.abatch_completion_models_all_responses(["gpt-4o-mini", "command-r"], msgs)
    """
    _stream_refused(params, "batch_completion_models_all_responses")
    specs, messages = _models_call(models, messages, params)
    until = _deadline(deadline)
    calls = [prepare(m, messages, params) for m in specs]
    results: list[Any] = [None] * len(calls)
    jobs = ((i, _job(c)) for i, c in enumerate(calls))
    async with aclosing(run(jobs, concurrency=len(calls), deadline=until)) as done:
        async for i, result in done:
            results[i] = result
    if return_exceptions:
        return results
    return [r for r in results if not isinstance(r, BaseException)]


def batch_completion_models_all_responses(
    models: Sequence[ModelSpec] | str | None = None,
    messages: list[dict[str, Any]] | None = None,
    return_exceptions: bool = False,
    **params: Any,
) -> list[Any]:
    """One prompt to many models; every answer, in ``models`` order.

    Example::

        rs = volley.batch_completion_models_all_responses(models=["gpt-4o-mini", "command-r"],
                                                          messages=[{"role": "user", "content": "Hi"}])
    """
    return run_sync(abatch_completion_models_all_responses(models, messages, return_exceptions, **params))
