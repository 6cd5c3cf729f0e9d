"""Groq's batch API (OpenAI's files + batches under /openai/v1) and Mistral batch jobs, end to end against
the fake server: the same answers as online, in input order, errors in their slots, the batch price."""

from __future__ import annotations

import json

import pytest

import volley
from volley.batch_api import (
    BatchItemCanceled,
    BatchItemError,
    batch_discount,
    batch_results,
    batch_status,
    cancel_batch,
    list_batches,
    run_batch_api,
)
from volley.batch_api import _mistral as mistral_batches
from volley.prepare import Template
from volley.testing import FakeServer

KEY = "sk-batch-test-0123456789"
FAST = {"poll_interval": 0.02, "max_poll_interval": 0.05}


@pytest.fixture
def fake(fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    monkeypatch.setattr(fake, "batch_delay", 0.1)
    return fake


def base(fake: FakeServer, provider: str) -> str:
    return fake.url + ("/openai/v1" if provider == "groq" else "/v1")


def prompts(n: int) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": f"prompt {i}"}] for i in range(n)]


@pytest.mark.parametrize("provider", ["groq", "mistral"])
async def test_batch_answers_equal_online_answers_in_order(fake: FakeServer, provider: str) -> None:
    t = Template(f"{provider}/m", {"api_base": base(fake, provider), "api_key": KEY, "max_tokens": 20})
    fake.script("m", failures=[None, 429, None, None])
    out = await run_batch_api([t.call(m) for m in prompts(4)], **FAST)
    assert [isinstance(r, volley.ModelResponse) for r in out] == [True, False, True, True]
    assert [r.choices[0].message.content for r in out if isinstance(r, volley.ModelResponse)] == [
        "echo: prompt 0", "echo: prompt 2", "echo: prompt 3"]  # fmt: skip
    assert isinstance(out[1], BatchItemError) and out[1].status_code == 429
    r = out[0]
    assert r.billing == "batch" and r.provider == provider and r.batch_id
    assert batch_discount(r) == (0.75 if provider == "groq" else 0.5)
    paths = {rec.path for rec in fake.requests}
    if provider == "groq":
        assert {"/openai/v1/files", "/openai/v1/batches"} <= paths
    else:
        assert {"/v1/files", "/v1/batch/jobs"} <= paths
    assert all(rec.headers.get("authorization") == f"Bearer {KEY}" for rec in fake.requests)


async def test_mistral_job_shape_and_management(fake: FakeServer) -> None:
    t = Template("mistral/mistral-small-latest", {"api_base": base(fake, "mistral"), "api_key": KEY})
    await run_batch_api([t.call(m) for m in prompts(2)], **FAST)
    upload = next(r for r in fake.requests if r.path == "/v1/files")
    job = next(r for r in fake.requests if r.path == "/v1/batch/jobs")
    assert job.json["model"] == "mistral-small-latest" and job.json["endpoint"] == "/v1/chat/completions"
    assert len(job.json["input_files"]) == 1 and upload.headers["content-type"].startswith("multipart/form-data")
    kw = {"api_base": base(fake, "mistral"), "api_key": KEY}
    [info] = await list_batches("mistral", **kw)
    assert info.status == "completed" and info.done and info.raw["status"] == "SUCCESS"
    assert info.counts["succeeded"] == 2 and info.total == 2
    assert (await batch_status("mistral", info.id, **kw)).id == info.id


async def test_mistral_cancel_and_timeout_read_in_openai_words(fake: FakeServer, monkeypatch) -> None:
    monkeypatch.setattr(fake, "batch_delay", 2.0)
    t = Template("mistral/m", {"api_base": base(fake, "mistral"), "api_key": KEY})
    submitted: list[str] = []
    import asyncio

    run = asyncio.ensure_future(run_batch_api([t.call(m) for m in prompts(3)], on_submitted=submitted.extend, **FAST))
    while not submitted:
        await asyncio.sleep(0.01)
    info = await cancel_batch("mistral", submitted[0], api_base=base(fake, "mistral"), api_key=KEY)
    assert info.status in ("cancelling", "cancelled")
    out = await run
    assert all(isinstance(r, BatchItemCanceled) for r in out)
    assert mistral_batches.batch_info({"id": "j", "status": "TIMEOUT_EXCEEDED"}).status == "expired"


async def test_mistral_refuses_a_batch_of_several_models() -> None:
    from volley.batch_api._http import Client

    adapter = mistral_batches.MistralBatches(Client("mistral", "http://127.0.0.1:9/v1", {}, (), lambda s, b: ""))
    with pytest.raises(volley.BadRequestError, match="one model"):
        await adapter.submit([("a", {"model": "x"}), ("b", {"model": "y"})])


def test_mistral_input_lines_are_custom_id_and_body() -> None:
    assert json.loads(mistral_batches.line("7", {"model": "m", "messages": []})) == {
        "custom_id": "7", "body": {"model": "m", "messages": []}}  # fmt: skip


def test_batch_completion_mode_batch_api_for_groq(fake: FakeServer) -> None:
    out = volley.batch_completion("groq/llama-3.1-8b-instant", prompts(3), mode="batch_api",
                                  api_base=base(fake, "groq"), api_key=KEY, poll_interval=0.02)  # fmt: skip
    assert [r.choices[0].message.content for r in out] == [f"echo: prompt {i}" for i in range(3)]


@pytest.mark.parametrize("provider", ["groq", "mistral"])
async def test_results_of_an_ended_batch_by_id(fake: FakeServer, provider: str) -> None:
    t = Template(f"{provider}/m", {"api_base": base(fake, provider), "api_key": KEY})
    ids: list[str] = []
    await run_batch_api([t.call(m) for m in prompts(2)], on_submitted=ids.extend, **FAST)
    results = await batch_results(provider, ids[0], api_base=base(fake, provider), api_key=KEY)
    texts = sorted(r.choices[0].message.content for r in results.values() if isinstance(r, volley.ModelResponse))
    assert texts == ["echo: prompt 0", "echo: prompt 1"]
    assert all(r.billing == "batch" and r.provider == provider for r in results.values())
