"""A protocol-faithful fake of the OpenAI, Anthropic, Cohere, Gemini and AWS Bedrock chat APIs (tests, benchmarks).

Example::

    from volley.testing import FakeServer

    with FakeServer() as server:                      # serves from a daemon thread
        server.script("gpt-4o-mini", latency=0.1, failures=[429, "drop"])
        ...  # point any client at server.openai_base (OpenAI) or server.url (the others)

Bedrock requests must be SigV4-signed with ``FAKE_AWS_ACCESS_KEY_ID`` / ``FAKE_AWS_SECRET_ACCESS_KEY``
(any region), or carry a Bedrock API key as ``Authorization: Bearer ...``.

``MockTransport(handler)`` answers calls from a function instead of a server (``transport=``), and
``build_request`` shows what a host would be sent.

From a shell: ``volley fake-server --port 8765 --latency 0.1`` or ``python -m volley.testing``.
"""

from __future__ import annotations

from ..transports.mock import MockTransport
from ._cli import main, serve
from ._server import FAILURES, FakeServer, RequestRecord, behaviour_from_name
from .requests import build_request
from .wires.bedrock import FAKE_AWS_ACCESS_KEY_ID, FAKE_AWS_SECRET_ACCESS_KEY

__all__ = [
    "FAILURES", "FAKE_AWS_ACCESS_KEY_ID", "FAKE_AWS_SECRET_ACCESS_KEY", "FakeServer", "MockTransport",
    "RequestRecord", "behaviour_from_name", "build_request", "main", "serve",
]  # fmt: skip
