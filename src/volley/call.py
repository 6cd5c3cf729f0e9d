"""One completion call: prepared (validated, routed, mapped) up front, then executed with retries.

``prepare`` does every check that can fail without the network, so bad input raises before any
request is sent. ``execute`` / ``open_stream`` send it through the transport and parse the answer
with the provider module.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import providers
from .engine.limits import get_lane
from .engine.retry import RetryPolicy, retrying
from .errors import APIConnectionError, APIError, QuotaExceededError, RateLimitError, UnsupportedParamsError
from .providers.base import HTTPRequest, ProviderModule, StreamParserProto, load_json, output_cap, text_of
from .routing import Route, resolve, split_model
from .types import ModelResponse, StreamChunk
from .validate import InvalidRequestError, positive_seconds, validate_messages, validate_params

log = logging.getLogger("volley")

# Keyword arguments that steer volley itself rather than the model.
CONTROL_PARAMS = frozenset(
    {
        "timeout", "num_retries", "max_retries", "retry_delay", "api_key", "api_base", "base_url",
        "drop_params", "mock_response", "stream", "custom_llm_provider", "max_workers", "rpm", "tpm",
        "cache", "cache_path", "cache_scope", "budget_usd",
    }
)  # fmt: skip
PASS_THROUGH = frozenset({"extra_body", "extra_headers"})
DEFAULT_TIMEOUT = 600.0
DEFAULT_NUM_RETRIES = 3
DEFAULT_OUTPUT_ESTIMATE = 256  # tokens assumed for an answer when max_tokens is not given

_NO_MOCK = object()


def _all_completion_params() -> frozenset[str]:
    from .providers import openai

    return openai.SUPPORTED_PARAMS


@dataclass(slots=True)
class Call:
    """A fully prepared request for one model."""

    route: Route
    module: ProviderModule | None
    request: HTTPRequest | None
    stream: bool
    timeout: float | None
    retry: RetryPolicy
    messages: list[dict[str, Any]] = field(repr=False)
    mock: Any = field(default=_NO_MOCK, repr=False)
    limits: dict[str, Any] = field(default_factory=dict)  # max_workers / rpm / tpm for the lane
    est_tokens: int = 0  # what the request may cost against a tokens-per-minute limit
    cache: Any = None  # jobs.cache.CacheView when cache=True (non-stream calls only)
    budget: Any = None  # cost.Budget shared by a batch when budget_usd= is given
    max_output: int | None = None  # output-token cap the request carries (max_tokens or the provider's default)
    choices: int = 1  # answers asked for (n)

    @property
    def label(self) -> str:
        return self.route.label


def _split_params(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    control, completion = {}, {}
    known = _all_completion_params()
    for k, v in params.items():
        if k in CONTROL_PARAMS:
            control[k] = v
        elif k in known or k in PASS_THROUGH:
            completion[k] = v
        else:
            raise InvalidRequestError(
                f"unknown parameter {k!r}; completion parameters are {', '.join(sorted(known))}; "
                "put provider-specific fields in extra_body={...}",
                status_code=400,
            )
    return control, completion


class Template:
    """Everything about a call except its messages, checked once; ``call(messages)`` makes each Call.

    Batches build one template and reuse it for every item, so routing, key lookup and parameter
    checks run once per batch rather than once per prompt. Raises before any request when the
    model, key or parameters are wrong.

    ``model`` may be a dict ``{"model": ..., "api_base": ..., "api_key": ..., **params}`` whose
    entries override ``params`` for this model.
    """

    def __init__(self, model: str | Mapping[str, Any], params: Mapping[str, Any]) -> None:
        if isinstance(model, Mapping):
            override = dict(model)
            if "model" not in override:
                raise InvalidRequestError("a per-model override dict needs a 'model' key", status_code=400)
            model = override.pop("model")
            params = {**params, **override}
        control, completion = _split_params(params)
        validate_params(completion)
        provider_hint = control.get("custom_llm_provider")
        if provider_hint and isinstance(model, str) and not model.startswith(f"{provider_hint}/"):
            model = f"{provider_hint}/{model}"
        timeout = control.get("timeout", DEFAULT_TIMEOUT)
        if timeout is not None:
            timeout = positive_seconds("timeout", timeout)
        retries = control.get("num_retries", control.get("max_retries", DEFAULT_NUM_RETRIES))
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise InvalidRequestError(f"num_retries must be a non-negative integer; got {retries!r}", status_code=400)
        self.timeout: float | None = timeout
        delay = positive_seconds("retry_delay", control.get("retry_delay", 0.5), zero=True)
        self.retry = RetryPolicy(num_retries=retries, base_delay=delay)
        self.stream = bool(control.get("stream", False))
        self.limits = _limits(control)
        self.mock = control.get("mock_response", _NO_MOCK)
        api_base = control.get("api_base") or control.get("base_url")
        self.module: ProviderModule | None = None
        self.cache = _cache(control)
        if self.mock is not _NO_MOCK:
            provider, name = split_model(model)
            self.route = Route(provider, "mock", name, api_base or "mock", None)
            self.completion = completion
            self._output_cap(None)
            self.budget = _budget(control, self.route)
            return
        self.route = resolve(model, api_key=control.get("api_key"), api_base=api_base)
        self.module = providers.get(self.route.protocol)
        unsupported = [k for k in completion if k not in self.module.SUPPORTED_PARAMS and k not in PASS_THROUGH]
        if unsupported:
            if not control.get("drop_params"):
                raise UnsupportedParamsError(
                    f"{self.route.provider} does not support {', '.join(sorted(unsupported))}; "
                    "pass drop_params=True to drop them",
                    provider=self.route.provider,
                    model=self.route.model,
                )
            completion = {k: v for k, v in completion.items() if k not in unsupported}
        check = getattr(self.module, "check", None)  # providers that can fail before any request (local)
        if check is not None:
            check(self.route.model, completion)
        self.completion = completion
        self._output_cap(self.module)
        self.budget = _budget(control, self.route)

    def _output_cap(self, module: Any) -> None:
        """What bounds an answer's length: ``max_tokens`` (or the provider's default cap), times ``n``."""
        cap = output_cap(self.completion)
        self.max_output: int | None = cap if cap is not None else getattr(module, "DEFAULT_MAX_TOKENS", None)
        n = self.completion.get("n")
        self.choices = n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1

    def call(self, messages: Any, *, validated: bool = False) -> Call:
        """The prepared Call for one message list (validated here unless the caller already did)."""
        msgs = messages if validated else validate_messages(messages)
        route = self.route
        if self.module is None:
            est = estimate_tokens(msgs, self.completion)
            return Call(
                route, None, None, self.stream, self.timeout, self.retry, msgs, self.mock, self.limits, est,
                None, self.budget, self.max_output, self.choices,
            )  # fmt: skip
        request = self.module.build_request(
            route.model, msgs, self.completion, api_base=route.api_base, api_key=route.api_key, stream=self.stream
        )
        est = estimate_tokens(msgs, self.completion)
        return Call(
            route, self.module, request, self.stream, self.timeout, self.retry, msgs, _NO_MOCK, self.limits, est,
            self.cache, self.budget, self.max_output, self.choices,
        )  # fmt: skip


def prepare(model: str | Mapping[str, Any], messages: Any, params: Mapping[str, Any]) -> Call:
    """Validate and map one call; raise before any request when something is wrong."""
    return Template(model, params).call(messages)


def _cache(control: Mapping[str, Any]) -> Any:
    """The response cache for ``cache=True`` (``cache_path=`` picks the file, ``cache_scope=`` "shared" or
    "key"), else None. A cache file that cannot be opened raises ``jobs.cache.CacheError`` (an OSError)."""
    on = control.get("cache", False)
    if not isinstance(on, bool):
        raise InvalidRequestError(f"cache must be True or False; got {on!r}", status_code=400)
    scope = control.get("cache_scope", "shared")
    if scope not in ("shared", "key"):
        raise InvalidRequestError(f"cache_scope must be 'shared' or 'key'; got {scope!r}", status_code=400)
    if not on:
        return None
    from .jobs.cache import CacheView, open_cache

    return CacheView(open_cache(control.get("cache_path")), scope)


def _budget(control: Mapping[str, Any], route: Route) -> Any:
    """A fresh ``Budget`` for ``budget_usd=`` (shared by the calls of one template), else None."""
    limit = control.get("budget_usd")
    if limit is None:
        return None
    from .cost import Budget

    try:
        budget = Budget(limit)
        budget.check_price(route.provider, route.model)
    except ValueError as exc:
        raise InvalidRequestError(str(exc), status_code=400) from None
    return budget


def _limits(control: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for name in ("max_workers", "rpm", "tpm"):
        v = control.get(name)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or v != v:
            raise InvalidRequestError(f"{name} must be a positive number; got {v!r}", status_code=400)
        if name == "max_workers" and not isinstance(v, int):
            raise InvalidRequestError(f"max_workers must be a positive integer; got {v!r}", status_code=400)
        out[name] = v
    return out


def estimate_tokens(messages: list[dict[str, Any]], params: Mapping[str, Any]) -> int:
    """A request's cost against a tokens-per-minute limit: prompt characters / 4, plus the output cap.

    The estimate is corrected with the real usage once the answer arrives.
    """
    chars = 0
    for m in messages:
        c = m.get("content")
        chars += len(c) if isinstance(c, str) else len(text_of(c)) if c else 0
    out = params.get("max_tokens") or params.get("max_completion_tokens") or DEFAULT_OUTPUT_ESTIMATE
    return chars // 4 + 4 * len(messages) + int(out)


def _finish(resp: ModelResponse, call: Call, started: float, headers: Mapping[str, str]) -> ModelResponse:
    resp._provider = call.route.provider
    resp._latency = time.perf_counter() - started
    resp._headers = headers
    return resp


def _tag(exc: BaseException, call: Call) -> None:
    if hasattr(exc, "provider") and not getattr(exc, "provider", ""):
        exc.provider = call.route.provider  # type: ignore[attr-defined]
    if hasattr(exc, "model") and not getattr(exc, "model", ""):
        exc.model = call.route.model  # type: ignore[attr-defined]


OnRetry = Callable[[BaseException, int, float], None]


async def execute(call: Call, on_retry: OnRetry | None = None) -> ModelResponse:
    """Send a prepared non-stream call through its lane (limits, retries) and return the parsed response.

    With a cache, an identical earlier (or in-flight) request answers instead; with a budget, the
    call waits for (or is refused) room in it before anything is sent.
    """
    if call.cache is not None:
        return await call.cache.fetch(call, lambda: _spend(call, on_retry))
    return await _spend(call, on_retry)


async def _spend(call: Call, on_retry: OnRetry | None) -> ModelResponse:
    if call.budget is not None:
        return await call.budget.spend(call, lambda: _send(call, on_retry))
    return await _send(call, on_retry)


async def _send(call: Call, on_retry: OnRetry | None = None) -> ModelResponse:
    from . import mock

    started = time.perf_counter()
    if call.mock is not _NO_MOCK:
        return _finish(mock.response(call.mock, call.route.model, call.messages), call, started, {})
    assert call.module is not None and call.request is not None
    module, request = call.module, call.request
    in_process = getattr(module, "complete", None)  # providers that run the model here (local)
    lane = _lane(call)

    async def attempt() -> ModelResponse:
        async with _Slot(lane, call) as slot:
            if in_process is not None:
                body, headers = await in_process(request, timeout=call.timeout), {}
            else:
                from . import transport  # aiohttp: loaded on the first HTTP request only

                body, headers = await transport.request_json(
                    request, timeout=call.timeout, error_message=module.error_message
                )
            slot.headers = headers
            resp = parse_answer(call, body)
            slot.tokens_used = resp.usage.total_tokens if resp.usage else None
        return _finish(resp, call, started, headers)

    return await retrying(attempt, call.retry, _logged(call, on_retry))


def parse_answer(call: Call, body: bytes | str | Any) -> ModelResponse:
    """A provider's answer (raw JSON, or already decoded) → :class:`ModelResponse`.

    Every failure is a typed ``APIError`` with the call's provider and model: an error the provider
    put in the body as itself, anything else (not JSON, nested too deep, the wrong shape) as a
    retryable ``APIConnectionError`` (see :func:`malformed`).
    """
    assert call.module is not None
    try:
        data = load_json(body) if isinstance(body, (bytes, bytearray, str)) else body
        return ModelResponse.model_validate(call.module.parse_response(data, call.route.model))
    except Exception as exc:
        err = malformed(exc, "answer")
        _tag(err, call)
        raise err from None


def malformed(exc: Exception, what: str) -> APIError:
    """A parser's failure on a provider's answer as a typed error: an ``APIError`` stays as it is;
    anything else (a ``ValidationError``, ``KeyError``, ``RecursionError`` ...) becomes an
    ``APIConnectionError`` (a malformed answer: retried like a broken connection)."""
    if isinstance(exc, APIError):
        return exc
    try:
        detail = str(exc)
    except Exception:  # e.g. RecursionError while showing a deeply nested value
        detail = ""
    return APIConnectionError(f"malformed {what} from the provider ({type(exc).__name__}: {detail[:300]})")


def _lane(call: Call) -> Any:
    lane = get_lane(call.route.lane)
    if call.limits:
        lane.configure(**call.limits)
    return lane


class _Slot:
    """One attempt's turn in its lane: acquired on entry; on exit returned with what the attempt
    taught (headers, real token use, a 429 and its retry-after), and any error tagged with the model."""

    def __init__(self, lane: Any, call: Call) -> None:
        self.lane, self.call = lane, call
        self.headers: Mapping[str, str] | None = None
        self.tokens_used: float | None = None

    async def __aenter__(self) -> _Slot:
        try:  # the call's timeout bounds its wait for a server-imposed pause
            await self.lane.acquire(self.call.est_tokens, patience=self.call.timeout)
        except Exception as exc:
            _tag(exc, self.call)
            raise
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if isinstance(exc, Exception):
            _tag(exc, self.call)
        quota = isinstance(exc, QuotaExceededError)
        limited = isinstance(exc, RateLimitError) and not quota
        self.lane.release(
            ok=exc is None,
            headers=getattr(exc, "headers", None) or self.headers,
            tokens_reserved=self.call.est_tokens,
            tokens_used=self.tokens_used,
            rate_limited=limited,
            retry_after=exc.retry_after if isinstance(exc, RateLimitError) else None,
            quota_exhausted=exc.message if quota else None,  # type: ignore[union-attr]
        )


def _logged(call: Call, on_retry: OnRetry | None) -> OnRetry:
    """The retry hook, plus a DEBUG line per retry (the error's text is already free of the key)."""

    def hook(exc: BaseException, attempt: int, wait: float) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s: attempt %d failed (%s: %s); retrying in %.2f s",
                      call.label, attempt + 1, type(exc).__name__, exc, wait)  # fmt: skip
        if on_retry is not None:
            on_retry(exc, attempt, wait)

    return hook


class AsyncStream:
    """An async iterator of :class:`StreamChunk`; also an async context manager.

    Example::

        async for chunk in await volley.acompletion(model, messages, stream=True):
            print(chunk.choices[0].delta.content or "", end="")
    """

    def __init__(self, call: Call, events: Any, parser: StreamParserProto | None, pending: list[dict]) -> None:
        self._call = call
        self._events = events
        self._parser = parser
        self._pending: deque[dict[str, Any]] = deque(pending)
        self._replay: deque[StreamChunk] = deque()
        self.model = call.route.model
        self.provider = call.route.provider

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> StreamChunk:
        if self._replay:
            return self._replay.popleft()
        return await self._next_chunk()

    async def first_output(self) -> None:
        """Read ahead to the first chunk that carries text or a tool call (iteration replays what was read)."""
        while True:
            try:
                chunk = await self._next_chunk()
            except StopAsyncIteration:
                return
            self._replay.append(chunk)
            if any(c.delta.content or c.delta.tool_calls for c in chunk.choices):
                return

    async def _next_chunk(self) -> StreamChunk:
        while not self._pending:
            if self._events is None:
                raise StopAsyncIteration
            try:
                event, data = await self._events.__anext__()
            except StopAsyncIteration:
                self._events = None
                if self._parser is not None and not self._parser.finished:
                    err = APIConnectionError("stream ended before the provider's end-of-stream marker")
                    _tag(err, self._call)
                    raise err from None
                raise
            except Exception as exc:
                _tag(exc, self._call)
                raise
            assert self._parser is not None
            try:
                self._pending.extend(self._parser.feed(event, data))
            except Exception as exc:
                err = malformed(exc, "stream event")
                _tag(err, self._call)
                raise err from None
        try:
            chunk = StreamChunk.model_validate(self._pending.popleft())
        except Exception as exc:
            err = malformed(exc, "stream event")
            _tag(err, self._call)
            raise err from None
        chunk._provider = self._call.route.provider
        return chunk

    async def aclose(self) -> None:
        """Stop reading and close the connection."""
        if self._events is not None:
            await self._events.aclose()
            self._events = None

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def open_stream(call: Call) -> AsyncStream:
    """Open a prepared stream call (retrying until the headers arrive) and return its chunk iterator."""
    from . import mock

    if call.mock is not _NO_MOCK:
        return AsyncStream(call, None, None, mock.stream_chunks(call.mock, call.route.model, call.messages))
    assert call.module is not None and call.request is not None
    module, request = call.module, call.request

    in_process = getattr(module, "events", None)  # providers that run the model here (local)
    lane = _lane(call)

    async def attempt() -> AsyncStream:
        # The lane's slot covers opening the stream (pacing, concurrency while waiting for headers);
        # it is returned once the stream is open, so an abandoned stream cannot hold it forever.
        async with _Slot(lane, call) as slot:
            if in_process is not None:
                events = in_process(request, timeout=call.timeout)
            else:
                from . import transport  # aiohttp: loaded on the first HTTP request only

                resp = await transport.open_stream(request, timeout=call.timeout, error_message=module.error_message)
                slot.headers = resp.headers
                events = transport.sse_events(resp, timeout=call.timeout)
        stream = AsyncStream(call, events, module.StreamParser(call.route.model), [])
        # Read the first chunk here, so a stream that breaks before it delivers anything is retried
        # like any other failed request; a break after that is the caller's typed error.
        try:
            stream._replay.append(await stream._next_chunk())
        except StopAsyncIteration:
            pass
        except BaseException:
            await stream.aclose()
            raise
        return stream

    return await retrying(attempt, call.retry, _logged(call, None))
