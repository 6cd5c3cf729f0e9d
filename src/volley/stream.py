"""Streams: :class:`AsyncStream` (OpenAI-shape chunks from a provider's stream events) and ``open_stream``."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from .engine.retry import retrying
from .errors import APIConnectionError, APIError
from .prepare import Call
from .protocols.base import StreamParserProto
from .send import Slot, lane_of, logged, malformed, tag
from .types import StreamChunk


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

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> StreamChunk:
        if self._replay:
            return self._replay.popleft()
        return await self._next_chunk()

    async def first_output(self) -> None:
        """Read ahead to the first chunk that carries text or a tool call (iteration replays what was read)."""
        while True:
            try:
                chunk = await self._next_chunk()
            except StopAsyncIteration:
                return
            self._replay.append(chunk)
            if any(c.delta.content or c.delta.tool_calls for c in chunk.choices):
                return

    async def _next_chunk(self) -> StreamChunk:
        while not self._pending:
            if self._events is None:
                raise StopAsyncIteration
            try:
                event, data = await self._events.__anext__()
            except StopAsyncIteration:
                self._events = None
                if self._parser is not None and not self._parser.finished:
                    err = APIConnectionError("stream ended before the provider's end-of-stream marker")
                    tag(err, self._call)
                    raise err from None
                raise
            except Exception as exc:
                tag(exc, self._call)
                raise
            assert self._parser is not None
            try:
                self._pending.extend(self._parser.feed(event, data))
            except Exception as exc:
                bad = malformed(exc, "stream event")
                tag(bad, self._call)
                raise bad from None
        try:
            chunk = StreamChunk.model_validate(self._pending.popleft())
        except Exception as exc:
            bad = malformed(exc, "stream event")
            tag(bad, self._call)
            raise bad from None
        chunk._provider = self._call.route.provider
        return chunk

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
            stream._replay.append(await stream._next_chunk())
        except StopAsyncIteration:
            pass
        except BaseException:
            await stream.aclose()
            raise
        return stream

    return await retrying(attempt, call.retry, logged(call, None))
