"""The Gemini API's Batch Mode (volley.batch_api._gemini, inline requests) against the fake server's
``models/{model}:batchGenerateContent`` and ``batches`` routes: the same answers as online in input order,
per-item errors in their slots, splitting within 20 MB, ``volley run --batch-api`` (and its resume by batch
id), ``volley batches``, and the google-genai SDK as the oracle of the fake's wire."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import volley
from volley.batch_api import (
    BatchItemCanceled,
    BatchItemError,
    BatchItemExpired,
    _gemini,
    batch_discount,
    batch_results,
    batch_status,
    cancel_batch,
    list_batches,
    provider_of,
    run_batch_api,
)
from volley.cli import main
from volley.commands.batches import main as batches_main
from volley.prepare import Template
from volley.testing import FakeServer

KEY = "AIza-gemini-batch-test-0123456789"
MODEL = "gemini-2.5-flash"
FAST = {"poll_interval": 0.02, "max_poll_interval": 0.05}


@pytest.fixture
def fake(fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    monkeypatch.setattr(fake, "batch_delay", 0.1)
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    return fake


def prompts(n: int) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": f"prompt {i}"}] for i in range(n)]


def template(fake: FakeServer, **params: Any) -> Template:
    return Template(f"gemini/{MODEL}", {"api_base": fake.url, "api_key": KEY, "max_tokens": 20, **params})


def creates(fake: FakeServer) -> list[Any]:
    return [r for r in fake.requests if r.path.endswith(":batchGenerateContent")]


async def test_batch_answers_equal_online_answers_in_input_order(fake: FakeServer) -> None:
    calls = [template(fake).call(m) for m in prompts(5)]
    online = [await volley.acompletion(f"gemini/{MODEL}", m, api_base=fake.url, api_key=KEY, max_tokens=20)
              for m in prompts(5)]  # fmt: skip
    fake.requests.clear()
    out = await run_batch_api(calls, **FAST)
    assert [r.choices[0].message.content for r in out] == [r.choices[0].message.content for r in online]
    assert [r.choices[0].message.content for r in out] == [f"echo: prompt {i}" for i in range(5)]
    assert [r.usage.prompt_tokens for r in out] == [r.usage.prompt_tokens for r in online]
    assert [r.choices[0].finish_reason for r in out] == [r.choices[0].finish_reason for r in online]
    r = out[0]
    assert r.billing == "batch" and r.provider == "gemini" and r.batch_id.startswith("batches/")
    assert batch_discount(r) == 0.5
    [create] = creates(fake)
    assert create.path == f"/v1beta/models/{MODEL}:batchGenerateContent"
    reqs = create.json["batch"]["inputConfig"]["requests"]["requests"]
    assert create.json["batch"]["displayName"].startswith("volley-")
    assert [x["metadata"] for x in reqs] == [{"key": f"volley-{i}"} for i in range(5)]
    assert reqs[1]["request"] == calls[1].request.body  # the online generateContent body, as is
    assert all(rec.headers.get("x-goog-api-key") == KEY for rec in fake.requests)
    assert not [rec for rec in fake.requests if rec.path.endswith(":generateContent")]  # nothing went online


async def test_item_errors_stay_in_their_slots(fake: FakeServer) -> None:
    fake.script(MODEL, failures=[None, 429, None, 400, None])
    out = await run_batch_api([template(fake).call(m) for m in prompts(5)], **FAST)
    assert [type(r).__name__ for r in out] == ["ModelResponse", "BatchItemError", "ModelResponse",
                                               "BatchItemError", "ModelResponse"]  # fmt: skip
    assert isinstance(out[1], BatchItemError) and out[1].status_code == 429
    assert out[1].error_type == "RESOURCE_EXHAUSTED" and out[1].custom_id == "volley-1"
    assert isinstance(out[3], BatchItemError) and out[3].status_code == 400
    assert [r.choices[0].message.content for r in out if isinstance(r, volley.ModelResponse)] == [
        "echo: prompt 0", "echo: prompt 2", "echo: prompt 4"]  # fmt: skip


async def test_fallback_online_answers_the_failed_items(fake: FakeServer) -> None:
    fake.script(MODEL, failures=[None, 500])
    out = await run_batch_api([template(fake).call(m) for m in prompts(3)], fallback="online", **FAST)
    assert [r.choices[0].message.content for r in out] == [f"echo: prompt {i}" for i in range(3)]
    assert [r.billing for r in out] == ["batch", "standard", "batch"]


async def test_large_jobs_are_split_within_the_size_limit(fake: FakeServer) -> None:
    calls = [template(fake).call(m) for m in prompts(7)]
    size = _gemini.GeminiBatches(_client(fake.url)).item_size("volley-0", calls[0].request.body)
    ids: list[str] = []
    out = await run_batch_api(calls, max_bytes=3 * size + 300, on_submitted=ids.extend, **FAST)
    assert [r.choices[0].message.content for r in out] == [f"echo: prompt {i}" for i in range(7)]
    sent = [len(r.json["batch"]["inputConfig"]["requests"]["requests"]) for r in creates(fake)]
    assert sent == [3, 3, 1] and len(set(ids)) == 3
    assert _gemini.MAX_BYTES == 20_000_000
    assert _gemini.GeminiBatches(_client(fake.url)).max_bytes < 20_000_000  # the envelope is kept under it


async def test_the_fake_refuses_a_request_over_20_mb(fake: FakeServer) -> None:
    big = {"batch": {"displayName": "x", "inputConfig": {"requests": {"requests": [
        {"request": {"contents": [{"parts": [{"text": "a" * 20_100_000}]}]}}]}}}}  # fmt: skip
    url = f"{fake.url}/v1beta/models/{MODEL}:batchGenerateContent"
    async with aiohttp.ClientSession() as s, s.post(url, json=big, headers={"x-goog-api-key": KEY}) as resp:
        assert resp.status == 400 and "exceeds the limit" in (await resp.json())["error"]["message"]


async def test_cancel_and_expiry(fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fake, "batch_delay", 2.0)
    submitted: list[str] = []
    run = asyncio.ensure_future(
        run_batch_api([template(fake).call(m) for m in prompts(3)], on_submitted=submitted.extend, **FAST)
    )
    while not submitted:
        await asyncio.sleep(0.01)
    info = await cancel_batch("gemini", submitted[0], api_base=fake.url, api_key=KEY)
    assert info.id == submitted[0] and info.provider == "gemini"
    assert any(r.path == f"/v1beta/{submitted[0]}:cancel" for r in fake.requests)
    out = await run
    assert all(isinstance(r, BatchItemCanceled) for r in out)
    assert (await batch_status("gemini", submitted[0], api_base=fake.url, api_key=KEY)).raw["metadata"][
        "state"] == "BATCH_STATE_CANCELLED"  # fmt: skip

    monkeypatch.setattr(fake, "batch_delay", 0.1)
    fake.script(MODEL, failures=["expired"])
    out = await run_batch_api([template(fake).call(m) for m in prompts(2)], **FAST)
    assert all(isinstance(r, BatchItemExpired) for r in out)


async def test_resume_by_batch_id_attaches_instead_of_submitting(fake: FakeServer) -> None:
    calls = [template(fake).call(m) for m in prompts(3)]
    ids: list[str] = []
    first = await run_batch_api(calls, on_submitted=ids.extend, **FAST)
    assert provider_of(ids[0]) == "gemini"
    again = await run_batch_api(calls, resume_ids=ids[:1], **FAST)
    assert [r.choices[0].message.content for r in again] == [r.choices[0].message.content for r in first]
    assert len(creates(fake)) == 1  # nothing paid for twice


async def test_management_functions_and_the_key_check(fake: FakeServer) -> None:
    ids: list[str] = []
    fake.script(MODEL, failures=[None, 503])
    await run_batch_api([template(fake).call(m) for m in prompts(2)], on_submitted=ids.extend, **FAST)
    kw = {"api_base": fake.url, "api_key": KEY}
    [info] = await list_batches("gemini", **kw)
    assert info.id == ids[0] and info.done and info.status == "completed"
    assert info.counts["total"] == 2 and info.counts["succeeded"] == 1 and info.counts["failed"] == 1
    results = await batch_results("gemini", ids[0], **kw)
    assert results["volley-0"].choices[0].message.content == "echo: prompt 0"  # type: ignore[union-attr]
    assert results["volley-0"].billing == "batch" and results["volley-0"].provider == "gemini"
    assert isinstance(results["volley-1"], BatchItemError) and results["volley-1"].status_code == 503
    async with FakeServer(api_key=KEY) as strict:
        with pytest.raises(volley.BadRequestError, match="API key not valid") as exc:
            await list_batches("gemini", api_base=strict.url, api_key="wrong-key-value")
        assert "wrong-key-value" not in str(exc.value)
        with pytest.raises(volley.NotFoundError):
            await batch_status("gemini", "batches/nope", api_base=strict.url, api_key=KEY)


def test_batch_completion_mode_batch_api(fake: FakeServer) -> None:
    out = volley.batch_completion(f"gemini/{MODEL}", prompts(4), mode="batch_api", api_base=fake.url, api_key=KEY,
                                  poll_interval=0.02)  # fmt: skip
    assert [r.choices[0].message.content for r in out] == [f"echo: prompt {i}" for i in range(4)]
    assert {r.provider for r in out} == {"gemini"} and all(r.batch_id for r in out)


def _run_args(fake: FakeServer, inp: Path, out: Path, *more: str) -> list[str]:
    return ["run", str(inp), "-m", f"gemini/{MODEL}", "-o", str(out), "--api-base", fake.url, "--num-retries", "0",
            "--batch-api", "--poll-interval", "0.05", "--quiet", *more]  # fmt: skip


def test_volley_run_batch_api_resumes_by_batch_id(fake: FakeServer, tmp_path: Path, monkeypatch, capsys) -> None:
    from volley.jobs.journal import Journal

    monkeypatch.setattr(fake, "batch_delay", 1.5)
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    lines = [{"custom_id": f"q{i}", "messages": [{"role": "user", "content": f"q {i}"}]} for i in range(4)]
    inp.write_text("".join(json.dumps(x) + "\n" for x in lines))
    proc = subprocess.Popen([sys.executable, "-m", "volley.cli", *_run_args(fake, inp, out)], env=dict(os.environ))
    journal_path = f"{out}.journal.sqlite"
    deadline = time.monotonic() + 30
    ids: list[str] = []
    while not ids and time.monotonic() < deadline:
        time.sleep(0.05)
        if os.path.exists(journal_path):
            try:
                ids = Journal(journal_path).meta().get("batch_ids") or []
            except Exception:
                ids = []
    proc.send_signal(signal.SIGKILL)  # dies after submitting, before any result
    proc.wait()
    assert len(ids) == 1 and ids[0].startswith("batches/")
    assert main(_run_args(fake, inp, out)) == 0, capsys.readouterr().err
    assert len(creates(fake)) == 1  # attached, not paid twice
    got = {r["custom_id"]: r["response"]["body"]["choices"][0]["message"]["content"]
           for r in map(json.loads, out.read_text().splitlines())}  # fmt: skip
    assert got == {f"q{i}": f"q {i}".replace("q ", "echo: q ") for i in range(4)}


def test_volley_batches_status_results_cancel(fake: FakeServer, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    fake.script(MODEL, failures=[None, 400])
    ids: list[str] = []
    from volley._sync import run_sync

    run_sync(run_batch_api([template(fake).call(m) for m in prompts(2)], on_submitted=ids.extend, **FAST))
    bid = ids[0]
    out = io.StringIO()
    assert batches_main(["status", bid, "--provider", "gemini", "--api-base", fake.url, "--json"], out=out) == 0
    status = json.loads(out.getvalue())
    assert (status["id"], status["provider"], status["status"], status["done"]) == (bid, "gemini", "completed", True)
    out = io.StringIO()
    assert batches_main(["status", bid, "--api-base", fake.url, "--json"], out=out) == 0  # the id tells
    assert json.loads(out.getvalue())["provider"] == "gemini"
    out = io.StringIO()
    assert batches_main(["list", "--provider", "gemini", "--api-base", fake.url], out=out) == 0
    assert bid in out.getvalue()
    path = tmp_path / "results.jsonl"
    assert batches_main(["results", bid, "--provider", "gemini", "--api-base", fake.url, "-o", str(path)]) == 0
    got = [json.loads(x) for x in path.read_text().splitlines()]
    assert [x["index"] for x in got] == [0, 1]
    assert got[0]["response"]["choices"][0]["message"]["content"] == "echo: prompt 0"
    assert got[1]["error"]["status_code"] == 400 and got[1]["error"]["error_type"] == "INVALID_ARGUMENT"
    out = io.StringIO()
    assert batches_main(["cancel", bid, "--provider", "gemini", "--api-base", fake.url, "--json"], out=out) == 0
    assert json.loads(out.getvalue())["status"] == "completed"  # an ended batch stays as it was
    assert batches_main(["cancel", "batches/nope", "--provider", "gemini", "--api-base", fake.url]) == 1


def test_inlined_response_mapping() -> None:
    ok = _gemini.parse_item({"response": {"candidates": []}, "metadata": {"key": "a"}})
    assert ok.kind == "succeeded" and ok.body == {"candidates": []}
    err = _gemini.parse_item({"error": {"code": 8, "message": "quota"}})
    assert (err.kind, err.status, err.error_type, err.message) == ("errored", 429, "RESOURCE_EXHAUSTED", "quota")
    info = _gemini.batch_info({"name": "batches/x", "metadata": {"state": "BATCH_STATE_EXPIRED",
                                                                "batchStats": {"requestCount": "4"}}})  # fmt: skip
    assert (info.status, info.done, info.total) == ("expired", True, 4)
    assert _gemini.batch_info({"name": "batches/y", "metadata": {"state": "BATCH_STATE_RUNNING"}}).done is False


def test_google_genai_sdk_is_the_oracle_of_the_fake(fake: FakeServer) -> None:
    genai = pytest.importorskip("google.genai")
    from google.genai import types

    fake.script(MODEL, failures=[None, 429])
    client = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=fake.url))
    src = [{"contents": [{"parts": [{"text": f"sdk {i}"}], "role": "user"}], "metadata": {"key": f"k{i}"}}
           for i in range(3)]  # fmt: skip
    job = client.batches.create(model=MODEL, src=src, config={"display_name": "sdk-job"})
    assert job.name.startswith("batches/") and job.state == "JOB_STATE_PENDING" and job.display_name == "sdk-job"
    deadline = time.monotonic() + 20
    while job.state not in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED") and time.monotonic() < deadline:
        time.sleep(0.05)
        job = client.batches.get(name=job.name)
    assert job.state == "JOB_STATE_SUCCEEDED" and job.model == f"models/{MODEL}"
    answers = job.dest.inlined_responses
    assert [a.metadata for a in answers] == [{"key": f"k{i}"} for i in range(3)]
    assert answers[0].response.text == "echo: sdk 0" and answers[2].response.text == "echo: sdk 2"
    assert answers[1].response is None and answers[1].error.code == 8  # RESOURCE_EXHAUSTED
    assert [j.name for j in client.batches.list(config={"page_size": 10})] == [job.name]
    # volley reads the batch the SDK made (its metadata keys are the custom ids)
    from volley._sync import run_sync

    results = run_sync(batch_results("gemini", job.name, api_base=fake.url, api_key=KEY))
    assert results["k2"].choices[0].message.content == "echo: sdk 2"  # type: ignore[union-attr]
    assert sorted(results) == ["k0", "k1", "k2"]
    # the SDK cancels a batch volley made
    fake.batch_delay = 2.0
    task = run_sync(_submit_only(template(fake).call(prompts(1)[0])))
    client.batches.cancel(name=task)
    deadline = time.monotonic() + 20
    while client.batches.get(name=task).state != "JOB_STATE_CANCELLED" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.batches.get(name=task).state == "JOB_STATE_CANCELLED"


async def _submit_only(call: Any) -> str:
    from volley.batch_api.adapters import adapter_for_call
    from volley.batch_api.run import body_of

    info = await adapter_for_call(call).submit([("only", body_of(call))])
    return info.id


def _client(base: str) -> Any:
    from volley.batch_api._http import Client

    return Client("gemini", base, {}, (), lambda s, b: "")


def test_volley_batches_list_of_every_provider_includes_gemini(fake: FakeServer, monkeypatch) -> None:
    """Unnamed providers without a key are skipped (nothing is sent); gemini with its key is listed."""
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GROQ_API_KEY", "MISTRAL_API_KEY", "AZURE_API_BASE",
                 "AZURE_OPENAI_ENDPOINT"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    for name, path in (("OPENAI_BASE_URL", "/v1"), ("ANTHROPIC_BASE_URL", ""), ("GROQ_API_BASE", "/openai/v1"),
                       ("MISTRAL_API_BASE", "/v1"), ("GEMINI_API_BASE", "")):  # fmt: skip
        monkeypatch.setenv(name, fake.url + path)
    out = io.StringIO()
    assert batches_main(["list", "--json"], out=out) == 0
    assert out.getvalue() == ""
    assert fake.requests == []
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    ids: list[str] = []
    from volley._sync import run_sync

    run_sync(run_batch_api([template(fake).call(m) for m in prompts(1)], on_submitted=ids.extend, **FAST))
    out = io.StringIO()
    assert batches_main(["list", "--json"], out=out) == 0
    assert [json.loads(x)["id"] for x in out.getvalue().splitlines()] == ids
