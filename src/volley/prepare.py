"""Preparing calls: a batch's :class:`Template` (route, protocol, parameters checked once) and one
:class:`Call` per item (messages validated once, the body built and encoded once, tokens estimated once).

Everything that can fail without the network fails here, before any request is sent.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from . import pricing
from .engine.retry import RetryPolicy
from .errors import InvalidRequestError, UnsupportedParamsError
from .protocols.base import output_cap
from .routing import Route, find, resolve
from .tokens import estimate_tokens
from .transports.base import CREDENTIAL_HEADERS, Request
from .validate import (
    non_negative_int,
    positive_int,
    positive_number,
    positive_seconds,
    validate_messages,
    validate_params,
)

if TYPE_CHECKING:
    from .engine.limits import LaneSource
    from .hooks import Hook
    from .protocols.base import ProtocolModule
    from .providers.base import Provider
    from .transports.base import Transport

# Keyword arguments that steer volley itself rather than the model.
CONTROL_PARAMS = frozenset(
    {
        "timeout", "num_retries", "max_retries", "retry_delay", "api_key", "api_base", "base_url",
        "drop_params", "mock_response", "stream", "custom_llm_provider", "max_workers", "rpm", "tpm",
        "cache", "cache_path", "cache_scope", "budget_usd", "transport", "limits_url", "cache_url",
    }
)  # fmt: skip
#: The module behind ``limits_url=`` / ``cache_url=`` (limits and cache shared through Redis): an outer
#: package, looked up by name and imported only when one is given (the core imports none).
SHARED = "volley.shared.wire"
#: Where ``limits_url`` comes from when the call gives none.
LIMITS_URL_ENV = "VOLLEY_REDIS_URL"
PASS_THROUGH = frozenset({"extra_body", "extra_headers"})
DEFAULT_TIMEOUT = 600.0
DEFAULT_NUM_RETRIES = 3
DEFAULT_RETRY_DELAY = 0.5


def _all_completion_params() -> frozenset[str]:
    from .protocols import openai
    from .protocols.base import EXTRA_PARAMS

    return openai.SUPPORTED_PARAMS | EXTRA_PARAMS


@dataclass(slots=True)
class Call:
    """One prepared request: where it goes (``route``), what is sent (``request``), how (``transport``,
    ``timeout``, ``retry``, lane ``limits``) and what runs around it (``hooks``: cache, budget...)."""

    route: Route
    request: Request
    stream: bool
    timeout: float | None
    retry: RetryPolicy
    transport: Transport
    messages: list[dict[str, Any]] = field(repr=False)
    limits: dict[str, Any] = field(default_factory=dict)  # max_workers / rpm / tpm for the lane
    est_tokens: int = 0  # what the request may cost against a tokens-per-minute limit
    hooks: tuple[Hook, ...] = ()
    max_output: int | None = None  # output-token cap the request carries (max_tokens or the provider's default)
    choices: int = 1  # answers asked for (n)
    lanes: LaneSource | None = None  # the lanes shared with other processes (limits_url=), else this process's

    @property
    def label(self) -> str:
        return self.route.label

    @property
    def host(self) -> Provider:
        assert self.route.host is not None
        return self.route.host

    @property
    def module(self) -> ProtocolModule:
        """The protocol module that maps this call."""
        return self.host.wire

    def add_hook(self, hook: Hook) -> None:
        """Run ``hook`` around this call's send, inside the hooks it already has."""
        self.hooks = (*self.hooks, hook)


def _split(params: Mapping[str, Any], options: frozenset[str]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``params`` → (control, completion, provider options); an unknown name is a clear error."""
    control: dict[str, Any] = {}
    completion: dict[str, Any] = {}
    opts: dict[str, Any] = {}
    known = _all_completion_params()
    for k in sorted(params):  # one canonical order: equal requests encode to equal bytes (the cache key)
        v = params[k]
        if k in CONTROL_PARAMS:
            control[k] = v
        elif k in known or k in PASS_THROUGH:
            completion[k] = v
        elif k in options:
            opts[k] = v
        else:
            extra = f"; {', '.join(sorted(options))} for this provider" if options else ""
            raise InvalidRequestError(
                f"unknown parameter {k!r}; completion parameters are {', '.join(sorted(known))}{extra}; "
                "put provider-specific fields in extra_body={...}",
                status_code=400,
            )
    return control, completion, opts


class Template:
    """Everything about a call except its messages, checked once; ``call(messages)`` makes each Call.

    Batches build one template and reuse it for every item, so routing, key lookup and parameter
    checks run once per batch rather than once per prompt. Raises before any request when the
    model, key or parameters are wrong.

    ``model`` may be a dict ``{"model": ..., "api_base": ..., "api_key": ..., **params}`` whose
    entries override ``params`` for this model.

    Example::

        t = Template("gpt-4o-mini", {"temperature": 0, "max_tokens": 50})
        calls = [t.call([{"role": "user", "content": q}]) for q in questions]
    """

    def __init__(self, model: str | Mapping[str, Any], params: Mapping[str, Any]) -> None:
        if isinstance(model, Mapping):
            override = dict(model)
            if "model" not in override:
                raise InvalidRequestError("a per-model override dict needs a 'model' key", status_code=400)
            model = override.pop("model")
            params = {**params, **override}
        hint = params.get("custom_llm_provider")
        if hint and isinstance(model, str) and not model.startswith(f"{hint}/"):
            model = f"{hint}/{model}"
        if not isinstance(model, str):
            raise InvalidRequestError(f"model must be a name or an override dict; got {model!r}", status_code=400)
        host, name = find(model)  # unknown provider: raise now
        control, completion, options = _split(params, host.options)
        validate_params(completion)
        timeout = control.get("timeout", DEFAULT_TIMEOUT)
        self.timeout: float | None = None if timeout is None else positive_seconds("timeout", timeout)
        self.stream = bool(control.get("stream", False))
        self.limits = _limits(control)
        pricing.load_env()
        api_base = control.get("api_base") or control.get("base_url")
        mock = control.get("mock_response", _NONE)
        transport = control.get("transport")
        if mock is not _NONE:
            from .transports.mock import mock_response

            # A mock speaks OpenAI's wire for any model; it needs no key; it answers at once (no retries
            # unless asked) and shares no lanes.
            mock_host = _mock_host(host)
            self.route = Route(host.name, mock_host.protocol, name, api_base or "mock", None, mock_host, options)
            self.transport: Transport = mock_response(mock)
            control.setdefault("num_retries", 0)
        else:
            self.route = resolve(cast(str, model), api_key=control.get("api_key"), api_base=api_base, options=options)
            self.transport = transport if transport is not None else _transport(self.route.host)
        self.retry = _retry(control)
        wire = host.wire  # the real host's protocol decides what is supported, mocked or not
        completion = _supported(wire, self.route, completion, bool(control.get("drop_params")))
        if mock is _NONE:
            self.host.check(self.route, completion)
        self.completion = completion
        self._extra_headers = _extra_headers(completion)
        cap = output_cap(completion)
        if cap is None:  # the cap the protocol sends by itself (Anthropic: 4096, plus a thinking budget)
            default = getattr(wire, "default_max_tokens", None)
            cap = default(completion) if default is not None else getattr(wire, "DEFAULT_MAX_TOKENS", None)
        self.max_output: int | None = cap
        n = completion.get("n")
        self.choices = n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1
        self.lanes = _shared_lanes(control)
        self.hooks: tuple[Hook, ...] = (
            *_trace(),
            *_cache(control, self.stream, self.route),
            *_budget(control, self.route),
        )

    @property
    def host(self) -> Provider:
        assert self.route.host is not None
        return self.route.host

    def call(self, messages: Any, *, validated: bool = False) -> Call:
        """The prepared Call for one message list (validated here unless the caller already did)."""
        msgs = messages if validated else validate_messages(messages)
        request = build_request(self.route, msgs, self.completion, stream=self.stream, extra=self._extra_headers)
        return Call(
            self.route, request, self.stream, self.timeout, self.retry, self.transport, msgs, self.limits,
            estimate_tokens(msgs, self.completion), self.hooks, self.max_output, self.choices, self.lanes,
        )  # fmt: skip


def _supported(wire: ProtocolModule, route: Route, params: dict[str, Any], drop: bool) -> dict[str, Any]:
    """``params`` without what the protocol cannot map, or what this model refuses (the protocol's
    optional ``unsupported_params(model, params)``, e.g. OpenAI reasoning models and temperature):
    dropped with ``drop_params=True``, else an ``UnsupportedParamsError`` naming each and why."""
    plain = sorted(k for k in params if k not in wire.SUPPORTED_PARAMS and k not in PASS_THROUGH)
    model_rules = getattr(wire, "unsupported_params", None)
    kept = {k: v for k, v in params.items() if k not in plain}
    special: dict[str, str] = model_rules(route.model, kept) if model_rules is not None else {}
    if not plain and not special:
        return params
    if not drop:
        parts = [f"{route.provider} does not support {', '.join(plain)}"] if plain else []
        parts += [f"{name} refused ({why})" for name, why in sorted(special.items())]
        raise UnsupportedParamsError(
            "; ".join(parts) + "; pass drop_params=True to drop them", provider=route.provider, model=route.model
        )
    return {k: v for k, v in kept.items() if k not in special}


def build_request(
    route: Route,
    messages: list[dict[str, Any]],
    params: dict[str, Any],
    *,
    stream: bool,
    extra: tuple[dict[str, str], tuple[str, ...]] | None = None,
) -> Request:
    """The request ``route``'s host gets for these (validated) messages and (checked) parameters,
    without credentials: the protocol's body with the host's tweaks, the host's URL and headers, then
    ``extra_headers``. ``extra`` is ``_extra_headers(params)`` when the caller already has it."""
    host = route.host
    assert host is not None
    headers, secrets = extra if extra is not None else _extra_headers(params)
    body = host.prepare_body(host.wire.build_body(route.model, messages, params, stream=stream), route, stream=stream)
    return Request(host.url(route, stream=stream), {**host.headers(route), **headers}, body, stream=stream,
                   framing=host.framing, secrets=(*host.secrets(route), *secrets))  # fmt: skip


def prepare(model: str | Mapping[str, Any], messages: Any, params: Mapping[str, Any]) -> Call:
    """Validate and map one call; raise before any request when something is wrong."""
    return Template(model, params).call(messages)


_NONE: Any = object()


def _mock_host(host: Provider) -> Provider:
    from .providers.base import Provider

    return Provider(host.name, "openai", default_base="mock", key_required=False)


def _transport(host: Provider | None) -> Transport:
    assert host is not None
    if host.transport == "local":
        from .transports.local import LocalTransport

        return LocalTransport()
    return _http()


_http_transport: Any = None


def _http() -> Transport:
    global _http_transport
    if _http_transport is None:
        from .transports.http import HTTPTransport  # aiohttp: loaded with the first HTTP call's setup

        _http_transport = HTTPTransport()
    return _http_transport  # type: ignore[no-any-return]


def _retry(control: Mapping[str, Any]) -> RetryPolicy:
    retries = control.get("num_retries", control.get("max_retries", DEFAULT_NUM_RETRIES))
    retries = non_negative_int("num_retries", retries)
    delay = positive_seconds("retry_delay", control.get("retry_delay", DEFAULT_RETRY_DELAY), zero=True)
    return RetryPolicy(num_retries=retries, base_delay=delay)


def _extra_headers(params: Mapping[str, Any]) -> tuple[dict[str, str], tuple[str, ...]]:
    """The caller's ``extra_headers``, and the credentials among them (masked like the key)."""
    headers = dict(params.get("extra_headers") or {})
    secrets: list[str] = []
    for k, v in headers.items():
        if k.lower() in CREDENTIAL_HEADERS and isinstance(v, str) and v:
            token = v.split(" ", 1)[1] if v.lower().startswith(("bearer ", "basic ")) else v
            if token and token not in secrets:
                secrets.append(token)
    return headers, tuple(secrets)


def _cache(control: Mapping[str, Any], stream: bool, route: Route) -> tuple[Hook, ...]:
    """The response cache hook for ``cache=True`` (``cache_path=`` picks the file, ``cache_scope=``
    "shared" or "key") or ``cache_url="redis://..."`` (one cache for every process using that Redis).
    A cache file that cannot be opened raises ``hooks.cache.CacheError`` (an OSError).

    ``cache_scope="key"`` needs an account volley can name before sending (a key, AWS access key id,
    a service account...): with a token provider whose identity is only known to the identity service
    it is refused, rather than letting two identities share answers."""
    url = control.get("cache_url")
    on = control.get("cache", url is not None)
    if not isinstance(on, bool):
        raise InvalidRequestError(f"cache must be True or False; got {on!r}", status_code=400)
    scope = control.get("cache_scope", "shared")
    if scope not in ("shared", "key"):
        raise InvalidRequestError(f"cache_scope must be 'shared' or 'key'; got {scope!r}", status_code=400)
    if url is not None and control.get("cache_path") is not None:
        raise InvalidRequestError("give cache_path= (a file) or cache_url= (a Redis), not both", status_code=400)
    shared = _shared().cache_hook(url, scope) if url is not None else None  # a URL is checked even when off
    if not on or stream:
        return ()
    if scope == "key" and route.host is not None and route.host.account(route) is None:
        raise InvalidRequestError(
            f"cache_scope='key' keeps each account's answers apart, but the {route.provider} credential in use "
            "(a token provider or credential chain) does not say whose it is before a request is sent; pass an "
            "api_key or an explicit credential (see the provider's docs), give each identity its own cache_path=, "
            "or use cache_scope='shared'",
            status_code=400,
        )
    if shared is not None:
        return (shared,)
    from .hooks.cache import CacheView, open_cache

    view = CacheView(open_cache(control.get("cache_path")), scope)
    return (view.fetch,)


def _shared() -> Any:
    return importlib.import_module(SHARED)


def _shared_lanes(control: Mapping[str, Any]) -> LaneSource | None:
    """The lanes shared through ``limits_url`` (default ``$VOLLEY_REDIS_URL``), checked now; None without
    (and for ``limits_url=False`` or ``""``: this process's own lanes, whatever the environment says)."""
    url = control.get("limits_url")
    if url is None:
        url = os.environ.get(LIMITS_URL_ENV)
    if url is False or url == "" or url is None:
        return None
    return _shared().lanes(url)  # type: ignore[no-any-return]


def _trace() -> tuple[Hook, ...]:
    """The tracing hook, first of all, when OpenTelemetry is set up (``otel.enabled``)."""
    from . import otel

    return (otel.traced,) if otel.enabled() else ()


def _budget(control: Mapping[str, Any], route: Route) -> tuple[Hook, ...]:
    """A fresh budget hook for ``budget_usd=`` (shared by the calls of one template)."""
    limit = control.get("budget_usd")
    if limit is None:
        return ()
    from .budget import Budget
    from .hooks.budget import BudgetHook, check_price

    try:
        budget = Budget(limit)
        check_price(route.provider, route.model)
    except ValueError as exc:
        raise InvalidRequestError(str(exc), status_code=400) from None
    return (BudgetHook(budget),)


def _limits(control: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if control.get("max_workers") is not None:
        out["max_workers"] = positive_int("max_workers", control["max_workers"])
    for name in ("rpm", "tpm"):
        if control.get(name) is not None:
            out[name] = positive_number(name, control[name])
    return out
