"""Exceptions, named as LiteLLM names them, mapped from HTTP status and the provider's error body.

Tree::

    APIError
    ├── BadRequestError (400, 422)
    │   ├── ContextWindowExceededError
    │   ├── ContentPolicyViolationError (a content filter refused the prompt: .content_filter_results)
    │   └── UnsupportedParamsError      (raised before sending)
    ├── AuthenticationError (401)
    │   └── PermissionDeniedError (403)
    ├── NotFoundError (404)
    ├── RateLimitError (429)              .retry_after
    ├── InternalServerError (5xx)
    │   └── ServiceUnavailableError (503)
    ├── APIConnectionError
    │   └── Timeout
    ├── LocalModelCrashedError           (a local model's worker process died: .signal / .exit_code)
    ├── AllModelsFailedError             (a race in which every model failed)
    └── BudgetExceededError              (not sent: it could take the spend past budget_usd)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_CONTEXT_PATTERNS = re.compile(
    r"context[_ ]length|context window|maximum context|prompt is too long|too many tokens|"
    r"input is too long|exceeds the maximum|reduce the length|max_tokens.*exceed",
    re.IGNORECASE,
)


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
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        self.provider = provider
        self.model = model
        self.headers: Mapping[str, str] = headers or {}
        self.body = body

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


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The wait a server asked for, from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        import time

        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
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
) -> APIError:
    """Build the error class that matches an HTTP ``status``; ``secrets`` are scrubbed from the message."""
    message = redact(message, secrets)
    headers = headers or {}
    kw: dict[str, Any] = {"status_code": status, "provider": provider, "model": model, "headers": headers}
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


def redact(text: str, secrets: Sequence[str]) -> str:
    """Replace every secret (of 4+ characters) in ``text`` with a masked form."""
    for s in secrets:
        if s and len(s) >= 4 and s in text:
            text = text.replace(s, "***")
    return text
