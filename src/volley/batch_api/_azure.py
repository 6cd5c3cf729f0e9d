"""Azure OpenAI Batch: the OpenAI Batch API (same JSONL, files, batch objects) at Azure URLs with Azure auth.

- Files and batches live under ``{resource}/openai`` with ``?api-version=...`` on every request
  (``/openai/files``, ``/openai/batches``, ``/openai/batches/{id}``, ``/openai/files/{id}/content``),
  or under ``{resource}/openai/v1`` without a version for the v1 API.
- Each line's ``url`` and the batch's ``endpoint`` are ``/chat/completions``; the body's ``model`` is a
  Global Batch deployment's name.
- Credentials as online (``api-key`` or a Microsoft Entra ID bearer token), fresh for every request,
  so a batch polled for hours outlives the token it started with.

Example::

    adapter = azure_batches(AzureOpenAI().resolve(api_base="https://res.openai.azure.com", api_key=key))
    info = await adapter.submit([("item-0", {"model": "gpt-4o-batch", "messages": [...]})])
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import quote

from ..providers import openai as wire
from ..providers._setup import Setup
from ..providers.azure import V1_VERSIONS
from ._http import DEFAULT_TIMEOUT, Client
from ._openai import OpenAIBatches

MAX_REQUESTS = 100_000  # per input file (Azure's documented limit)
MAX_BYTES = 200_000_000  # 200 MB per input file
ENDPOINT = "/chat/completions"


class AzureBatchClient:
    """A batch ``Client`` for Azure: adds ``api-version`` to every URL and fresh credentials to every request."""

    def __init__(self, client: Client, credentials: Any, api_version: str | None) -> None:
        self._client = client
        self._credentials = credentials
        self._version = api_version

    @property
    def api_base(self) -> str:
        return self._client.api_base

    def _url(self, url: str) -> str:
        if not self._version:
            return url
        return f"{url}{'&' if '?' in url else '?'}api-version={quote(self._version)}"

    async def _fresh(self) -> Client:
        await self._credentials.prepare()
        headers = {**self._client.headers, **self._credentials.headers()}
        return dataclasses.replace(self._client, headers=headers, secrets=self._credentials.secrets())

    async def request(self, method: str, url: str, **kwargs: Any) -> bytes:
        return await (await self._fresh()).request(method, self._url(url), **kwargs)

    async def json(self, method: str, url: str, **kwargs: Any) -> Any:
        return await (await self._fresh()).json(method, self._url(url), **kwargs)


class AzureBatches(OpenAIBatches):
    """Azure OpenAI Batch (Global Batch deployments) at one resource."""

    provider = "azure"
    endpoint = ENDPOINT


def azure_batches(
    setup: Setup,
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    max_requests: int = MAX_REQUESTS,
    max_bytes: int = MAX_BYTES,
) -> AzureBatches:
    """The batch adapter of the Azure OpenAI resource that ``AzureOpenAI().resolve(...)`` set up."""
    version = str(setup.options.get("api_version") or "")
    if version in V1_VERSIONS:
        base, query = f"{setup.base}/openai/v1", ("preview" if version == "preview" else None)
    else:
        base, query = f"{setup.base}/openai", version
    client = Client("azure", base, {}, (), wire.error_message, timeout)
    return AzureBatches(AzureBatchClient(client, setup.credentials, query), max_requests=max_requests,
                        max_bytes=max_bytes)  # type: ignore[arg-type]  # fmt: skip
