"""HTTP over aiohttp: one pooled ClientSession per event loop, JSON requests, an SSE reader.

Errors leave this module already typed: an HTTP error status becomes the matching ``APIError``
subclass (the provider module supplies the message), network trouble becomes
``APIConnectionError``, and a timeout becomes ``Timeout``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp

from .errors import APIConnectionError, APIError, Timeout, error_from_status
from .providers.base import HTTPRequest

ErrorMessage = Callable[[int, bytes], str]
log = logging.getLogger("volley.transport")

_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[aiohttp.ClientSession, Any]] = (
    weakref.WeakKeyDictionary()
)


async def _close_on_loop_shutdown(session: aiohttp.ClientSession) -> AsyncIterator[None]:
    # asyncio.run() finalises live async generators before closing its loop: that closes the session
    # there, so programs that never call ``volley.aclose()`` get no "Unclosed client session" warning.
    try:
        yield
    finally:
        await session.close()


async def get_session() -> aiohttp.ClientSession:
    """The shared session of the running event loop, created on first use."""
    loop = asyncio.get_running_loop()
    entry = _sessions.get(loop)
    if entry is not None and not entry[0].closed:
        return entry[0]
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=30)
    session = aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None),
        skip_auto_headers=("User-Agent",),
        headers={"User-Agent": "volley"},
    )
    guard = _close_on_loop_shutdown(session)
    await guard.__anext__()
    _sessions[loop] = (session, guard)
    return session


async def aclose() -> None:
    """Close the current event loop's shared session (optional: ``asyncio.run`` does it on exit)."""
    entry = _sessions.pop(asyncio.get_running_loop(), None)
    if entry is not None:
        await entry[0].close()
        await entry[1].aclose()


def _done_with(resp: aiohttp.ClientResponse) -> None:
    # A response read to the end goes back to the pool; anything else (cancelled, abandoned stream)
    # closes its connection so the server sees the disconnect at once.
    if resp.content.at_eof():
        resp.release()
    else:
        resp.close()


def _timeout(seconds: float | None, stream: bool) -> aiohttp.ClientTimeout:
    if seconds is None:
        return aiohttp.ClientTimeout(total=None)
    if stream:  # a stream may run long; bound the wait for headers and between events instead
        return aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)
    return aiohttp.ClientTimeout(total=seconds)


def _encode(body: dict[str, Any] | None) -> bytes | None:
    if body is None:
        return None
    try:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError) as exc:
        raise APIError(f"request body is not JSON-serialisable: {exc}") from None


async def _send(req: HTTPRequest, timeout: float | None, stream: bool) -> aiohttp.ClientResponse:
    session = await get_session()
    try:
        return await session.request(
            req.method, req.url, data=_encode(req.body), headers=req.headers, timeout=_timeout(timeout, stream)
        )
    except asyncio.TimeoutError:
        raise Timeout(f"no answer within {timeout} s") from None
    except aiohttp.ClientError as exc:
        raise APIConnectionError(f"{type(exc).__name__}: {exc}") from None


async def _raise_for_status(resp: aiohttp.ClientResponse, req: HTTPRequest, error_message: ErrorMessage) -> None:
    if resp.status < 400:
        return
    log.debug("%s %s -> %d", req.method, req.url, resp.status)  # never the headers: they carry the key
    try:
        body = await resp.read()
    except (aiohttp.ClientError, asyncio.TimeoutError):
        body = b""
    finally:
        _done_with(resp)
    raise error_from_status(
        resp.status, error_message(resp.status, body), headers=resp.headers, body=body, secrets=req.secrets
    )


async def request_json(
    req: HTTPRequest, *, timeout: float | None, error_message: ErrorMessage
) -> tuple[bytes, Mapping[str, str]]:
    """Send ``req`` and return ``(body, headers)`` of a 2xx answer; raise a typed error otherwise.

    ``headers`` is the answer's read-only, case-insensitive header mapping.
    """
    resp = await _send(req, timeout, stream=False)
    try:
        await _raise_for_status(resp, req, error_message)
        body = await resp.read()
        return body, resp.headers
    except asyncio.TimeoutError:
        raise Timeout(f"no complete answer within {timeout} s") from None
    except aiohttp.ClientError as exc:
        raise APIConnectionError(f"{type(exc).__name__} while reading the answer: {exc}") from None
    finally:
        _done_with(resp)


async def open_stream(
    req: HTTPRequest, *, timeout: float | None, error_message: ErrorMessage
) -> aiohttp.ClientResponse:
    """Send ``req`` and return the open response of a 2xx answer, ready for :func:`sse_events`."""
    resp = await _send(req, timeout, stream=True)
    try:
        await _raise_for_status(resp, req, error_message)
    except BaseException:
        _done_with(resp)
        raise
    return resp


async def sse_events(resp: aiohttp.ClientResponse) -> AsyncIterator[tuple[str | None, str]]:
    """Yield ``(event, data)`` for each server-sent event; handles LF and CRLF framing."""
    buf = b""
    event: str | None = None
    data: list[str] = []
    try:
        async for block in resp.content.iter_any():
            buf += block
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                line = raw.rstrip(b"\r").decode("utf-8")
                if not line:
                    if data:
                        yield event, "\n".join(data)
                    event, data = None, []
                elif line.startswith("data:"):
                    data.append(line[6:] if line.startswith("data: ") else line[5:])
                elif line.startswith("event:"):
                    event = line[6:].strip()
                # ":" comments, "id:" and "retry:" fields are not used by any provider here
        tail = buf.rstrip(b"\r").decode("utf-8")
        if tail.startswith("data:"):
            data.append(tail[5:].lstrip(" "))
        if data:
            yield event, "\n".join(data)
    except asyncio.TimeoutError:
        raise Timeout("stream stalled: no event within the timeout") from None
    except aiohttp.ClientError as exc:
        raise APIConnectionError(f"stream broken: {type(exc).__name__}: {exc}") from None
    finally:
        _done_with(resp)
