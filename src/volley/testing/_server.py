"""``FakeServer``: a local, protocol-faithful stand-in for OpenAI, Anthropic, Cohere, Gemini, AWS Bedrock, Azure
OpenAI, Azure AI Foundry, Vertex AI and Ollama."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import random
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ._batches import BATCH_FAILURES, BatchStore
from .wires import WIRES, Answer, BadRequest, Wire, dumps, go_duration, make_answer, rfc3339, status_message

__all__ = ["FAILURES", "FakeServer", "RequestRecord"]

#: The failure kinds ``failures`` / ``fail`` accept (besides an int HTTP status).
FAILURES = (
    frozenset({"drop", "drop_after_headers", "stall", "malformed", "html", "truncate", "stream_error", "slow_body"})
    | BATCH_FAILURES
)  # "expired" / "canceled": a batch item that expired or was cancelled (online: a 500)

_HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)

_BEDROCK_ACTIONS = {  # the last path segment of a Bedrock Runtime route → (wire, stream)
    "converse": ("bedrock", False),
    "converse-stream": ("bedrock", True),
    "invoke": ("bedrock_invoke", False),
    "invoke-with-response-stream": ("bedrock_invoke", True),
}
_BEDROCK_WIRES = frozenset(w for w, _ in _BEDROCK_ACTIONS.values())

_DEFAULTS: dict[str, Any] = {
    "latency": 0.0,
    "content": None,
    "tool_call": None,
    "reasoning": None,
    "failures": None,
    "fail": None,
    "fail_rate": 0.0,
    "seed": None,
    "rpm": None,
    "tpm": None,
    "window": 1.0,
    "retry_after": 1.0,
    "chunk_delay": 0.0,
    "stall": 3600.0,
    "slow_body": 0.2,
}


@dataclass(slots=True)
class RequestRecord:
    """One request the server received. ``headers`` keys are lowercase; ``json`` is None if unparsable."""

    provider: str
    path: str
    model: str | None
    headers: dict[str, str]
    json: Any
    query: dict[str, str] = field(default_factory=dict)
    time: float = 0.0

    @property
    def stream(self) -> bool:
        """Whether the request asked for a stream."""
        if self.provider == "gemini":
            return "streamGenerateContent" in self.path
        if self.provider in _BEDROCK_WIRES:
            return self.path.endswith(("/converse-stream", "/invoke-with-response-stream"))
        if self.provider == "ollama":  # Ollama streams unless told not to
            return not (isinstance(self.json, dict) and self.json.get("stream") is False)
        return isinstance(self.json, dict) and bool(self.json.get("stream"))


class _Script:
    """One ``script()`` call: its options, and the state they consume (failures queue, random source)."""

    __slots__ = ("failures", "opts", "rng")

    def __init__(self, opts: dict[str, Any]) -> None:
        unknown = set(opts) - set(_DEFAULTS)
        if unknown:
            raise TypeError(f"unknown behaviour: {', '.join(sorted(unknown))} (known: {', '.join(_DEFAULTS)})")
        for f in [*(opts.get("failures") or ()), opts.get("fail")]:
            if f is not None and not isinstance(f, int) and f not in FAILURES:
                raise ValueError(f"unknown failure {f!r}: use an HTTP status or one of {sorted(FAILURES)}")
        self.opts = opts
        self.failures: deque[Any] = deque(opts.get("failures") or ())
        self.rng = random.Random(opts.get("seed"))


class _Plan:
    """The merged behaviour of one model: defaults ← model-name tokens ← ``"*"`` ← the model's script."""

    __slots__ = ("fail_rng", "failures", "latency_rng", "o")

    def __init__(self, layers: list[_Script]) -> None:
        o = dict(_DEFAULTS)
        self.failures: deque[Any] | None = None
        self.fail_rng: random.Random | None = None
        self.latency_rng: random.Random | None = None
        for s in layers:
            o.update(s.opts)
            if "failures" in s.opts:
                self.failures = s.failures
            if "fail_rate" in s.opts:
                self.fail_rng = s.rng
            if "latency" in s.opts:
                self.latency_rng = s.rng
        self.o = o

    def next_failure(self) -> Any:
        if self.failures:
            return self.failures.popleft()
        if self.o["fail"] is not None:
            return self.o["fail"]
        rate = self.o["fail_rate"]
        if rate and self.fail_rng is not None and self.fail_rng.random() < rate:
            return 500 if self.fail_rng.random() < 0.5 else "drop"
        return None

    def latency(self) -> float:
        lat = self.o["latency"]
        if isinstance(lat, (tuple, list)):
            rng = self.latency_rng or random
            return rng.uniform(float(lat[0]), float(lat[1]))
        return float(lat or 0.0)


_NAME_TOKENS = re.compile(
    r"(?:^|[-_/])(?:"
    r"latency-(?P<lat>\d+(?:\.\d+)?)(?P<unit>ms|s)"
    r"|fail-(?P<fail>\d{3}|drop_after_headers|drop|stall|malformed|html|truncate|stream_error|slow_body)"
    r"|failrate-(?P<rate>\d*\.?\d+)"
    r"|rpm-(?P<rpm>\d+)"
    r"|tool-(?P<tool>[A-Za-z_]\w*)"
    r")(?=$|[-/])"
)


def behaviour_from_name(model: str) -> dict[str, Any]:
    """Behaviour encoded in a model name that contains ``fake``, for use without Python scripting.

    Tokens: ``latency-300ms`` / ``latency-2s``, ``fail-500`` / ``fail-drop`` / ``fail-stall`` (every request),
    ``failrate-0.1``, ``rpm-60``, ``tool-get_weather`` (answer with a call to that tool, no arguments).

    >>> behaviour_from_name("fake-latency-300ms-fail-429")
    {'latency': 0.3, 'fail': 429}
    """
    if "fake" not in model:
        return {}
    out: dict[str, Any] = {}
    for m in _NAME_TOKENS.finditer(model):
        if m["lat"]:
            out["latency"] = float(m["lat"]) / (1000.0 if m["unit"] == "ms" else 1.0)
        elif m["fail"]:
            out["fail"] = int(m["fail"]) if m["fail"].isdigit() else m["fail"]
        elif m["rate"]:
            out["fail_rate"] = float(m["rate"])
        elif m["rpm"]:
            out["rpm"] = int(m["rpm"])
        elif m["tool"]:
            out["tool_call"] = {"name": m["tool"], "arguments": {}}
    return out


class _Call:
    """Per-request state the handler's error paths need."""

    __slots__ = ("dropped", "request", "response")

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.dropped = False
        self.response: web.StreamResponse | None = None


class _Window:
    __slots__ = ("count", "start", "tokens")

    def __init__(self, now: float) -> None:
        self.start, self.count, self.tokens = now, 0, 0


class FakeServer:
    """A local fake of the OpenAI, Anthropic, Cohere, Gemini, AWS Bedrock, Azure, Vertex AI and Ollama chat endpoints.

    Answers ``"echo: " + <last user message>`` by default, in each provider's real shape (JSON and SSE),
    and can be scripted per model with latency, fixed content, tool calls, failures and rate limits.

    Routes: ``POST /v1/chat/completions`` (also ``/chat/completions``), ``POST /v1/messages``,
    ``POST /v2/chat``, ``POST /v1beta/models/{model}:generateContent`` and ``:streamGenerateContent``
    (``?alt=sse`` for SSE, else a JSON array), Bedrock ``POST /model/{modelId}/converse``, ``/converse-stream``,
    ``/invoke`` and ``/invoke-with-response-stream`` (SigV4-checked with the test credentials of
    :mod:`volley.testing.wires.bedrock`; streams in AWS event-stream framing), Azure OpenAI
    ``/openai/deployments/{d}/chat/completions?api-version=...`` and ``/openai/v1/chat/completions``,
    Azure AI Foundry ``/models/chat/completions?api-version=...`` (:mod:`volley.testing.wires.azure`),
    Vertex AI ``/v1/projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent`` (and
    ``:streamGenerateContent``), ``.../publishers/anthropic/models/{m}:rawPredict`` (``:streamRawPredict``)
    and ``.../endpoints/openapi/chat/completions`` (:mod:`volley.testing.wires.vertex`, bearer tokens).
    Ollama ``POST /api/chat`` (NDJSON streams). OpenAI answers ``n > 1`` with n choices (the i-th text ends
    with `` #i``).
    Provider batch APIs: OpenAI ``/v1/files`` + ``/v1/batches`` (also at Azure's ``/openai/...`` paths),
    Anthropic ``/v1/messages/batches``, Mistral ``/v1/batch/jobs`` and Gemini
    ``/v1beta/models/{model}:batchGenerateContent`` + ``/v1beta/batches``, each item answered as online;
    they take ``batch_delay`` seconds.

    Example::

        with FakeServer() as server:
            server.script("gpt-4o", latency=0.1, failures=[429, "drop"])
            client = openai.OpenAI(base_url=server.openai_base, api_key="sk-test")
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str | None = None,
        record: bool = True,
        batch_delay: float = 0.2,
    ):
        """``api_key``: if set, every provider refuses any other key (401); else any non-empty key passes.
        ``record=False`` keeps no ``requests`` list (long benchmarks). ``batch_delay``: seconds a provider
        batch (OpenAI Batch, Anthropic Message Batches) takes from creation to its end (settable later)."""
        self.host = host
        self.batch_delay = batch_delay
        self.batch_store = BatchStore(self)
        self.port = port
        self.api_key = api_key
        self.record = record
        self.requests: list[RequestRecord] = []
        self.disconnects = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._scripts: dict[str, _Script] = {}
        self._plans: dict[str, _Plan] = {}
        self._windows: dict[str, _Window] = {}
        self._seq = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------ scripting

    def script(self, model: str, **behaviour: Any) -> FakeServer:
        """Set the behaviour of ``model`` (``"*"``: every model without its own script); replaces earlier.

        Behaviour (all optional):

        - ``latency``: seconds before the headers (a float, or ``(lo, hi)`` for a uniform draw).
        - ``content``: fixed answer text instead of the echo.
        - ``tool_call``: ``{"name": str, "arguments": dict}``, answer with a call to that tool.
        - ``reasoning``: thinking text shown before the answer, in each wire's own shape (OpenAI:
          ``reasoning_content``; Anthropic: a signed ``thinking`` block; Ollama: ``message.thinking``;
          Gemini: a ``thought`` part).
        - ``failures``: a list consumed one per request: an HTTP status (int) or one of ``FAILURES``
          (None: no failure for that request). In a provider batch, one per item in input order;
          ``"expired"`` / ``"canceled"`` expire or cancel that item.
        - ``fail``: one failure applied to every request; ``fail_rate`` (+ ``seed``): random 500s and drops.
        - ``rpm`` / ``tpm`` / ``window``: limits per model, enforced on ``window``-second windows
          (``rpm * window / 60`` requests each), answered with 429 + ``retry-after``.
        - ``retry_after``: the ``retry-after`` seconds of injected 429s (None: no header); ``chunk_delay``:
          seconds between stream events; ``stall``: seconds a ``"stall"`` hangs; ``slow_body``: seconds
          between the pieces of a slow body (8 pieces for JSON, one per event for streams).

        ``latency`` applies before every answer, injected failures included; rate-limit refusals are
        immediate. Failures from ``failures`` come first, then ``fail``, then ``fail_rate``.

        Example: ``server.script("claude-3-5-haiku", latency=0.05, failures=[529, "truncate"])``
        """
        self._scripts[model] = _Script(behaviour)
        self._plans.clear()
        return self

    def reset(self) -> None:
        """Forget every script, record, counter and rate-limit window."""
        self._scripts = {}
        self._plans = {}
        self._windows = {}
        self.batch_store.reset()
        self.requests = []
        self.disconnects = 0
        self.max_in_flight = self.in_flight

    def _plan(self, model: str) -> _Plan:
        plan = self._plans.get(model)
        if plan is None:
            layers = []
            named = behaviour_from_name(model)
            if named:
                layers.append(_Script(named))
            for key in ("*", model):
                if key in self._scripts:
                    layers.append(self._scripts[key])
            plan = self._plans[model] = _Plan(layers)
        return plan

    # ------------------------------------------------------------------------------------ addresses

    @property
    def url(self) -> str:
        """Root URL, the ``base_url`` for the Anthropic, Cohere and Gemini clients."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def openai_base(self) -> str:
        """``url + "/v1"``, the ``base_url`` for OpenAI-compatible clients."""
        return self.url + "/v1"

    # ------------------------------------------------------------------------------------ lifecycle

    def app(self) -> web.Application:
        """The aiohttp application (routes only; ``start`` runs it)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        w = WIRES
        self.batch_store.register(app)  # first: Gemini's models/{m}:batchGenerateContent before models/{spec}
        # OpenAI and compatible hosts: /v1 (most), none (Perplexity), a Databricks workspace; /openai/v1 (Groq)
        # is served by the Azure v1 route (the same protocol; it takes a bearer key too)
        for path in ("/v1/chat/completions", "/chat/completions", "/serving-endpoints/chat/completions"):
            app.router.add_post(path, self._handler(w["openai"]))
        app.router.add_post("/v1/messages", self._handler(w["anthropic"]))
        app.router.add_post("/v2/chat", self._handler(w["cohere"]))
        for version in ("v1beta", "v1"):
            app.router.add_post(f"/{version}/models/{{spec}}", self._handler(w["gemini"]))
        for action, (wire_name, _) in _BEDROCK_ACTIONS.items():
            app.router.add_post(f"/model/{{model_id:.+}}/{action}", self._handler(w[wire_name]))
        self._cloud_routes(app)
        app.router.add_post("/api/chat", self._handler(w["ollama"]))
        app.router.add_get("/", self._index)
        return app

    async def start(self) -> FakeServer:
        """Start serving on the running event loop; returns once the port is bound."""
        self._closing = False
        self._loop = asyncio.get_running_loop()
        self._runner = web.AppRunner(self.app(), handler_cancellation=True, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock, backlog=2048)
        await site.start()
        return self

    async def close(self) -> None:
        """Stop serving; handlers still running are cancelled (not counted as disconnects)."""
        self._closing = True
        await self.batch_store.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start_in_thread(self) -> FakeServer:
        """Serve from a private event loop in a daemon thread (for sync clients and other loops)."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.close())
                loop.close()

        self._thread = threading.Thread(target=run, name=f"volley-fake-server-{id(self):x}", daemon=True)
        self._thread.start()
        ready.wait()
        if errors:
            self._thread = None
            raise errors[0]
        return self

    def stop(self) -> None:
        """Stop a server started with ``start_in_thread``."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        self._closing = True
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> FakeServer:
        return self.start_in_thread()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> FakeServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------------------------ Azure, Vertex AI

    def _cloud_routes(self, app: web.Application) -> None:
        """Azure OpenAI (deployments and v1 API; ``/openai/v1`` also serves OpenAI-compatible hosts under that
        prefix, e.g. Groq), Azure AI Foundry model inference and Vertex AI (Gemini, Claude, OpenAI-compatible)."""
        from .wires.azure import AzureAIWire, AzureOpenAIWire
        from .wires.vertex import VertexAnthropicWire, VertexGeminiWire

        r = app.router
        r.add_post("/openai/deployments/{deployment}/chat/completions", self._bound(AzureOpenAIWire()))
        r.add_post("/openai/v1/chat/completions", self._handler(AzureOpenAIWire()))
        r.add_post("/models/chat/completions", self._bound(AzureAIWire()))
        where = "/{version:v1|v1beta1}/projects/{project}/locations/{location}"
        r.add_post(where + "/publishers/google/models/{spec}", self._bound(VertexGeminiWire()))
        r.add_post(where + "/publishers/anthropic/models/{spec}", self._bound(VertexAnthropicWire()))
        r.add_post(where + "/endpoints/openapi/chat/completions", self._handler(WIRES["openai"]))

    def _bound(self, wire: Any) -> Any:
        """A handler whose wire is bound to each request first (the model or deployment in its path)."""

        async def handle(request: web.Request) -> web.StreamResponse:
            resp: web.StreamResponse = await self._handler(wire.bind(request))(request)
            return resp

        return handle

    # ------------------------------------------------------------------------------------ handling

    async def _index(self, request: web.Request) -> web.Response:
        text = (
            "volley fake provider server\n"
            f"OpenAI:    POST {self.openai_base}/chat/completions\n"
            f"Anthropic: POST {self.url}/v1/messages\n"
            f"Cohere:    POST {self.url}/v2/chat\n"
            f"Gemini:    POST {self.url}/v1beta/models/MODEL:generateContent | :streamGenerateContent?alt=sse\n"
            f"Bedrock:   POST {self.url}/model/MODEL/converse | /converse-stream"
            " | /invoke | /invoke-with-response-stream\n"
            f"Azure:     POST {self.url}/openai/deployments/DEPLOYMENT/chat/completions?api-version=V"
            f" | {self.url}/openai/v1/chat/completions | {self.url}/models/chat/completions?api-version=V\n"
            f"Vertex AI: POST {self.url}/v1/projects/P/locations/L/publishers/google/models/MODEL:generateContent"
            " | publishers/anthropic/models/MODEL:rawPredict | endpoints/openapi/chat/completions\n"
            f"Ollama:    POST {self.url}/api/chat (NDJSON streams)\n"
            f"Batches:   POST {self.openai_base}/files, {self.openai_base}/batches; {self.url}/v1/messages/batches\n"
        )
        return web.Response(text=text)

    def _handler(self, wire: Wire) -> Any:
        async def handle(request: web.Request) -> web.StreamResponse:
            self.in_flight += 1
            if self.in_flight > self.max_in_flight:
                self.max_in_flight = self.in_flight
            call = _Call(request)
            try:
                return await self._serve(call, wire)
            except asyncio.CancelledError:
                if not self._closing and not call.dropped:
                    self.disconnects += 1
                raise
            except ConnectionError:
                if not call.dropped:
                    self.disconnects += 1
                return call.response if call.response is not None else web.Response(status=499)
            finally:
                self.in_flight -= 1

        return handle

    async def _serve(self, call: _Call, wire: Wire) -> web.StreamResponse:
        request = call.request
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        model: str | None = None
        stream = sse = False
        if wire.name == "gemini":
            model, _, action = request.match_info["spec"].rpartition(":")
            if action not in ("generateContent", "streamGenerateContent") or not model:
                return self._error(wire, 404, f"Method not found: {action or request.path}", {})
            stream = action == "streamGenerateContent"
            sse = request.query.get("alt") == "sse"
        elif wire.name in _BEDROCK_WIRES:
            model = request.match_info["model_id"]
            stream = _BEDROCK_ACTIONS[request.path.rsplit("/", 1)[-1]][1]
        elif isinstance(body, dict) and isinstance(body.get("model"), str):
            model = body["model"]
        self.record_request(wire, request, model, body)

        url = f"{request.scheme}://{request.host}{request.raw_path}"  # the path exactly as sent (SigV4 signs it)
        denied = wire.check_auth(request.method, url, request.headers, request.query, raw, self.api_key)
        if denied is not None:
            return self._error(wire, denied[0], denied[1], {}, denied[2])
        try:
            prompt = wire.read(body, model)
        except BadRequest as exc:
            return self._error(wire, 400, exc.message, {})
        array = False  # Gemini streamGenerateContent without alt=sse answers one JSON array of chunks
        if wire.name == "gemini":
            prompt.stream = stream and sse
            array = stream and not sse
        elif wire.name in _BEDROCK_WIRES:
            prompt.stream = stream
        plan = self._plan(prompt.model)
        o = plan.o
        answer = make_answer(prompt, next(self._seq), o["content"], o["tool_call"], o["reasoning"])

        headers, retry = self._admit(wire, prompt.model, plan, answer)
        if retry is not None:
            headers["retry-after"] = str(max(1, math.ceil(retry)))
            if wire.ratelimit_style == "openai":
                headers["retry-after-ms"] = str(max(1, math.ceil(retry * 1000)))
            return self._error(wire, 429, self._limit_message(wire, prompt.model), headers)

        failure = plan.next_failure()
        delay = plan.latency() + (float(o["stall"]) if failure == "stall" else 0.0)
        if delay > 0:
            await asyncio.sleep(delay)
        if failure == "stall":  # a client that waited this long gets its answer
            failure = None
        if failure in BATCH_FAILURES:  # only meaningful inside a provider batch
            failure = 500
        if isinstance(failure, int):
            if failure == 429 and o["retry_after"] is not None:
                headers["retry-after"] = f"{o['retry_after']:g}"
            return self._error(wire, failure, status_message(failure), headers)
        if failure == "html":
            return web.Response(status=502, text=_HTML_502, content_type="text/html", headers={"server": "nginx"})
        if failure == "drop":
            return self._drop(call)
        if prompt.stream:
            pause = float(o["slow_body"]) if failure == "slow_body" else float(o["chunk_delay"])
            return await self._stream(call, wire, answer, headers, failure, pause)
        body = wire.chunks(answer)[0] if array else wire.body(answer)  # type: ignore[attr-defined]
        if failure is None or failure == "slow_body":
            return await self._json(call, body, headers, float(o["slow_body"]) if failure else 0.0)
        if failure == "stream_error":  # asked of a non-stream request: the server error it stands for
            return self._error(wire, 500, status_message(500), headers)
        data = dumps(body)
        if failure == "malformed":
            return web.Response(body=data[: len(data) // 2], content_type="application/json", headers=headers)
        resp = web.StreamResponse(headers=headers)
        resp.content_type = "application/json"
        if failure == "drop_after_headers":  # the full length is announced, half is sent, the socket closes
            resp.content_length = len(data)
        call.response = resp
        await resp.prepare(request)
        await resp.write(data[: len(data) // 2])
        if failure == "drop_after_headers":
            return self._drop(call, resp)
        await resp.write_eof()  # "truncate": a complete HTTP message whose JSON stops half way
        return resp

    # ------------------------------------------------------------------------------------ answers

    def record_request(self, wire: Wire, request: web.Request, model: str | None, body: Any) -> None:
        """Keep a :class:`RequestRecord` of ``request`` (unless ``record=False``)."""
        if self.record:
            self.requests.append(
                RequestRecord(
                    provider=wire.name,
                    path=request.path,
                    model=model,
                    headers={k.lower(): v for k, v in request.headers.items()},
                    json=body,
                    query=dict(request.query),
                    time=time.time(),
                )
            )

    @staticmethod
    def _error(wire: Wire, status: int, message: str, headers: dict[str, str], kind: str | None = None) -> web.Response:
        body = dumps(wire.error_body(status, message, kind))
        headers = {**headers, **wire.error_headers(status, kind)}
        return web.Response(status=status, body=body, content_type="application/json", headers=headers)

    @staticmethod
    def _drop(call: _Call, resp: web.StreamResponse | None = None) -> web.StreamResponse:
        call.dropped = True
        if call.request.transport is not None:
            call.request.transport.close()
        return resp if resp is not None else web.Response(status=500)

    async def _json(self, call: _Call, body: Any, headers: dict[str, str], slow: float) -> web.StreamResponse:
        data = dumps(body)
        if not slow:
            return web.Response(body=data, content_type="application/json", headers=headers)
        resp = web.StreamResponse(headers=headers)
        resp.content_type = "application/json"
        resp.content_length = len(data)
        call.response = resp
        await resp.prepare(call.request)
        step = max(1, math.ceil(len(data) / 8))
        for i in range(0, len(data), step):
            if i:
                await asyncio.sleep(slow)
            await resp.write(data[i : i + step])
        await resp.write_eof()
        return resp

    async def _stream(
        self,
        call: _Call,
        wire: Wire,
        answer: Answer,
        headers: dict[str, str],
        failure: str | None,
        delay: float,
    ) -> web.StreamResponse:
        events, closing = wire.events(answer)
        if failure == "truncate":
            events = events[:closing]
        elif failure == "stream_error":
            events = [*events[: max(1, closing // 2 + 1)], wire.error_event("Overloaded")]
        elif failure == "malformed":
            events = [*events[:1], wire.malformed_event(), *events[1:]]
        elif failure == "drop_after_headers":
            events = events[: max(1, closing // 2)]
        resp = web.StreamResponse(headers=headers)
        resp.content_type = wire.stream_content_type
        resp.headers["cache-control"] = "no-cache"
        call.response = resp
        await resp.prepare(call.request)
        for i, ev in enumerate(events):
            if delay and i:
                await asyncio.sleep(delay)
            await resp.write(ev)
        if failure == "drop_after_headers":
            return self._drop(call, resp)
        await resp.write_eof()
        return resp

    # ------------------------------------------------------------------------------------ rate limits

    def _admit(self, wire: Wire, model: str, plan: _Plan, answer: Answer) -> tuple[dict[str, str], float | None]:
        """Count the request in its model's window; the rate-limit headers, and the wait if refused."""
        o = plan.o
        rpm, tpm = o["rpm"], o["tpm"]
        window = float(o["window"]) if (rpm or tpm) else 60.0
        now = time.monotonic()
        w = self._windows.get(model)
        if w is None or now >= w.start + window:
            w = self._windows[model] = _Window(now)
        reset = max(0.0, w.start + window - now)
        scale = 60.0 / window
        limit_r = int(rpm) if rpm else 10_000
        limit_t = int(tpm) if tpm else 2_000_000
        per_r = max(1, round(limit_r / scale))
        per_t = max(1, round(limit_t / scale))
        tokens = answer.prompt_tokens + answer.completion_tokens
        refused = (rpm and w.count >= per_r) or (tpm and w.tokens and w.tokens + tokens > per_t)
        if not refused:
            w.count += 1
            w.tokens += tokens
        left_r = max(0, per_r - w.count)
        left_t = max(0, per_t - w.tokens)
        headers: dict[str, str] = {}
        if not (rpm or tpm):
            # A server without limits advertises none (a client would rightly pace itself to them).
            if wire.ratelimit_style == "openai":
                headers["x-request-id"] = "req_" + answer.rid
            elif wire.ratelimit_style == "anthropic":
                headers["request-id"] = "req_" + answer.rid
        elif wire.ratelimit_style == "openai":
            headers = {
                "x-request-id": "req_" + answer.rid,
                "x-ratelimit-limit-requests": str(limit_r),
                "x-ratelimit-limit-tokens": str(limit_t),
                "x-ratelimit-remaining-requests": str(min(limit_r, round(left_r * scale))),
                "x-ratelimit-remaining-tokens": str(min(limit_t, round(left_t * scale))),
                "x-ratelimit-reset-requests": go_duration(reset if left_r == 0 else reset * w.count / per_r),
                "x-ratelimit-reset-tokens": go_duration(reset if left_t == 0 else reset * w.tokens / per_t),
            }
        elif wire.ratelimit_style == "anthropic":
            at = rfc3339(time.time() + reset)
            headers = {
                "request-id": "req_" + answer.rid,
                "anthropic-ratelimit-requests-limit": str(limit_r),
                "anthropic-ratelimit-requests-remaining": str(min(limit_r, round(left_r * scale))),
                "anthropic-ratelimit-requests-reset": at,
                "anthropic-ratelimit-tokens-limit": str(limit_t),
                "anthropic-ratelimit-tokens-remaining": str(min(limit_t, round(left_t * scale))),
                "anthropic-ratelimit-tokens-reset": at,
            }
        return headers, (reset if refused else None)

    @staticmethod
    def _limit_message(wire: Wire, model: str) -> str:
        if wire.name == "openai":
            return f"Rate limit reached for {model} on requests per min (RPM). Please try again later."
        if wire.name == "anthropic":
            return "This request would exceed the rate limit for your organization. Please try again later."
        if wire.name == "gemini":
            return "Resource has been exhausted (e.g. check quota)."
        if wire.name in _BEDROCK_WIRES:
            return "Too many requests, please wait before trying again."
        return "You are past the rate limit for this model. Please wait and try again."
