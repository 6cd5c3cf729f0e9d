"""Azure OpenAI Batch: the OpenAI Batch API (same JSONL, files, batch objects) at Azure URLs with Azure auth.

- Files and batches live under ``{resource}/openai`` with ``?api-version=...`` on every request
  (``/openai/files``, ``/openai/batches``, ``/openai/batches/{id}``, ``/openai/files/{id}/content``),
  or under ``{resource}/openai/v1`` without a version for the v1 API (``api_version="v1"``).
- Each line's ``url`` and the batch's ``endpoint`` are ``/chat/completions``; the body's ``model`` is the
  deployment of the route, which must be a Global Batch (or Data Zone Batch) deployment.
- Credentials as online (``api-key`` or a Microsoft Entra ID bearer token, see :mod:`volley.auth.azure`),
  asked for before every request, so a batch polled for hours outlives the token it started with.

Example::

    route = volley.routing.resolve("azure/gpt-4o-batch", api_base="https://res.openai.azure.com", api_key=key)
    adapter = azure_batches(route)
    info = await adapter.submit([("item-0", {"model": "gpt-4o-batch", "messages": [...]})])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .. import masking
from ..protocols import openai as wire
from ..providers.azure import V1_VERSIONS
from ._http import DEFAULT_TIMEOUT, Client
from ._openai import OpenAIBatches

if TYPE_CHECKING:
    from ..routing import Route

MAX_REQUESTS = 100_000  # per input file (Azure's documented limit)
MAX_BYTES = 200_000_000  # 200 MB per input file
ENDPOINT = "/chat/completions"


class AzureBatchClient:
    """A batch ``Client`` for Azure: ``api-version`` on every URL, the route's credential asked for per request."""

    def __init__(self, client: Client, route: Route, api_version: str | None) -> None:
        self._client = client
        self._route = route
        self._version = api_version

    @property
    def api_base(self) -> str:
        return self._client.api_base

    def _url(self, url: str) -> str:
        if not self._version:
            return url
        return f"{url}{'&' if '?' in url else '?'}api-version={quote(self._version)}"

    async def _fresh(self) -> Client:
        host = self._route.host
        assert host is not None
        auth = await host.auth(None, self._route)  # type: ignore[arg-type]  # Azure's auth needs no request
        return dataclasses.replace(
            self._client, headers={**self._client.headers, **auth}, secrets=host.secrets(self._route)
        )

    async def request(self, method: str, url: str, **kwargs: Any) -> bytes:
        return await (await self._fresh()).request(method, self._url(url), **kwargs)

    async def json(self, method: str, url: str, **kwargs: Any) -> Any:
        return await (await self._fresh()).json(method, self._url(url), **kwargs)


class AzureBatches(OpenAIBatches):
    """Azure OpenAI Batch (Global Batch deployments) at one resource."""

    provider = "azure"
    endpoint = ENDPOINT


def azure_batches(
    route: Route,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    max_requests: int = MAX_REQUESTS,
    max_bytes: int = MAX_BYTES,
) -> AzureBatches:
    """The batch adapter of the Azure OpenAI resource of a bound ``azure/...`` route (``routing.resolve``);
    ``headers`` are extra non-credential headers every request carries."""
    version = str(route.options.get("api_version") or "")
    if version in V1_VERSIONS:
        base, query = f"{route.api_base}/openai/v1", ("preview" if version == "preview" else None)
    else:
        base, query = f"{route.api_base}/openai", version
    masking.register(*(route.host.secrets(route) if route.host is not None else ()))
    extra = {k: v for k, v in (headers or {}).items() if k.lower() != "content-type"}
    client = Client("azure", base, extra, (), wire.error_message, timeout)
    return AzureBatches(AzureBatchClient(client, route, query), max_requests=max_requests,  # type: ignore[arg-type]
                        max_bytes=max_bytes)  # fmt: skip
