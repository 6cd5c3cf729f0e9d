"""Azure OpenAI Batch (volley.batch_api._azure): Azure's URLs, api-version, credentials and JSONL endpoint.

An Azure-shaped front on 127.0.0.1 checks what Azure requires of every request (``api-version``, the
``api-key`` header or an Entra ID bearer, ``/chat/completions`` as line url and batch endpoint) and hands
the batch to the fake server's OpenAI Batch implementation, which runs it (validating → in_progress →
completed, output and error files).
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from aiohttp import web

from volley.batch_api._azure import MAX_REQUESTS, azure_batches
from volley.providers.azure import AzureOpenAI
from volley.testing import FakeServer


class AzureFront:
    """``/openai/files`` and ``/openai/batches`` the Azure way, forwarded to the fake's ``/v1/...``."""

    def __init__(self, fake: FakeServer, version_required: bool = True) -> None:
        self.fake = fake
        self.version_required = version_required
        self.seen: list[dict[str, Any]] = []  # method, path, query, credential header of each request
        self.runner: web.AppRunner | None = None
        self.url = ""

    def _check(self, request: web.Request) -> web.Response | None:
        key = request.headers.get("api-key") or request.headers.get("Authorization", "")
        self.seen.append({"method": request.method, "path": request.path, "query": dict(request.query), "auth": key})
        if self.version_required and not request.query.get("api-version"):
            return web.json_response({"error": {"code": "404", "message": "Resource not found"}}, status=404)
        if not key:
            return web.json_response({"error": {"code": "401", "message": "Access denied"}}, status=401)
        return None

    async def _forward(self, method: str, path: str, *, data: Any = None, json_body: Any = None) -> web.Response:
        headers = {"Authorization": "Bearer fake"}
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.fake.url + path, data=data, json=json_body, headers=headers) as resp,
        ):
            return web.Response(status=resp.status, body=await resp.read(), content_type="application/json")

    async def upload(self, request: web.Request) -> web.Response:
        denied = self._check(request)
        if denied is not None:
            return denied
        form = await request.post()
        lines = [json.loads(raw) for raw in form["file"].file.read().splitlines() if raw.strip()]
        for line in lines:
            if line["url"] != "/chat/completions":
                return web.json_response({"error": {"code": "invalidPayload", "message": line["url"]}}, status=400)
            line["url"] = "/v1/chat/completions"
        out = aiohttp.FormData()
        out.add_field("purpose", form["purpose"])
        out.add_field("file", "\n".join(json.dumps(x) for x in lines).encode(), filename="in.jsonl")
        return await self._forward("POST", "/v1/files", data=out)

    async def create(self, request: web.Request) -> web.Response:
        denied = self._check(request)
        if denied is not None:
            return denied
        body = await request.json()
        if body.get("endpoint") != "/chat/completions":
            return web.json_response({"error": {"code": "invalidPayload", "message": body.get("endpoint")}}, status=400)
        return await self._forward("POST", "/v1/batches", json_body={**body, "endpoint": "/v1/chat/completions"})

    async def passthrough(self, request: web.Request) -> web.Response:
        denied = self._check(request)
        if denied is not None:
            return denied
        rest = request.path.removeprefix("/openai/v1").removeprefix("/openai")
        query = {k: v for k, v in request.query.items() if k != "api-version"}
        path = "/v1" + rest + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
        return await self._forward(request.method, path)

    async def __aenter__(self) -> AzureFront:
        app = web.Application()
        for prefix in ("/openai", "/openai/v1"):
            app.router.add_post(prefix + "/files", self.upload)
            app.router.add_post(prefix + "/batches", self.create)
            app.router.add_get(prefix + "/batches", self.passthrough)
            app.router.add_get(prefix + "/batches/{id}", self.passthrough)
            app.router.add_post(prefix + "/batches/{id}/cancel", self.passthrough)
            app.router.add_get(prefix + "/files/{id}/content", self.passthrough)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


ITEMS = [(f"item-{i}", {"model": "gpt4o-batch", "messages": [{"role": "user", "content": f"q {i}"}]}) for i in range(3)]


async def run_batch(adapter: Any) -> tuple[Any, dict[str, Any]]:
    import asyncio

    info = await adapter.submit(ITEMS)
    assert info.provider == "azure" and info.id.startswith("batch_")
    for _ in range(200):
        if info.done:
            break
        await asyncio.sleep(0.05)
        info = await adapter.retrieve(info.id)
    assert info.status == "completed", info
    return info, await adapter.results(info)


async def test_azure_batch_with_an_api_key(fake: FakeServer):
    fake.batch_delay = 0.2
    async with AzureFront(fake) as front:
        setup = AzureOpenAI().resolve(api_key="azure-key", api_base=front.url, options={"api_version": "2024-10-21"})
        adapter = azure_batches(setup)
        assert adapter.max_requests == MAX_REQUESTS == 100_000
        _, results = await run_batch(adapter)
        listed = await adapter.list_batches(limit=5)
    assert sorted(results) == ["item-0", "item-1", "item-2"]
    assert results["item-1"].kind == "succeeded"
    assert results["item-1"].body["choices"][0]["message"]["content"] == "echo: q 1"
    assert [b.provider for b in listed] == ["azure"]
    paths = {(s["method"], s["path"]) for s in front.seen}
    assert {("POST", "/openai/files"), ("POST", "/openai/batches"), ("GET", "/openai/batches")} <= paths
    assert any(p.startswith("/openai/files/") and p.endswith("/content") for _, p in paths)
    assert all(s["query"].get("api-version") == "2024-10-21" for s in front.seen)
    assert {s["auth"] for s in front.seen} == {"azure-key"}
    assert front.seen[-1]["query"] == {"limit": "5", "api-version": "2024-10-21"}


async def test_azure_batch_entra_token_asked_for_every_request(fake: FakeServer):
    fake.batch_delay = 0.2
    calls: list[int] = []

    def token() -> str:
        calls.append(1)
        return f"entra-{len(calls)}"

    async with AzureFront(fake) as front:
        setup = AzureOpenAI().resolve(api_base=front.url, options={"azure_ad_token_provider": token}, environ={})
        setup.credentials.source.reuse_for = 0  # every request consults the provider (default: every 15 s)
        await run_batch(azure_batches(setup))
    tokens = [s["auth"] for s in front.seen]
    assert tokens == [f"Bearer entra-{i}" for i in range(1, len(tokens) + 1)]  # asked again for every request


async def test_azure_batch_v1_api_has_no_api_version(fake: FakeServer):
    fake.batch_delay = 0.2
    async with AzureFront(fake, version_required=False) as front:
        setup = AzureOpenAI().resolve(api_key="k", api_base=front.url + "/openai/v1", environ={})
        _, results = await run_batch(azure_batches(setup))
    assert len(results) == 3
    assert all(s["path"].startswith("/openai/v1/") and "api-version" not in s["query"] for s in front.seen)


async def test_the_front_refuses_what_azure_refuses(fake: FakeServer):
    """The checks above can fail: without api-version or credentials the front answers as Azure does."""
    async with AzureFront(fake) as front, aiohttp.ClientSession() as session:
        async with session.get(front.url + "/openai/batches", headers={"api-key": "k"}) as resp:
            assert resp.status == 404
        async with session.get(front.url + "/openai/batches?api-version=2024-10-21") as resp:
            assert resp.status == 401
        async with session.get(front.url + "/openai/batches?api-version=2024-10-21", headers={"api-key": "k"}) as resp:
            assert resp.status == 200 and (await resp.json())["object"] == "list"
