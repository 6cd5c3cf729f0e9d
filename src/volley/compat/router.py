"""LiteLLM's ``Router`` for what batch users use it for, over volley's own calls and lanes.

A model group (``model_name``) has one or more deployments (``litellm_params``: ``model``,
``api_base``, ``api_key``, ``rpm``, ``tpm``, ``weight``, ``timeout``, any completion parameter).
Each request picks a deployment by ``routing_strategy``:

- ``"simple-shuffle"`` (default): random, weighted by ``weight``, else ``rpm``, else ``tpm``;
- ``"least-busy"``: the fewest requests in flight;
- ``"latency-based-routing"``: the lowest recent latency (untried deployments first);
- ``"usage-based-routing"`` / ``"usage-based-routing-v2"``: the lowest token use this minute, skipping
  deployments at their ``rpm`` / ``tpm``;
- ``"cost-based-routing"``: the cheapest (volley's price table).

A deployment's ``rpm`` / ``tpm`` are its volley lane's limits (requests wait for room rather than
fail). A deployment that fails is cooled down (not picked for ``cooldown_time`` seconds, default 5):
at once for a 429, 401, 403, 404 or 408, else after ``allowed_fails`` (default 3) failures within a
minute; when every deployment of a group is cooling down, a request waits for the first to come back
rather than fail. A failed attempt is retried on another deployment when one is left (``num_retries``
attempts in all, default ``volley.num_retries`` or 3): a 429 or a bad key on one deployment moves the
request to the next (key rotation). Then ``fallbacks=[{"group": ["other", ...]}]`` are tried in order
(``context_window_fallbacks`` first for ``ContextWindowExceededError``), per request, so each item of
a batch falls back on its own. ``response._hidden_params["model_id"]`` names the deployment that
answered (``model_info.id``, else a hash of its parameters).

Example::

    router = volley.Router(model_list=[
        {"model_name": "gpt", "litellm_params": {"model": "openai/gpt-4o-mini", "api_key": KEY1, "rpm": 500}},
        {"model_name": "gpt", "litellm_params": {"model": "openai/gpt-4o-mini", "api_key": KEY2, "rpm": 500}},
        {"model_name": "claude", "litellm_params": {"model": "anthropic/claude-3-5-haiku-latest"}},
    ], fallbacks=[{"gpt": ["claude"]}])
    out = router.batch_completion(model="gpt", messages=[[{"role": "user", "content": q}] for q in questions])
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextlib import aclosing
from typing import Any

from .._sync import run_sync
from ..engine.race import first_success
from ..engine.retry import RetryPolicy
from ..engine.run import run
from ..errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    Timeout,
)
from ..prepare import Template
from ..send import execute
from ..settings import settings
from ..stream import AsyncStream, SyncStream, open_stream
from ..validate import InvalidRequestError, positive_int, validate_messages

STRATEGIES = (
    "simple-shuffle", "least-busy", "latency-based-routing", "usage-based-routing", "usage-based-routing-v2",
    "cost-based-routing",
)  # fmt: skip
DEFAULT_COOLDOWN = 5.0
DEFAULT_ALLOWED_FAILS = 3
#: ``litellm_params`` that steer the router, not the call.
_ROUTER_KEYS = frozenset({"rpm", "tpm", "weight", "order", "model_info", "max_parallel_requests"})
#: Errors that say the deployment (its key, quota, host) is at fault, not the request: cool it down at once.
_AT_ONCE = (RateLimitError, AuthenticationError, NotFoundError, Timeout)


class Deployment:
    """One entry of ``model_list``: its parameters and what the router has learned about it."""

    def __init__(self, entry: Mapping[str, Any]) -> None:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("litellm_params"), Mapping):
            raise InvalidRequestError(
                f"a model_list entry needs 'model_name' and 'litellm_params': {{'model': ...}}; got {entry!r}",
                status_code=400,
            )
        params = dict(entry["litellm_params"])
        for key in ("rpm", "tpm"):  # LiteLLM also takes them beside litellm_params
            if entry.get(key) is not None and params.get(key) is None:
                params[key] = entry[key]
        if not params.get("model"):
            raise InvalidRequestError(f"litellm_params needs a 'model'; got {params!r}", status_code=400)
        self.model_name = str(entry.get("model_name") or params["model"])
        self.model_info = dict(entry.get("model_info") or {})
        self.params = params
        self.rpm = _number(params.get("rpm"))
        self.tpm = _number(params.get("tpm"))
        self.weight = _number(params.get("weight"))
        self.id = str(self.model_info.get("id") or _deployment_id(self.model_name, params))
        self.in_flight = 0
        self.latency: float | None = None  # moving average, seconds
        self.cooldown_until = 0.0
        self.failures: deque[float] = deque()
        self.window_start = 0.0
        self.window_requests = 0
        self.window_tokens = 0

    def call_params(self, defaults: Mapping[str, Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The completion parameters of a request on this deployment (the router retries, not the call)."""
        own = {k: v for k, v in self.params.items() if k not in _ROUTER_KEYS}
        merged = {**defaults, **kwargs, **own}
        if self.rpm is not None:
            merged["rpm"] = self.rpm
        if self.tpm is not None:
            merged["tpm"] = self.tpm
        merged["num_retries"] = 0
        return merged

    def _roll(self, now: float) -> None:
        if now - self.window_start >= 60.0:
            self.window_start, self.window_requests, self.window_tokens = now, 0, 0

    def has_room(self, now: float) -> bool:
        self._roll(now)
        if self.rpm is not None and self.window_requests >= self.rpm:
            return False
        return not (self.tpm is not None and self.window_tokens >= self.tpm)

    def __repr__(self) -> str:
        return f"<Deployment {self.model_name} {self.params['model']} id={self.id}>"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None


def _deployment_id(name: str, params: Mapping[str, Any]) -> str:
    """A stable id from the deployment's parameters (the key only as a one-way hash)."""
    seen = {k: (hashlib.sha256(str(v).encode()).hexdigest() if "key" in k else v) for k, v in params.items()}
    text = json.dumps([name, seen], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Router:
    """LiteLLM's Router over volley (see the module docstring).

    Example::

        router = volley.Router(model_list=[
            {"model_name": "fast", "litellm_params": {"model": "groq/llama-3.1-8b-instant"}}])
        r = router.completion(model="fast", messages=[{"role": "user", "content": "Hi"}])
        r._hidden_params["model_id"]
    """

    def __init__(
        self,
        model_list: Sequence[Mapping[str, Any]] | None = None,
        *,
        routing_strategy: str = "simple-shuffle",
        num_retries: int | None = None,
        timeout: float | None = None,
        fallbacks: Sequence[Mapping[str, Sequence[str]]] | None = None,
        context_window_fallbacks: Sequence[Mapping[str, Sequence[str]]] | None = None,
        content_policy_fallbacks: Sequence[Mapping[str, Sequence[str]]] | None = None,
        allowed_fails: int | None = None,
        cooldown_time: float | None = None,
        retry_after: float = 0.0,
        default_litellm_params: Mapping[str, Any] | None = None,
        model_group_alias: Mapping[str, str] | None = None,
        max_workers: int = 100,
        seed: int | None = None,
        **_ignored: Any,  # LiteLLM's Redis, proxy, alerting and caching settings: not used by volley's Router
    ) -> None:
        if routing_strategy not in STRATEGIES:
            raise InvalidRequestError(
                f"routing_strategy must be one of {', '.join(STRATEGIES)}; got {routing_strategy!r}", status_code=400
            )
        self.routing_strategy = routing_strategy
        self.deployments = [Deployment(e) for e in (model_list or [])]
        self.model_list = [dict(e) for e in (model_list or [])]
        default = settings.get("num_retries")
        self.num_retries = num_retries if num_retries is not None else (3 if default is None else default)
        self.timeout = timeout
        self.fallbacks = _fallback_map(fallbacks, "fallbacks")
        self.context_window_fallbacks = _fallback_map(context_window_fallbacks, "context_window_fallbacks")
        self.content_policy_fallbacks = _fallback_map(content_policy_fallbacks, "content_policy_fallbacks")
        self.allowed_fails = DEFAULT_ALLOWED_FAILS if allowed_fails is None else allowed_fails
        self.cooldown_time = DEFAULT_COOLDOWN if cooldown_time is None else float(cooldown_time)
        self.retry_after = float(retry_after)
        self.defaults = dict(default_litellm_params or {})
        self.aliases = dict(model_group_alias or {})
        self.max_workers = positive_int("max_workers", max_workers)
        self._rng = random.Random(seed)
        self._policy = RetryPolicy(num_retries=self.num_retries)

    # ------------------------------------------------------------------ the model list

    def get_model_names(self) -> list[str]:
        """The model groups, in model_list order."""
        return list(dict.fromkeys(d.model_name for d in self.deployments))

    def get_model_list(self) -> list[dict[str, Any]]:
        """The model_list as given."""
        return [dict(e) for e in self.model_list]

    def group(self, model: str) -> list[Deployment]:
        """The deployments of a model group (or of a group alias); raises for an unknown group."""
        name = self.aliases.get(model, model)
        found = [d for d in self.deployments if d.model_name == name]
        if not found:
            raise BadRequestError(
                f"no deployments for model {model!r}; the router's models are {', '.join(self.get_model_names())}",
                model=model,
            )
        return found

    # ------------------------------------------------------------------ picking a deployment

    def _healthy(self, deployments: list[Deployment], now: float) -> list[Deployment]:
        return [d for d in deployments if d.cooldown_until <= now]

    def pick(self, deployments: list[Deployment], avoid: set[str] | frozenset[str] = frozenset()) -> Deployment | None:
        """The deployment for the next attempt, by ``routing_strategy``; None when all are cooling down."""
        now = time.monotonic()
        healthy = self._healthy(deployments, now)
        fresh = [d for d in healthy if d.id not in avoid] or healthy
        if not fresh:
            return None
        strategy = self.routing_strategy
        if strategy == "least-busy":
            low = min(d.in_flight for d in fresh)
            return self._rng.choice([d for d in fresh if d.in_flight == low])
        if strategy == "latency-based-routing":
            untried = [d for d in fresh if d.latency is None]
            if untried:
                return self._rng.choice(untried)
            return min(fresh, key=lambda d: d.latency or 0.0)
        if strategy.startswith("usage-based-routing"):
            roomy = [d for d in fresh if d.has_room(now)] or fresh
            return min(roomy, key=lambda d: (d.window_tokens, d.window_requests, self._rng.random()))
        if strategy == "cost-based-routing":
            return min(fresh, key=lambda d: (_price(d), self._rng.random()))
        weights = [d.weight or d.rpm or d.tpm for d in fresh]
        if all(w is not None for w in weights):
            return self._rng.choices(fresh, weights=[float(w or 0) for w in weights])[0]
        return self._rng.choice(fresh)

    def _failed(self, dep: Deployment, exc: BaseException) -> None:
        now = time.monotonic()
        wait = self.cooldown_time
        hint = getattr(exc, "retry_after", None)
        if isinstance(hint, (int, float)) and hint > wait:
            wait = float(hint)
        if isinstance(exc, _AT_ONCE):
            dep.cooldown_until = max(dep.cooldown_until, now + wait)
            return
        dep.failures.append(now)
        while dep.failures and now - dep.failures[0] > 60.0:
            dep.failures.popleft()
        if len(dep.failures) > self.allowed_fails:
            dep.cooldown_until = max(dep.cooldown_until, now + wait)
            dep.failures.clear()

    def _succeeded(self, dep: Deployment, seconds: float, tokens: int) -> None:
        dep.latency = seconds if dep.latency is None else 0.7 * dep.latency + 0.3 * seconds
        dep._roll(time.monotonic())
        dep.window_tokens += tokens

    def cooldowns(self) -> dict[str, float]:
        """Deployments cooling down now: id → seconds left."""
        now = time.monotonic()
        return {d.id: d.cooldown_until - now for d in self.deployments if d.cooldown_until > now}

    # ------------------------------------------------------------------ one request

    async def _attempt(self, dep: Deployment, template: Template, messages: Any) -> Any:
        started = time.monotonic()
        dep.in_flight += 1
        dep._roll(started)
        dep.window_requests += 1
        try:
            resp = await execute(template.call(messages))
        finally:
            dep.in_flight -= 1
        self._succeeded(dep, time.monotonic() - started, resp.usage.total_tokens if resp.usage else 0)
        hidden = resp._hidden_params
        hidden["model_id"] = dep.id
        hidden["model_group"] = dep.model_name
        return resp

    async def _open(self, dep: Deployment, template: Template, messages: Any) -> AsyncStream:
        dep.in_flight += 1
        try:
            stream = await open_stream(template.call(messages))
            await stream.first_output()
        finally:
            dep.in_flight -= 1
        return stream

    async def _on_group(self, model: str, messages: Any, kwargs: Mapping[str, Any], templates: _Templates) -> Any:
        """One request on one group: pick, send, on failure cool down and try another deployment."""
        deployments = self.group(model)
        stream = bool(kwargs.get("stream"))
        avoid: set[str] = set()
        last: BaseException | None = None
        for attempt in range(self.num_retries + 1):
            dep = self.pick(deployments, avoid)
            if dep is None:
                await self._wait_for(deployments, last)
                dep = self.pick(deployments, avoid)
                if dep is None:
                    break
            avoid.add(dep.id)
            try:
                template = templates.get(dep)
                if stream:
                    return await self._open(dep, template, messages)
                return await self._attempt(dep, template, messages)
            except BadRequestError:
                raise  # the request is at fault: another deployment of the same model would refuse it too
            except Exception as exc:
                last = exc
                self._failed(dep, exc)
                if attempt < self.num_retries and not self._healthy(
                    [d for d in deployments if d.id not in avoid], time.monotonic()
                ):
                    await asyncio.sleep(max(self.retry_after, self._policy.delay(exc, attempt)))
        if last is None:
            last = RateLimitError(f"no deployment of {model!r} is available (all cooling down)", model=model)
        raise last

    async def _wait_for(self, deployments: list[Deployment], last: BaseException | None) -> None:
        """Every deployment is cooling down: wait for the first to come back (bounded by the router timeout)."""
        now = time.monotonic()
        wait = min(d.cooldown_until for d in deployments) - now
        if self.timeout is not None and wait > self.timeout:
            raise last or RateLimitError("every deployment is cooling down", retry_after=wait)
        await asyncio.sleep(max(0.0, wait))

    async def _route(
        self, model: str, messages: Any, kwargs: dict[str, Any], cache: dict[str, _Templates] | None = None
    ) -> Any:
        """A request with the group's fallbacks (context-window / content-policy ones first for those errors)."""
        kwargs = dict(kwargs)
        per_call = _fallback_map(kwargs.pop("fallbacks", None), "fallbacks")
        mock_fallbacks = kwargs.pop("mock_testing_fallbacks", False)
        kwargs.pop("context_window_fallbacks", None)
        cache = {} if cache is None else cache

        def templates(group: str) -> _Templates:
            if group not in cache:
                cache[group] = _Templates(self, kwargs)
            return cache[group]

        try:
            if mock_fallbacks:
                raise InternalServerError("mock_testing_fallbacks=True", model=model)
            return await self._on_group(model, messages, kwargs, templates(model))
        except Exception as exc:
            chain: list[str] = []
            if isinstance(exc, ContextWindowExceededError):
                chain += self.context_window_fallbacks.get(model, [])
            if isinstance(exc, ContentPolicyViolationError):
                chain += self.content_policy_fallbacks.get(model, [])
            chain += per_call.get(model, per_call.get("*", [])) + self.fallbacks.get(model, self.fallbacks.get("*", []))
            last: Exception = exc
            for other in dict.fromkeys(g for g in chain if g != model):
                try:
                    return await self._on_group(other, messages, kwargs, templates(other))
                except Exception as err:
                    last = err
            raise last from None

    # ------------------------------------------------------------------ public calls

    async def acompletion(self, model: str, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
        """One completion on a model group (an async stream with ``stream=True``).

        Example: ``r = await router.acompletion(model="gpt", messages=[{"role": "user", "content": "Hi"}])``
        """
        return await self._route(model, validate_messages(messages), kwargs)

    def completion(self, model: str, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
        """One completion on a model group (a sync stream with ``stream=True``).

        Example: ``r = router.completion(model="gpt", messages=[{"role": "user", "content": "Hi"}])``
        """
        result = run_sync(self.acompletion(model, messages, **kwargs))
        return SyncStream(result) if isinstance(result, AsyncStream) else result

    async def abatch_completion_one_model_multiple_requests(
        self, model: str, messages: Sequence[list[dict[str, Any]]], **kwargs: Any
    ) -> list[Any]:
        """Many prompts to one model group; a list aligned with ``messages`` (each a response or its error).

        Example: ``out = await router.abatch_completion_one_model_multiple_requests("gpt", [[msg1], [msg2]])``
        """
        items = _message_lists(messages)
        workers = positive_int("max_workers", kwargs.pop("max_workers", None) or self.max_workers)
        kwargs = {k: v for k, v in kwargs.items() if k != "stream"}
        self.group(model)  # unknown group: raise before any request
        cache: dict[str, _Templates] = {}
        for group in (model, *self.fallbacks.get(model, [])):
            cache[group] = _Templates(self, kwargs)
            cache[group].prepare_all(self.group(group))  # a wrong key or parameter: raise now
        results: list[Any] = [None] * len(items)

        def job(m: list[dict[str, Any]]) -> Callable[[], Any]:
            return lambda: self._route(model, m, kwargs, cache)

        async with aclosing(run(((i, job(m)) for i, m in enumerate(items)), concurrency=workers)) as done:
            async for i, result in done:
                results[i] = result
        return results

    def batch_completion_one_model_multiple_requests(
        self, model: str, messages: Sequence[list[dict[str, Any]]], **kwargs: Any
    ) -> list[Any]:
        """Sync :meth:`abatch_completion_one_model_multiple_requests`."""
        return run_sync(self.abatch_completion_one_model_multiple_requests(model, messages, **kwargs))

    async def abatch_completion(
        self,
        models: Sequence[str] | str | None = None,
        messages: Any = None,
        *,
        model: str | None = None,
        **kwargs: Any,
    ) -> list[Any]:
        """One or many prompts to several model groups, each answered by its own group.

        ``messages`` one list → a list with each group's response (or error), in ``models`` order;
        a list of lists → one list per group, aligned with ``messages``. ``model=`` (one group) with a
        list of lists is the one-model batch.

        Example: ``rs = await router.abatch_completion(models=["gpt", "claude"], messages=msgs)``
        """
        names = _group_names(models if models is not None else model)
        if messages is None:
            raise InvalidRequestError("messages is missing", status_code=400)
        many = bool(messages) and not isinstance(messages[0], Mapping) and not hasattr(messages[0], "model_dump")
        if many:
            out = [await self.abatch_completion_one_model_multiple_requests(g, messages, **kwargs) for g in names]
            return out if models is not None or len(names) > 1 else out[0]
        msgs = validate_messages(messages)
        for g in names:
            self.group(g)
        results = await asyncio.gather(*(self._route(g, msgs, kwargs) for g in names), return_exceptions=True)
        return list(results)

    def batch_completion(
        self, models: Sequence[str] | str | None = None, messages: Any = None, **kwargs: Any
    ) -> list[Any]:
        """Sync :meth:`abatch_completion` (``model="gpt", messages=[[...], [...]]`` for a one-group batch).

        Example: ``out = router.batch_completion(model="gpt", messages=[[{"role": "user", "content": q}] for q in qs])``
        """
        return run_sync(self.abatch_completion(models, messages, **kwargs))

    async def abatch_completion_fastest_response(
        self, model: str | Sequence[str], messages: list[dict[str, Any]], stream: bool = False, **kwargs: Any
    ) -> Any:
        """One prompt to several groups (``model="a, b"`` or a list); the first successful answer
        (or stream, by its first token); the others are cancelled.

        Example: ``r = await router.abatch_completion_fastest_response(model="gpt, claude", messages=msgs)``
        """
        names = _group_names(model)
        msgs = validate_messages(messages)
        for g in names:
            self.group(g)
        params = {**kwargs, "stream": True} if stream else kwargs

        def job(group: str) -> Callable[[], Any]:
            return lambda: self._route(group, msgs, params)

        _, result = await first_success([(g, job(g)) for g in names], discard=_discard)
        return result

    def batch_completion_fastest_response(
        self, model: str | Sequence[str], messages: list[dict[str, Any]], stream: bool = False, **kwargs: Any
    ) -> Any:
        """Sync :meth:`abatch_completion_fastest_response`."""
        result = run_sync(self.abatch_completion_fastest_response(model, messages, stream=stream, **kwargs))
        return SyncStream(result) if isinstance(result, AsyncStream) else result


class _Templates:
    """Each deployment's prepared :class:`~volley.prepare.Template` for one set of call parameters."""

    def __init__(self, router: Router, kwargs: Mapping[str, Any]) -> None:
        self.router = router
        self.kwargs = dict(kwargs)
        if router.timeout is not None:
            self.kwargs.setdefault("timeout", router.timeout)
        self.built: dict[str, Template] = {}

    def get(self, dep: Deployment) -> Template:
        found = self.built.get(dep.id)
        if found is None:
            params = dep.call_params(self.router.defaults, self.kwargs)
            found = self.built[dep.id] = Template(params.pop("model"), params)
        return found

    def prepare_all(self, deployments: list[Deployment]) -> None:
        """Build every deployment's template now; raise if none can be built (the first error)."""
        errors: list[Exception] = []
        for dep in deployments:
            try:
                self.get(dep)
            except APIError as exc:
                errors.append(exc)
                dep.cooldown_until = float("inf")  # never picked: it cannot send anything
        if len(errors) == len(deployments):
            raise errors[0]


def _price(dep: Deployment) -> float:
    from ..pricing import model_price

    price = model_price(str(dep.params["model"]))
    return float("inf") if price is None else price[0] + price[1]


def _fallback_map(value: Any, name: str) -> dict[str, list[str]]:
    """``[{"a": ["b", "c"]}, ...]`` → ``{"a": ["b", "c"], ...}`` (LiteLLM's fallbacks format)."""
    out: dict[str, list[str]] = {}
    for item in value or []:
        if not isinstance(item, Mapping):
            raise InvalidRequestError(f"{name} must be a list of {{model_group: [fallback groups]}}; got {item!r}")
        for group, targets in item.items():
            targets = [targets] if isinstance(targets, str) else list(targets)
            out.setdefault(str(group), []).extend(str(t) for t in targets)
    return out


def _group_names(models: Any) -> list[str]:
    if isinstance(models, str):
        names = [m.strip() for m in models.split(",") if m.strip()]
    elif isinstance(models, Sequence):
        names = [str(m) for m in models]
    else:
        names = []
    if not names:
        raise InvalidRequestError("give the model groups: models=['a', 'b'] or model='a, b'", status_code=400)
    return names


def _message_lists(messages: Any) -> list[list[dict[str, Any]]]:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise InvalidRequestError("messages must be a list of message lists", status_code=400)
    return [validate_messages(m, f"messages[{i}]") for i, m in enumerate(messages)]


async def _discard(result: Any) -> None:
    if isinstance(result, AsyncStream):
        await result.aclose()
