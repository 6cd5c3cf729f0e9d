"""Gemini API Batch Mode with inline requests: ``POST {base}/v1beta/models/{model}:batchGenerateContent``
with ``{"batch": {"displayName", "inputConfig": {"requests": {"requests": [{"request", "metadata"}]}}}}``,
poll ``GET {base}/v1beta/batches/{id}``, read the answers inline from the ended batch.

Every call answers a long-running ``Operation``: ``name`` (``batches/{id}``, the batch id here), ``metadata``
(the ``GenerateContentBatch``: ``state``, ``batchStats``, ``model``, ``output``), ``done``, and once done
``response`` (the ``GenerateContentBatchOutput``). Each inlined response carries the ``GenerateContentResponse``
(``response``) or a ``google.rpc.Status`` (``error``) and the request's ``metadata``; the item's custom id
travels as ``metadata.key``. Responses come in input order, so when a response lacks its metadata the
position names it (for batches this adapter submitted in this process).

Batch states (``BATCH_STATE_PENDING``, ``RUNNING``, ``SUCCEEDED``, ``FAILED``, ``CANCELLED``, ``EXPIRED``)
read in OpenAI's words in ``BatchInfo.status`` (the Operation as sent is ``raw``). Inline requests total at
most 20 MB per batch; a larger job is split. The file-based input (Files API upload) is not used.

``api_base`` is the host root (``https://generativelanguage.googleapis.com``), as for online calls.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from ..errors import BadRequestError
from ..protocols.gemini import ERROR_STATUS
from ._http import Client
from ._types import BatchInfo, ItemResult

MAX_BYTES = 20_000_000  # "total request size under 20 MB" for inline requests (decimal, to stay under)
MAX_REQUESTS = 1_000_000  # no documented count for inline requests: the 20 MB bound is the one that binds
_ENVELOPE = 256  # bytes of the ``{"batch": {...}}`` around the requests, generously

STATUS = {
    "BATCH_STATE_PENDING": "validating",
    "BATCH_STATE_RUNNING": "in_progress",
    "BATCH_STATE_SUCCEEDED": "completed",
    "BATCH_STATE_FAILED": "failed",
    "BATCH_STATE_CANCELLED": "cancelled",
    "BATCH_STATE_EXPIRED": "expired",
}
"""Gemini batch state → the OpenAI word ``BatchInfo.status`` carries."""
DONE = frozenset({"BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED", "BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED"})

GRPC_CODES = {
    1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND", 6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION", 10: "ABORTED", 11: "OUT_OF_RANGE",
    12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE", 15: "DATA_LOSS", 16: "UNAUTHENTICATED",
}  # fmt: skip
"""``google.rpc.Code`` numbers (a ``Status.code`` in an inlined response) → their names."""
_HTTP_OF = {**ERROR_STATUS, "ALREADY_EXISTS": 409, "UNIMPLEMENTED": 501, "DATA_LOSS": 500}


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def request(custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """One inline request: the online ``generateContent`` body, the custom id as ``metadata.key``."""
    return {"request": body, "metadata": {"key": custom_id}}


def _count(value: Any) -> int:
    try:  # int64 fields come as JSON strings
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def batch_info(op: dict[str, Any]) -> BatchInfo:
    """A batch ``Operation`` (or a bare ``GenerateContentBatch``) → ``BatchInfo``."""
    meta = _obj(op.get("metadata")) or op
    state = str(meta.get("state", ""))
    stats = _obj(meta.get("batchStats"))
    counts = {
        "total": _count(stats.get("requestCount")),
        "succeeded": _count(stats.get("successfulRequestCount")),
        "failed": _count(stats.get("failedRequestCount")),
        "pending": _count(stats.get("pendingRequestCount")),
    }
    errors = []
    err = op.get("error")
    if isinstance(err, dict) and err.get("message"):
        errors.append(str(err["message"]))
    done = state in DONE or (bool(op.get("done")) and state not in STATUS)
    name = str(op.get("name") or meta.get("name"))
    return BatchInfo(
        "gemini", name, STATUS.get(state, state.lower()), done, counts, counts["total"] or None,
        meta.get("createTime"), errors, op,
    )  # fmt: skip


def inlined_responses(op: dict[str, Any]) -> list[dict[str, Any]]:
    """The inlined responses of an ended batch (``response``, else ``metadata.output``), in input order."""
    for out in (op.get("response"), _obj(op.get("metadata")).get("output")):
        if isinstance(out, dict) and isinstance(out.get("inlinedResponses"), dict):
            items = out["inlinedResponses"].get("inlinedResponses") or []
            return [it for it in items if isinstance(it, dict)]
    return []


def parse_item(item: dict[str, Any]) -> ItemResult:
    """One inlined response → ``ItemResult`` (the ``GenerateContentResponse``, or the ``Status`` error)."""
    if isinstance(item.get("response"), dict) and "error" not in item:
        return ItemResult("succeeded", item["response"])
    err = _obj(item.get("error"))
    code = err.get("code")
    name = GRPC_CODES.get(code) if isinstance(code, int) else None
    name = name or (str(err["status"]) if err.get("status") else None)
    status = _HTTP_OF.get(name or "", 500)
    return ItemResult("errored", None, status, name, str(err.get("message") or "the request errored"))


def _version_base(api_base: str) -> str:
    base = api_base.rstrip("/")
    return base if base.endswith(("/v1beta", "/v1", "/v1alpha")) else base + "/v1beta"


def _name(batch_id: str) -> str:
    return batch_id if batch_id.startswith("batches/") else f"batches/{batch_id}"


class GeminiBatches:
    """The Gemini API's Batch Mode at one ``api_base`` (see ``Adapter``); ``model`` is needed to submit."""

    provider = "gemini"

    def __init__(
        self, client: Client, *, model: str | None = None, max_requests: int = MAX_REQUESTS, max_bytes: int = MAX_BYTES
    ) -> None:
        self.client = client
        self.base = _version_base(client.api_base)
        self.model = model.removeprefix("models/") if model else None
        self.max_requests = max_requests
        self.max_bytes = max_bytes - _ENVELOPE
        self._order: dict[str, list[str]] = {}  # batch name → custom ids in input order (submitted here)

    def item_size(self, custom_id: str, body: dict[str, Any]) -> int:
        return len(_dumps(request(custom_id, body))) + 1

    async def submit(self, items: Sequence[tuple[str, dict[str, Any]]]) -> BatchInfo:
        if not self.model:
            raise BadRequestError("a Gemini batch needs the model (gemini/<model>)", provider=self.provider)
        batch = {
            "displayName": f"volley-{uuid.uuid4().hex[:12]}",
            "inputConfig": {"requests": {"requests": [request(cid, body) for cid, body in items]}},
        }
        url = f"{self.base}/models/{self.model}:batchGenerateContent"
        info = batch_info(await self.client.json("POST", url, json_body={"batch": batch}, creates=True))
        self._order[info.id] = [cid for cid, _ in items]
        return info

    async def retrieve(self, batch_id: str) -> BatchInfo:
        return batch_info(await self.client.json("GET", f"{self.base}/{_name(batch_id)}"))

    async def cancel(self, batch_id: str) -> BatchInfo:
        await self.client.json("POST", f"{self.base}/{_name(batch_id)}:cancel", json_body={})  # answers {}
        return await self.retrieve(batch_id)

    async def list_batches(self, limit: int = 20) -> list[BatchInfo]:
        page = await self.client.json("GET", f"{self.base}/batches?pageSize={int(limit)}")
        return [batch_info(op) for op in page.get("operations") or () if isinstance(op, dict)]

    async def results(self, info: BatchInfo) -> dict[str, ItemResult]:
        out_obj = _obj(info.raw.get("response")) or _obj(_obj(info.raw.get("metadata")).get("output"))
        if out_obj.get("responsesFile") and not inlined_responses(info.raw):
            raise BadRequestError(
                f"batch {info.id} wrote its answers to a file ({out_obj['responsesFile']}); volley reads "
                "inline answers only (the batches it submits)",
                provider=self.provider,
            )
        order = self._order.get(info.id, [])
        out: dict[str, ItemResult] = {}
        for pos, item in enumerate(inlined_responses(info.raw)):
            meta = _obj(item.get("metadata"))
            cid = meta.get("key") or (order[pos] if pos < len(order) else None)
            if isinstance(cid, str) and cid:
                out[cid] = parse_item(item)
        return out
