"""The HTTP transport over aiohttp: one pooled ClientSession per event loop, and the stream framings.

Errors leave this module already typed: an HTTP error status becomes the matching ``APIError``
subclass (the host reads its error body), network trouble becomes ``APIConnectionError``, and a
timeout becomes ``Timeout``. Stream framings: server-sent events (``sse``), the AWS event-stream
binary framing (``aws-eventstream``, Bedrock) and newline-delimited JSON (``ndjson``, Ollama).

Keys stay with their host: redirects are followed only within the request's origin (or from http
to https on the same host); any other redirect is a ``RedirectError`` naming the target host.
A key sent over plain http to a host that is not this machine is logged once as a warning.

Bounds: an error body is read up to :data:`MAX_ERROR_BODY` bytes; a stream line (or event) may be
:data:`MAX_LINE` bytes; a stream may go ``timeout`` seconds without a data event (comments such as
``: keep-alive`` do not count) before it is a ``Timeout``.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import Any

import aiohttp
from yarl import URL

from .._loops import PerLoop
from ..errors import APIConnectionError, RedirectError, Timeout
from ..masking import mask
from .base import ErrorReader, Reply, Request, StreamReply

log = logging.getLogger("volley.transport")

MAX_ERROR_BODY = 64 * 1024
"""Bytes of an HTTP error body read to build the error (the rest is not read)."""
MAX_LINE = 16 * 1024 * 1024
"""The longest stream line, and the largest stream event, accepted (bytes)."""
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_warned_plain_http: set[str] = set()

_sessions: PerLoop[tuple[aiohttp.ClientSession, Any]] = PerLoop()


async def _close_on_loop_shutdown(session: aiohttp.ClientSession) -> AsyncIterator[None]:
    # asyncio.run() finalises live async generators before closing its loop: that closes the session
    # there, so programs that never call ``volley.aclose()`` get no "Unclosed client session" warning.
    try:
        yield
    finally:
        await session.close()


def _session_now() -> aiohttp.ClientSession | None:
    """The running loop's open session, without awaiting (None: ``get_session`` makes one)."""
    entry = _sessions.get(asyncio.get_running_loop())
    return entry[0] if entry is not None and not entry[0].closed else None


async def get_session() -> aiohttp.ClientSession:
    """The shared session of the running event loop, created on first use."""
    session = _session_now()
    if session is not None:
        return session
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=30)
    session = aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None),
        skip_auto_headers=("User-Agent",),
        headers={"User-Agent": "volley"},
    )
    guard = _close_on_loop_shutdown(session)
    await guard.__anext__()
    _sessions.set(asyncio.get_running_loop(), (session, guard))
    return session


async def aclose() -> None:
    """Close the current event loop's shared session (optional: ``asyncio.run`` does it on exit)."""
    entry = _sessions.pop(asyncio.get_running_loop())
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


#: stream framings whose reader keeps the clock between events itself (:class:`_Stall`): aiohttp's
#: ``sock_read`` (a timer per network read) is not used for them, and the wait for headers is bounded here
_OWN_CLOCK = frozenset({"sse", "ndjson"})
_timeout_in = getattr(asyncio, "timeout", None)  # Python 3.11+: no task for the deadline


@functools.lru_cache(maxsize=256)
def _timeout(seconds: float | None, stream: bool, own_clock: bool = False) -> aiohttp.ClientTimeout:
    if seconds is None:
        return aiohttp.ClientTimeout(total=None)
    if not stream:
        return aiohttp.ClientTimeout(total=seconds)
    # a stream may run long: bound the wait for headers and between events instead
    if own_clock:
        return aiohttp.ClientTimeout(total=None, sock_connect=seconds)
    return aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)


async def _within(answer: Awaitable[aiohttp.ClientResponse], seconds: float) -> aiohttp.ClientResponse:
    if _timeout_in is not None:
        async with _timeout_in(seconds):
            return await answer
    return await asyncio.wait_for(answer, seconds)


@functools.lru_cache(maxsize=256)
def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _warn_plain_http(url: URL, auth: Mapping[str, str]) -> None:
    """Log once per host when a key goes over plain http to another machine."""
    host = url.host or ""
    if url.scheme != "http" or host in _warned_plain_http or _is_loopback(host) or not auth:
        return
    _warned_plain_http.add(host)
    log.warning(
        "sending an API key over plain http to %s: anyone on the network path can read it; use an https api_base",
        host,
    )


def _may_follow(origin: URL, target: URL) -> bool:
    """Same origin (scheme, host, port), or the same host upgraded from http to https."""
    if target.scheme not in ("http", "https") or (target.host or "").lower() != (origin.host or "").lower():
        return False
    if target.scheme == origin.scheme:
        return target.port == origin.port
    return origin.scheme == "http" and target.scheme == "https"


def _origin(url: URL) -> str:
    """``scheme://host:port`` (never a path, query or user info: they may hold a key)."""
    return f"{url.scheme}://{url.host}:{url.port}"


@functools.lru_cache(maxsize=256)
def _url(url: str) -> URL:
    """``url`` as yarl's URL, exactly as built (``encoded=True``: a signature covers it); parsed once."""
    return URL(url, encoded=True)


def _failed(exc: BaseException, timeout: float | None) -> Exception:
    """aiohttp's failure to get an answer as volley's error (``Timeout`` or ``APIConnectionError``)."""
    if isinstance(exc, asyncio.TimeoutError):
        return Timeout(f"no answer within {timeout} s")
    return APIConnectionError(f"{type(exc).__name__}: {exc}")


def _with_auth(req: Request, auth: Mapping[str, str]) -> Mapping[str, str]:
    """The headers of one attempt: the request's, plus its credentials."""
    return {**req.headers, **auth} if auth else req.headers


def _hop(
    session: aiohttp.ClientSession,
    req: Request,
    method: str,
    url: URL,
    data: Any,
    headers: Mapping[str, str],
    left: float | None,
) -> Awaitable[aiohttp.ClientResponse]:
    """One request of ``req`` (its first, or a redirect's), given at most ``left`` seconds for its answer."""
    own_clock = req.stream and req.framing in _OWN_CLOCK
    answer = session.request(
        method, url, data=data, headers=headers, timeout=_timeout(left, req.stream, own_clock), allow_redirects=False
    )
    return _within(answer, left) if left is not None and own_clock else answer


async def _send(
    req: Request, auth: Mapping[str, str], timeout: float | None, resp: aiohttp.ClientResponse | None = None
) -> aiohttp.ClientResponse:
    """Send ``req`` with this attempt's ``auth`` headers; follow only the redirects that keep its key
    with its origin. ``resp``: the answer the caller already got to the first hop (a redirect)."""
    session = await get_session()
    loop = asyncio.get_running_loop()
    give_up = None if timeout is None else loop.time() + timeout
    url, method, data = _url(req.url), req.method, req.content
    headers = _with_auth(req, auth)
    for _ in range(MAX_REDIRECTS + 1):
        if resp is None:
            _warn_plain_http(url, auth)
            left = None if give_up is None else max(give_up - loop.time(), 0.001)
            try:
                resp = await _hop(session, req, method, url, data, headers, left)
            except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
                raise _failed(exc, timeout) from None
        if resp.status not in _REDIRECTS:
            return resp
        location = resp.headers.get("Location")
        resp.close()
        if not location:
            raise APIConnectionError(f"the server answered {resp.status} (a redirect) without a Location")
        try:
            target = url.join(URL(location))
        except ValueError:
            raise APIConnectionError(f"the server answered {resp.status} with an unreadable Location") from None
        if not _may_follow(url, target):
            where = _origin(target) if target.host else repr(location[:100])
            raise RedirectError(
                f"the server redirected ({resp.status}) from {_origin(url)} to {where}; "
                "not followed: volley sends a request (and its API key) only to its own origin. "
                "Point api_base at the final address",
                status_code=resp.status,
            )
        if resp.status == 303:
            method, data = "GET", None
        url, resp = target, None
    raise RedirectError(f"more than {MAX_REDIRECTS} redirects from {req.url.split('?')[0]}")


async def _read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """Up to ``limit`` bytes of the body (what a network fault lets through)."""
    parts: list[bytes] = []
    size = 0
    try:
        while size < limit:
            block = await resp.content.read(limit - size)
            if not block:
                break
            parts.append(block)
            size += len(block)
    except (aiohttp.ClientError, asyncio.TimeoutError):
        pass
    return b"".join(parts)


async def _raise_for_status(resp: aiohttp.ClientResponse, req: Request, error: ErrorReader) -> None:
    if resp.status < 400:
        return
    log.debug("%s %s -> %d", req.method, mask(req.url), resp.status)  # never the headers: they carry the key
    try:
        body = await _read_capped(resp, MAX_ERROR_BODY)
    finally:
        _done_with(resp)
    exc = error(resp.status, resp.headers, body)
    if len(body) >= MAX_ERROR_BODY:
        exc.message += f" [error body cut at {MAX_ERROR_BODY // 1024} KiB]"
    raise exc


class HTTPTransport:
    """Requests over aiohttp (the transport of every HTTP provider)."""

    limited = True

    async def send(
        self, request: Request, *, auth: Mapping[str, str], timeout: float | None, error: ErrorReader
    ) -> Reply:
        """Send ``request``; the body and headers of a 2xx answer, a typed error otherwise.

        The first hop is sent from here (no coroutine of volley's between the caller and aiohttp);
        a redirect is followed by ``_send``.
        """
        session = _session_now()
        if session is None:
            session = await get_session()
        url = _url(request.url)
        _warn_plain_http(url, auth)
        try:
            headers = _with_auth(request, auth)
            resp = await _hop(session, request, request.method, url, request.content, headers, timeout)
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            raise _failed(exc, timeout) from None
        if resp.status in _REDIRECTS:
            resp = await _send(request, auth, timeout, resp)
        try:
            if resp.status >= 400:
                await _raise_for_status(resp, request, error)
            return Reply(await resp.read(), resp.headers)
        except asyncio.TimeoutError:
            raise Timeout(f"no complete answer within {timeout} s") from None
        except aiohttp.ClientError as exc:
            raise APIConnectionError(f"{type(exc).__name__} while reading the answer: {exc}") from None
        finally:
            _done_with(resp)

    async def open_stream(
        self, request: Request, *, auth: Mapping[str, str], timeout: float | None, error: ErrorReader
    ) -> StreamReply:
        """Send ``request`` and return its events, read with the request's framing."""
        resp = await _send(request, auth, timeout)
        try:
            await _raise_for_status(resp, request, error)
        except BaseException:
            _done_with(resp)
            raise
        return StreamReply(frames(resp, request.framing, timeout), resp.headers)


def frames(resp: aiohttp.ClientResponse, framing: str, timeout: float | None) -> AsyncIterator[tuple[str | None, Any]]:
    """The ``(event, data)`` pairs of a stream answer in ``framing``."""
    if framing == "sse":
        return sse_events(resp, timeout=timeout)
    if framing == "ndjson":
        return ndjson_events(resp, timeout=timeout)
    if framing == "aws-eventstream":
        from .eventstream import aws_eventstream_events

        return aws_eventstream_events(resp)
    raise ValueError(f"unknown stream framing {framing!r}")


class _Stall:
    """The clock between the data events of one stream body: ``timeout`` seconds counted while the
    reader waits (not while the consumer holds an event), from ``last``, the end of the last data event.

    One timer per stream, moved only when it fires (a timer per read would cost as much as the
    read). It fires at ``last + timeout``: if the reader is waiting and the time is up, the body
    reader gets a ``TimeoutError`` (it wakes the pending read); otherwise the timer is set again
    for the new due time, or, while the consumer holds an event, at the next read.
    """

    __slots__ = ("_content", "_handle", "_loop", "_timeout", "last", "waiting")

    def __init__(self, content: aiohttp.StreamReader, timeout: float) -> None:
        self._content = content
        self._loop = asyncio.get_running_loop()
        self._timeout = timeout
        self._handle: asyncio.TimerHandle | None = None
        self.last = self._loop.time()
        self.waiting = False

    def restart(self) -> None:
        """Called when the consumer is back from the data events of a read."""
        self.last = self._loop.time()

    def wait(self) -> None:
        """Called before each read."""
        self.waiting = True
        if self._handle is None:
            self._handle = self._loop.call_at(self.last + self._timeout, self._fire)

    def _fire(self) -> None:
        self._handle = None
        if not self.waiting:
            return
        due = self.last + self._timeout
        if self._loop.time() >= due - 0.001:  # a timer may run up to the clock's resolution early
            self._content.set_exception(asyncio.TimeoutError())
        else:
            self._handle = self._loop.call_at(due, self._fire)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class LineSplitter:
    """Complete lines from the blocks of a body: LF or CRLF ended, decoded as UTF-8 once per block.

    Only an unfinished line is kept between blocks (each byte is copied into it at most once, so
    buffering stays linear however the body is cut); one over :data:`MAX_LINE` bytes, or text that
    is not UTF-8, is an ``APIConnectionError``.

    Example::

        lines = LineSplitter()
        assert lines.feed(b"a\r\nb") == ["a"] and lines.feed(b"c\n") == ["bc"] and lines.rest() == ""
    """

    __slots__ = ("_tail",)

    def __init__(self) -> None:
        self._tail = bytearray()

    def feed(self, block: bytes) -> list[str]:
        """The lines that ``block`` completes (without their line ends)."""
        end = block.rfind(b"\n") + 1
        tail = self._tail
        if not end:
            tail += block
            if len(tail) > MAX_LINE:
                raise APIConnectionError(f"stream line longer than {MAX_LINE // 2**20} MiB")
            return []
        if tail:
            tail += memoryview(block)[:end]
            text = _text(tail)
            self._tail = bytearray(block[end:])
        elif end == len(block):
            text = _text(block)
        else:
            text = _text(block[:end])
            self._tail = bytearray(block[end:])
        if len(self._tail) > MAX_LINE:
            raise APIConnectionError(f"stream line longer than {MAX_LINE // 2**20} MiB")
        lines = text.split("\n")
        lines.pop()  # what follows the last line end: nothing
        if "\r" in text:
            lines = [line[:-1] if line.endswith("\r") else line for line in lines]
        return lines

    def rest(self) -> str:
        """The unfinished last line, at the end of the body."""
        text = _text(self._tail)
        self._tail = bytearray()
        return text[:-1] if text.endswith("\r") else text


def _text(raw: bytes | bytearray) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise APIConnectionError(f"stream is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None


class SSEDecoder:
    """Server-sent events from the blocks of a body: ``feed(block)`` gives the ``(event, data)`` pairs
    the block completes, ``close()`` the last one of a body that ends without a blank line.

    ``data:`` lines are joined with newlines, ``event:`` names the event; comments (``: keep-alive``),
    ``id:`` and ``retry:`` are skipped (no provider here uses them). An event's data over
    :data:`MAX_LINE` bytes is an ``APIConnectionError``.

    Example::

        sse = SSEDecoder()
        assert sse.feed(b"event: ping\ndata: {}\n\ndata: [DO") == [("ping", "{}")]
        assert sse.feed(b"NE]\n\n") == [(None, "[DONE]")]
    """

    __slots__ = ("_data", "_event", "_lines", "_size")

    def __init__(self) -> None:
        self._lines = LineSplitter()
        self._event: str | None = None
        self._data: list[str] = []
        self._size = 0

    def feed(self, block: bytes) -> list[tuple[str | None, str]]:
        out: list[tuple[str | None, str]] = []
        data = self._data
        for line in self._lines.feed(block):
            if not line:
                if data:
                    out.append((self._event, data[0] if len(data) == 1 else "\n".join(data)))
                    data.clear()
                self._event, self._size = None, 0
            elif line.startswith("data:"):
                piece = line[6:] if line.startswith("data: ") else line[5:]
                self._size += len(piece) + 1
                if self._size > MAX_LINE:
                    raise APIConnectionError(f"stream event larger than {MAX_LINE // 2**20} MiB")
                data.append(piece)
            elif line.startswith("event:"):
                self._event = line[6:].strip()
        return out

    def close(self) -> list[tuple[str | None, str]]:
        tail = self._lines.rest()
        if tail.startswith("data:"):
            self._data.append(tail[5:].lstrip(" "))
        if not self._data:
            return []
        out = [(self._event, "\n".join(self._data))]
        self._data = []
        return out


async def sse_events(
    resp: aiohttp.ClientResponse, *, timeout: float | None = None
) -> AsyncIterator[tuple[str | None, str]]:
    """Yield ``(event, data)`` for each server-sent event (:class:`SSEDecoder`); LF and CRLF framing.

    With ``timeout``, more than that many seconds without a data event (while this reader waits:
    not while the consumer holds the event) is a ``Timeout``; comments and empty lines do not reset
    the clock. A line or an event over :data:`MAX_LINE` bytes is an ``APIConnectionError``.
    One read takes all the bytes that have arrived, however many events they hold.
    """
    content = resp.content
    sse = SSEDecoder()
    stall = None if timeout is None else _Stall(content, timeout)
    try:
        while True:
            if stall is not None:
                stall.wait()
            block = await content.readany()
            if stall is not None:
                stall.waiting = False
            if not block:
                break
            events = sse.feed(block)
            if events:
                for item in events:
                    yield item
                if stall is not None:
                    stall.restart()
        for item in sse.close():
            yield item
    except asyncio.TimeoutError:
        raise Timeout(f"stream stalled: no event within {timeout} s") from None
    except aiohttp.ClientError as exc:
        raise APIConnectionError(f"stream broken: {type(exc).__name__}: {exc}") from None
    finally:
        if stall is not None:
            stall.stop()
        _done_with(resp)


async def ndjson_events(
    resp: aiohttp.ClientResponse, *, timeout: float | None = None
) -> AsyncIterator[tuple[str | None, Any]]:
    """Yield ``(None, object)`` for each line of a newline-delimited JSON stream (Ollama's framing).

    Same bounds as :func:`sse_events`: ``timeout`` seconds without a line is a ``Timeout``; a line
    over :data:`MAX_LINE` bytes, or one that is not JSON, is an ``APIConnectionError``.
    """
    content = resp.content
    lines = LineSplitter()
    stall = None if timeout is None else _Stall(content, timeout)
    try:
        while True:
            if stall is not None:
                stall.wait()
            block = await content.readany()
            if stall is not None:
                stall.waiting = False
            if not block:
                break
            got = False
            for line in lines.feed(block):
                line = line.strip()
                if line:
                    got = True
                    yield None, _json_line(line)
            if got and stall is not None:
                stall.restart()
        tail = lines.rest().strip()
        if tail:
            yield None, _json_line(tail)
    except asyncio.TimeoutError:
        raise Timeout(f"stream stalled: no line within {timeout} s") from None
    except aiohttp.ClientError as exc:
        raise APIConnectionError(f"stream broken: {type(exc).__name__}: {exc}") from None
    finally:
        if stall is not None:
            stall.stop()
        _done_with(resp)


def _json_line(line: str) -> Any:
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        raise APIConnectionError(f"malformed JSON line in the stream: {line[:200]!r}") from None
