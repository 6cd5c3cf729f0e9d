"""A protocol-faithful fake of the OpenAI, Anthropic, Cohere and Gemini chat APIs, for tests and benchmarks.

Example::

    from volley.testing import FakeServer

    with FakeServer() as server:                      # serves from a daemon thread
        server.script("gpt-4o-mini", latency=0.1, failures=[429, "drop"])
        ...  # point any client at server.openai_base (OpenAI) or server.url (the others)

From a shell: ``volley fake-server --port 8765 --latency 0.1`` or ``python -m volley.testing``.
"""

from __future__ import annotations

from ._cli import main, serve
from ._server import FAILURES, FakeServer, RequestRecord, behaviour_from_name

__all__ = ["FAILURES", "FakeServer", "RequestRecord", "behaviour_from_name", "main", "serve"]
