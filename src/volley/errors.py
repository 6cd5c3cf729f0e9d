"""Exceptions, named as LiteLLM names them, mapped from HTTP status and the provider's error body.

Tree::

    APIError
    ├── BadRequestError (400)
    │   ├── InvalidRequestError         (bad input caught before sending; also a ValueError)
    │   ├── ContextWindowExceededError
    │   ├── ContentPolicyViolationError (a content filter refused the prompt: .content_filter_results)
    │   ├── UnprocessableEntityError (422)
    │   ├── ImageFetchError, RejectedRequestError
    │   └── UnsupportedParamsError      (raised before sending)
    ├── AuthenticationError (401)
    │   └── PermissionDeniedError (403)
    ├── NotFoundError (404)
    ├── RateLimitError (429)              .retry_after
    │   └── QuotaExceededError            (quota or credit used up: not retried; the lane stops sending a while)
    ├── InternalServerError (5xx)
    │   ├── BadGatewayError (502)
    │   └── ServiceUnavailableError (503)
    ├── APIConnectionError               (also a malformed answer: retried)
    │   ├── Timeout
    │   └── RedirectError                (a redirect volley will not follow with the key: not retried)
    ├── APIResponseValidationError
    │   └── StructuredOutputError        (an answer that fails response_format=<pydantic class>; .raw_response)
    ├── LocalModelCrashedError           (a local model's worker process died: .signal / .exit_code)
    ├── MissingExtraError                (an optional extra the call needs is not installed; also an ImportError)
    ├── AllModelsFailedError             (a race in which every model failed)
    └── BudgetExceededError              (not sent: it could take the spend past budget_usd)

LiteLLM's constructors work too: ``RateLimitError(message="slow down", llm_provider="openai",
model="gpt-4o")`` (also LiteLLM's positional orders, ``response=``, ``litellm_debug_info=``...), so a
LiteLLM error can be given as ``mock_response=``. Every error has LiteLLM's attributes
(``llm_provider``, ``status_code``, ``message``, ``response``, ``litellm_response_headers``).

When the ``openai`` package is imported (before or after volley), each class also becomes a subclass
of its ``openai`` twin (:data:`OPENAI_TWINS`), as LiteLLM promises: ``except openai.RateLimitError``
catches volley's. volley never imports ``openai`` itself (see :func:`adopt_openai`).

Every error's message, ``args`` and ``body`` are masked when it is built (``volley.masking``): no
API key in use by this process survives in them, in full, as a prefix, URL-encoded or JSON-escaped;
a message is cut to a few KB.

Server hints (``retry-after``, ``retry-after-ms``, an HTTP date, rate-limit resets) are read with
:func:`server_wait`, which caps them at :data:`MAX_SERVER_WAIT` seconds.
"""

from __future__ import annotations

import math
import re
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from .headers import Headers, plain
from .masking import clip, mask, mask_value, register

MAX_SERVER_WAIT = 60.0
"""The longest wait a server can impose with one hint (retry-after, a rate-limit reset), in seconds.

Longer, infinite or far-future hints are cut to this; negative ones count as 0 and unreadable ones
(``nan``, garbage) are ignored.
"""

_CONTEXT_PATTERNS = re.compile(
    r"context[_ ]length|context window|maximum context|prompt is too long|too many tokens|"
    r"input is too long|exceeds the maximum|reduce the length|max_tokens.*exceed",
    re.IGNORECASE,
)


_QUOTA_PATTERNS = re.compile(
    r"insufficient[_ ]quota|billing_error|billing_hard_limit|credit balance is too low|out of credits?|"
    r"insufficient (?:balance|credits?|funds)|requests? per day|tokens? per day|\bper (?:day|month)\b|"
    r"PerDay|PerMonth|daily (?:limit|quota)|monthly (?:limit|quota)|calls? ?/ ?month",
    re.IGNORECASE,
)
"""Words of an exhausted quota or credit (not a per-minute limit) in an error's message or body:
OpenAI ``insufficient_quota`` and requests-per-day, Anthropic ``billing_error`` and a too-low credit
balance, Gemini ``RESOURCE_EXHAUSTED`` for a ``...PerDay...`` quota, Cohere's monthly trial limit."""

_POLICY_PATTERNS = re.compile(
    r"content[_ ]policy|content management policy|safety system|responsible ?ai polic|content_filter",
    re.IGNORECASE,
)


class _Root(Exception):
    """The plain root under ``APIError``: its bases can grow (the ``openai`` twins); ``Exception``'s cannot."""


class APIError(_Root):
    """Base of every volley error. ``status_code`` is None when no HTTP answer arrived.

    Takes volley's keywords (``status_code``, ``provider``, ``model``, ``headers``, ``body``) or
    LiteLLM's (``llm_provider``, ``response``, ``request``, ``litellm_debug_info``, ``max_retries``,
    ``num_retries``), and LiteLLM's positional order of the class (``APIError(500, "msg", "openai",
    "gpt-4o")``, ``RateLimitError("msg", "openai", "gpt-4o")``).

    Example::

        raise volley.RateLimitError(message="slow down", llm_provider="openai", model="gpt-4o")
    """

    status_code: int | None = None
    retryable: bool = False
    #: LiteLLM's positional parameters after ``message``, in its order for this class.
    LITELLM_ARGS: ClassVar[tuple[str, ...]] = ("llm_provider", "model", "request")
    request: Any = None  # openai's APIError has one (an httpx.Request); volley's transports do not use httpx

    def __init__(
        self,
        message: Any = "",
        *args: Any,
        status_code: int | None = None,
        provider: str = "",
        model: str | None = "",
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        llm_provider: str | None = None,
        response: Any = None,
        request: Any = None,
        litellm_debug_info: str | None = None,
        max_retries: int | None = None,
        num_retries: int | None = None,
    ) -> None:
        if isinstance(message, int) and not isinstance(message, bool) and args and isinstance(args[0], str):
            status_code, message, args = message, args[0], args[1:]  # LiteLLM's APIError(status_code, message, ...)
        given = dict(zip(type(self).LITELLM_ARGS, args))
        provider = llm_provider or given.get("llm_provider") or provider or ""
        model = given.get("model") or model or ""
        response = response if response is not None else given.get("response")
        request = request if request is not None else given.get("request")
        if response is not None and headers is None:
            headers = getattr(response, "headers", None)
        message = clip(mask(str(message)))  # the one masking point: nothing unmasked is ever kept
        Exception.__init__(self, message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        self.provider = str(provider)
        self.model = str(model)
        self.headers: Headers = plain(headers)
        self.body = mask_value(body)
        self._response = response
        if request is not None:
            self.request = request
        self.litellm_debug_info = litellm_debug_info
        self.max_retries = max_retries
        self.num_retries = num_retries
        if "openai" in sys.modules and not _adopted:
            adopt_openai()

    def __str__(self) -> str:
        where = "/".join(p for p in (self.provider, self.model) if p)
        code = f" {self.status_code}" if self.status_code else ""
        prefix = f"{type(self).__name__}{code}"
        return f"{prefix} [{where}]: {self.message}" if where else f"{prefix}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code!r}, message={self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        state = {k: v for k, v in self.__dict__.items() if k != "_response"}  # a client's response object stays
        return (_rebuild, (type(self), self.args, state))

    # ------------------------------------------------------------------ LiteLLM's and openai's attributes

    @property
    def llm_provider(self) -> str:
        """LiteLLM's name for ``provider``."""
        return self.provider

    @llm_provider.setter
    def llm_provider(self, value: str) -> None:
        self.provider = value

    @property
    def litellm_response_headers(self) -> Headers:
        """The provider's response headers (LiteLLM's name; the same as ``headers``)."""
        return self.headers

    @property
    def request_id(self) -> str | None:
        """The provider's request id header, when it sent one (openai's ``APIStatusError.request_id``)."""
        found = self.headers.get("x-request-id") or self.headers.get("request-id")
        return None if found is None else str(found)

    @property
    def response(self) -> Any:
        """The HTTP answer as LiteLLM gives it: an ``httpx.Response`` (status, headers, body) when httpx
        is installed, else a small object with the same ``status_code`` / ``headers`` / ``text`` / ``json()``."""
        if self._response is None:
            self._response = _reply(self.status_code or 500, self.headers, self.body)
        return self._response

    @property
    def code(self) -> str | None:
        """The error ``code`` in the provider's JSON error body, if any (openai's attribute)."""
        return _body_field(self.body, "code")

    @property
    def param(self) -> str | None:
        """The ``param`` in the provider's JSON error body, if any (openai's attribute)."""
        return _body_field(self.body, "param")

    type = property(lambda self: _body_field(self.body, "type"), doc="The error ``type`` in the JSON body, if any.")


def _rebuild(cls: type[APIError], args: tuple[Any, ...], state: dict[str, Any]) -> APIError:
    obj = cls.__new__(cls, *args)
    Exception.__init__(obj, *args)
    obj.__dict__.update(state)
    obj._response = None
    return obj


def _body_field(body: Any, key: str) -> str | None:
    if isinstance(body, (bytes, bytearray, str)):
        import json

        try:
            body = json.loads(body)
        except (ValueError, RecursionError):
            return None
    if not isinstance(body, Mapping):
        return None
    err = body.get("error")
    found = err.get(key) if isinstance(err, Mapping) else body.get(key)
    return None if found is None else str(found)


class _Reply:
    """A minimal stand-in for ``httpx.Response`` (when httpx is not installed)."""

    def __init__(self, status_code: int, headers: Headers, content: bytes) -> None:
        self.status_code, self.headers, self.content = status_code, headers, content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        import json

        return json.loads(self.content)


def _reply(status: int, headers: Headers, body: Any) -> Any:
    if isinstance(body, (bytes, bytearray)):
        content = bytes(body)
    elif body is None:
        content = b""
    else:
        import json

        content = (body if isinstance(body, str) else json.dumps(body, default=str)).encode("utf-8")
    try:
        import httpx
    except ImportError:
        return _Reply(status, headers, content)
    return httpx.Response(
        status, headers=dict(headers), content=content, request=httpx.Request("POST", "http://provider")
    )


_MODEL_FIRST = ("model", "llm_provider", "response")  # LiteLLM's positional order for the 400 / 404 family
_PROVIDER_FIRST = ("llm_provider", "model", "response")


class BadRequestError(APIError):
    status_code = 400
    LITELLM_ARGS = _MODEL_FIRST


class InvalidRequestError(BadRequestError, ValueError):
    """Bad input caught before sending: both a ``BadRequestError`` and a ``ValueError``."""


class ContextWindowExceededError(BadRequestError):
    """The input (plus max_tokens) does not fit the model's context window."""


class ContentPolicyViolationError(BadRequestError):
    """The provider's content filter refused the request (Azure OpenAI's ``content_filter`` 400, ...).

    ``content_filter_results`` holds the provider's verdict per category when it gave one, e.g.
    ``{"violence": {"filtered": True, "severity": "high"}, ...}``. Not retried: the same prompt is
    refused again.
    """

    LITELLM_ARGS = _PROVIDER_FIRST

    def __init__(
        self, message: Any = "", *args: Any, content_filter_results: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, *args, **kwargs)
        self.content_filter_results: dict[str, Any] = dict(content_filter_results or {})


class UnprocessableEntityError(BadRequestError):
    status_code = 422


class ImageFetchError(BadRequestError):
    """An image in the messages could not be fetched."""


class RejectedRequestError(BadRequestError):
    """A request refused by a guardrail before it reached the model."""


class UnsupportedParamsError(BadRequestError):
    """A parameter the provider cannot take; pass ``drop_params=True`` to drop it instead."""

    LITELLM_ARGS = _PROVIDER_FIRST


class AuthenticationError(APIError):
    status_code = 401
    LITELLM_ARGS = _PROVIDER_FIRST


class PermissionDeniedError(AuthenticationError):
    status_code = 403


class NotFoundError(APIError):
    status_code = 404
    LITELLM_ARGS = _MODEL_FIRST


class RateLimitError(APIError):
    """429. ``retry_after`` is the server's hint in seconds, when it gave one."""

    status_code = 429
    retryable = True
    LITELLM_ARGS = _PROVIDER_FIRST

    def __init__(self, message: Any = "", *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, *args, **kwargs)
        self.retry_after = retry_after


class QuotaExceededError(RateLimitError):
    """The account's quota or credit is used up (e.g. OpenAI ``insufficient_quota``, a per-day limit).

    Not retried: waiting seconds does not help. Later calls to the same lane (provider, base,
    model, key) fail at once for a while instead of each being sent and refused.
    """

    retryable = False


class InternalServerError(APIError):
    status_code = 500
    retryable = True
    LITELLM_ARGS = _PROVIDER_FIRST


class BadGatewayError(InternalServerError):
    status_code = 502


class ServiceUnavailableError(InternalServerError):
    status_code = 503


class APIConnectionError(APIError):
    """No usable HTTP answer: connection refused or reset, malformed body, truncated stream."""

    retryable = True


class Timeout(APIConnectionError, TimeoutError):
    """The request took longer than ``timeout`` seconds."""

    status_code = 408
    LITELLM_ARGS = ("model", "llm_provider")


class RedirectError(APIConnectionError):
    """The server redirected a request that carries a key to another origin (or from https to http).

    volley follows redirects only within the same origin (or from http to https on the same host),
    so a key never leaves for another host; the message names the target host, never the key.
    """

    retryable = False


class APIResponseValidationError(APIError):
    """An answer that arrived but is not what was asked for."""

    LITELLM_ARGS = ("llm_provider", "model")


class StructuredOutputError(APIResponseValidationError):
    """An answer that does not validate against ``response_format=<pydantic class>`` (after the
    retries ``num_retries`` allows). ``raw_response`` is the answer's text, ``schema`` the JSON schema
    asked for, ``errors`` what the validation said. LiteLLM calls it ``JSONSchemaValidationError``.

    Example::

        except volley.StructuredOutputError as e:
            print(e.raw_response)
    """

    retryable = True  # another answer may well validate

    def __init__(
        self, message: Any = "", *args: Any, raw_response: str = "", schema: Any = None, errors: str = "", **kwargs: Any
    ) -> None:
        if not message:
            message = f"the answer does not match the response_format schema: {errors or raw_response[:200]!r}"
        super().__init__(message, *args, **kwargs)
        self.raw_response = raw_response
        self.schema = schema
        self.errors = errors


JSONSchemaValidationError = StructuredOutputError
OpenAIError = APIError  # LiteLLM's base name: every volley error is one
MockException = APIError  # LiteLLM's test error: MockException(status_code, message, llm_provider, model)


class LocalModelCrashedError(APIError):
    """The worker process running a local model died (signal or exit code in ``signal`` / ``exit_code``).

    Not retried: a request that crashed the model would likely crash it again. The next request
    starts a fresh worker.
    """

    status_code = 500

    def __init__(
        self, message: Any = "", *args: Any, signal: str | None = None, exit_code: int | None = None, **kw: Any
    ) -> None:
        super().__init__(message, *args, **kw)
        self.signal = signal
        self.exit_code = exit_code


class MissingExtraError(APIError, ImportError):
    """A call needs an optional extra that is not installed (``local``, ``bedrock`` ...); the message names
    the ``pip install 'volley-llm[...]'`` command. Raised before any request."""


class AllModelsFailedError(APIError):
    """Every model in a race failed; ``exceptions`` maps each model to its error."""

    def __init__(self, exceptions: Mapping[str, BaseException]) -> None:
        lines = "; ".join(f"{m}: {type(e).__name__}: {getattr(e, 'message', e)}" for m, e in exceptions.items())
        super().__init__(f"all {len(exceptions)} models failed: {lines}")
        self.exceptions = dict(exceptions)


class BudgetExceededError(APIError):
    """A request was not sent because it could take the spend past ``budget_usd``.

    LiteLLM's form works too: ``BudgetExceededError(current_cost, max_budget)`` (``current_cost`` /
    ``max_budget`` are ``spent`` / ``budget``).
    """

    status_code = None

    def __init__(
        self,
        message: Any = "",
        *args: Any,
        spent: float = 0.0,
        budget: float = 0.0,
        current_cost: float | None = None,
        max_budget: float | None = None,
    ) -> None:
        if isinstance(message, (int, float)) and not isinstance(message, bool):  # LiteLLM: (current_cost, max_budget)
            current_cost, message = float(message), ""
            if args and isinstance(args[0], (int, float)):
                max_budget, args = float(args[0]), args[1:]
        spent = spent if current_cost is None else current_cost
        budget = budget if max_budget is None else max_budget
        if not message:
            message = args[0] if args else f"Budget has been exceeded! Current cost: {spent}, Max budget: {budget}"
        super().__init__(message)
        self.spent = spent
        self.budget = budget

    @property
    def current_cost(self) -> float:
        return self.spent

    @property
    def max_budget(self) -> float:
        return self.budget


class _Conflict(APIError):
    status_code = 409
    retryable = True


class _RequestTimeout(APIError):
    status_code = 408
    retryable = True


# ---------------------------------------------------------------------- openai's exception types

#: Each volley class and the name of the ``openai`` exception class it also becomes when openai is imported.
OPENAI_TWINS: dict[type[APIError], str] = {
    APIError: "APIError",
    BadRequestError: "BadRequestError",
    UnprocessableEntityError: "UnprocessableEntityError",
    AuthenticationError: "AuthenticationError",
    PermissionDeniedError: "PermissionDeniedError",
    NotFoundError: "NotFoundError",
    _Conflict: "ConflictError",
    RateLimitError: "RateLimitError",
    InternalServerError: "InternalServerError",
    APIConnectionError: "APIConnectionError",
    Timeout: "APITimeoutError",
    APIResponseValidationError: "APIResponseValidationError",
}
_adopted = False


def adopt_openai() -> bool:
    """Add each ``openai`` twin to the bases of its volley class, if ``openai`` is imported; True once done.

    Runs when ``volley.errors`` is imported after ``openai``, or right after ``openai`` is imported
    later (a one-shot import watcher); never imports ``openai``. Idempotent.
    """
    global _adopted
    openai = sys.modules.get("openai")
    if openai is None or _adopted:
        return _adopted
    try:
        for cls, name in OPENAI_TWINS.items():
            twin = getattr(openai, name, None)
            if isinstance(twin, type) and issubclass(twin, BaseException) and twin not in cls.__mro__:
                cls.__bases__ = (*cls.__bases__, twin)
    except TypeError:  # an openai whose classes cannot be combined with ours: stay without them
        return False
    _adopted = True
    return True


class _OpenAIWatcher:
    """A one-shot ``sys.meta_path`` entry: when ``openai`` is imported, run :func:`adopt_openai` after it."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "openai":
            return None
        _unwatch()
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find is not None else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _AdoptAfter(spec.loader)
                return spec
        return None


class _AdoptAfter:
    """Loads a module with its own loader, then puts that loader back and adopts openai's classes."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        try:
            self.loader.exec_module(module)
        finally:
            module.__loader__ = self.loader
            if getattr(module, "__spec__", None) is not None:
                module.__spec__.loader = self.loader
        try:
            adopt_openai()
        except Exception:  # never break openai's import
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)


_watcher = _OpenAIWatcher()


def _unwatch() -> None:
    try:
        sys.meta_path.remove(_watcher)
    except ValueError:
        pass


if "openai" in sys.modules:
    adopt_openai()
else:
    sys.meta_path.insert(0, _watcher)


def server_wait(seconds: float | None) -> float | None:
    """A server's wait hint made safe: None if unreadable (nan), else within ``[0, MAX_SERVER_WAIT]``."""
    if seconds is None or math.isnan(seconds):
        return None
    return min(max(0.0, seconds), MAX_SERVER_WAIT)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (ValueError, OverflowError):
        return None


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The wait a server asked for, from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date).

    Capped by :func:`server_wait`: ``retry-after: 86400``, ``inf`` or a date in 2099 give
    ``MAX_SERVER_WAIT``; ``nan`` or garbage give None.
    """
    ms = headers.get("retry-after-ms")
    if ms:
        value = _number(ms)
        if value is not None and not math.isnan(value):
            return server_wait(value / 1000.0)
    text = headers.get("retry-after")
    if not text:
        return None
    value = _number(text)
    if value is not None:
        return server_wait(value)
    from email.utils import parsedate_to_datetime

    try:
        return server_wait(parsedate_to_datetime(text).timestamp() - time.time())
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def error_from_status(
    status: int,
    message: str,
    *,
    provider: str = "",
    model: str = "",
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    secrets: Sequence[str] = (),
    quota: bool = False,
) -> APIError:
    """Build the error class that matches an HTTP ``status``; ``secrets`` are masked like every key in use.

    A 402 (payment required), or a 400/403/429 whose message or body speaks of an exhausted quota
    or credit (``_QUOTA_PATTERNS``; or ``quota=True`` from a provider that knows), is a
    :class:`QuotaExceededError`.
    """
    register(*secrets)
    headers = headers or {}
    kw: dict[str, Any] = {"status_code": status, "provider": provider, "model": model, "headers": headers, "body": body}
    if status == 402 or (status in (400, 403, 429) and (quota or _quota_words(message, body))):
        return QuotaExceededError(message, retry_after=None, **kw)
    if status == 429:
        return RateLimitError(message, retry_after=retry_after_seconds(headers), **kw)
    if status in (400, 413, 422):
        if _CONTEXT_PATTERNS.search(message):
            return ContextWindowExceededError(message, **kw)
        if _POLICY_PATTERNS.search(message):
            return ContentPolicyViolationError(message, **kw)
        return UnprocessableEntityError(message, **kw) if status == 422 else BadRequestError(message, **kw)
    if status == 401:
        return AuthenticationError(message, **kw)
    if status == 403:
        return PermissionDeniedError(message, **kw)
    if status == 404:
        return NotFoundError(message, **kw)
    if status == 408:
        return _RequestTimeout(message, **kw)
    if status == 409:
        return _Conflict(message, **kw)
    if status == 503:
        return ServiceUnavailableError(message, **kw)
    if status == 502:
        return BadGatewayError(message, **kw)
    if status >= 500:
        # 529 (Anthropic "overloaded") lands here too.
        return InternalServerError(message, **kw)
    return APIError(message, **kw)


def _quota_words(message: str, body: Any) -> bool:
    if _QUOTA_PATTERNS.search(message):
        return True
    if isinstance(body, (bytes, bytearray)):
        text = bytes(body[:65536]).decode("utf-8", "replace")
    elif body is None:
        return False
    else:
        try:
            text = str(body)[:65536]
        except RecursionError:
            return False
    return bool(_QUOTA_PATTERNS.search(text))


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with ``secrets`` (and every key registered in ``volley.masking``) masked."""
    return mask(text, secrets)
