"""OpenAI Batch API: upload a JSONL file (``POST /files``, purpose ``batch``), ``POST /batches``, poll
``GET /batches/{id}``, read ``GET /files/{id}/content`` of the output and error files.

``api_base`` includes the version path (``https://api.openai.com/v1``), as for online calls. Groq's
batch API is the same (files + batches under ``https://api.groq.com/openai/v1``, the same JSONL):
:class:`OpenAIBatches` with ``provider="groq"`` and Groq's limits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..protocols import openai as wire
from ._http import Client
from ._types import BatchInfo, ItemResult

ENDPOINT = "/v1/chat/completions"
MAX_REQUESTS = 50_000  # per input file
MAX_BYTES = 200_000_000  # 200 MB per input file (counted in decimal megabytes, to stay under)
DONE = frozenset({"completed", "failed", "expired", "cancelled"})


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def line(custom_id: str, body: dict[str, Any], endpoint: str = ENDPOINT) -> bytes:
    """One input line: the online request ``body`` under its ``custom_id``."""
    return _dumps({"custom_id": custom_id, "method": "POST", "url": endpoint, "body": body})


def jsonl(items: Sequence[tuple[str, dict[str, Any]]], endpoint: str = ENDPOINT) -> bytes:
    """The input file for ``(custom_id, body)`` pairs."""
    return b"".join(line(cid, body, endpoint) + b"\n" for cid, body in items)


def batch_info(obj: dict[str, Any], provider: str = "openai") -> BatchInfo:
    """An OpenAI ``batch`` object → ``BatchInfo``."""
    status = str(obj.get("status", ""))
    counts = dict(obj.get("request_counts") or {})
    errors = []
    for e in (obj.get("errors") or {}).get("data") or ():
        where = f"line {e['line']}: " if e.get("line") else ""
        errors.append(f"{where}{e.get('code')}: {e.get('message')}")
    total = counts.get("total") or None  # 0 while validating: not known yet
    done = status in DONE
    return BatchInfo(provider, str(obj.get("id")), status, done, counts, total, obj.get("created_at"), errors, obj)


def parse_line(data: dict[str, Any]) -> tuple[str, ItemResult]:
    """One line of an output or error file → ``(custom_id, ItemResult)``."""
    cid = str(data.get("custom_id"))
    resp, err = data.get("response"), data.get("error")
    if isinstance(resp, dict):
        status = int(resp.get("status_code") or 0)
        body = resp.get("body")
        if 200 <= status < 300:
            return cid, ItemResult("succeeded", body)
        detail = body.get("error") if isinstance(body, dict) else None
        etype = (detail.get("type") or detail.get("code")) if isinstance(detail, dict) else None
        return cid, ItemResult("errored", None, status or None, etype, wire.error_message(status, _dumps(body)))
    err = err if isinstance(err, dict) else {}
    code, message = err.get("code"), str(err.get("message") or "no result")
    if code == "batch_expired":
        return cid, ItemResult("expired", None, None, code, message)
    if code == "batch_cancelled":
        return cid, ItemResult("canceled", None, None, code, message)
    return cid, ItemResult("errored", None, None, code, message)


def parse_jsonl(data: bytes) -> dict[str, ItemResult]:
    """Every line of an output or error file, by custom_id."""
    out: dict[str, ItemResult] = {}
    for raw in data.splitlines():
        if raw.strip():
            cid, result = parse_line(json.loads(raw))
            out[cid] = result
    return out


GROQ_MAX_REQUESTS = 50_000
GROQ_MAX_BYTES = 100_000_000  # Groq documents 50,000 lines and 100 MB per input file


class OpenAIBatches:
    """The OpenAI Batch API at one ``api_base`` (see ``Adapter``); ``endpoint`` is the one batched;
    ``provider="groq"`` for Groq's (OpenAI's format under ``/openai/v1``)."""

    provider = "openai"
    endpoint = ENDPOINT

    def __init__(
        self,
        client: Client,
        *,
        max_requests: int = MAX_REQUESTS,
        max_bytes: int = MAX_BYTES,
        provider: str | None = None,
    ) -> None:
        if provider is not None:
            self.provider = provider
        self.client = client
        self.base = client.api_base.rstrip("/")
        self.max_requests = max_requests
        self.max_bytes = max_bytes

    def item_size(self, custom_id: str, body: dict[str, Any]) -> int:
        return len(line(custom_id, body, self.endpoint)) + 1

    async def submit(self, items: Sequence[tuple[str, dict[str, Any]]]) -> BatchInfo:
        import aiohttp

        data = jsonl(items, self.endpoint)

        def form() -> aiohttp.FormData:
            f = aiohttp.FormData()
            f.add_field("purpose", "batch")
            f.add_field("file", data, filename="volley-batch.jsonl", content_type="application/jsonl")
            return f

        uploaded = await self.client.json("POST", f"{self.base}/files", form=form, creates=True)
        body = {"input_file_id": uploaded["id"], "endpoint": self.endpoint, "completion_window": "24h"}
        return self._info(await self.client.json("POST", f"{self.base}/batches", json_body=body, creates=True))

    def _info(self, obj: dict[str, Any]) -> BatchInfo:
        return batch_info(obj, self.provider)

    async def retrieve(self, batch_id: str) -> BatchInfo:
        return self._info(await self.client.json("GET", f"{self.base}/batches/{batch_id}"))

    async def cancel(self, batch_id: str) -> BatchInfo:
        return self._info(await self.client.json("POST", f"{self.base}/batches/{batch_id}/cancel"))

    async def list_batches(self, limit: int = 20) -> list[BatchInfo]:
        page = await self.client.json("GET", f"{self.base}/batches?limit={int(limit)}")
        return [self._info(b) for b in page.get("data") or ()]

    async def results(self, info: BatchInfo) -> dict[str, ItemResult]:
        out: dict[str, ItemResult] = {}
        for key in ("output_file_id", "error_file_id"):
            file_id = info.raw.get(key)
            if file_id:
                out.update(parse_jsonl(await self.client.request("GET", f"{self.base}/files/{file_id}/content")))
        return out
