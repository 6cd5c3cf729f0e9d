"""The transport seam: one :class:`Request`, and the small protocol every transport implements.

A transport moves a prepared request and brings back the answer; it knows nothing about
providers. volley has three: HTTP (``transports.http``, aiohttp), in-process models
(``transports.local``) and mocks (``transports.mock``: ``mock_response=``, or a handler function
of your own for tests, like httpx's ``MockTransport``).

A :class:`Request` is built once per item (its body encoded once); the host's credentials are
*not* in it: they are added per attempt (``Provider.auth``), so a signature can carry a fresh date
and an OAuth token can be refreshed between retries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .. import _fast, masking
from ..errors import APIError

CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key", "x-amz-security-token"}
)
"""Header names that carry a credential (any header whose value holds one of the request's secrets does too)."""


def encode(body: Any) -> bytes:
    """A JSON body as compact UTF-8 bytes (once per request; retries send the same bytes)."""
    try:
        return _fast.dumps(body)
    except (TypeError, ValueError, UnicodeEncodeError, RecursionError) as exc:
        raise APIError(f"request body is not JSON-serialisable: {exc}") from None


@dataclass(slots=True)
class Request:
    """One request, ready for a transport: ``headers`` hold no credentials (those come per attempt).

    ``body`` is the JSON-serialisable payload (None for a GET); ``content`` its bytes, encoded once.
    ``secrets`` (the key, credentials found in ``extra_headers``) are registered with
    ``volley.masking`` so that no error shows them. ``framing`` says how a stream answer is framed
    (``"sse"``, ``"aws-eventstream"``, ``"ndjson"``).
    """

    url: str
    headers: dict[str, str]
    body: Any
    method: str = "POST"
    stream: bool = False
    framing: str = "sse"
    secrets: tuple[str, ...] = field(default=(), repr=False)
    content: bytes | None = field(default=None, repr=False)
    registered: bool = field(default=False, repr=False)  # the secrets are registered already (by the template)

    def __post_init__(self) -> None:
        if not self.registered:
            masking.register(*self.secrets)
        if self.content is None and self.body is not None and self.method != "GET":
            self.content = encode(self.body)

    def __repr__(self) -> str:  # never show headers: they may carry a credential
        return f"Request({self.method} {masking.mask(self.url)})"


@dataclass(slots=True)
class Reply:
    """A transport's successful answer: the body (bytes from HTTP, an already decoded dict from an
    in-process model) and the response headers (a case-insensitive mapping for HTTP)."""

    body: Any
    headers: Mapping[str, str]


@dataclass(slots=True)
class StreamReply:
    """An open stream: its ``(event, data)`` pairs (decoded from the framing) and the response headers."""

    events: AsyncIterator[tuple[str | None, Any]]
    headers: Mapping[str, str]


ErrorReader = Any  # (status, headers, body bytes) -> APIError: the protocol's reading of an error answer


class Transport(Protocol):
    """What the send path needs from a transport.

    ``auth`` holds the credential headers for this attempt; ``error`` turns an HTTP error answer
    into the right ``APIError`` (it knows the protocol's error body). ``limited`` says whether calls
    through this transport share lanes (rate limits, concurrency); a mock has none.
    """

    limited: bool

    async def send(
        self, request: Request, *, auth: Mapping[str, str], timeout: float | None, error: ErrorReader
    ) -> Reply: ...

    async def open_stream(
        self, request: Request, *, auth: Mapping[str, str], timeout: float | None, error: ErrorReader
    ) -> StreamReply: ...


def credential_headers(headers: Mapping[str, str], secrets: tuple[str, ...] = ()) -> list[str]:
    """The names of the headers that carry a credential (by name, or holding one of ``secrets``)."""
    live = [s for s in secrets if s]
    return [k for k, v in headers.items() if k.lower() in CREDENTIAL_HEADERS or any(s in str(v) for s in live)]
