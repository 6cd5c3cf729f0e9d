"""Anthropic Message Batches: ``POST /v1/messages/batches`` with ``requests[{custom_id, params}]``,
poll ``GET /v1/messages/batches/{id}`` until ``processing_status`` is ``ended``, read the JSONL at
``results_url``.

``api_base`` is the host root (``https://api.anthropic.com``), as for online calls.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from ..protocols.anthropic import ERROR_STATUS
from ._http import Client
from ._types import BatchInfo, ItemResult

MAX_REQUESTS = 100_000  # per batch
MAX_BYTES = 256_000_000  # 256 MB per batch (counted in decimal megabytes, to stay under)
_ENVELOPE = 64  # bytes of the ``{"requests":[...]}`` around the items, generously


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def request(custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """One batch request: the online Messages body (without ``stream``) as ``params``."""
    return {"custom_id": custom_id, "params": {k: v for k, v in body.items() if k != "stream"}}


def batch_info(obj: dict[str, Any]) -> BatchInfo:
    """An Anthropic ``message_batch`` object → ``BatchInfo``."""
    status = str(obj.get("processing_status", ""))
    counts = {k: int(v) for k, v in (obj.get("request_counts") or {}).items()}
    total = sum(counts.values()) if counts else None
    done = status == "ended"
    return BatchInfo("anthropic", str(obj.get("id")), status, done, counts, total, obj.get("created_at"), [], obj)


def parse_line(data: dict[str, Any]) -> tuple[str, ItemResult]:
    """One line of the results file → ``(custom_id, ItemResult)``."""
    cid = str(data.get("custom_id"))
    raw = data.get("result")
    result: dict[str, Any] = raw if isinstance(raw, dict) else {}
    kind = result.get("type")
    if kind == "succeeded":
        return cid, ItemResult("succeeded", result.get("message"))
    if kind in ("expired", "canceled"):
        return cid, ItemResult(kind)
    raw_err = result.get("error")
    err: dict[str, Any] = raw_err if isinstance(raw_err, dict) else {}
    raw_inner = err.get("error")
    inner: dict[str, Any] = raw_inner if isinstance(raw_inner, dict) else err  # {type: "error", error: {...}}
    etype = inner.get("type")
    message = str(inner.get("message") or "the request errored")
    return cid, ItemResult("errored", None, ERROR_STATUS.get(str(etype)), etype, message)


def parse_jsonl(data: bytes) -> dict[str, ItemResult]:
    """Every line of the results file, by custom_id."""
    out: dict[str, ItemResult] = {}
    for raw in data.splitlines():
        if raw.strip():
            cid, result = parse_line(json.loads(raw))
            out[cid] = result
    return out


def _root(api_base: str) -> str:
    base = api_base.rstrip("/")
    for suffix in ("/v1/messages", "/v1"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


class AnthropicBatches:
    """Anthropic Message Batches at one ``api_base`` (see ``Adapter``)."""

    provider = "anthropic"

    def __init__(self, client: Client, *, max_requests: int = MAX_REQUESTS, max_bytes: int = MAX_BYTES) -> None:
        self.client = client
        self.base = _root(client.api_base) + "/v1/messages/batches"
        self.max_requests = max_requests
        self.max_bytes = max_bytes - _ENVELOPE

    def item_size(self, custom_id: str, body: dict[str, Any]) -> int:
        return len(_dumps(request(custom_id, body))) + 1

    async def submit(self, items: Sequence[tuple[str, dict[str, Any]]]) -> BatchInfo:
        body = {"requests": [request(cid, b) for cid, b in items]}
        return batch_info(await self.client.json("POST", self.base, json_body=body, creates=True))

    async def retrieve(self, batch_id: str) -> BatchInfo:
        return batch_info(await self.client.json("GET", f"{self.base}/{batch_id}"))

    async def cancel(self, batch_id: str) -> BatchInfo:
        return batch_info(await self.client.json("POST", f"{self.base}/{batch_id}/cancel"))

    async def list_batches(self, limit: int = 20) -> list[BatchInfo]:
        page = await self.client.json("GET", f"{self.base}?limit={int(limit)}")
        return [batch_info(b) for b in page.get("data") or ()]

    async def results(self, info: BatchInfo) -> dict[str, ItemResult]:
        url = info.raw.get("results_url")
        if not url or urlsplit(url)[:2] != urlsplit(self.base)[:2]:
            url = f"{self.base}/{info.id}/results"  # the key only ever goes to the configured host
        return parse_jsonl(await self.client.request("GET", url))
