"""Azure OpenAI Batch (volley.batch_api._azure) against the fake server's Azure batch routes, which check what
Azure requires of every request (``api-version`` under ``/openai``, ``api-key`` or an Entra ID bearer,
``/chat/completions`` as the line url and the batch endpoint) and answer the items with the Azure wire:
the adapter itself, ``batch_completion(mode="batch_api")``, ``volley run --batch-api`` and ``volley batches``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import volley
from volley.auth.tokens import StaticToken
from volley.batch_api._azure import MAX_REQUESTS, azure_batches
from volley.batch_api.errors import BatchModeUnsupportedError
from volley.cli import main
from volley.routing import resolve
from volley.testing import FakeServer

KEY = "azure-batch-key-0123456789"
ITEMS = [(f"item-{i}", {"model": "gpt4o-batch", "messages": [{"role": "user", "content": f"q {i}"}]}) for i in range(3)]
AZURE_ENV = ("AZURE_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT", "AZURE_API_VERSION",
             "OPENAI_API_VERSION", "AZURE_OPENAI_AD_TOKEN", "AZURE_AD_TOKEN")  # fmt: skip


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, fake: FakeServer) -> pytest.MonkeyPatch:
    for name in AZURE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(fake, "batch_delay", 0.2)
    return monkeypatch


def batch_requests(fake: FakeServer) -> list[Any]:
    return [r for r in fake.requests if "/files" in r.path or "/batches" in r.path]


async def run_batch(adapter: Any) -> tuple[Any, dict[str, Any]]:
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
    route = resolve("azure/gpt4o-batch", api_key=KEY, api_base=fake.url, options={"api_version": "2024-10-21"})
    adapter = azure_batches(route)
    assert adapter.max_requests == MAX_REQUESTS == 100_000
    _, results = await run_batch(adapter)
    listed = await adapter.list_batches(limit=5)
    assert sorted(results) == ["item-0", "item-1", "item-2"]
    body = results["item-1"].body
    assert results["item-1"].kind == "succeeded" and body["choices"][0]["message"]["content"] == "echo: q 1"
    assert body["choices"][0]["content_filter_results"]  # answered by the Azure wire
    assert [b.provider for b in listed] == ["azure"]
    seen = batch_requests(fake)
    paths = {(r.path.rsplit("/", 2)[0] if r.path.count("/") > 3 else r.path) for r in seen}
    assert {"/openai/files", "/openai/batches"} <= paths
    assert any(r.path.endswith("/content") for r in seen)
    assert all(r.query.get("api-version") == "2024-10-21" for r in seen)
    assert {r.headers["api-key"] for r in seen} == {KEY}
    assert seen[-1].query == {"limit": "5", "api-version": "2024-10-21"}


async def test_azure_batch_asks_for_an_entra_token_before_every_request(fake: FakeServer):
    calls: list[int] = []

    def token() -> str:
        calls.append(1)
        return f"entra-{len(calls)}"

    route = resolve("azure/gpt4o-batch", api_base=fake.url, options={"azure_ad_token_provider": token})
    route.credential.source.reuse_for = 0  # every request consults the provider (default: every 15 s)
    await run_batch(azure_batches(route))
    sent = [r.headers["authorization"] for r in batch_requests(fake)]
    assert sent == [f"Bearer entra-{i}" for i in range(1, len(sent) + 1)] and len(sent) >= 4


async def test_azure_batch_v1_api_has_no_api_version(fake: FakeServer):
    route = resolve("azure/gpt4o-batch", api_key=KEY, api_base=fake.url + "/openai/v1")
    _, results = await run_batch(azure_batches(route))
    assert len(results) == 3
    assert all(r.path.startswith("/openai/v1/") and "api-version" not in r.query for r in batch_requests(fake))


async def test_the_fake_refuses_what_azure_refuses(fake: FakeServer):
    """The checks above can fail: without api-version or credentials the fake answers as Azure does, and a line
    url of OpenAI's form fails the batch's validation."""
    async with aiohttp.ClientSession() as session:
        async with session.get(fake.url + "/openai/batches", headers={"api-key": "k"}) as resp:
            assert resp.status == 404
        async with session.get(fake.url + "/openai/batches?api-version=2024-10-21") as resp:
            assert resp.status == 401
        q = "?api-version=2024-10-21"
        async with session.post(fake.url + "/openai/batches" + q, headers={"api-key": "k"},
                                json={"input_file_id": "f", "endpoint": "/v1/chat/completions",
                                      "completion_window": "24h"}) as resp:  # fmt: skip
            assert resp.status == 400 and "endpoint" in (await resp.json())["error"]["message"]


def test_batch_completion_in_batch_api_mode(fake: FakeServer):
    prompts = [[{"role": "user", "content": f"p {i}"}] for i in range(5)]
    out = volley.batch_completion("azure/gpt4o-batch", prompts, mode="batch_api", api_base=fake.url, api_key=KEY,
                                  api_version="2024-10-21", poll_interval=0.05)  # fmt: skip
    assert [r.choices[0].message.content for r in out] == [f"echo: p {i}" for i in range(5)]
    assert {r.provider for r in out} == {"azure"} and all(r._batch_id for r in out)
    created = [r for r in fake.requests if r.path == "/openai/batches" and r.json]
    assert len(created) == 1 and created[0].json["endpoint"] == "/chat/completions"
    assert not [r for r in fake.requests if r.path.endswith("/chat/completions")]  # nothing went online


def test_bedrock_and_vertex_batch_mode_is_refused_before_any_request(fake: FakeServer):
    with pytest.raises(BatchModeUnsupportedError, match="S3"):
        volley.batch_completion(
            "bedrock/amazon.nova-lite-v1:0",
            [[{"role": "user", "content": "x"}]],
            mode="batch_api",
            api_base=fake.url,
            aws_region_name="us-east-1",
            api_key="ABSK",
        )
    with pytest.raises(BatchModeUnsupportedError, match="Cloud Storage"):
        volley.batch_completion("vertex_ai/gemini-2.5-flash", [[{"role": "user", "content": "x"}]], mode="batch_api",
                                api_base=fake.url, vertex_project="p",
                                vertex_credentials=StaticToken("t"))  # fmt: skip
    assert fake.requests == []


def test_volley_run_batch_api_and_volley_batches(fake: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture,
                                                  clean_env: pytest.MonkeyPatch):  # fmt: skip
    clean_env.setenv("AZURE_API_KEY", KEY)
    clean_env.setenv("AZURE_OPENAI_ENDPOINT", fake.url)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    lines = [{"custom_id": f"q{i}", "messages": [{"role": "user", "content": f"q {i}"}]} for i in range(4)]
    inp.write_text("".join(json.dumps(x) + "\n" for x in lines))
    code = main(["run", str(inp), "-m", "azure/gpt4o-batch", "-o", str(out), "--batch-api", "--poll-interval",
                 "0.05", "--quiet"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    got = {r["custom_id"]: r["response"]["body"]["choices"][0]["message"]["content"]
           for r in map(json.loads, out.read_text().splitlines())}  # fmt: skip
    assert got == {f"q{i}": f"echo: q {i}" for i in range(4)}
    assert [r.path for r in fake.requests if r.path == "/openai/batches" and r.json]  # submitted the Azure way
    capsys.readouterr()
    assert main(["batches", "list", "--provider", "azure", "--json"]) == 0
    listed = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert listed and {b["provider"] for b in listed} == {"azure"}
    assert main(["batches", "list", "--json"]) == 0  # unnamed: azure is listed because its base is set
    assert "azure" in capsys.readouterr().out
