"""Exceptions, named as LiteLLM names them, mapped from HTTP status and the provider's error body.

Tree::

    APIError
    ├── BadRequestError (400, 422)
    │   ├── InvalidRequestError         (bad input caught before sending; also a ValueError)
    │   ├── ContextWindowExceededError
    │   ├── ContentPolicyViolationError (a content filter refused the prompt: .content_filter_results)
    │   └── UnsupportedParamsError      (raised before sending)
    ├── AuthenticationError (401)
    │   └── PermissionDeniedError (403)
    ├── NotFoundError (404)
    ├── RateLimitError (429)              .retry_after
    │   └── QuotaExceededError            (quota or credit used up: not retried; the lane stops sending a while)
    ├── InternalServerError (5xx)
    │   └── ServiceUnavailableError (503)
    ├── APIConnectionError               (also a malformed answer: retried)
    │   ├── Timeout
    │   └── RedirectError                (a redirect volley will not follow with the key: not retried)
    ├── LocalModelCrashedError           (a local model's worker process died: .signal / .exit_code)
    ├── MissingExtraError                (an optional extra the call needs is not installed; also an ImportError)
    ├── AllModelsFailedError             (a race in which every model failed)
    └── BudgetExceededError              (not sent: it could take the spend past budget_usd)

Every error's message, ``args`` and ``body`` are masked when it is built (``volley.masking``): no
API key in use by this process survives in them, in full, as a prefix, URL-encoded or JSON-escaped;
a message is cut to a few KB.

Server hints (``retry-after``, ``retry-after-ms``, an HTTP date, rate-limit resets) are read with
:func:`server_wait`, which caps them at :data:`MAX_SERVER_WAIT` seconds.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

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


class APIError(Exception):
    """Base of every volley error. ``status_code`` is None when no HTTP answer arrived."""

    status_code: int | None = None
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        provider: str = "",
        model: str = "",
        headers: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> None:
        message = clip(mask(str(message)))  # the one masking point: nothing unmasked is ever kept
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        self.provider = provider
        self.model = model
        self.headers: Mapping[str, str] = headers or {}
        self.body = mask_value(body)

    def __str__(self) -> str:
        where = "/".join(p for p in (self.provider, self.model) if p)
        code = f" {self.status_code}" if self.status_code else ""
        prefix = f"{type(self).__name__}{code}"
        return f"{prefix} [{where}]: {self.message}" if where else f"{prefix}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code!r}, message={self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        kwargs = {"status_code": self.status_code, "provider": self.provider, "model": self.model}
        return (_rebuild, (type(self), self.message, kwargs))


def _rebuild(cls: type[APIError], message: str, kwargs: dict[str, Any]) -> APIError:
    return cls(message, **kwargs)


class BadRequestError(APIError):
    status_code = 400


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

    def __init__(self, message: str, *, content_filter_results: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.content_filter_results: dict[str, Any] = dict(content_filter_results or {})


class UnsupportedParamsError(BadRequestError):
    """A parameter the provider cannot take; pass ``drop_params=True`` to drop it instead."""


class AuthenticationError(APIError):
    status_code = 401


class PermissionDeniedError(AuthenticationError):
    status_code = 403


class NotFoundError(APIError):
    status_code = 404


class RateLimitError(APIError):
    """429. ``retry_after`` is the server's hint in seconds, when it gave one."""

    status_code = 429
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
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


class ServiceUnavailableError(InternalServerError):
    status_code = 503


class APIConnectionError(APIError):
    """No usable HTTP answer: connection refused or reset, malformed body, truncated stream."""

    retryable = True


class Timeout(APIConnectionError, TimeoutError):
    """The request took longer than ``timeout`` seconds."""

    status_code = 408


class RedirectError(APIConnectionError):
    """The server redirected a request that carries a key to another origin (or from https to http).

    volley follows redirects only within the same origin (or from http to https on the same host),
    so a key never leaves for another host; the message names the target host, never the key.
    """

    retryable = False


class LocalModelCrashedError(APIError):
    """The worker process running a local model died (signal or exit code in ``signal`` / ``exit_code``).

    Not retried: a request that crashed the model would likely crash it again. The next request
    starts a fresh worker.
    """

    status_code = 500

    def __init__(self, message: str, *, signal: str | None = None, exit_code: int | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
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
    """A request was not sent because it could take the spend past ``budget_usd``."""

    status_code = None

    def __init__(self, message: str, *, spent: float = 0.0, budget: float = 0.0) -> None:
        super().__init__(message)
        self.spent = spent
        self.budget = budget


class _Conflict(APIError):
    status_code = 409
    retryable = True


class _RequestTimeout(APIError):
    status_code = 408
    retryable = True


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
        return BadRequestError(message, **kw)
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
