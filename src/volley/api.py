"""The public calls: ``completion`` and the seed's three batch calls, each sync and async."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._sync import SyncIterator, run_sync
from .call import AsyncStream, Call, execute, open_stream, prepare
from .engine.race import first_success
from .engine.run import run
from .types import ModelResponse
from .validate import InvalidRequestError

ModelSpec = str | Mapping[str, Any]
DEFAULT_MAX_WORKERS = 100


async def acompletion(model: ModelSpec, messages: list[dict[str, Any]], **params: Any) -> Any:
    """One chat completion, async. With ``stream=True`` returns an async iterator of chunks.

    Example::

        r = await volley.acompletion("anthropic/claude-3-5-haiku-latest",
                                     [{"role": "user", "content": "Hi"}], max_tokens=50)
    """
    call = prepare(model, messages, params)
    if call.stream:
        return await open_stream(call)
    return await execute(call)


def completion(model: ModelSpec, messages: list[dict[str, Any]], **params: Any) -> Any:
    """One chat completion. With ``stream=True`` returns an iterator of chunks.

    Example::

        r = volley.completion("gpt-4o-mini", [{"role": "user", "content": "Hi"}])
        print(r.choices[0].message.content)
    """
    call = prepare(model, messages, params)
    if call.stream:
        return SyncIterator(run_sync(open_stream(call)))
    return run_sync(execute(call))


def _max_workers(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequestError(f"max_workers must be a positive integer; got {value!r}", status_code=400)
    return value


def _check_batch(messages: Any) -> list[Any]:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise InvalidRequestError("messages must be a list of message lists", status_code=400)
    if messages and isinstance(messages[0], Mapping):
        raise InvalidRequestError(
            "batch_completion takes a list of message lists, e.g. [[{'role': 'user', 'content': 'hi'}], ...]; "
            "got a single message list",
            status_code=400,
        )
    return list(messages)


def _stream_refused(params: Mapping[str, Any], fn: str) -> None:
    if params.get("stream"):
        raise InvalidRequestError(f"{fn} does not take stream=True", status_code=400)


async def abatch_completion(
    model: ModelSpec, messages: Sequence[list[dict[str, Any]]], max_workers: int = DEFAULT_MAX_WORKERS, **params: Any
) -> list[ModelResponse | BaseException]:
    """Many prompts to one model; a list aligned with ``messages``, each slot a response or the error it raised.

    Every item is validated before the first request is sent.

    Example::

        out = await volley.abatch_completion("gpt-4o-mini", [[{"role": "user", "content": q}] for q in qs])
    """
    workers = _max_workers(max_workers)
    _stream_refused(params, "batch_completion")
    calls = [prepare(model, m, params) for m in _check_batch(messages)]
    results: list[ModelResponse | BaseException | None] = [None] * len(calls)
    jobs = ((i, _job(c)) for i, c in enumerate(calls))
    async for i, result in run(jobs, concurrency=min(workers, max(1, len(calls)))):
        results[i] = result
    return results  # type: ignore[return-value]


def _job(call: Call) -> Any:
    return lambda: execute(call)


def batch_completion(
    model: ModelSpec, messages: Sequence[list[dict[str, Any]]], max_workers: int = DEFAULT_MAX_WORKERS, **params: Any
) -> list[ModelResponse | BaseException]:
    """Many prompts to one model; a list aligned with ``messages``, each slot a response or the error it raised.

    Example::

        out = volley.batch_completion("claude-3-5-haiku-latest",
                                      [[{"role": "user", "content": "good morning?"}],
                                       [{"role": "user", "content": "what's the time?"}]])
    """
    return run_sync(abatch_completion(model, messages, max_workers=max_workers, **params))


def _check_models(models: Any) -> list[ModelSpec]:
    if isinstance(models, (str, bytes, Mapping)) or not isinstance(models, Sequence) or not models:
        raise InvalidRequestError("models must be a non-empty list of model names (or override dicts)", status_code=400)
    return list(models)


async def abatch_completion_models(models: Sequence[ModelSpec], messages: list[dict[str, Any]], **params: Any) -> Any:
    """One prompt to many models; the first *successful* answer by wall clock. The rest are cancelled.

    Raises ``AllModelsFailedError`` (with each model's exception) when every model fails.

    Example::

        r = await volley.abatch_completion_models(["gpt-4o-mini", "claude-3-5-haiku-latest"], msgs)
        print(r.model, r.latency)
    """
    _stream_refused(params, "batch_completion_models")
    calls = [prepare(m, messages, params) for m in _check_models(models)]
    _, result = await first_success([(c.label, _job(c)) for c in calls])
    return result


def batch_completion_models(models: Sequence[ModelSpec], messages: list[dict[str, Any]], **params: Any) -> Any:
    """One prompt to many models; the fastest successful answer. The other requests are cancelled.

    Example::

        r = volley.batch_completion_models(models=["gpt-4o-mini", "claude-3-5-haiku-latest", "command-r"],
                                           messages=[{"role": "user", "content": "Hey, how's it going"}])
    """
    return run_sync(abatch_completion_models(models, messages, **params))


async def abatch_completion_models_all_responses(
    models: Sequence[ModelSpec], messages: list[dict[str, Any]], return_exceptions: bool = False, **params: Any
) -> list[Any]:
    """One prompt to many models; every answer, in ``models`` order.

    Failed models are left out, as in LiteLLM, unless ``return_exceptions=True`` keeps the
    exception in that model's slot.

    Example::

        rs = await volley.abatch_completion_models_all_responses(["gpt-4o-mini", "command-r"], msgs)
    """
    _stream_refused(params, "batch_completion_models_all_responses")
    calls = [prepare(m, messages, params) for m in _check_models(models)]
    results: list[Any] = [None] * len(calls)
    async for i, result in run(((i, _job(c)) for i, c in enumerate(calls)), concurrency=len(calls)):
        results[i] = result
    if return_exceptions:
        return results
    return [r for r in results if not isinstance(r, BaseException)]


def batch_completion_models_all_responses(
    models: Sequence[ModelSpec], messages: list[dict[str, Any]], return_exceptions: bool = False, **params: Any
) -> list[Any]:
    """One prompt to many models; every answer, in ``models`` order.

    Example::

        rs = volley.batch_completion_models_all_responses(models=["gpt-4o-mini", "command-r"],
                                                          messages=[{"role": "user", "content": "Hi"}])
    """
    return run_sync(abatch_completion_models_all_responses(models, messages, return_exceptions, **params))


__all__ = [
    "AsyncStream",
    "abatch_completion",
    "abatch_completion_models",
    "abatch_completion_models_all_responses",
    "acompletion",
    "batch_completion",
    "batch_completion_models",
    "batch_completion_models_all_responses",
    "completion",
]
