"""Preparing calls: a batch's :class:`Template` (route, protocol, parameters checked once) and one
:class:`Call` per item (messages validated once, the body built and encoded once, tokens estimated once).

Everything that can fail without the network fails here, before any request is sent.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import masking, pricing, structured
from .engine.retry import RetryPolicy
from .errors import APIError, InvalidRequestError, Timeout, UnsupportedParamsError
from .protocols.base import output_cap
from .routing import Route, find, resolve
from .settings import settings
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
        # LiteLLM's: logging, fallbacks, per-call prices, parameter policy (see docs/litellm-compat.md)
        "metadata", "logger_fn", "fallbacks", "context_window_fallback_dict", "input_cost_per_token",
        "output_cost_per_token", "allowed_openai_params", "additional_drop_params", "mock_timeout",
        "api_version", "organization", "stream_timeout",
    }
)  # fmt: skip
#: The module behind ``limits_url=`` / ``cache_url=`` (limits and cache shared through Redis): an outer
#: package, looked up by name and imported only when one is given (the core imports none).
SHARED = "volley.shared.wire"
#: Where ``limits_url`` comes from when the call gives none.
LIMITS_URL_ENV = "VOLLEY_REDIS_URL"
PASS_THROUGH = frozenset({"extra_body", "extra_headers"})
#: LiteLLM's spellings of volley's names (the canonical name wins when both are given).
ALIASES = {"request_timeout": "timeout", "caching": "cache", "headers": "extra_headers", "force_timeout": "timeout"}
#: LiteLLM's legacy function calling, sent as tools (answers get ``message.function_call`` too).
LEGACY_FUNCTIONS = frozenset({"functions", "function_call"})
#: Provider parameters that go into the request body as they are (LiteLLM passes them through), or where
#: the protocol's ``PASSTHROUGH`` puts them (Gemini's ``top_k`` → ``generationConfig.topK``).
PROVIDER_PARAMS = frozenset(
    {
        "top_k", "min_p", "typical_p", "top_a", "repetition_penalty", "thinking", "reasoning", "include_reasoning",
        "safe_prompt", "random_seed", "safety_settings", "cached_content", "keep_alive", "num_ctx", "mirostat",
        "mirostat_eta", "mirostat_tau", "guided_json", "guided_choice", "guided_regex", "guided_grammar",
        "min_tokens", "ignore_eos", "skip_special_tokens", "chat_template_kwargs", "best_of", "echo",
        "transforms", "route", "provider", "documents", "citation_options", "search_parameters",
    }
)  # fmt: skip
#: LiteLLM-only arguments that steer its logging, proxy, prompt management or client objects: accepted and
#: ignored (they do not change what the provider is sent); credentials of hosts that do not take them too.
LITELLM_IGNORED = frozenset(
    {
        "litellm_call_id", "litellm_logging_obj", "litellm_metadata", "litellm_trace_id", "litellm_session_id",
        "tags", "no-log", "proxy_server_request", "preset_cache_key", "caching_groups", "ttl", "model_info",
        "base_model", "model_list", "deployment_id", "client", "use_client", "azure", "acompletion", "id",
        "verbose", "hf_model_name", "custom_prompt_dict", "roles", "final_prompt_value", "bos_token",
        "eos_token", "initial_prompt_value", "supports_system_message", "region_name", "max_parallel_requests",
        "cooldown_time", "fastest_response", "retry_policy", "retry_strategy", "prompt_id", "prompt_variables",
        "prompt_version", "prompt_label", "input_cost_per_second", "output_cost_per_second", "weight", "order",
        "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_region_name", "aws_profile_name",
        "aws_role_name", "aws_session_name", "aws_web_identity_token", "aws_sts_endpoint",
        "aws_bedrock_runtime_endpoint", "vertex_project", "vertex_location", "vertex_credentials",
        "vertex_ai_project", "vertex_ai_location", "azure_ad_token", "azure_ad_token_provider", "tenant_id",
        "client_id", "client_secret", "azure_username", "azure_password", "api_type",
        "merge_reasoning_content_in_choices",
    }
)  # fmt: skip
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
    include_usage: bool = False  # stream_options={"include_usage": True}: the stream ends with a usage chunk
    functions: bool = False  # legacy functions= were sent as tools: answers also get message.function_call
    schema: Any = None  # response_format=<pydantic class>: answers are validated into message.parsed
    fallbacks: tuple[tuple[str, Any], ...] = ()  # ("any" | "context", Template) tried in order when the call fails
    lane_key: Hashable | None = None  # route.lane, when the template could work it out once (else per call)

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

    def read_error(self, status: int, headers: Mapping[str, str], body: bytes) -> APIError:
        """The host's reading of an HTTP error answer to this call (what a transport's ``error=`` is)."""
        return self.host.error(status, headers, body, self.route)

    def add_hook(self, hook: Hook) -> None:
        """Run ``hook`` around this call's send, inside the hooks it already has."""
        self.hooks = (*self.hooks, hook)


def _split(
    params: Mapping[str, Any], options: frozenset[str]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``params`` → (control, completion, provider options, provider passthrough); an unknown name is a
    clear error. LiteLLM's aliases are renamed; what LiteLLM alone uses is kept in control (callbacks see it)."""
    control: dict[str, Any] = {}
    completion: dict[str, Any] = {}
    opts: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    known = _all_completion_params()
    for k in sorted(params):  # one canonical order: equal requests encode to equal bytes (the cache key)
        v = params[k]
        name = ALIASES.get(k, k)
        if name != k and name in params:
            continue  # the canonical spelling was given too: it wins
        if name in options:  # the host's own option first (e.g. a Bedrock host's aws_region_name)
            opts[name] = v
        elif name in CONTROL_PARAMS or name in LITELLM_IGNORED:
            control[name] = v
        elif name in known or name in PASS_THROUGH or name in LEGACY_FUNCTIONS:
            completion[name] = v
        elif name in PROVIDER_PARAMS:
            extra[name] = v
        else:
            hint = f"; {', '.join(sorted(options))} for this provider" if options else ""
            raise InvalidRequestError(
                f"unknown parameter {k!r}; completion parameters are {', '.join(sorted(known))}{hint}; "
                "put provider-specific fields in extra_body={...}",
                status_code=400,
            )
    return control, completion, opts, extra


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
        target: Any = model
        shared = params  # what fallbacks inherit: not this model's own overrides
        if isinstance(model, Mapping):
            override = dict(model)
            if "model" not in override:
                raise InvalidRequestError("a per-model override dict needs a 'model' key", status_code=400)
            target = override.pop("model")
            params = {**params, **override}
        hint = params.get("custom_llm_provider")
        if hint and isinstance(target, str) and not target.startswith(f"{hint}/"):
            target = f"{hint}/{target}"
        host, name = find(target)  # unknown provider: raise now
        control, completion, options, passthrough = _split(params, host.options)
        self.functions = _legacy_functions(completion)
        self.schema, completion = structured.response_format(completion)
        validate_params(completion)
        self.stream = bool(control.get("stream", False))
        self.timeout: float | None = _timeout(control, self.stream)
        self.limits = _limits(control)
        pricing.load_env()
        api_base = control.get("api_base") or control.get("base_url") or settings.get("api_base")
        mock = control.get("mock_response", _NONE)
        if control.get("mock_timeout") and mock is _NONE:
            mock = Timeout("mock_timeout=True: the request timed out")
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
            key = control.get("api_key") or settings.key_for(host.name)
            self.route = resolve(target, api_key=key, api_base=api_base, options=options)
            self.transport = transport if transport is not None else _transport(self.route.host)
        self.retry = _retry(control)
        wire = host.wire  # the real host's protocol decides what is supported, mocked or not
        # asked of volley, whether or not the protocol has a stream_options field to send it in
        self.include_usage = bool((completion.get("stream_options") or {}).get("include_usage"))
        completion = _supported(completion, control, self.route, wire)
        if passthrough:
            completion["extra_body"] = _passthrough(passthrough, getattr(wire, "PASSTHROUGH", {}), completion)
        if control.get("organization") and wire.NAME == "openai":
            completion["extra_headers"] = {**(completion.get("extra_headers") or {}),
                                           "OpenAI-Organization": str(control["organization"])}  # fmt: skip
        if mock is _NONE:
            self.host.check(self.route, completion)
        _prices(control, self.route)
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
            *_callbacks(control, self),
            *_cache(control, self.stream, self.route),
            *_budget(control, self.route),
        )
        self.fallbacks = _fallbacks(target, shared, control)
        # the lane key names the account: a key's id is known now; other identities may be learned later
        from .providers.base import Provider as Default

        self._lane_key = self.route.lane if type(self.host).account is Default.account else None
        self._parts: RequestParts | None = None

    @property
    def host(self) -> Provider:
        assert self.route.host is not None
        return self.route.host

    def call(self, messages: Any, *, validated: bool = False) -> Call:
        """The prepared Call for one message list (validated here unless the caller already did)."""
        msgs = messages if validated else validate_messages(messages)
        parts = self._parts
        if parts is None:  # the same for every item: worked out at the first (it may raise, e.g. no deployment)
            parts = self._parts = request_parts(self.route, stream=self.stream, extra=self._extra_headers)
        request = build_request(self.route, msgs, self.completion, stream=self.stream, parts=parts)
        return Call(
            self.route, request, self.stream, self.timeout, self.retry, self.transport, msgs, self.limits,
            estimate_tokens(msgs, self.completion), self.hooks, self.max_output, self.choices, self.lanes,
            include_usage=self.include_usage, functions=self.functions, schema=self.schema, fallbacks=self.fallbacks,
            lane_key=self._lane_key,
        )  # fmt: skip


RequestParts = tuple[str, dict[str, str], tuple[str, ...]]
"""What every request of a route carries whatever its messages: URL, headers (no credentials), secrets."""


def request_parts(route: Route, *, stream: bool, extra: tuple[dict[str, str], tuple[str, ...]]) -> RequestParts:
    """The URL, the headers (the host's, then ``extra_headers``) and the secrets of ``route``'s requests;
    ``extra`` is ``_extra_headers(params)``. The secrets are registered for masking here."""
    host = route.host
    assert host is not None
    headers, secrets = extra
    parts = host.url(route, stream=stream), {**host.headers(route), **headers}, (*host.secrets(route), *secrets)
    masking.register(*parts[2])
    return parts


def build_request(
    route: Route,
    messages: list[dict[str, Any]],
    params: dict[str, Any],
    *,
    stream: bool,
    extra: tuple[dict[str, str], tuple[str, ...]] | None = None,
    parts: RequestParts | None = None,
) -> Request:
    """The request ``route``'s host gets for these (validated) messages and (checked) parameters,
    without credentials: the protocol's body with the host's tweaks, the host's URL and headers, then
    ``extra_headers``. ``extra`` is ``_extra_headers(params)`` when the caller already has it; ``parts``
    is ``request_parts(...)`` when the caller keeps it for many requests (their headers dict is shared:
    nothing changes a request's headers after this)."""
    host = route.host
    assert host is not None
    if parts is None:
        parts = request_parts(route, stream=stream, extra=extra if extra is not None else _extra_headers(params))
    url, headers, secrets = parts
    body = host.prepare_body(host.wire.build_body(route.model, messages, params, stream=stream), route, stream=stream)
    return Request(url, headers, body, stream=stream, framing=host.framing, secrets=secrets, registered=True)


def prepare(model: str | Mapping[str, Any], messages: Any, params: Mapping[str, Any]) -> Call:
    """Validate and map one call; raise before any request when something is wrong.

    A call repeated with the same model and parameters (``acompletion`` in a loop) reuses its
    template while nothing it was built from has changed (:class:`TemplateMemo`)."""
    return _MEMO.template(model, params).call(messages)


class TemplateMemo:
    """The templates of recent single calls, so that a call repeated with the same model and the same
    plain parameters (strings, numbers, lists and dicts of them) is not routed and checked again.

    A template is kept only when it holds nothing of its own a call could change: no hooks (cache,
    budget, callbacks, tracing), no fallbacks, no shared lanes, no mock. Every kept template is
    dropped when the world it was built from changes: volley's settings (and the callback lists),
    the environment (keys, base URLs, ``VOLLEY_*``), the provider registry, OpenTelemetry being set
    up. At most ``size`` templates, the least recently used dropped first.

    Example::

        memo = TemplateMemo()
        assert memo.template("gpt-4o-mini", {"temperature": 0}) is memo.template("gpt-4o-mini", {"temperature": 0})
    """

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._kept: dict[Hashable, Template] = {}
        self._world: tuple[Any, ...] | None = None
        self._env: dict[Any, Any] = {}
        self._lock = threading.Lock()  # sync calls prepare in the caller's thread: many threads at once
        self._epoch = 0  # counts the times the kept templates were dropped

    def template(self, model: str | Mapping[str, Any], params: Mapping[str, Any]) -> Template:
        """The template of ``model`` with ``params``: a kept one, or a new one (kept when it may be)."""
        key = _memo_key(model, params)
        if key is None:
            return Template(model, params)
        with self._lock:
            self._check_world()
            epoch = self._epoch
            kept = self._kept.pop(key, None)
            if kept is not None:
                self._kept[key] = kept  # (re)inserted last: the most recently used
                return kept
        made = Template(model, params)  # outside the lock: it may raise, or take a while (credentials)
        if made.hooks or made.fallbacks or made.lanes is not None:
            return made
        with self._lock:
            self._check_world()
            if self._epoch == epoch:  # kept only if the world it was built in still holds
                while len(self._kept) >= self.size:
                    del self._kept[next(iter(self._kept))]
                self._kept[key] = made
        return made

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self._world = None
            self._epoch += 1

    def _check_world(self) -> None:
        from . import otel
        from .providers import registry_version

        env = getattr(os.environ, "_data", None)  # os.environ's own dict: compared, not decoded
        world = (settings.state(), registry_version(), otel.enabled())
        if env is None or world != self._world or env != self._env:
            self._kept.clear()
            self._epoch += 1
            self._world, self._env = world, dict(env) if env is not None else {}


_MEMO = TemplateMemo()
#: parameters whose calls are never kept: a mock transport is made per call, and may hold state
_UNKEPT = frozenset({"mock_response", "mock_timeout", "transport"})


def _memo_key(model: Any, params: Mapping[str, Any]) -> Hashable | None:
    """``(model, params)`` as a hashable key that tells apart every value the template could see
    (``1``, ``1.0`` and ``True`` too), or None when a value is not plain data (or not to be kept)."""
    if type(model) is not str or type(params) is not dict or not _UNKEPT.isdisjoint(params):
        return None
    frozen = _frozen(params, 0)
    return None if frozen is None else (model, frozen)


def _frozen(value: Any, depth: int) -> Hashable | None:
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return (t, value)
    if t is float:
        return (t, repr(value))  # -0.0 and 0.0 are equal, yet written differently
    if depth > 20:
        return None
    if t is dict:
        items = []
        for k, v in value.items():
            f = _frozen(v, depth + 1)
            if type(k) is not str or f is None:
                return None
            items.append((k, f))
        return (t, tuple(items))
    if t is list or t is tuple:
        out = []
        for v in value:
            f = _frozen(v, depth + 1)
            if f is None:
                return None
            out.append(f)
        return (t, tuple(out))
    return None


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
    default = settings.get("num_retries")
    retries = control.get(
        "num_retries", control.get("max_retries", DEFAULT_NUM_RETRIES if default is None else default)
    )
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

    With ``volley.cache`` set, every call uses that cache unless it says ``cache=False`` (or LiteLLM's
    ``cache={"no-cache": True}`` / ``{"no-store": True}``, which skip it).

    ``cache_scope="key"`` needs an account volley can name before sending (a key, AWS access key id,
    a service account...): with a token provider whose identity is only known to the identity service
    it is refused, rather than letting two identities share answers."""
    url = control.get("cache_url")
    on = control.get("cache")
    if isinstance(on, Mapping):  # LiteLLM's per-call cache controls
        on = False if (on.get("no-cache") or on.get("no-store")) else None
    module_cache = settings.get("cache")
    if on is not False and module_cache is not None and url is None and control.get("cache_path") is None:
        return () if stream else (module_cache.fetch,)
    if on is None:
        on = url is not None
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


# ---------------------------------------------------------------------- LiteLLM's arguments (docs/litellm-compat.md)


def _legacy_functions(completion: dict[str, Any]) -> bool:
    """``functions=`` / ``function_call=`` (OpenAI's legacy names) → ``tools`` / ``tool_choice``, in place."""
    functions = completion.pop("functions", None)
    choice = completion.pop("function_call", None)
    if functions is None:
        if choice is not None:
            raise InvalidRequestError("function_call= needs functions=[...]", status_code=400)
        return False
    if completion.get("tools"):
        raise InvalidRequestError("give tools= or the legacy functions=, not both", status_code=400)
    if not isinstance(functions, (list, tuple)):
        raise InvalidRequestError(f"functions must be a list of function dicts; got {functions!r}", status_code=400)
    completion["tools"] = [{"type": "function", "function": f} for f in functions]
    if isinstance(choice, Mapping) and choice.get("name"):
        completion["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    elif choice in ("auto", "none"):
        completion["tool_choice"] = choice
    elif choice is not None:
        raise InvalidRequestError(f"function_call must be 'auto', 'none' or {{'name': ...}}; got {choice!r}")
    return True


def _timeout(control: Mapping[str, Any], stream: bool) -> float | None:
    """``timeout`` (``stream_timeout`` for a stream; an ``httpx.Timeout`` is read too), else
    ``volley.request_timeout``, else 600 s; None means no limit."""
    value = control.get("stream_timeout") if stream and control.get("stream_timeout") is not None else None
    if value is None:
        value = control["timeout"] if "timeout" in control else settings.get("request_timeout") or DEFAULT_TIMEOUT
    if value is not None and hasattr(value, "read") and hasattr(value, "connect"):  # httpx.Timeout
        parts = [getattr(value, a, None) for a in ("connect", "read", "write", "pool")]
        value = max((p for p in parts if p is not None), default=None)
    return None if value is None else positive_seconds("timeout", value)


def _supported(
    completion: dict[str, Any], control: Mapping[str, Any], route: Route, wire: ProtocolModule
) -> dict[str, Any]:
    """``completion`` without what the protocol cannot take, or what this model refuses (the protocol's
    optional ``unsupported_params(model, params)``, e.g. OpenAI reasoning models and temperature):
    dropped with ``drop_params`` (default ``volley.drop_params``), else an ``UnsupportedParamsError``
    naming each and why. ``additional_drop_params`` are dropped, ``allowed_openai_params`` are sent
    anyway; ``stream_options`` is volley's to honour (it decides the usage chunk)."""
    supported = wire.SUPPORTED_PARAMS
    drop = set(_names(control, "additional_drop_params"))
    allowed = set(_names(control, "allowed_openai_params")) | PASS_THROUGH | {"stream_options"}
    plain = sorted(k for k in completion if k not in supported and k not in allowed and k not in drop)
    model_rules = getattr(wire, "unsupported_params", None)
    kept = {k: v for k, v in completion.items() if k not in plain and k not in drop}
    special: dict[str, str] = model_rules(route.model, kept) if model_rules is not None else {}
    special = {k: why for k, why in special.items() if k not in allowed}
    if (plain or special) and not control.get("drop_params", settings.get("drop_params")):
        parts = [f"{route.provider} does not support {', '.join(plain)}"] if plain else []
        parts += [f"{name} refused ({why})" for name, why in sorted(special.items())]
        raise UnsupportedParamsError(
            "; ".join(parts) + "; pass drop_params=True to drop them", provider=route.provider, model=route.model
        )
    drop.update(plain, special)
    if "stream_options" in completion and "stream_options" not in supported:
        drop.add("stream_options")
    return {k: v for k, v in completion.items() if k not in drop} if drop else completion


def _names(control: Mapping[str, Any], key: str) -> list[str]:
    value = control.get(key) or []
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise InvalidRequestError(f"{key} must be a list of parameter names; got {value!r}", status_code=400)
    return list(value)


def _passthrough(params: Mapping[str, Any], paths: Mapping[str, tuple[str, ...]], completion: Mapping[str, Any]) -> Any:
    """Provider parameters as body fields (at the protocol's ``PASSTHROUGH`` path, else top level),
    under the caller's own ``extra_body``."""
    body: dict[str, Any] = {}
    for name, value in params.items():
        path = paths.get(name, (name,))
        node = body
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    for key, value in (completion.get("extra_body") or {}).items():
        body[key] = {**body[key], **value} if isinstance(value, dict) and isinstance(body.get(key), dict) else value
    return body


def _prices(control: Mapping[str, Any], route: Route) -> None:
    """LiteLLM's per-call ``input_cost_per_token`` / ``output_cost_per_token``: registered for the model
    (as LiteLLM does), so ``response.cost`` uses them."""
    cin, cout = control.get("input_cost_per_token"), control.get("output_cost_per_token")
    if cin is None and cout is None:
        return
    price = {"input_cost_per_token": cin or 0.0, "output_cost_per_token": cout or 0.0}
    try:
        pricing.register_prices({f"{route.provider}/{route.model}": price})
    except ValueError as exc:
        raise InvalidRequestError(str(exc), status_code=400) from None


def _callbacks(control: Mapping[str, Any], template: Template) -> tuple[Hook, ...]:
    """The hook that runs ``volley.success_callback`` / ``failure_callback`` / ``callbacks`` and a
    per-call ``logger_fn`` around each call (LiteLLM's custom callbacks), when any is set."""
    logger_fn = control.get("logger_fn")
    if logger_fn is not None and not callable(logger_fn):
        raise InvalidRequestError(f"logger_fn must be a function; got {logger_fn!r}", status_code=400)
    if not settings.callbacks_set() and logger_fn is None:
        return ()
    from .hooks.callbacks import CallbacksHook

    return (CallbacksHook(template.completion, control.get("metadata"), logger_fn),)


def _fallbacks(model: Any, params: Mapping[str, Any], control: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """``fallbacks=[model or override dict, ...]`` (also ``[{"this-model": [...]}]``) and
    ``context_window_fallback_dict={model: bigger_model}``: the templates tried, in order, when a
    call fails after its retries (context-window ones only for ``ContextWindowExceededError``).
    Each is checked now, like the call itself."""
    given = control.get("fallbacks") or []
    windows = control.get("context_window_fallback_dict") or {}
    if not given and not windows:
        return ()
    if not isinstance(given, (list, tuple)) or not isinstance(windows, Mapping):
        raise InvalidRequestError(
            "fallbacks must be a list of models (or override dicts); context_window_fallback_dict a dict",
            status_code=400,
        )
    rest = {k: v for k, v in params.items() if k not in ("fallbacks", "context_window_fallback_dict")}
    out: list[tuple[str, Any]] = []
    bigger = windows.get(model)
    if bigger is not None:
        out.append(("context", Template(bigger, rest)))
    for item in given:
        if isinstance(item, Mapping) and "model" not in item:  # the Router's form: {"this-model": ["other", ...]}
            for target in item.get(model, ()):
                out.append(("any", Template(target, rest)))
        else:
            out.append(("any", Template(item, rest)))
    return tuple(out)
