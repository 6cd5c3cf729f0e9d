"""Sending a prepared call: its hooks, then attempts with retries — each attempt takes a lane slot,
gets fresh credentials from the host, goes through the transport, and is parsed by the protocol.

Example::

    call = prepare("gpt-4o-mini", [{"role": "user", "content": "hi"}], {})
    response = await execute(call)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from functools import partial
from typing import Any

from . import pricing, structured
from .engine.limits import Lane, LeasedLane, get_lane
from .engine.retry import retrying
from .errors import APIConnectionError, APIError, ContextWindowExceededError, QuotaExceededError, RateLimitError
from .headers import plain
from .prepare import Call
from .protocols.base import load_json
from .providers.base import Provider
from .types import ModelResponse, response_from

log = logging.getLogger("volley")

OnRetry = Callable[[BaseException, int, float], None]


def execute(call: Call, on_retry: OnRetry | None = None) -> Coroutine[Any, Any, ModelResponse]:
    """Send a prepared non-stream call through its hooks and its lane (limits, retries); the parsed answer.

    With a cache hook an identical earlier (or in-flight) request answers instead; with a budget
    hook the call waits for (or is refused) room in it before anything is sent. A call that still
    fails tries its ``fallbacks`` in order (the last error is raised when they fail too).

    A plain call (no hooks, no fallbacks) is one coroutine: its first attempt (see :func:`_send`).
    """
    if not call.hooks and not call.fallbacks:
        return _send(call, on_retry)
    return _execute(call, on_retry)


async def _execute(call: Call, on_retry: OnRetry | None) -> ModelResponse:
    try:
        resp = await (_send(call, on_retry) if not call.hooks else _through_hooks(call, on_retry))
    except Exception as exc:
        if not call.fallbacks:
            raise
        return await _fall_back(call, exc, on_retry)
    if call.schema is not None and call.hooks:  # an answer from a hook (a cache hit) is validated here too
        structured.check(resp, call.schema)
    return resp


async def _through_hooks(call: Call, on_retry: OnRetry | None) -> ModelResponse:
    send: Callable[[], Any] = lambda: _send(call, on_retry)  # noqa: E731
    for hook in reversed(call.hooks):
        send = _wrap(hook, call, send)
    return await send()  # type: ignore[no-any-return]


def _wrap(hook: Any, call: Call, inner: Callable[[], Any]) -> Callable[[], Any]:
    return lambda: hook(call, inner)


async def _fall_back(call: Call, exc: Exception, on_retry: OnRetry | None) -> ModelResponse:
    last: Exception = exc
    for kind, template in call.fallbacks:
        if kind == "context" and not isinstance(exc, ContextWindowExceededError):
            continue
        log.debug("%s failed (%s); falling back to %s", call.label, type(last).__name__, template.route.label)
        try:
            return await execute(template.call(call.messages, validated=True), on_retry)
        except Exception as err:
            last = err
    raise last


_FIRST: Any = object()  # ``_send``'s ``lane`` on the first attempt: not worked out yet


async def _send(call: Call, on_retry: OnRetry | None = None, lane: Any = _FIRST, started: float = 0.0) -> ModelResponse:
    """One attempt: a lane slot, this attempt's credentials, the transport, the parsed answer.

    The first attempt (``lane`` not given) also works out the lane and the clock, and when it fails
    with a retryable error hands over to ``retrying``, whose attempts are this function again. A free
    turn in a local lane is taken and given back without a coroutine (``Slot.enter_now`` /
    ``exit_now``), a host's default key header is read without awaiting ``auth``.
    """
    first = lane is _FIRST
    if first:
        started = time.perf_counter()
        lane = lane_of(call)
    host, route, request = call.host, call.route, call.request
    slot = Slot(lane, call)
    try:
        if not slot.enter_now():
            await slot.__aenter__()
        try:
            auth = host.key_headers(route) if type(host).auth is Provider.auth else await host.auth(request, route)
            reply = await call.transport.send(request, auth=auth, timeout=call.timeout, error=call.read_error)
            slot.headers = reply.headers
            resp = parse_answer(call, reply.body)
            usage = resp.usage
            slot.tokens_used = usage.total_tokens if usage is not None else None
        except BaseException as exc:
            await slot.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        if not slot.exit_now():
            await slot.__aexit__(None, None, None)
        resp = finish(resp, call, started, reply.headers)
        if call.schema is not None:  # inside the attempt: an answer that does not validate is retried
            structured.check(resp, call.schema)
        return resp
    except Exception as exc:
        if not first or not call.retry.should_retry(exc, 0):
            raise
        failed = exc
    again = partial(_send, call, on_retry, lane, started)
    return await retrying(again, call.retry, logged(call, on_retry), failed=failed)


def finish(resp: ModelResponse, call: Call, started: float, headers: Mapping[str, str]) -> ModelResponse:
    """Set the answer's declared metadata: provider, latency, headers (as plain data) and cost."""
    private = resp.__pydantic_private__
    assert private is not None
    route = call.route
    private["_provider"] = route.provider
    private["_latency"] = time.perf_counter() - started
    private["_headers"] = plain(headers)
    private["_api_base"] = route.api_base
    private["_cost"] = pricing.answer_cost(resp, route.provider)
    return resp


def parse_answer(call: Call, body: bytes | str | Any) -> ModelResponse:
    """A provider's answer (raw JSON, or already decoded) → :class:`ModelResponse`.

    Every failure is a typed ``APIError`` with the call's provider and model: an error the provider
    put in the body as itself, anything else (not JSON, nested too deep, the wrong shape) as a
    retryable ``APIConnectionError`` (see :func:`malformed`).
    """
    try:
        raw = bytes(body) if isinstance(body, bytearray) else body
        data = load_json(raw) if isinstance(raw, (bytes, str)) else raw
        resp = response_from(call.module.parse_response(data, call.route.model))
    except Exception as exc:
        err = malformed(exc, "answer")
        tag(err, call)
        raise err from None
    if call.functions:
        legacy_function_call(resp)
    return resp


def legacy_function_call(resp: ModelResponse) -> None:
    """For a call made with the legacy ``functions=``: each choice's first tool call as ``message.function_call``."""
    for choice in resp.choices:
        calls = choice.message.tool_calls
        if calls and choice.message.function_call is None:
            choice.message.function_call = calls[0].function
            if choice.finish_reason == "tool_calls":
                choice.finish_reason = "function_call"


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


def tag(exc: BaseException, call: Call) -> None:
    """Name the call's provider and model on an error that does not say them yet."""
    if isinstance(exc, APIError):
        if not exc.provider:
            exc.provider = call.route.provider
        if not exc.model:
            exc.model = call.route.model


def lane_of(call: Call) -> Lane | LeasedLane | None:
    """The call's lane (its limits applied): this process's own, or the one it shares with others
    (``limits_url=``); None when its transport shares no lanes (a mock)."""
    if not call.transport.limited:
        return None
    key = call.lane_key if call.lane_key is not None else call.route.lane
    lane: Lane | LeasedLane = get_lane(key) if call.lanes is None else call.lanes(key)
    if call.limits:
        lane.configure(**call.limits)
    return lane


class Slot:
    """One attempt's turn in its lane: acquired on entry; on exit returned with what the attempt
    taught (rate-limit headers read by the host, real token use, a 429 and its retry-after), and
    any error tagged with the model. Without a lane it only tags errors. A shared lane's turn is a
    lease, handed back even if the attempt is cancelled meanwhile."""

    __slots__ = ("call", "headers", "lane", "lease", "tokens_used")

    def __init__(self, lane: Lane | LeasedLane | None, call: Call) -> None:
        self.lane, self.call = lane, call
        self.headers: Mapping[str, str] | None = None
        self.tokens_used: float | None = None
        self.lease: Any = None

    def enter_now(self) -> bool:
        """Take a free turn in a local lane at once (no pause, pace or queue ahead): True if taken;
        False leaves it to ``__aenter__`` (waits, shared lanes, errors)."""
        lane = self.lane
        if lane is None:
            return True
        return isinstance(lane, Lane) and lane.try_acquire(self.call.est_tokens)

    def exit_now(self) -> bool:
        """Hand back a successful attempt's turn without awaiting (False: a shared lane's lease, via ``__aexit__``)."""
        lane = self.lane
        if lane is None:
            return True
        if not isinstance(lane, Lane):
            return False
        headers = self.headers
        rate = self.call.host.rate_info(headers) if headers else None
        lane.release(ok=True, rate=rate, tokens_reserved=self.call.est_tokens, tokens_used=self.tokens_used)
        return True

    async def __aenter__(self) -> Slot:
        lane = self.lane
        if lane is not None:
            try:  # the call's timeout bounds its wait for a server-imposed pause
                if isinstance(lane, Lane):
                    await lane.acquire(self.call.est_tokens, patience=self.call.timeout)
                else:
                    self.lease = await lane.acquire(self.call.est_tokens, patience=self.call.timeout)
            except Exception as exc:
                tag(exc, self.call)
                raise
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if isinstance(exc, Exception):
            tag(exc, self.call)
        lane = self.lane
        if lane is None:
            return
        quota = isinstance(exc, QuotaExceededError)
        headers = getattr(exc, "headers", None) or self.headers
        rate = self.call.host.rate_info(headers) if headers else None
        limited = isinstance(exc, RateLimitError) and not quota
        retry_after = exc.retry_after if isinstance(exc, RateLimitError) else None
        exhausted = exc.message if isinstance(exc, QuotaExceededError) else None
        if isinstance(lane, Lane):
            lane.release(ok=exc is None, rate=rate, tokens_reserved=self.call.est_tokens, tokens_used=self.tokens_used,
                         rate_limited=limited, retry_after=retry_after, quota_exhausted=exhausted)  # fmt: skip
            return
        await asyncio.shield(
            lane.release(self.lease, ok=exc is None, rate=rate, tokens_reserved=self.call.est_tokens,
                         tokens_used=self.tokens_used, rate_limited=limited, retry_after=retry_after,
                         quota_exhausted=exhausted)
        )  # fmt: skip


def logged(call: Call, on_retry: OnRetry | None) -> OnRetry:
    """The retry hook, plus a DEBUG line per retry (the error's text is already free of the key)."""

    def hook(exc: BaseException, attempt: int, wait: float) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s: attempt %d failed (%s: %s); retrying in %.2f s",
                      call.label, attempt + 1, type(exc).__name__, exc, wait)  # fmt: skip
        if on_retry is not None:
            on_retry(exc, attempt, wait)

    return hook
