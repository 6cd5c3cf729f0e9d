"""The fake server's provider batch APIs: OpenAI Files + Batch (also at Azure OpenAI's paths, and under
``/openai/v1`` as Groq serves it), Anthropic Message Batches, Mistral batch jobs (``/v1/batch/jobs``,
files shared with OpenAI's), and the Gemini API's Batch Mode with inline requests
(``/v1beta/models/{model}:batchGenerateContent``, ``/v1beta/batches``).

Azure OpenAI Batch is the OpenAI Batch API under ``/openai`` (every request with ``?api-version=``; under
``/openai/v1`` without one), authenticated with ``api-key`` or an Entra ID bearer, with ``/chat/completions``
as each line's ``url`` and the batch's ``endpoint``; its items are answered by the Azure wire (content-filter
results included), the line's ``model`` being a Global Batch deployment.

Each item is answered exactly as the online endpoint would answer the same request body (same
``make_answer``, same scripts), so a batch answer equals the online answer apart from ids. Failures
come from the model's script, consumed one per item in input order: an HTTP status makes the item
errored, ``"expired"`` / ``"canceled"`` expire or cancel it, any other failure kind is a 500.

Processing takes ``FakeServer.batch_delay`` seconds from creation to the end, items being answered
in ten slices over that time, so a cancel can land half way.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .wires import WIRES, BadRequest, Wire, dumps, make_answer, rfc3339, status_message

if TYPE_CHECKING:
    from ._server import FakeServer

__all__ = ["BATCH_FAILURES", "BatchStore"]


def _serving(handler: Any, flv: Any) -> Any:
    """An aiohttp handler calling ``handler(request, flv)``."""

    async def handle(request: web.Request) -> web.StreamResponse:
        return await handler(request, flv)  # type: ignore[no-any-return]

    return handle


#: Failure kinds that only mean something inside a batch (online requests answer them with a 500).
BATCH_FAILURES = frozenset({"expired", "canceled"})

_OPENAI_ENDPOINTS = frozenset({"/v1/chat/completions"})


@dataclass(frozen=True, slots=True)
class _Flavour:
    """Where and how one OpenAI-style batch API is served: path prefix, the wire answering its items and
    refusing bad credentials, the endpoints it batches, whether every request needs ``api-version``."""

    prefix: str
    wire: Wire
    endpoints: frozenset[str]
    needs_version: bool = False


_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_DAY = 86_400
_SLICES = 10


def _hex(n: int = 24) -> str:
    return secrets.token_hex(n // 2)


@dataclass(slots=True)
class _File:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int

    def obj(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }


@dataclass(slots=True)
class _Item:
    """One outcome: ``kind`` is succeeded | errored | expired | canceled."""

    custom_id: str
    kind: str
    body: Any = None  # the answer body, or the provider error body
    status: int = 200


@dataclass(slots=True)
class _Batch:
    provider: str
    id: str
    obj: dict[str, Any]
    lines: list[Any]  # OpenAI: the parsed input lines; Anthropic: the requests
    items: list[_Item] = field(default_factory=list)
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    wire: Wire | None = None  # OpenAI-style: the wire that answers its items (OpenAI's, or Azure's)


class BatchStore:
    """The files and batches of one fake server, and the aiohttp routes that serve them."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.files: dict[str, _File] = {}
        self.batches: dict[str, _Batch] = {}
        self.created = 0  # batches created since the last reset, both providers
        self._generation = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def reset(self) -> None:
        """Forget every file and batch; processing still running stops at its next step."""
        self._generation += 1
        self.files = {}
        self.batches = {}
        self.created = 0

    def register(self, app: web.Application) -> None:
        from .wires.azure import AzureOpenAIWire

        r = app.router
        azure = AzureOpenAIWire()
        openai_v1 = _Flavour("/v1", WIRES["openai"], _OPENAI_ENDPOINTS)
        for version in ("v1beta", "v1"):  # before the online /{version}/models/{spec} route (FakeServer.app)
            r.add_post(f"/{version}/models/{{model}}:batchGenerateContent", self._ge_create)
            r.add_post(f"/{version}/batches/{{id}}:cancel", self._ge_cancel)
        r.add_get("/v1beta/batches", self._ge_list)
        r.add_get("/v1beta/batches/{id}", self._ge_get)
        # google-genai speaks v1, whose /v1/batches paths are OpenAI's too: a Google key (x-goog-api-key or
        # ?key=) makes them Gemini's
        r.add_get("/v1/batches", self._google_or(self._ge_list, _serving(self._oa_list, openai_v1)))
        r.add_get("/v1/batches/{id}", self._google_or(self._ge_get, _serving(self._oa_get, openai_v1)))
        for flv in (
            openai_v1,
            _Flavour("/openai", azure, frozenset({"/chat/completions"}), needs_version=True),
            # Azure's v1 API, and Groq's copy of OpenAI's (whose lines name /v1/chat/completions)
            _Flavour("/openai/v1", azure, frozenset({"/chat/completions", *_OPENAI_ENDPOINTS})),
        ):
            for method, path, handler in (
                ("POST", "/files", self._oa_upload),
                ("GET", "/files", self._oa_list_files),
                ("GET", "/files/{id}", self._oa_file),
                ("DELETE", "/files/{id}", self._oa_delete_file),
                ("GET", "/files/{id}/content", self._oa_content),
                ("POST", "/batches", self._oa_create),
                ("GET", "/batches", self._oa_list),
                ("GET", "/batches/{id}", self._oa_get),
                ("POST", "/batches/{id}/cancel", self._oa_cancel),
            ):
                if flv.prefix == "/v1" and method == "GET" and path in ("/batches", "/batches/{id}"):
                    continue  # served above, shared with Gemini's v1
                r.add_route(method, flv.prefix + path, _serving(handler, flv))
        r.add_post("/v1/batch/jobs", self._mi_create)
        r.add_get("/v1/batch/jobs", self._mi_list)
        r.add_get("/v1/batch/jobs/{id}", self._mi_get)
        r.add_post("/v1/batch/jobs/{id}/cancel", self._mi_cancel)
        r.add_post("/v1/messages/batches", self._an_create)
        r.add_get("/v1/messages/batches", self._an_list)
        r.add_get("/v1/messages/batches/{id}", self._an_get)
        r.add_delete("/v1/messages/batches/{id}", self._an_delete)
        r.add_post("/v1/messages/batches/{id}/cancel", self._an_cancel)
        r.add_get("/v1/messages/batches/{id}/results", self._an_results)

    # ------------------------------------------------------------------------------------ plumbing

    @staticmethod
    def _google_or(google: Any, other: Any) -> Any:
        """A handler sending requests with a Google API key to ``google``, the others to ``other``."""

        async def handle(request: web.Request) -> web.StreamResponse:
            is_google = "x-goog-api-key" in request.headers or "key" in request.query
            return await (google if is_google else other)(request)  # type: ignore[no-any-return]

        return handle

    async def _enter(
        self, request: web.Request, wire: Wire, *, form: bool = False, flv: _Flavour | None = None
    ) -> tuple[Any, web.Response | None]:
        """Record the request and check its key (and, for Azure, its ``api-version``); ``(json body, None)``
        or ``(None, error response)``."""
        body: Any = None
        if not form:
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
        s = self.server
        s.record_request(wire, request, None, body)
        if flv is not None and flv.needs_version and not request.query.get("api-version"):
            return None, self._error(wire, 404, "Resource not found")
        denied = wire.auth_error(request.headers, request.query, s.api_key)
        if denied is not None:
            return None, self._error(wire, *denied)
        return body, None

    @staticmethod
    def _error(wire: Wire, status: int, message: str) -> web.Response:
        body = dumps(wire.error_body(status, message))
        return web.Response(status=status, body=body, content_type="application/json")

    @staticmethod
    def _json(obj: Any) -> web.Response:
        return web.Response(body=dumps(obj), content_type="application/json")

    def _spawn(self, batch: _Batch) -> None:
        runs = {"openai": self._run_openai, "mistral": self._run_mistral, "anthropic": self._run_anthropic,
                "gemini": self._run_gemini}  # fmt: skip
        run = runs[batch.provider]
        task = asyncio.get_running_loop().create_task(run(batch, self._generation))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Cancel processing still running (the server is shutting down)."""
        for t in list(self._tasks):
            t.cancel()
        self._tasks.clear()

    async def _pause(self, seconds: float, generation: int, cancel: asyncio.Event | None = None) -> bool:
        """Sleep (cut short by ``cancel``); False when the store was reset meanwhile (a finished test's batch)."""
        if cancel is not None and seconds > 0:
            try:
                await asyncio.wait_for(cancel.wait(), seconds)
            except asyncio.TimeoutError:
                pass
        elif seconds > 0:
            await asyncio.sleep(seconds)
        return generation == self._generation

    def _answer(self, wire: Wire, custom_id: str, body: Any, model: str | None = None) -> _Item:
        """One item's outcome, computed as the online endpoint computes it (``model``: when the URL names it)."""
        s = self.server
        try:
            if isinstance(body, dict) and body.get("stream"):
                raise BadRequest("stream: streaming is not supported in batches")
            prompt = wire.read(body, model)
        except BadRequest as exc:
            return _Item(custom_id, "errored", wire.error_body(400, exc.message), 400)
        plan = s._plan(prompt.model)
        failure = plan.next_failure()
        if failure in BATCH_FAILURES:
            return _Item(custom_id, failure)
        if failure is not None and failure != "stall":
            status = failure if isinstance(failure, int) else 500
            return _Item(custom_id, "errored", wire.error_body(status, status_message(status)), status)
        answer = make_answer(prompt, next(s._seq), plan.o["content"], plan.o["tool_call"], plan.o["reasoning"])
        return _Item(custom_id, "succeeded", wire.body(answer))

    async def _process(
        self, batch: _Batch, wire: Wire, pairs: list[tuple[str, Any]], span: float, gen: int, model: str | None = None
    ) -> bool:
        """Answer the items in slices spread over ``span`` seconds; stop early on cancel. False if reset."""
        step = max(1, -(-len(pairs) // _SLICES))
        slices = max(1, -(-len(pairs) // step))
        for start in range(0, len(pairs), step):
            if batch.cancel.is_set():
                break
            if not await self._pause(span / slices, gen, batch.cancel):
                return False
            if batch.cancel.is_set():
                break
            for custom_id, body in pairs[start : start + step]:
                batch.items.append(self._answer(wire, custom_id, body, model))
            self._progress(batch)
        done = {it.custom_id for it in batch.items}
        batch.items.extend(_Item(cid, "canceled") for cid, _ in pairs if cid not in done)
        return True

    def _progress(self, batch: _Batch) -> None:
        if batch.provider == "openai":
            c = batch.obj["request_counts"]
            c["completed"] = sum(1 for it in batch.items if it.kind == "succeeded")
            c["failed"] = sum(1 for it in batch.items if it.kind == "errored")
        elif batch.provider == "mistral":
            o = batch.obj
            o["succeeded_requests"] = sum(1 for it in batch.items if it.kind == "succeeded")
            o["failed_requests"] = sum(1 for it in batch.items if it.kind == "errored")
            o["completed_requests"] = o["succeeded_requests"] + o["failed_requests"]
        elif batch.provider == "gemini":
            stats = batch.obj["metadata"]["batchStats"]
            ok = sum(1 for it in batch.items if it.kind == "succeeded")
            failed = sum(1 for it in batch.items if it.kind == "errored")
            stats.update(successfulRequestCount=str(ok), failedRequestCount=str(failed),
                         pendingRequestCount=str(max(0, len(batch.lines) - ok - failed)))  # fmt: skip

    # ------------------------------------------------------------------------------------ OpenAI files

    async def _oa_upload(self, request: web.Request, flv: _Flavour) -> web.Response:
        wire = flv.wire
        _, denied = await self._enter(request, wire, form=True, flv=flv)
        if denied is not None:
            return denied
        purpose, filename, data = None, "upload.jsonl", None
        try:
            form = await request.post()
        except Exception:  # not multipart
            return self._error(wire, 400, "Invalid file format. Expected a multipart/form-data upload.")
        purpose = form.get("purpose")
        upload = form.get("file")
        if isinstance(upload, web.FileField):
            filename, data = upload.filename or filename, upload.file.read()
        if data is None:
            return self._error(wire, 400, "Missing required parameter: 'file'.")
        if purpose not in ("batch", "fine-tune", "assistants", "vision", "user_data", "evals"):
            return self._error(wire, 400, f"Invalid value for 'purpose': {purpose!r}.")
        f = _File("file-" + _hex(), filename, str(purpose), data, int(time.time()))
        self.files[f.id] = f
        return self._json(f.obj())

    async def _oa_file_or_404(self, request: web.Request, flv: _Flavour) -> tuple[_File | None, web.Response | None]:
        wire = flv.wire
        _, denied = await self._enter(request, wire, flv=flv)
        if denied is not None:
            return None, denied
        f = self.files.get(request.match_info["id"])
        if f is None:
            return None, self._error(wire, 404, f"No such File object: {request.match_info['id']}")
        return f, None

    async def _oa_file(self, request: web.Request, flv: _Flavour) -> web.Response:
        f, err = await self._oa_file_or_404(request, flv)
        return err or self._json(f.obj())  # type: ignore[union-attr]

    async def _oa_content(self, request: web.Request, flv: _Flavour) -> web.Response:
        f, err = await self._oa_file_or_404(request, flv)
        return err or web.Response(body=f.data, content_type="application/octet-stream")  # type: ignore[union-attr]

    async def _oa_delete_file(self, request: web.Request, flv: _Flavour) -> web.Response:
        f, err = await self._oa_file_or_404(request, flv)
        if err is not None:
            return err
        del self.files[f.id]  # type: ignore[union-attr]
        return self._json({"id": f.id, "object": "file", "deleted": True})  # type: ignore[union-attr]

    async def _oa_list_files(self, request: web.Request, flv: _Flavour) -> web.Response:
        _, denied = await self._enter(request, flv.wire, flv=flv)
        if denied is not None:
            return denied
        purpose = request.query.get("purpose")
        data = [f.obj() for f in reversed(self.files.values()) if purpose in (None, f.purpose)]
        return self._json({"object": "list", "data": data, "has_more": False})

    # ------------------------------------------------------------------------------------ OpenAI batches

    async def _oa_create(self, request: web.Request, flv: _Flavour) -> web.Response:
        wire = flv.wire
        body, denied = await self._enter(request, wire, flv=flv)
        if denied is not None:
            return denied
        if not isinstance(body, dict):
            return self._error(wire, 400, "We could not parse the JSON body of your request.")
        endpoint = body.get("endpoint")
        if endpoint not in flv.endpoints:
            return self._error(wire, 400, f"Invalid value for 'endpoint': {endpoint!r} is not supported here.")
        if body.get("completion_window") != "24h":
            return self._error(wire, 400, "Invalid value for 'completion_window': only '24h' is supported.")
        f = self.files.get(str(body.get("input_file_id")))
        if f is None:
            return self._error(wire, 404, f"No such File object: {body.get('input_file_id')}")
        if f.purpose != "batch":
            return self._error(wire, 400, "The input file must be uploaded with purpose 'batch'.")
        now = int(time.time())
        bid = "batch_" + _hex(32)
        obj: dict[str, Any] = {
            "id": bid,
            "object": "batch",
            "endpoint": endpoint,
            "model": None,
            "errors": None,
            "input_file_id": f.id,
            "completion_window": "24h",
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": now,
            "in_progress_at": None,
            "expires_at": now + _DAY,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "usage": None,
            "metadata": body.get("metadata"),
        }
        batch = _Batch("openai", bid, obj, [f.data], wire=flv.wire)
        self.batches[bid] = batch
        self.created += 1
        self._spawn(batch)
        return self._json(obj)

    @staticmethod
    def _validate_openai(data: bytes, endpoint: str) -> tuple[list[tuple[str, Any]], list[dict[str, Any]]]:
        """The input file's ``(custom_id, body)`` pairs and its validation errors (OpenAI's codes)."""
        pairs: list[tuple[str, Any]] = []
        errors: list[dict[str, Any]] = []
        seen: set[str] = set()
        for n, raw in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
            if not raw.strip():
                continue

            def bad(code: str, message: str, param: str | None = None, line: int = n) -> None:
                errors.append({"code": code, "message": message, "param": param, "line": line})

            try:
                line = json.loads(raw)
            except ValueError:
                bad("invalid_json_line", "This line is not parseable as valid JSON.")
                continue
            cid = line.get("custom_id") if isinstance(line, dict) else None
            if not isinstance(cid, str) or not cid:
                bad("missing_required_parameter", "Missing required parameter: 'custom_id'.", "custom_id")
            elif cid in seen:
                bad("duplicate_custom_id", f"The custom_id {cid!r} is not unique.", "custom_id")
            elif line.get("url") != endpoint:
                bad("mismatched_endpoint", f"The url must match the batch's endpoint {endpoint}.", "url")
            elif line.get("method") != "POST":
                bad("invalid_method", "Only the POST method is supported.", "method")
            elif not isinstance(line.get("body"), dict):
                bad("missing_required_parameter", "Missing required parameter: 'body'.", "body")
            else:
                seen.add(cid)
                pairs.append((cid, line["body"]))
        if not pairs and not errors:
            errors.append({"code": "empty_file", "message": "The input file is empty.", "param": None, "line": None})
        models = {b.get("model") for _, b in pairs}
        if len(models) > 1:
            errors.append(
                {
                    "code": "mismatched_model",
                    "message": "All requests in a batch must use the same model.",
                    "param": "model",
                    "line": None,
                }
            )
        return pairs, errors

    async def _run_openai(self, batch: _Batch, gen: int) -> None:
        o, d = batch.obj, float(self.server.batch_delay)
        if not await self._pause(d * 0.1, gen):
            return
        pairs, errors = self._validate_openai(batch.lines[0], o["endpoint"])
        if errors:
            o.update(status="failed", failed_at=int(time.time()), errors={"object": "list", "data": errors})
            return
        if not batch.cancel.is_set():  # else it stays "cancelling": every request is cancelled below
            o.update(status="in_progress", in_progress_at=int(time.time()))
        o["model"] = pairs[0][1].get("model")
        o["request_counts"]["total"] = len(pairs)
        if not await self._process(batch, batch.wire or WIRES["openai"], pairs, d * 0.8, gen):
            return
        if not batch.cancel.is_set():
            o.update(status="finalizing", finalizing_at=int(time.time()))
        if not await self._pause(d * 0.1, gen):
            return
        self._openai_files(batch)
        now = int(time.time())
        kinds = {it.kind for it in batch.items}
        if batch.cancel.is_set() or "canceled" in kinds:
            o.update(status="cancelled", cancelled_at=now, cancelling_at=o["cancelling_at"] or now)
        elif "expired" in kinds:
            o.update(status="expired", expired_at=now)
        else:
            o.update(status="completed", completed_at=now)

    def _openai_files(self, batch: _Batch, keys: tuple[str, str] = ("output_file_id", "error_file_id")) -> None:
        """Write the output and error files the way OpenAI does (one JSON line per request); Mistral's
        have the same lines (its job names them ``output_file`` / ``error_file``)."""
        out: list[bytes] = []
        err: list[bytes] = []
        usage = {"input_tokens": 0, "output_tokens": 0}
        for it in batch.items:
            line: dict[str, Any] = {"id": "batch_req_" + _hex(32), "custom_id": it.custom_id}
            if it.kind in ("succeeded", "errored"):
                rid = "req_" + _hex(32)
                line["response"] = {"status_code": it.status, "request_id": rid, "body": it.body}
                line["error"] = None
            else:
                code, msg = (
                    ("batch_expired", "This request could not be executed before the completion window expired.")
                    if it.kind == "expired"
                    else ("batch_cancelled", "This request was not executed because the batch was cancelled.")
                )
                line["response"], line["error"] = None, {"code": code, "message": msg}
            (out if it.kind == "succeeded" else err).append(dumps(line))
            if it.kind == "succeeded":
                u = it.body.get("usage") or {}
                usage["input_tokens"] += u.get("prompt_tokens", 0)
                usage["output_tokens"] += u.get("completion_tokens", 0)
        now = int(time.time())
        for lines, key, name in ((out, keys[0], "output"), (err, keys[1], "error")):
            if lines:
                f = _File("file-" + _hex(), f"{batch.id}_{name}.jsonl", "batch_output", b"\n".join(lines) + b"\n", now)
                self.files[f.id] = f
                batch.obj[key] = f.id
        self._progress(batch)
        if batch.provider != "openai":
            return
        batch.obj["usage"] = {
            **usage,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage["input_tokens"] + usage["output_tokens"],
        }
        batch.obj["request_counts"]["failed"] = len(err)

    async def _oa_batch_or_404(self, request: web.Request, flv: _Flavour) -> tuple[_Batch | None, web.Response | None]:
        wire = flv.wire
        _, denied = await self._enter(request, wire, flv=flv)
        if denied is not None:
            return None, denied
        b = self.batches.get(request.match_info["id"])
        if b is None or b.provider != "openai":
            return None, self._error(wire, 404, f"No batch found with id '{request.match_info['id']}'.")
        return b, None

    async def _oa_get(self, request: web.Request, flv: _Flavour) -> web.Response:
        b, err = await self._oa_batch_or_404(request, flv)
        return err or self._json(b.obj)  # type: ignore[union-attr]

    async def _oa_cancel(self, request: web.Request, flv: _Flavour) -> web.Response:
        b, err = await self._oa_batch_or_404(request, flv)
        if err is not None:
            return err
        assert b is not None
        if b.obj["status"] not in ("validating", "in_progress", "finalizing", "cancelling"):
            return self._error(flv.wire, 409, f"Cannot cancel a batch with status '{b.obj['status']}'.")
        if b.obj["status"] != "cancelling" and not b.cancel.is_set():
            b.cancel.set()
            b.obj.update(status="cancelling", cancelling_at=int(time.time()))
        return self._json(b.obj)

    async def _oa_list(self, request: web.Request, flv: _Flavour) -> web.Response:
        _, denied = await self._enter(request, flv.wire, flv=flv)
        if denied is not None:
            return denied
        objs = [b.obj for b in reversed(self.batches.values()) if b.provider == "openai"]
        return self._json(_page(objs, request.query.get("after"), None, request.query.get("limit"), "openai"))

    # ------------------------------------------------------------------------------------ Mistral

    _MI_ENDPOINTS = frozenset({"/v1/chat/completions"})

    async def _mi_create(self, request: web.Request) -> web.Response:
        wire = WIRES["openai"]  # Mistral's errors and chat answers have OpenAI's shape here
        body, denied = await self._enter(request, wire)
        if denied is not None:
            return denied
        if not isinstance(body, dict) or not isinstance(body.get("input_files"), list) or not body["input_files"]:
            return self._error(wire, 422, "input_files: Field required (a non-empty list of file ids)")
        if body.get("endpoint") not in self._MI_ENDPOINTS:
            return self._error(wire, 422, f"endpoint: {body.get('endpoint')!r} is not a supported endpoint")
        if not isinstance(body.get("model"), str) or not body["model"]:
            return self._error(wire, 422, "model: Field required")
        files = [self.files.get(str(fid)) for fid in body["input_files"]]
        if any(f is None for f in files):
            return self._error(wire, 404, "File not found")
        now = int(time.time())
        jid = str(uuid.uuid4())
        obj: dict[str, Any] = {
            "id": jid, "object": "batch", "input_files": body["input_files"], "metadata": body.get("metadata"),
            "endpoint": body["endpoint"], "model": body["model"], "output_file": None, "error_file": None,
            "errors": [], "status": "QUEUED", "created_at": now, "total_requests": 0, "completed_requests": 0,
            "succeeded_requests": 0, "failed_requests": 0, "started_at": None, "completed_at": None,
        }  # fmt: skip
        batch = _Batch("mistral", jid, obj, [f.data for f in files if f is not None])
        self.batches[jid] = batch
        self.created += 1
        self._spawn(batch)
        return self._json(obj)

    async def _run_mistral(self, batch: _Batch, gen: int) -> None:
        o, d = batch.obj, float(self.server.batch_delay)
        if not await self._pause(d * 0.1, gen):
            return
        pairs: list[tuple[str, Any]] = []
        for data in batch.lines:
            for n, raw in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
                if not raw.strip():
                    continue
                try:
                    line = json.loads(raw)
                    cid, req = line["custom_id"], line["body"]
                    if not isinstance(cid, str) or not isinstance(req, dict):
                        raise TypeError
                except (ValueError, KeyError, TypeError):
                    o["errors"].append({"message": f"line {n}: not a {{custom_id, body}} object", "count": 1})
                    continue
                pairs.append((cid, {"model": o["model"], **req}))
        if o["errors"] or not pairs:
            o.update(status="FAILED", completed_at=int(time.time()))
            return
        o.update(status="RUNNING" if not batch.cancel.is_set() else o["status"], started_at=int(time.time()))
        o["total_requests"] = len(pairs)
        if not await self._process(batch, WIRES["openai"], pairs, d * 0.8, gen):
            return
        if not await self._pause(d * 0.1, gen):
            return
        self._openai_files(batch, ("output_file", "error_file"))
        kinds = {it.kind for it in batch.items}
        status = "SUCCESS"
        if batch.cancel.is_set() or "canceled" in kinds:
            status = "CANCELLED"
        elif "expired" in kinds:
            status = "TIMEOUT_EXCEEDED"
        o.update(status=status, completed_at=int(time.time()))

    async def _mi_job_or_404(self, request: web.Request) -> tuple[_Batch | None, web.Response | None]:
        wire = WIRES["openai"]
        _, denied = await self._enter(request, wire)
        if denied is not None:
            return None, denied
        b = self.batches.get(request.match_info["id"])
        if b is None or b.provider != "mistral":
            return None, self._error(wire, 404, f"Batch job {request.match_info['id']} not found")
        return b, None

    async def _mi_get(self, request: web.Request) -> web.Response:
        b, err = await self._mi_job_or_404(request)
        return err or self._json(b.obj)  # type: ignore[union-attr]

    async def _mi_cancel(self, request: web.Request) -> web.Response:
        b, err = await self._mi_job_or_404(request)
        if err is not None:
            return err
        assert b is not None
        if b.obj["status"] in ("QUEUED", "RUNNING"):
            b.cancel.set()
            b.obj["status"] = "CANCELLATION_REQUESTED"
        return self._json(b.obj)

    async def _mi_list(self, request: web.Request) -> web.Response:
        _, denied = await self._enter(request, WIRES["openai"])
        if denied is not None:
            return denied
        jobs = [b.obj for b in reversed(self.batches.values()) if b.provider == "mistral"]
        try:
            size = max(1, int(request.query.get("page_size", "100")))
        except ValueError:
            size = 100
        return self._json({"data": jobs[:size], "object": "list", "total": len(jobs)})

    # ------------------------------------------------------------------------------------ Anthropic

    async def _an_create(self, request: web.Request) -> web.Response:
        wire = WIRES["anthropic"]
        body, denied = await self._enter(request, wire)
        if denied is not None:
            return denied
        reqs = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(reqs, list) or not reqs:
            return self._error(wire, 400, "requests: Field required (a non-empty list)")
        seen: set[str] = set()
        for i, r in enumerate(reqs):
            cid = r.get("custom_id") if isinstance(r, dict) else None
            if not isinstance(cid, str) or not _CUSTOM_ID.match(cid):
                message = f"requests.{i}.custom_id: String should match pattern '{_CUSTOM_ID.pattern}'"
                return self._error(wire, 400, message)
            if cid in seen:
                return self._error(wire, 400, f"requests.{i}: Duplicate custom_id {cid!r}")
            if not isinstance(r.get("params"), dict):
                return self._error(wire, 400, f"requests.{i}.params: Field required")
            seen.add(cid)
        now = time.time()
        bid = "msgbatch_" + _hex(24)
        obj = {
            "id": bid,
            "type": "message_batch",
            "processing_status": "in_progress",
            "request_counts": {"processing": len(reqs), "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
            "ended_at": None,
            "created_at": rfc3339(now),
            "expires_at": rfc3339(now + _DAY),
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": None,
        }
        batch = _Batch("anthropic", bid, obj, reqs)
        self.batches[bid] = batch
        self.created += 1
        self._spawn(batch)
        return self._json(obj)

    async def _run_anthropic(self, batch: _Batch, gen: int) -> None:
        d = float(self.server.batch_delay)
        pairs = [(r["custom_id"], r["params"]) for r in batch.lines]
        if not await self._process(batch, WIRES["anthropic"], pairs, d * 0.9, gen):
            return
        if not await self._pause(d * 0.1, gen):
            return
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        for it in batch.items:
            counts[it.kind] += 1
        batch.obj.update(
            processing_status="ended",
            request_counts=counts,
            ended_at=rfc3339(time.time()),
            results_url=f"{self.server.url}/v1/messages/batches/{batch.id}/results",
        )

    @staticmethod
    def _an_line(it: _Item) -> bytes:
        result: dict[str, Any] = {"type": it.kind}
        if it.kind == "succeeded":
            result["message"] = it.body
        elif it.kind == "errored":
            result["error"] = it.body
        return dumps({"custom_id": it.custom_id, "result": result})

    async def _an_batch_or_404(self, request: web.Request) -> tuple[_Batch | None, web.Response | None]:
        wire = WIRES["anthropic"]
        _, denied = await self._enter(request, wire)
        if denied is not None:
            return None, denied
        b = self.batches.get(request.match_info["id"])
        if b is None or b.provider != "anthropic":
            return None, self._error(wire, 404, f"Message Batch {request.match_info['id']} not found.")
        return b, None

    async def _an_get(self, request: web.Request) -> web.Response:
        b, err = await self._an_batch_or_404(request)
        return err or self._json(b.obj)  # type: ignore[union-attr]

    async def _an_cancel(self, request: web.Request) -> web.Response:
        b, err = await self._an_batch_or_404(request)
        if err is not None:
            return err
        assert b is not None
        if b.obj["processing_status"] == "in_progress":
            b.cancel.set()
            b.obj.update(processing_status="canceling", cancel_initiated_at=rfc3339(time.time()))
        return self._json(b.obj)

    async def _an_delete(self, request: web.Request) -> web.Response:
        b, err = await self._an_batch_or_404(request)
        if err is not None:
            return err
        assert b is not None
        if b.obj["processing_status"] != "ended":
            return self._error(WIRES["anthropic"], 400, "Message Batch is still processing; cancel it first.")
        del self.batches[b.id]
        return self._json({"id": b.id, "type": "message_batch_deleted"})

    async def _an_results(self, request: web.Request) -> web.Response:
        b, err = await self._an_batch_or_404(request)
        if err is not None:
            return err
        assert b is not None
        if b.obj["processing_status"] != "ended":
            return self._error(WIRES["anthropic"], 404, f"Message Batch {b.id} has not ended: no results yet.")
        data = b"".join(self._an_line(it) + b"\n" for it in b.items)
        return web.Response(body=data, content_type="application/binary")

    async def _an_list(self, request: web.Request) -> web.Response:
        _, denied = await self._enter(request, WIRES["anthropic"])
        if denied is not None:
            return denied
        q = request.query
        objs = [b.obj for b in reversed(self.batches.values()) if b.provider == "anthropic"]
        return self._json(_page(objs, q.get("after_id"), q.get("before_id"), q.get("limit"), "anthropic"))

    # ------------------------------------------------------------------------------------ Gemini

    _GE_MAX_BYTES = 20_000_000  # inline requests: the whole request under 20 MB
    _GE_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta."
    _GRPC = {"CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4, "NOT_FOUND": 5,
             "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8, "FAILED_PRECONDITION": 9, "ABORTED": 10,
             "NOT_IMPLEMENTED": 12, "INTERNAL": 13, "UNAVAILABLE": 14, "UNAUTHENTICATED": 16}  # fmt: skip

    async def _ge_create(self, request: web.Request) -> web.Response:
        wire = WIRES["gemini"]
        body, denied = await self._enter(request, wire)
        if denied is not None:
            return denied
        if len(await request.read()) > self._GE_MAX_BYTES:
            return self._error(wire, 400, f"Request payload size exceeds the limit: {self._GE_MAX_BYTES} bytes.")

        def field(obj: Any, camel: str, snake: str) -> Any:
            return obj.get(camel, obj.get(snake)) if isinstance(obj, dict) else None

        batch_in = field(body, "batch", "batch")
        if not isinstance(batch_in, dict):
            return self._error(wire, 400, "* BatchGenerateContentRequest.batch: batch is required")
        display = field(batch_in, "displayName", "display_name")
        if not isinstance(display, str) or not display:
            return self._error(wire, 400, "* GenerateContentBatch.display_name: display_name is required")
        config = field(batch_in, "inputConfig", "input_config")
        if field(config, "fileName", "file_name") is not None:
            return self._error(wire, 400, "input_config.file_name: file input is not served by this fake")
        reqs = field(field(config, "requests", "requests"), "requests", "requests")
        if not isinstance(reqs, list) or not reqs:
            return self._error(wire, 400, "* GenerateContentBatch.input_config: requests is required (non-empty)")
        lines: list[tuple[str, Any, Any]] = []
        for i, r in enumerate(reqs):
            if not isinstance(r, dict) or not isinstance(r.get("request"), dict):
                return self._error(wire, 400, f"* input_config.requests.requests[{i}].request: request is required")
            meta = r.get("metadata")
            if meta is not None and not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
                return self._error(wire, 400, f"input_config.requests.requests[{i}].metadata: a map of strings")
            lines.append((str(i), r["request"], meta))
        model = request.match_info["model"].removeprefix("models/")
        now = rfc3339(time.time())
        name = "batches/" + _hex(24)
        n = str(len(lines))
        meta_obj: dict[str, Any] = {
            "@type": self._GE_TYPE + "GenerateContentBatch", "model": f"models/{model}", "displayName": display,
            "createTime": now, "updateTime": now, "state": "BATCH_STATE_PENDING", "name": name,
            "batchStats": {"requestCount": n, "pendingRequestCount": n},
        }  # fmt: skip
        batch = _Batch("gemini", name, {"name": name, "metadata": meta_obj, "done": False}, lines)
        self.batches[name] = batch
        self.created += 1
        self._spawn(batch)
        return self._json(batch.obj)

    async def _run_gemini(self, batch: _Batch, gen: int) -> None:
        meta, d = batch.obj["metadata"], float(self.server.batch_delay)
        if not await self._pause(d * 0.1, gen, batch.cancel):
            return
        if not batch.cancel.is_set():
            meta.update(state="BATCH_STATE_RUNNING", updateTime=rfc3339(time.time()))
            pairs = [(cid, req) for cid, req, _ in batch.lines]
            model = str(meta["model"]).removeprefix("models/")
            if not await self._process(batch, WIRES["gemini"], pairs, d * 0.8, gen, model):
                return
            if not await self._pause(d * 0.1, gen):
                return
        kinds = {it.kind for it in batch.items}
        state = "BATCH_STATE_SUCCEEDED"
        if "expired" in kinds:
            state = "BATCH_STATE_EXPIRED"
        elif batch.cancel.is_set() or "canceled" in kinds or not batch.items:
            state = "BATCH_STATE_CANCELLED"
        now = rfc3339(time.time())
        meta.update(state=state, updateTime=now, endTime=now)
        batch.obj["done"] = True
        if state != "BATCH_STATE_SUCCEEDED":
            return  # an expired or cancelled batch gives no answers here
        out = []
        for it, (_, _, item_meta) in zip(batch.items, batch.lines):
            one: dict[str, Any] = {}
            if it.kind == "succeeded":
                one["response"] = it.body
            else:
                raw = it.body.get("error") if isinstance(it.body, dict) else None
                err: dict[str, Any] = raw if isinstance(raw, dict) else {}
                one["error"] = {"code": self._GRPC.get(str(err.get("status")), 2), "message": err.get("message", "")}
            if item_meta is not None:
                one["metadata"] = item_meta
            out.append(one)
        output = {"inlinedResponses": {"inlinedResponses": out}}
        meta["output"] = output
        batch.obj["response"] = {"@type": self._GE_TYPE + "GenerateContentBatchOutput", **output}

    async def _ge_batch_or_404(self, request: web.Request) -> tuple[_Batch | None, web.Response | None]:
        wire = WIRES["gemini"]
        _, denied = await self._enter(request, wire)
        if denied is not None:
            return None, denied
        b = self.batches.get("batches/" + request.match_info["id"])
        if b is None or b.provider != "gemini":
            return None, self._error(wire, 404, "Requested entity was not found.")
        return b, None

    async def _ge_get(self, request: web.Request) -> web.Response:
        b, err = await self._ge_batch_or_404(request)
        return err or self._json(b.obj)  # type: ignore[union-attr]

    async def _ge_cancel(self, request: web.Request) -> web.Response:
        b, err = await self._ge_batch_or_404(request)
        if err is not None:
            return err
        assert b is not None
        if not b.obj["done"]:
            b.cancel.set()
        return self._json({})

    async def _ge_list(self, request: web.Request) -> web.Response:
        _, denied = await self._enter(request, WIRES["gemini"])
        if denied is not None:
            return denied
        ops = [b.obj for b in reversed(self.batches.values()) if b.provider == "gemini"]
        try:
            size = max(1, min(int(request.query.get("pageSize", "50")), 1000))
            start = int(request.query.get("pageToken") or 0)
        except ValueError:
            return self._error(WIRES["gemini"], 400, "Invalid pageSize or pageToken.")
        page: dict[str, Any] = {"operations": ops[start : start + size]}
        if start + size < len(ops):
            page["nextPageToken"] = str(start + size)
        return self._json(page)


def _page(objs: list[dict[str, Any]], after: str | None, before: str | None, limit: Any, style: str) -> dict[str, Any]:
    """One page of a newest-first list, cut by cursor ids, in OpenAI's or Anthropic's list shape."""
    ids = [o["id"] for o in objs]
    if after in ids:
        objs = objs[ids.index(after) + 1 :]
    elif before in ids:
        objs = objs[: ids.index(before)]
    try:
        n = max(1, min(int(limit), 1000)) if limit is not None else 20
    except ValueError:
        n = 20
    page, more = objs[:n], len(objs) > n
    first, last = (page[0]["id"], page[-1]["id"]) if page else (None, None)
    out: dict[str, Any] = {"data": page, "has_more": more, "first_id": first, "last_id": last}
    return {"object": "list", **out} if style == "openai" else out
