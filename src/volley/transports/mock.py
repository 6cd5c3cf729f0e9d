"""Mock transports: answers from a function instead of a server.

- ``MockTransport(handler)``: ``handler(request)`` gets the real :class:`~volley.transports.base.Request`
  a provider would be sent (URL, headers without credentials, body) and returns what the provider
  would answer — its JSON as a dict (or bytes), ``(status, body)`` for an HTTP error, an exception
  to raise, or, for a stream, an iterable of events (dicts, strings, or ``(event, data)`` pairs).
  The provider's own protocol parses it. Pass it as ``transport=``::

      def handler(request):
          return {"choices": [{"message": {"role": "assistant", "content": "hi"}}]}

      r = volley.completion("openai/gpt-4o-mini", msgs, api_key="k", transport=volley.testing.MockTransport(handler))

- :func:`mock_response`: what ``mock_response="text"`` (or an exception instance) uses, as LiteLLM
  offers for tests: an OpenAI-shape answer with that text, whatever the model.

Mocks share no lanes (no rate limits, no concurrency cap of their own).
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

from ..protocols.base import chunk, text_of, usage
from .base import ErrorReader, Reply, Request, StreamReply

Handler = Callable[[Request], Any]


class MockTransport:
    """A transport answered by ``handler(request)`` (see the module docstring)."""

    limited = False

    def __init__(self, handler: Handler) -> None:
        if not callable(handler):
            raise TypeError(f"MockTransport needs a function of the request; got {handler!r}")
        self.handler = handler

    async def _answer(self, request: Request, error: ErrorReader) -> Any:
        out = self.handler(request)
        if inspect.isawaitable(out):
            out = await out
        if isinstance(out, BaseException):
            raise out
        if isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], int):
            status, body = out
            raw = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
            if status >= 400:
                raise error(status, {}, raw)
            return raw
        return out

    async def send(
        self, request: Request, *, auth: Mapping[str, str], timeout: float | None, error: ErrorReader
    ) -> Reply:
        out = await self._answer(request, error)
        return out if isinstance(out, Reply) else Reply(out, {})

    async def open_stream(
        self, request: Request, *, auth: Mapping[str, str], timeout: float | None, error: ErrorReader
    ) -> StreamReply:
        out = await self._answer(request, error)
        if isinstance(out, StreamReply):
            return out
        return StreamReply(_events(out), {})


async def _events(items: Iterable[Any]) -> AsyncIterator[tuple[str | None, Any]]:
    for item in items:
        if isinstance(item, tuple) and len(item) == 2:
            event, data = item
        else:
            event, data = None, item
        yield event, data if isinstance(data, str) else json.dumps(data)


def _words(messages: list[dict[str, Any]]) -> int:
    return max(1, sum(len(text_of(m.get("content")).split()) for m in messages))


def named_error(mock: Any) -> BaseException | None:
    """What ``mock_response`` raises instead of answering: an exception (or exception class), or the
    name of a volley / LiteLLM error as LiteLLM's tests spell it (``"litellm.RateLimitError"``)."""
    if isinstance(mock, BaseException):
        return mock
    if isinstance(mock, type) and issubclass(mock, BaseException):
        return mock(f"mock_response={mock.__name__}")
    if isinstance(mock, str) and mock.startswith(("litellm.", "volley.")) and " " not in mock:
        from .. import errors

        cls = getattr(errors, mock.split(".", 1)[1], None)
        if isinstance(cls, type) and issubclass(cls, errors.APIError):
            return cls(f"mock_response={mock!r}")
    return None


def mock_response(mock: Any) -> MockTransport:
    """The transport behind ``mock_response=``: every request is answered with ``mock`` (text) in the
    OpenAI shape (chunk by chunk for a stream); an exception (or :func:`named_error`) is raised instead."""

    def answer(request: Request) -> Any:
        error = named_error(mock)
        if error is not None:
            return error
        body = request.body or {}
        model, messages, text = body.get("model", ""), body.get("messages") or [], str(mock)
        from ..types import new_id

        cid, created = new_id(), int(time.time())
        use = usage(_words(messages), len(text.split()))
        if not request.stream:
            return {
                "id": cid, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": use,
            }  # fmt: skip
        pieces = [w + " " for w in text.split(" ")]
        pieces[-1] = pieces[-1][:-1]
        events: list[Any] = [chunk(cid, model, created, {"role": "assistant", "content": ""})]
        events += [chunk(cid, model, created, {"content": p}) for p in pieces if p]
        events.append(chunk(cid, model, created, {}, finish_reason="stop"))
        events.append(chunk(cid, model, created, usage=use))
        return [*events, "[DONE]"]

    return MockTransport(answer)
