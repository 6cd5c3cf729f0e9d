"""LiteLLM's custom callbacks around each call: ``volley.success_callback``, ``volley.failure_callback``,
``volley.callbacks`` and a call's ``logger_fn``.

A function in ``success_callback`` / ``failure_callback`` is called as LiteLLM calls it,
``f(kwargs, response, start_time, end_time)`` (``response`` is None on failure, the error is
``kwargs["exception"]``; the times are ``datetime``); a coroutine function is awaited. An object in
``callbacks`` has :class:`CustomLogger`'s methods (any of them; ``async_log_*`` are preferred when
defined). ``logger_fn(kwargs)`` runs before the request. A callback that raises is logged, never
propagated: a callback never changes a call's result. Callbacks run on volley's event loop: keep
them quick (hand slow work to a thread or a queue). Streams and LiteLLM's named integrations
(strings such as ``"langfuse"``) call no callbacks (a warning says so once).

``kwargs`` holds ``model``, ``messages``, ``optional_params`` (the completion parameters),
``litellm_params`` (``metadata``, ``api_base``, ``custom_llm_provider``, ``litellm_call_id``),
``metadata``, ``litellm_call_id``, ``custom_llm_provider``, ``api_base``, ``stream``, ``call_type``,
``start_time``; after the call ``end_time``, ``response_cost`` and ``cache_hit`` (success) or
``exception`` and ``traceback_exception`` (failure).

Example::

    def log(kwargs, response, start, end):
        print(kwargs["model"], (end - start).total_seconds(), response.cost)

    volley.success_callback = [log]
"""

from __future__ import annotations

import inspect
import logging
import traceback
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from ..settings import settings

log = logging.getLogger("volley")
_warned: set[str] = set()


class CustomLogger:
    """LiteLLM's callback object: override the methods you need; put the instance in ``volley.callbacks``.

    Example::

        class Counter(volley.CustomLogger):
            def log_success_event(self, kwargs, response_obj, start_time, end_time):
                print("ok", kwargs["model"])

        volley.callbacks = [Counter()]
    """

    def log_pre_api_call(self, model: str, messages: Any, kwargs: dict[str, Any]) -> None:
        """Before the request is sent."""

    def log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: datetime, end_time: datetime
    ) -> None:
        """After a successful call (when ``async_log_success_event`` is not overridden)."""

    def log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: datetime, end_time: datetime
    ) -> None:
        """After a failed call (when ``async_log_failure_event`` is not overridden)."""

    async def async_log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: datetime, end_time: datetime
    ) -> None:
        """After a successful call, awaited on volley's loop."""

    async def async_log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: datetime, end_time: datetime
    ) -> None:
        """After a failed call, awaited on volley's loop."""


class CallbacksHook:
    """The hook (outermost of a call's hooks) that runs the callbacks; one per template."""

    def __init__(self, params: Mapping[str, Any], metadata: Any, logger_fn: Callable[..., Any] | None) -> None:
        self.params = dict(params)
        self.metadata = metadata
        self.logger_fn = logger_fn

    def _kwargs(self, call: Any) -> dict[str, Any]:
        route, call_id = call.route, str(uuid.uuid4())
        litellm_params = {"metadata": self.metadata, "api_base": route.api_base,
                          "custom_llm_provider": route.provider, "litellm_call_id": call_id}  # fmt: skip
        return {
            "model": route.model, "messages": call.messages, "optional_params": dict(self.params),
            "litellm_params": litellm_params, "metadata": self.metadata, "litellm_call_id": call_id,
            "custom_llm_provider": route.provider, "api_base": route.api_base, "stream": call.stream,
            "call_type": "completion", "start_time": datetime.now(),
        }  # fmt: skip

    async def __call__(self, call: Any, send: Callable[[], Awaitable[Any]]) -> Any:
        kwargs = self._kwargs(call)
        if self.logger_fn is not None:
            await _safely(self.logger_fn, kwargs)
        for obj in settings.get("callbacks"):
            if hasattr(obj, "log_pre_api_call"):
                await _safely(obj.log_pre_api_call, kwargs["model"], kwargs["messages"], kwargs)
        start = kwargs["start_time"]
        try:
            resp = await send()
        except Exception as exc:
            kwargs.update(exception=exc, traceback_exception=traceback.format_exc(), end_time=datetime.now())
            await _fire("failure", kwargs, None, start)
            raise
        kwargs.update(response_cost=getattr(resp, "cost", None), cache_hit=getattr(resp, "cache_hit", False),
                      end_time=datetime.now())  # fmt: skip
        await _fire("success", kwargs, resp, start)
        return resp


async def _fire(kind: str, kwargs: dict[str, Any], resp: Any, start: datetime) -> None:
    end = kwargs["end_time"]
    functions = list(settings.get(f"{kind}_callback"))
    for obj in settings.get("callbacks"):
        if isinstance(obj, str) or not _is_logger(obj):
            functions.append(obj)
            continue
        method = _method(obj, kind)
        if method is not None:
            await _safely(method, kwargs, resp, start, end)
    for fn in functions:
        if isinstance(fn, str):
            if fn not in _warned:
                _warned.add(fn)
                log.warning("volley does not run LiteLLM's %r integration callback; pass a function instead", fn)
            continue
        await _safely(fn, kwargs, resp, start, end)


def _is_logger(obj: Any) -> bool:
    return any(hasattr(obj, m) for m in ("log_success_event", "log_failure_event", "async_log_success_event",
                                          "async_log_failure_event"))  # fmt: skip


def _method(obj: Any, kind: str) -> Callable[..., Any] | None:
    """The object's async method when it defines one of its own (not CustomLogger's no-op), else the sync one."""
    name = f"async_log_{kind}_event"
    method = getattr(obj, name, None)
    own = method is not None and getattr(type(obj), name, None) is not getattr(CustomLogger, name)
    if own:
        return method
    return getattr(obj, f"log_{kind}_event", None)


async def _safely(fn: Callable[..., Any], *args: Any) -> None:
    try:
        out = fn(*args)
        if inspect.isawaitable(out):
            await out
    except Exception as exc:
        log.warning("a volley callback (%s) raised %s: %s", getattr(fn, "__name__", fn), type(exc).__name__, exc)
