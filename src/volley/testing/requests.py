"""What a host would be sent, without sending it: for tests of a protocol's mapping and a host's URL and auth."""

from __future__ import annotations

import asyncio
from typing import Any

from ..prepare import build_request as _build
from ..routing import Route
from ..routing import provider as _provider
from ..transports.base import Request


def build_request(
    provider: str,
    model: str,
    messages: list[dict[str, Any]],
    params: dict[str, Any],
    *,
    api_base: str | None = None,
    api_key: str | None = None,
    stream: bool = False,
    options: dict[str, Any] | None = None,
) -> Request:
    """The request the first attempt of a call would send: the host's URL, headers (with the credential
    headers of that attempt) and body. Nothing is validated or routed beyond the provider's own mapping
    (and its :meth:`~volley.Provider.bind`: ``options`` are the provider's own, e.g. ``api_version``).

    Example::

        req = build_request("anthropic", "claude-haiku-4-5", [{"role": "user", "content": "hi"}], {},
                            api_key="sk-ant-test")
        req.url, req.headers["x-api-key"], req.body["max_tokens"]   # .../v1/messages, 'sk-ant-test', 4096
    """
    host = _provider(provider).variant(model)
    opts = dict(options or {})
    route = host.bind(Route(provider, host.protocol, model, host.base(api_base, opts), api_key, host, opts))
    request = _build(route, messages, params, stream=stream)
    auth = asyncio.run(host.auth(request, route)) if _no_loop() else host.key_headers(route)
    request.headers = {**request.headers, **auth}
    return request


def _no_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return True
    return False
