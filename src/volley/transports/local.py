"""The in-process transport: a local model's request goes to its worker process (``volley.local.pool``).

The request body (built by ``protocols.local``) says which model file to run and how; the answer
is llama-cpp-python's ``chat.completion`` dict (no HTTP, no bytes), and a stream's events are its
chunk dicts followed by ``("end", usage)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..local import pool
from .base import ErrorReader, Reply, Request, StreamReply


def _message(request: Request, timeout: float | None) -> tuple[str, str, dict[str, Any]]:
    body = request.body
    msg = {"messages": body["messages"], "kwargs": body["kwargs"], "stream": body["stream"], "timeout": timeout}
    return body["path"], body["model"], msg


class LocalTransport:
    """Runs requests on the model's worker process; ``timeout`` counts from when the model starts on one."""

    limited = True

    def warm(self, request: Request) -> None:
        """Start the model's worker (and its load) now, so it overlaps the caller's own set-up."""
        pool.worker(request.body["path"], request.body["model"]).warm()

    async def send(
        self, request: Request, *, auth: Mapping[str, str], timeout: float | None, error: ErrorReader
    ) -> Reply:
        path, model, msg = _message(request, timeout)
        return Reply(await pool.complete(path, model, msg), {})

    async def open_stream(
        self, request: Request, *, auth: Mapping[str, str], timeout: float | None, error: ErrorReader
    ) -> StreamReply:
        path, model, msg = _message(request, timeout)
        return StreamReply(pool.events(path, model, msg), {})
