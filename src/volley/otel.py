"""OpenTelemetry for volley: a span per request and per batch, and metrics, through ``opentelemetry-api``.

Nothing here imports OpenTelemetry until a function is called, and when it is not installed every
function is a no-op (``pip install 'volley-llm[otel]'`` installs the API; an SDK and exporter are
the application's choice). Spans follow the GenAI semantic conventions: name ``"chat {model}"``,
kind CLIENT, ``gen_ai.operation.name``, ``gen_ai.provider.name`` (and the older ``gen_ai.system``),
``gen_ai.request.model``, ``gen_ai.request.max_tokens``, ``server.address``/``server.port``,
``gen_ai.response.model``/``id``, ``gen_ai.response.finish_reasons``,
``gen_ai.usage.input_tokens``/``output_tokens``, ``error.type``; and volley's ``volley.cost_usd``,
``volley.cache_hit``. Prompts and answers are recorded (``gen_ai.input.messages`` /
``gen_ai.output.messages``) only with ``capture_content=True`` or
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``; API keys never.

Metrics: ``gen_ai.client.operation.duration`` (s) and ``gen_ai.client.token.usage`` histograms, and
counters ``volley.requests`` (by ``volley.outcome``), ``volley.errors`` (by ``error.type``),
``volley.tokens`` (by ``gen_ai.token.type``), ``volley.cost`` (USD), up-down ``volley.queue.depth``.

volley's calls record all this themselves once the application has set up OpenTelemetry
(:func:`enabled`): ``prepare.Template`` puts :func:`traced` first in each call's hooks, and the batch
calls open a :class:`BatchSpan` whose children the requests' spans are. Unset, a call does no extra work.

Example::

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    trace.set_tracer_provider(TracerProvider())      # plus an exporter of the application's choice
    volley.batch_completion("gpt-4o-mini", prompts)  # one "batch gpt-4o-mini" span, a "chat" span per request
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

__all__ = ["BatchSpan", "available", "batch", "configure", "enabled", "queued", "request", "traced"]

CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
#: ``VOLLEY_OTEL=0`` turns volley's spans and metrics off, ``=1`` on (whenever the API is installed);
#: unset, they are on once the application has set up OpenTelemetry (see :func:`enabled`).
ENABLE_ENV = "VOLLEY_OTEL"
#: volley provider names -> the conventions' well-known ``gen_ai.provider.name`` values
_PROVIDER_NAMES = {
    "gemini": "gcp.gemini", "vertex_ai": "gcp.vertex_ai", "bedrock": "aws.bedrock", "azure": "azure.ai.openai",
    "mistral": "mistral_ai", "xai": "x_ai", "watsonx": "ibm.watsonx.ai",
}  # fmt: skip

_UNSET: Any = object()
_state: dict[str, Any] = {"api": _UNSET, "tracer_provider": None, "meter_provider": None, "capture": None}
_instruments: _Instruments | None = None


def available() -> bool:
    """Whether ``opentelemetry-api`` is installed (imported on the first call, then remembered)."""
    if _state["api"] is _UNSET:
        try:
            from opentelemetry import metrics, trace

            _state["api"] = (trace, metrics)
        except ImportError:
            _state["api"] = None
    return _state["api"] is not None


def enabled() -> bool:
    """Whether volley's calls record spans and metrics (checked once per batch, not per request).

    On when :func:`configure` was given a provider, or when the application has set a global tracer or
    meter provider (an SDK); off otherwise, and always without ``opentelemetry-api``. An application
    that never imported OpenTelemetry has set up nothing: that is seen without importing it.
    ``VOLLEY_OTEL=0`` / ``=1`` force it off / on.
    """
    forced = os.environ.get(ENABLE_ENV, "").strip().lower()
    if forced in ("0", "false", "no", "off"):
        return False
    if forced in ("1", "true", "yes", "on") or _state["tracer_provider"] is not None or _state["meter_provider"]:
        return available()
    if "opentelemetry.trace" not in sys.modules or not available():
        return False
    trace, metrics = _state["api"]
    tracer = trace.get_tracer_provider()
    meter = metrics.get_meter_provider()
    return not isinstance(tracer, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)) or type(
        meter
    ).__name__ not in ("_ProxyMeterProvider", "NoOpMeterProvider")


def configure(*, tracer_provider: Any = None, meter_provider: Any = None, capture_content: bool | None = None) -> None:
    """Use these providers instead of the global ones (tests, or an app with its own); ``capture_content``
    records prompts and answers on spans (default: the ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``
    environment variable, else off)."""
    global _instruments
    _state.update(tracer_provider=tracer_provider, meter_provider=meter_provider, capture=capture_content)
    _instruments = None


def _capture() -> bool:
    if _state["capture"] is not None:
        return bool(_state["capture"])
    return os.environ.get(CAPTURE_ENV, "").strip().lower() in ("1", "true", "yes")


class _Instruments:
    def __init__(self) -> None:
        trace, metrics = _state["api"]
        from . import __version__

        self.trace = trace
        self.tracer = trace.get_tracer("volley", __version__, tracer_provider=_state["tracer_provider"])
        meter = metrics.get_meter("volley", __version__, meter_provider=_state["meter_provider"])
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="GenAI operation duration"
        )
        self.token_usage = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Tokens used per request"
        )
        self.requests = meter.create_counter("volley.requests", unit="{request}", description="Requests answered")
        self.errors = meter.create_counter("volley.errors", unit="{error}", description="Requests failed, by type")
        self.tokens = meter.create_counter("volley.tokens", unit="{token}", description="Tokens used")
        self.cost = meter.create_counter("volley.cost", unit="USD", description="Cost of the answers")
        self.queue = meter.create_up_down_counter(
            "volley.queue.depth", unit="{request}", description="Requests waiting or in flight"
        )


def _get() -> _Instruments | None:
    global _instruments
    if not available():
        return None
    if _instruments is None:
        _instruments = _Instruments()
    return _instruments


def provider_name(provider: str) -> str:
    """``gen_ai.provider.name`` for a volley provider name (``"gemini"`` -> ``"gcp.gemini"``)."""
    return _PROVIDER_NAMES.get(provider, provider)


def _server(api_base: str | None) -> dict[str, Any]:
    if not api_base:
        return {}
    try:
        parts = urlsplit(api_base)
        host, port = parts.hostname, parts.port  # never the userinfo, path or query
    except ValueError:
        return {}
    out: dict[str, Any] = {}
    if host:
        out["server.address"] = host
        out["server.port"] = port or (443 if parts.scheme == "https" else 80)
    return out


class RequestRecord:
    """The span of one request: :meth:`response` / :meth:`error` add what the answer (or failure) says."""

    __slots__ = ("_attrs", "_done", "_ins", "_span", "_started")

    def __init__(self, ins: _Instruments | None, span: Any, attrs: dict[str, Any], started: float) -> None:
        self._ins, self._span, self._attrs, self._started, self._done = ins, span, attrs, started, False

    def response(self, resp: Any) -> None:
        """Record an answer (a ``ModelResponse``): response model and id, usage, finish reasons, cost."""
        if self._ins is None or self._done:
            return
        self._done = True
        span, ins, base = self._span, self._ins, self._attrs
        usage = getattr(resp, "usage", None)
        reasons = [str(c.finish_reason) for c in getattr(resp, "choices", []) if c.finish_reason]
        cost = getattr(resp, "cost", None)
        hit = bool(getattr(resp, "cache_hit", False))
        attrs: dict[str, Any] = {
            "gen_ai.response.model": getattr(resp, "model", "") or base["gen_ai.request.model"],
            "gen_ai.response.id": getattr(resp, "id", ""),
            "gen_ai.response.finish_reasons": reasons,
            "volley.cache_hit": hit,
        }
        if usage is not None:
            attrs["gen_ai.usage.input_tokens"] = int(usage.prompt_tokens)
            attrs["gen_ai.usage.output_tokens"] = int(usage.completion_tokens)
        if cost is not None:
            attrs["volley.cost_usd"] = float(cost)
        if _capture():
            attrs["gen_ai.output.messages"] = json.dumps(
                [c.message.model_dump(exclude_none=True) for c in getattr(resp, "choices", [])], ensure_ascii=False
            )
        span.set_attributes(attrs)
        metric = _metric_attrs(base)
        ins.requests.add(1, {**metric, "volley.outcome": "cache_hit" if hit else "ok"})
        if usage is not None:
            for kind, n in (("input", usage.prompt_tokens), ("output", usage.completion_tokens)):
                ins.token_usage.record(int(n), {**metric, "gen_ai.token.type": kind})
                ins.tokens.add(int(n), {**metric, "gen_ai.token.type": kind})
        if cost:
            ins.cost.add(float(cost), metric)
        ins.duration.record(_elapsed(self._started), metric)

    def error(self, exc: BaseException) -> None:
        """Record a failure: ``error.type`` (the exception's class), the HTTP status if any, status ERROR."""
        if self._ins is None or self._done:
            return
        self._done = True
        ins, base = self._ins, self._attrs
        kind = type(exc).__name__
        attrs: dict[str, Any] = {"error.type": kind}
        status = getattr(exc, "status_code", None)
        if isinstance(status, int):
            attrs["http.response.status_code"] = status
        self._span.set_attributes(attrs)
        self._span.set_status(ins.trace.Status(ins.trace.StatusCode.ERROR, kind))  # the class, not the message
        metric = _metric_attrs(base)
        ins.requests.add(1, {**metric, "volley.outcome": "error"})
        ins.errors.add(1, {**metric, "error.type": kind})
        ins.duration.record(_elapsed(self._started), {**metric, "error.type": kind})


_NOOP = RequestRecord(None, None, {}, 0.0)


def _metric_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    keep = ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model", "server.address")
    return {k: attrs[k] for k in keep if k in attrs}


def _elapsed(started: float) -> float:
    import time

    return time.perf_counter() - started


@contextmanager
def request(
    provider: str,
    model: str,
    *,
    api_base: str | None = None,
    operation: str = "chat",
    max_tokens: int | None = None,
    messages: Sequence[Any] | None = None,
    parent: Any = None,
) -> Iterator[RequestRecord]:
    """A CLIENT span around one request (the current span while it runs); an exception leaving the block
    is recorded as the request's error and re-raised. ``messages`` are recorded only when capture is on.
    ``parent``: an OpenTelemetry ``Context`` to start the span in (default: the current one).

    Example::

        with otel.request("openai", "gpt-4o-mini", api_base=base) as rec:
            resp = await send()
            rec.response(resp)
    """
    ins = _get()
    if ins is None:
        yield _NOOP
        return
    import time

    attrs: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": provider_name(provider),
        "gen_ai.system": provider_name(provider),
        "gen_ai.request.model": model,
        **_server(api_base),
    }
    if max_tokens:
        attrs["gen_ai.request.max_tokens"] = int(max_tokens)
    if messages is not None and _capture():
        attrs["gen_ai.input.messages"] = json.dumps(list(messages), ensure_ascii=False, default=str)
    kind = ins.trace.SpanKind.CLIENT
    with ins.tracer.start_as_current_span(
        f"{operation} {model}", context=parent, kind=kind, attributes=attrs, record_exception=False,
        set_status_on_exception=False,
    ) as span:  # fmt: skip
        rec = RequestRecord(ins, span, attrs, time.perf_counter())
        try:
            yield rec
        except BaseException as exc:
            rec.error(exc)
            raise


async def traced(call: Any, send: Callable[[], Awaitable[Any]], *, parent: Any = None) -> Any:
    """The tracing hook: ``send()`` inside a request span for ``call`` (a prepared ``volley.prepare.Call``).

    What ``prepare.Template`` puts first in a call's hooks when :func:`enabled`. ``parent``: the
    ``Context`` to start the span in (a :class:`BatchSpan` passes its own).

    Example::

        resp = await otel.traced(call, lambda: execute(call))
    """
    if not available():
        return await send()
    route = call.route
    with request(route.provider, route.model, api_base=route.api_base, max_tokens=getattr(call, "max_output", None),
                 messages=getattr(call, "messages", None), parent=parent) as rec:  # fmt: skip
        resp = await send()
        rec.response(resp)
        return resp


class BatchSpan:
    """A batch's span, open across all its steps (which may run in different tasks, e.g. under the sync
    API): the request spans of its calls are its children because it hands them its context explicitly
    (:meth:`traced`), so nothing is attached in one task and detached in another. :meth:`result` counts
    each item's outcome, :meth:`queued` moves the queue-depth gauge, :meth:`end` closes it (once).

    Example::

        span = otel.BatchSpan("gpt-4o-mini", provider="openai", size=len(prompts))
        try:
            resp = await span.traced(call, lambda: execute(call))
            span.result(resp)
        finally:
            span.end()
    """

    __slots__ = ("_context", "_ins", "_metric", "_span", "errors", "ok")

    def __init__(self, model: str, *, provider: str | None = None, size: int | None = None) -> None:
        self.ok = self.errors = 0
        self._ins = ins = _get()
        self._span: Any = None
        self._context: Any = None
        self._metric: dict[str, Any] = {"gen_ai.request.model": model}
        if provider:
            self._metric["gen_ai.provider.name"] = provider_name(provider)
        if ins is None:
            return
        attrs: dict[str, Any] = {"gen_ai.operation.name": "batch", **self._metric}
        if size is not None:
            attrs["volley.batch.size"] = int(size)
        self._span = ins.tracer.start_span(f"batch {model}", attributes=attrs)  # child of the current span
        self._context = ins.trace.set_span_in_context(self._span)

    async def traced(self, call: Any, send: Callable[[], Awaitable[Any]]) -> Any:
        """The tracing hook for this batch's calls: a request span, child of the batch's."""
        return await traced(call, send, parent=self._context)

    def hooks(self, hooks: tuple[Any, ...]) -> tuple[Any, ...]:
        """``hooks`` with the plain tracing hook replaced by :meth:`traced`."""
        return tuple(self.traced if h is traced else h for h in hooks)

    def queued(self, delta: int) -> None:
        """Move the queue-depth gauge (+1 when an item is taken up, -1 when it is done)."""
        if self._ins is not None:
            self._ins.queue.add(delta, self._metric)

    def result(self, result: Any) -> None:
        """Count one item's answer, or its exception."""
        if isinstance(result, BaseException):
            self.errors += 1
        else:
            self.ok += 1

    def end(self) -> None:
        """Record the counts and end the span (again: nothing)."""
        span, self._span = self._span, None
        if span is not None:
            span.set_attributes({"volley.batch.ok": self.ok, "volley.batch.errors": self.errors})
            span.end()


#: What :func:`batch` yields (its running counts).
BatchRecord = BatchSpan


@contextmanager
def batch(model: str, *, provider: str | None = None, size: int | None = None) -> Iterator[BatchSpan]:
    """A span around a batch, current inside the block (for code that runs in one task); request spans
    started inside it (in its tasks) are its children. Across tasks, use :class:`BatchSpan`.

    Example::

        with otel.batch("gpt-4o-mini", provider="openai", size=100) as b:
            for r in results:
                b.result(r)
    """
    rec = BatchSpan(model, provider=provider, size=size)
    if rec._ins is None:
        yield rec
        return
    try:
        with rec._ins.trace.use_span(rec._span, end_on_exit=False):
            yield rec
    finally:
        rec.end()


def queued(delta: int, *, provider: str = "", model: str = "") -> None:
    """Change the queue depth gauge by ``delta`` (+1 when a request is queued, -1 when it finishes)."""
    ins = _get()
    if ins is None:
        return
    attrs = {"gen_ai.request.model": model}
    if provider:
        attrs["gen_ai.provider.name"] = provider_name(provider)
    ins.queue.add(delta, attrs)
