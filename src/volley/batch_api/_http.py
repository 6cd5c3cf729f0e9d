"""HTTP for the batch APIs: JSON, raw bytes and multipart uploads over volley's shared aiohttp session.

Errors come out typed as online ones do (``error_from_status`` with the provider's error message,
the key scrubbed). Reads are retried on retryable errors; a request that creates something is
retried only when the server answered with a retryable status, never after a lost connection
(it may have been created: resending could submit, and pay for, a batch twice).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..engine.retry import RetryPolicy, retrying
from ..errors import APIConnectionError, APIError, Timeout, error_from_status

ErrorMessage = Callable[[int, bytes], str]
DEFAULT_TIMEOUT = 600.0


class _AnsweredOnly(RetryPolicy):
    """Retry only errors the server answered with a retryable status (429, 5xx), never a lost connection."""

    def should_retry(self, exc: BaseException, attempt: int) -> bool:
        answered = isinstance(exc, APIError) and not isinstance(exc, APIConnectionError)
        return answered and super().should_retry(exc, attempt)


@dataclass(frozen=True, slots=True)
class Client:
    """Where and how to reach one provider's API. ``headers`` carry the key and are never shown."""

    provider: str
    api_base: str
    headers: Mapping[str, str] = field(repr=False)
    secrets: tuple[str, ...] = field(repr=False)
    error_message: ErrorMessage = field(repr=False)
    timeout: float | None = DEFAULT_TIMEOUT
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(num_retries=4, base_delay=1.0))

    async def request(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        form: Callable[[], Any] | None = None,
        creates: bool = False,
    ) -> bytes:
        """Send one request; the body of a 2xx answer. ``form`` builds a multipart body (per attempt)."""
        headers = dict(self.headers)
        data: Any = None
        if json_body is not None:
            data = json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
        elif form is not None:
            headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}

        async def attempt() -> bytes:
            return await self._send(method, url, headers, form() if form is not None else data)

        policy = self.retry
        if creates:
            policy = _AnsweredOnly(policy.num_retries, policy.base_delay, policy.max_delay, policy.max_retry_after)
        return await retrying(attempt, policy)

    async def json(self, method: str, url: str, **kwargs: Any) -> Any:
        """``request`` and parse the answer as JSON."""
        body = await self.request(method, url, **kwargs)
        try:
            return json.loads(body)
        except ValueError:
            raise APIConnectionError(
                f"malformed JSON from {self.provider}: {body[:200]!r}", provider=self.provider
            ) from None

    async def _send(self, method: str, url: str, headers: dict[str, str], data: Any) -> bytes:
        import aiohttp

        from ..transports.http import get_session

        session = await get_session()
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with session.request(method, url, data=data, headers=headers, timeout=timeout) as resp:
                body = await resp.read()
                if resp.status >= 400:
                    raise error_from_status(
                        resp.status,
                        self.error_message(resp.status, body),
                        provider=self.provider,
                        headers=resp.headers,
                        secrets=self.secrets,
                    )
                return body
        except asyncio.TimeoutError:
            raise Timeout(f"no answer from {self.provider} within {self.timeout} s", provider=self.provider) from None
        except aiohttp.ClientError as exc:
            raise APIConnectionError(f"{type(exc).__name__}: {exc}", provider=self.provider) from None
