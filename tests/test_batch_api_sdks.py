"""Fidelity of the fake server's batch APIs: the official SDKs' batch methods must work against it.

If an SDK needs a field the fake does not send, the fake is wrong: fix the server, not the test.
"""

from __future__ import annotations

import io
import json
import time

import anthropic
import openai
import pytest

from volley.testing import FakeServer

USER = [{"role": "user", "content": "hello brave new world"}]


@pytest.fixture
def fake(fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    monkeypatch.setattr(fake, "batch_delay", 0.1)
    return fake


@pytest.fixture
def oai(fake: FakeServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.openai_base, api_key="sk-test", max_retries=0, timeout=5)


@pytest.fixture
def ant(fake: FakeServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.url, api_key="sk-ant-test", max_retries=0, timeout=5)


def _jsonl(n: int, model: str = "gpt-4o-mini") -> bytes:
    lines = [
        {
            "custom_id": f"r{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": f"hello {i}"}], "max_tokens": 10},
        }
        for i in range(n)
    ]
    return "\n".join(json.dumps(x) for x in lines).encode()


def _wait_openai(oai: openai.OpenAI, batch_id: str) -> openai.types.Batch:
    for _ in range(200):
        b = oai.batches.retrieve(batch_id)
        if b.status in ("completed", "failed", "expired", "cancelled"):
            return b
        time.sleep(0.02)
    raise AssertionError("batch never ended")


def _wait_anthropic(ant: anthropic.Anthropic, batch_id: str) -> anthropic.types.messages.MessageBatch:
    for _ in range(200):
        b = ant.messages.batches.retrieve(batch_id)
        if b.processing_status == "ended":
            return b
        time.sleep(0.02)
    raise AssertionError("batch never ended")


def test_openai_files_and_batches(oai: openai.OpenAI, fake: FakeServer) -> None:
    fake.script("gpt-4o-mini", failures=[None, 400])
    f = oai.files.create(file=("in.jsonl", io.BytesIO(_jsonl(3))), purpose="batch")
    assert (f.object, f.purpose, f.filename, f.status) == ("file", "batch", "in.jsonl", "processed")
    assert f.bytes == len(_jsonl(3))
    assert oai.files.retrieve(f.id).id == f.id
    assert oai.files.content(f.id).content == _jsonl(3)

    b = oai.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h",
                           metadata={"job": "test"})  # fmt: skip
    assert (b.object, b.status, b.endpoint, b.input_file_id, b.completion_window) == (
        "batch", "validating", "/v1/chat/completions", f.id, "24h"
    )  # fmt: skip
    assert b.metadata == {"job": "test"} and b.expires_at == b.created_at + 86400
    b = _wait_openai(oai, b.id)
    assert b.status == "completed" and b.completed_at and b.in_progress_at and b.finalizing_at
    assert (b.request_counts.total, b.request_counts.completed, b.request_counts.failed) == (3, 2, 1)
    assert b.usage.total_tokens == b.usage.input_tokens + b.usage.output_tokens > 0

    out = [json.loads(x) for x in oai.files.content(b.output_file_id).text.splitlines()]
    assert [x["custom_id"] for x in out] == ["r0", "r2"]
    body = out[0]["response"]["body"]
    online = oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hello 0"}],
                                         max_tokens=10)  # fmt: skip
    assert body["choices"][0]["message"]["content"] == online.choices[0].message.content == "echo: hello 0"
    assert out[0]["response"]["status_code"] == 200 and out[0]["error"] is None
    (err,) = [json.loads(x) for x in oai.files.content(b.error_file_id).text.splitlines()]
    assert err["custom_id"] == "r1" and err["response"]["status_code"] == 400
    assert err["response"]["body"]["error"]["type"] == "invalid_request_error"
    assert oai.files.retrieve(b.output_file_id).purpose == "batch_output"

    listed = oai.batches.list(limit=10)
    assert [x.id for x in listed.data] == [b.id]
    assert oai.files.delete(f.id).deleted is True


def test_openai_cancel_expire_and_validation(oai: openai.OpenAI, fake: FakeServer, monkeypatch) -> None:
    monkeypatch.setattr(fake, "batch_delay", 1.0)
    f = oai.files.create(file=("in.jsonl", io.BytesIO(_jsonl(4))), purpose="batch")
    b = oai.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    c = oai.batches.cancel(b.id)
    assert c.status == "cancelling" and c.cancelling_at
    b = _wait_openai(oai, b.id)
    assert b.status == "cancelled" and b.cancelled_at and b.output_file_id is None
    codes = {json.loads(x)["error"]["code"] for x in oai.files.content(b.error_file_id).text.splitlines()}
    assert codes == {"batch_cancelled"}
    with pytest.raises(openai.ConflictError):
        oai.batches.cancel(b.id)

    monkeypatch.setattr(fake, "batch_delay", 0.1)
    fake.script("gpt-4o-mini", failures=[None, "expired"])
    f = oai.files.create(file=("in.jsonl", io.BytesIO(_jsonl(2))), purpose="batch")
    b = _wait_openai(oai, oai.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions",
                                             completion_window="24h").id)  # fmt: skip
    assert b.status == "expired" and b.expired_at and b.output_file_id
    (line,) = oai.files.content(b.error_file_id).text.splitlines()
    assert json.loads(line)["error"]["code"] == "batch_expired" and json.loads(line)["response"] is None

    bad = _jsonl(1) + b"\n" + _jsonl(1) + b"\nnot json\n"
    f = oai.files.create(file=("bad.jsonl", io.BytesIO(bad)), purpose="batch")
    b = _wait_openai(oai, oai.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions",
                                             completion_window="24h").id)  # fmt: skip
    assert b.status == "failed" and b.failed_at
    assert [(e.code, e.line) for e in b.errors.data] == [("duplicate_custom_id", 2), ("invalid_json_line", 3)]

    with pytest.raises(openai.BadRequestError):
        oai.batches.create(input_file_id=f.id, endpoint="/v1/embeddings", completion_window="24h")
    with pytest.raises(openai.NotFoundError):
        oai.batches.retrieve("batch_nope")
    with pytest.raises(openai.NotFoundError):
        oai.batches.create(input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h")


def test_anthropic_message_batches(ant: anthropic.Anthropic, fake: FakeServer) -> None:
    fake.script("claude-3-5-haiku-latest", failures=[None, 529, "expired", "canceled"])
    reqs = [
        {"custom_id": f"r{i}", "params": {"model": "claude-3-5-haiku-latest", "max_tokens": 20, "messages": USER}}
        for i in range(5)
    ]
    b = ant.messages.batches.create(requests=reqs)
    assert (b.type, b.processing_status, b.results_url, b.ended_at) == ("message_batch", "in_progress", None, None)
    assert b.request_counts.processing == 5 and b.request_counts.succeeded == 0
    assert (b.expires_at - b.created_at).total_seconds() == 86400
    b = _wait_anthropic(ant, b.id)
    assert b.ended_at and b.results_url.endswith(f"/v1/messages/batches/{b.id}/results")
    c = b.request_counts
    assert (c.processing, c.succeeded, c.errored, c.expired, c.canceled) == (0, 2, 1, 1, 1)

    results = {r.custom_id: r.result for r in ant.messages.batches.results(b.id)}
    assert [results[f"r{i}"].type for i in range(5)] == ["succeeded", "errored", "expired", "canceled", "succeeded"]
    online = ant.messages.create(model="claude-3-5-haiku-latest", max_tokens=20, messages=USER)
    assert results["r0"].message.content[0].text == online.content[0].text == "echo: hello brave new world"
    assert results["r0"].message.usage.output_tokens == online.usage.output_tokens
    assert results["r1"].error.error.type == "overloaded_error"

    assert [x.id for x in ant.messages.batches.list(limit=5)] == [b.id]
    assert ant.messages.batches.delete(b.id).type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        ant.messages.batches.retrieve(b.id)


def test_anthropic_cancel_and_validation(ant: anthropic.Anthropic, fake: FakeServer, monkeypatch) -> None:
    monkeypatch.setattr(fake, "batch_delay", 1.0)
    reqs = [{"custom_id": "a", "params": {"model": "claude-3-5-haiku-latest", "max_tokens": 20, "messages": USER}}]
    b = ant.messages.batches.create(requests=reqs)
    c = ant.messages.batches.cancel(b.id)
    assert c.processing_status == "canceling" and c.cancel_initiated_at
    b = _wait_anthropic(ant, b.id)
    assert b.request_counts.canceled == 1
    assert [r.result.type for r in ant.messages.batches.results(b.id)] == ["canceled"]

    with pytest.raises(anthropic.BadRequestError, match="custom_id"):
        ant.messages.batches.create(requests=[{"custom_id": "bad id!", "params": {}}])
    with pytest.raises(anthropic.BadRequestError, match="Duplicate"):
        ant.messages.batches.create(requests=reqs + reqs)
    bad = ant.messages.batches.create(requests=[{"custom_id": "x", "params": {"model": "m", "messages": USER}}])
    assert bad.processing_status == "in_progress"  # params are checked per item, as the real API does
    monkeypatch.setattr(fake, "api_key", "sk-ant-right")
    with pytest.raises(anthropic.AuthenticationError):
        ant.messages.batches.list()
