"""Mistral batch jobs: upload a JSONL file (``POST /files``, purpose ``batch``), ``POST /batch/jobs``
with the model and the endpoint, poll ``GET /batch/jobs/{id}``, read ``GET /files/{id}/content`` of the
job's ``output_file`` and ``error_file``.

The input lines are ``{"custom_id", "body"}`` (the online request body); the output and error files
have OpenAI's line shape (``{"custom_id", "response": {"status_code", "body"}, "error"}``), read by
:func:`~volley.batch_api._openai.parse_line`. A job runs one model for all its lines. Mistral's job
statuses (QUEUED, RUNNING, SUCCESS, FAILED, TIMEOUT_EXCEEDED, CANCELLATION_REQUESTED, CANCELLED) are
given in ``BatchInfo.status`` in OpenAI's words (the job as Mistral sent it is ``raw``), so a batch
that timed out reads as expired and a cancelled one as cancelled.

``api_base`` includes the version path (``https://api.mistral.ai/v1``), as for online calls.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..errors import BadRequestError
from ._http import Client
from ._openai import parse_jsonl
from ._types import BatchInfo, ItemResult

ENDPOINT = "/v1/chat/completions"
MAX_REQUESTS = 1_000_000  # "batches of up to 1M requests"
MAX_BYTES = 200_000_000
STATUS = {
    "QUEUED": "validating",
    "RUNNING": "in_progress",
    "SUCCESS": "completed",
    "FAILED": "failed",
    "TIMEOUT_EXCEEDED": "expired",
    "CANCELLATION_REQUESTED": "cancelling",
    "CANCELLED": "cancelled",
}
"""Mistral job status → the OpenAI word ``BatchInfo.status`` carries."""
DONE = frozenset({"SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED"})


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def line(custom_id: str, body: dict[str, Any]) -> bytes:
    """One input line: the online request ``body`` under its ``custom_id``."""
    return _dumps({"custom_id": custom_id, "body": body})


def batch_info(job: dict[str, Any]) -> BatchInfo:
    """A Mistral batch job → ``BatchInfo``."""
    status = str(job.get("status", ""))
    counts = {key: int(job.get(f"{key}_requests") or 0) for key in ("total", "completed", "succeeded", "failed")}
    errors = []
    for e in job.get("errors") or ():
        if isinstance(e, dict):
            times = f" (x{e['count']})" if isinstance(e.get("count"), int) and e["count"] > 1 else ""
            errors.append(f"{e.get('message')}{times}")
    total = counts["total"] or None
    return BatchInfo(
        "mistral", str(job.get("id")), STATUS.get(status, status.lower()), status in DONE, counts, total,
        job.get("created_at"), errors, job,
    )  # fmt: skip


class MistralBatches:
    """Mistral's batch jobs at one ``api_base`` (see ``Adapter``)."""

    provider = "mistral"

    def __init__(self, client: Client, *, max_requests: int = MAX_REQUESTS, max_bytes: int = MAX_BYTES) -> None:
        self.client = client
        self.base = client.api_base.rstrip("/")
        self.max_requests = max_requests
        self.max_bytes = max_bytes

    def item_size(self, custom_id: str, body: dict[str, Any]) -> int:
        return len(line(custom_id, body)) + 1

    async def submit(self, items: Sequence[tuple[str, dict[str, Any]]]) -> BatchInfo:
        import aiohttp

        models = {str(body.get("model") or "") for _, body in items}
        if len(models) != 1 or not next(iter(models)):
            raise BadRequestError(
                f"a Mistral batch job runs one model; these items name {sorted(models)}", provider=self.provider
            )
        data = b"".join(line(cid, body) + b"\n" for cid, body in items)

        def form() -> aiohttp.FormData:
            f = aiohttp.FormData()
            f.add_field("purpose", "batch")
            f.add_field("file", data, filename="volley-batch.jsonl", content_type="application/jsonl")
            return f

        uploaded = await self.client.json("POST", f"{self.base}/files", form=form, creates=True)
        body = {"input_files": [uploaded["id"]], "endpoint": ENDPOINT, "model": models.pop()}
        return batch_info(await self.client.json("POST", f"{self.base}/batch/jobs", json_body=body, creates=True))

    async def retrieve(self, batch_id: str) -> BatchInfo:
        return batch_info(await self.client.json("GET", f"{self.base}/batch/jobs/{batch_id}"))

    async def cancel(self, batch_id: str) -> BatchInfo:
        return batch_info(await self.client.json("POST", f"{self.base}/batch/jobs/{batch_id}/cancel"))

    async def list_batches(self, limit: int = 20) -> list[BatchInfo]:
        page = await self.client.json("GET", f"{self.base}/batch/jobs?page_size={int(limit)}")
        return [batch_info(j) for j in page.get("data") or ()]

    async def results(self, info: BatchInfo) -> dict[str, ItemResult]:
        out: dict[str, ItemResult] = {}
        for key in ("output_file", "error_file"):
            file_id = info.raw.get(key)
            if file_id:
                out.update(parse_jsonl(await self.client.request("GET", f"{self.base}/files/{file_id}/content")))
        return out
