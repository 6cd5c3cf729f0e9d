"""Streams: :class:`AsyncStream` (OpenAI-shape chunks from a provider's stream events), its sync twin
:class:`SyncStream`, and ``open_stream``.

As OpenAI streams, the last chunk carries the usage (with ``choices == []``) only when the call asked
for it with ``stream_options={"include_usage": True}``. volley asks the provider for usage anyway:
without ``include_usage`` it is withheld from the chunks but kept (``stream.usage``, and
``stream_chunk_builder`` finds it), so the canonical ``chunk.choices[0]`` loop never meets an empty chunk.
"""

from __future__ import annotations

import abc
from collections import deque
from collections.abc import Coroutine, Mapping
from typing import Any

from ._sync import SyncIterator
from .engine.retry import retrying
from .errors import APIConnectionError, APIError
from .prepare import Call
from .protocols.base import StreamParserProto
from .send import Slot, lane_of, logged, malformed, tag
from .types import StreamChunk, Usage, chunk_from


class CustomStreamWrapper(abc.ABC):  # noqa: B024 (a name to check against, nothing to implement)
    """LiteLLM's name for a stream: every volley stream, sync or async, is an instance of it.

    Example::

        r = volley.completion(model, messages, stream=True)
        assert isinstance(r, volley.CustomStreamWrapper)
    """


class AsyncStream:
    """An async iterator of :class:`StreamChunk`; also an async context manager.

    Example::

        async for chunk in await volley.acompletion(model, messages, stream=True):
            print(chunk.choices[0].delta.content or "", end="")
    """

    def __init__(
        self, call: Call, events: Any, parser: StreamParserProto | None, pending: list[dict[str, Any]]
    ) -> None:
        self._call = call
        self._events = events
        self._parser = parser
        self._pending: deque[dict[str, Any]] = deque(pending)
        self._replay: deque[StreamChunk] = deque()
        self.model = call.route.model
        self.provider = call.route.provider
        self.usage: Usage | None = None  # the provider's usage, once the stream has told it
        self._last: StreamChunk | None = None
        self._usage_chunk: StreamChunk | None = None  # a usage-only chunk split from the chunk just shown

    def __aiter__(self) -> AsyncStream:
        return self

    def __anext__(self) -> Coroutine[Any, Any, StreamChunk]:
        return self._next(True)

    def _shown(self, chunk: StreamChunk) -> bool:
        """Keep the stream's usage; show it in a chunk only with ``include_usage`` (a usage-only chunk
        is then not shown at all, and the usage hangs on the last chunk shown, for ``stream_chunk_builder``)."""
        if chunk.usage is None:
            self._last = chunk
            return True
        self.usage = chunk.usage
        if self._call.include_usage:
            if chunk.choices:  # as OpenAI sends it: the usage alone in a last chunk without choices
                self._usage_chunk = chunk.model_copy(update={"choices": []})
                chunk.usage = None
            return True
        if self._last is not None:
            self._last._usage = chunk.usage
        if not chunk.choices:
            return False
        chunk._usage, chunk.usage = chunk.usage, None
        self._last = chunk
        return True

    async def first_output(self) -> None:
        """Read ahead to the first chunk that carries text or a tool call (iteration replays what was read)."""
        while True:
            try:
                chunk = await self._next(False)
            except StopAsyncIteration:
                return
            self._replay.append(chunk)
            if any(c.delta.content or c.delta.tool_calls for c in chunk.choices):
                return

    async def _next(self, replay: bool) -> StreamChunk:
        """The next chunk shown: a replayed one (with ``replay``), else one built from the parser's
        output, reading events while it has none. The path of every chunk: one frame, no call per chunk
        but the parser's and the chunk's building."""
        if replay and self._replay:
            return self._replay.popleft()
        if self._usage_chunk is not None:
            chunk, self._usage_chunk = self._usage_chunk, None
            return chunk
        pending = self._pending
        while True:
            while not pending:
                events = self._events
                if events is None:
                    raise StopAsyncIteration
                try:
                    event, data = await events.__anext__()
                except StopAsyncIteration:
                    self._events = None
                    self._check_finished()
                    raise
                except Exception as exc:
                    tag(exc, self._call)
                    raise
                try:
                    pending.extend(self._parser.feed(event, data))  # type: ignore[union-attr]
                except Exception as exc:
                    raise self._malformed(exc) from None
            try:
                chunk = chunk_from(pending.popleft(), self.provider)
            except Exception as exc:
                raise self._malformed(exc) from None
            if chunk.usage is None:
                self._last = chunk
                return chunk
            if self._shown(chunk):
                return chunk

    def _check_finished(self) -> None:
        if self._parser is not None and not self._parser.finished:
            err = APIConnectionError("stream ended before the provider's end-of-stream marker")
            tag(err, self._call)
            raise err from None

    def _malformed(self, exc: Exception) -> Exception:
        bad = malformed(exc, "stream event")
        tag(bad, self._call)
        return bad

    async def aclose(self) -> None:
        """Stop reading and close the connection."""
        if self._events is not None:
            await self._events.aclose()
            self._events = None

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def open_stream(call: Call) -> AsyncStream:
    """Open a prepared stream call (retrying until the first chunk arrives) and return its chunk iterator."""
    host, route, request, transport = call.host, call.route, call.request, call.transport
    lane = lane_of(call)

    def error(status: int, headers: Mapping[str, str], body: bytes) -> APIError:
        return host.error(status, headers, body, route)

    async def attempt() -> AsyncStream:
        # The lane's slot covers opening the stream (pacing, concurrency while waiting for headers);
        # it is returned once the stream is open, so an abandoned stream cannot hold it forever.
        async with Slot(lane, call) as slot:
            auth = await host.auth(request, route)
            reply = await transport.open_stream(request, auth=auth, timeout=call.timeout, error=error)
            slot.headers = reply.headers
        stream = AsyncStream(call, reply.events, call.module.StreamParser(route.model), [])
        # Read the first chunk here, so a stream that breaks before it delivers anything is retried
        # like any other failed request; a break after that is the caller's typed error.
        try:
            stream._replay.append(await stream._next(False))
        except StopAsyncIteration:
            pass
        except BaseException:
            await stream.aclose()
            raise
        return stream

    return await retrying(attempt, call.retry, logged(call, None))


class SyncStream(SyncIterator[StreamChunk]):
    """A stream for synchronous code (what ``volley.completion(..., stream=True)`` returns): iterate it,
    ``close()`` it to stop early; ``usage``, ``model`` and ``provider`` as on :class:`AsyncStream`."""

    def __init__(self, stream: AsyncStream) -> None:
        super().__init__(stream)
        self.stream = stream

    @property
    def usage(self) -> Usage | None:
        return self.stream.usage

    @property
    def model(self) -> str:
        return self.stream.model

    @property
    def provider(self) -> str:
        return self.stream.provider


CustomStreamWrapper.register(AsyncStream)
CustomStreamWrapper.register(SyncStream)
