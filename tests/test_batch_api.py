"""run_batch_api end to end against the fake server's OpenAI Batch and Anthropic Message Batches."""

from __future__ import annotations

import asyncio
import io
import json

import pytest

import volley
from volley.batch_api import (
    BatchItemCanceled,
    BatchItemError,
    BatchItemExpired,
    BatchModeUnsupportedError,
    BatchResumeError,
    batch_discount,
    batch_results,
    batch_status,
    cancel_batch,
    list_batches,
    make_adapter,
    run_batch_api,
    run_template,
)
from volley.commands.batches import main as batches_main
from volley.prepare import Template
from volley.testing import FakeServer

KEY = "sk-test-very-secret-0123456789"
FAST = {"poll_interval": 0.02, "max_poll_interval": 0.05}
PROVIDERS = ["openai", "anthropic"]


@pytest.fixture
def fake(fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    monkeypatch.setattr(fake, "batch_delay", 0.1)
    return fake


def base(fake: FakeServer, provider: str) -> str:
    return fake.openai_base if provider == "openai" else fake.url


def template(fake: FakeServer, provider: str, model: str = "m", **params) -> Template:
    return Template(f"{provider}/{model}", {"api_base": base(fake, provider), "api_key": KEY, **params})


def prompts(n: int) -> list[list[dict]]:
    return [[{"role": "user", "content": f"question number {i}"}] for i in range(n)]


def created(fake: FakeServer) -> int:
    return sum(1 for r in fake.requests if r.path in ("/v1/batches", "/v1/messages/batches") and r.json is not None)


def dump(r: volley.ModelResponse) -> dict:
    """The response without what differs between any two answers (ids, time)."""
    d = r.model_dump(exclude={"id", "created"})
    for c in d["choices"]:
        for t in c["message"].get("tool_calls") or ():
            t.pop("id")
    return d


# ------------------------------------------------------------------------------------- same as online


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_same_results_in_the_same_order_as_online(fake: FakeServer, provider: str) -> None:
    fake.script("tools", tool_call={"name": "get_weather", "arguments": {"city": "Paris"}})
    msgs = prompts(6)
    for model, params in (("m", {"max_tokens": 3}), ("m", {"stop": ["number"]}), ("tools", {})):
        t = template(fake, provider, model, **params)
        out = await run_batch_api([t.call(m) for m in msgs], **FAST)
        online = await volley.abatch_completion(
            f"{provider}/{model}", msgs, api_base=base(fake, provider), api_key=KEY, **params
        )
        assert [dump(r) for r in out] == [dump(r) for r in online]
        assert all(r.provider == provider and batch_discount(r) == 0.5 for r in out)
        assert all(batch_discount(r) == 1.0 for r in online)
    assert created(fake) == 3  # one batch per run


async def test_openai_batch_lines_carry_the_online_request_bodies(fake: FakeServer) -> None:
    t = template(fake, "openai", temperature=0.5, max_tokens=7)
    calls = [t.call(m) for m in prompts(3)]
    await run_batch_api(calls, **FAST)
    upload = next(f for f in fake.batch_store.files.values() if f.purpose == "batch")
    lines = [json.loads(x) for x in upload.data.splitlines()]
    assert [x["body"] for x in lines] == [c.request.body for c in calls]
    assert {(x["method"], x["url"]) for x in lines} == {("POST", "/v1/chat/completions")}
    create = next(r for r in fake.requests if r.path == "/v1/batches")
    assert create.json == {"input_file_id": upload.id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    assert create.headers["authorization"] == f"Bearer {KEY}"


async def test_anthropic_batch_params_are_the_online_bodies(fake: FakeServer) -> None:
    t = template(fake, "anthropic", max_tokens=7, extra_headers={"anthropic-beta": "x"})
    calls = [t.call([{"role": "system", "content": "brief"}, *m]) for m in prompts(2)]
    await run_batch_api(calls, **FAST)
    create = next(r for r in fake.requests if r.path == "/v1/messages/batches")
    assert [r["params"] for r in create.json["requests"]] == [c.request.body for c in calls]
    assert [r["custom_id"] for r in create.json["requests"]] == ["volley-0", "volley-1"]
    assert create.headers["x-api-key"] == KEY and create.headers["anthropic-beta"] == "x"


async def test_run_template_and_mock_calls(fake: FakeServer) -> None:
    out = await run_template(template(fake, "openai"), prompts(2), **FAST)
    assert [r.choices[0].message.content for r in out] == ["echo: question number 0", "echo: question number 1"]
    mocked = Template("openai/m", {"mock_response": "hello"})
    out = await run_batch_api([mocked.call(m) for m in prompts(2)], **FAST)
    assert [r.choices[0].message.content for r in out] == ["hello", "hello"]
    assert await run_batch_api([], **FAST) == []


# ------------------------------------------------------------------------------------- splitting


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_large_inputs_split_across_batches(fake: FakeServer, provider: str) -> None:
    t = template(fake, provider)
    ids: list[list[str]] = []
    out = await run_batch_api([t.call(m) for m in prompts(7)], max_requests=3, on_submitted=ids.append, **FAST)
    assert [r.choices[0].message.content for r in out] == [f"echo: question number {i}" for i in range(7)]
    assert created(fake) == 3 and len(ids) == 3 and ids[-1][:2] == ids[1]  # cumulative, in plan order
    assert sorted(len(b.items) for b in fake.batch_store.batches.values()) == [1, 3, 3]

    size = make_adapter(provider, base(fake, provider), KEY).item_size("volley-0", t.call(prompts(1)[0]).request.body)
    fake.reset()
    huge = [[{"role": "user", "content": "x" * 5000}]]
    out = await run_batch_api([t.call(m) for m in prompts(4) + huge], max_bytes=2 * size + 100, **FAST)
    assert created(fake) == 2
    assert all(isinstance(r, volley.ModelResponse) for r in out[:4])
    assert isinstance(out[4], BatchItemError) and out[4].reason == "too_large"


# ------------------------------------------------------------------------------------- resume


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_resume_attaches_instead_of_submitting_again(fake: FakeServer, provider: str, monkeypatch) -> None:
    monkeypatch.setattr(fake, "batch_delay", 0.3)
    t = template(fake, provider)
    msgs = prompts(5)
    journal: list[str] = []
    submitted = asyncio.Event()

    def save(ids: list[str]) -> None:
        journal[:] = ids
        if len(ids) == 3:
            submitted.set()

    run = asyncio.ensure_future(run_batch_api([t.call(m) for m in msgs], max_requests=2, on_submitted=save, **FAST))
    await asyncio.wait_for(submitted.wait(), 5)
    run.cancel()  # the process dies while its batches run at the provider
    with pytest.raises(asyncio.CancelledError):
        await run
    assert created(fake) == 3

    resumed: list[list[str]] = []
    calls = [t.call(m) for m in msgs]
    out = await run_batch_api(calls, max_requests=2, resume_ids=journal, on_submitted=resumed.append, **FAST)
    assert [r.choices[0].message.content for r in out] == [f"echo: question number {i}" for i in range(5)]
    assert created(fake) == 3 and resumed == []  # nothing paid for twice

    fake.reset()  # the provider does not know them (another account, another provider)
    with pytest.raises(BatchResumeError, match="cannot resume batch"):
        await run_batch_api([t.call(m) for m in msgs], max_requests=2, resume_ids=journal, **FAST)
    assert created(fake) == 0


async def test_partial_resume_submits_the_rest(fake: FakeServer) -> None:
    t = template(fake, "anthropic")
    calls = [t.call(m) for m in prompts(5)]
    adapter = make_adapter("anthropic", fake.url, KEY)
    first = await adapter.submit([("volley-0", calls[0].request.body), ("volley-1", calls[1].request.body)])
    ids: list[list[str]] = []
    out = await run_batch_api(calls, max_requests=2, resume_ids=[first.id], on_submitted=ids.append, **FAST)
    assert [r.choices[0].message.content for r in out] == [f"echo: question number {i}" for i in range(5)]
    assert created(fake) == 3 and ids[0][0] == first.id and len(ids[-1]) == 3


async def test_resume_matches_by_custom_id_when_the_calls_changed(fake: FakeServer, monkeypatch) -> None:
    """A job resumed after some items were recorded passes fewer calls: stable ids still match them."""
    t = template(fake, "openai")
    msgs = prompts(5)
    lines = [f"line-{n}" for n in range(1, 6)]
    journal: list[str] = []
    await run_batch_api([t.call(m) for m in msgs], custom_ids=lines, max_requests=2, on_submitted=journal.extend,
                        **FAST)  # fmt: skip
    batch_ids = list(dict.fromkeys(journal))
    assert created(fake) == 3 and len(batch_ids) == 3

    keep = [1, 3, 4]  # lines 1 and 3 were recorded before the crash
    out = await run_batch_api([t.call(msgs[k]) for k in keep], custom_ids=[lines[k] for k in keep], max_requests=2,
                              resume_ids=batch_ids, **FAST)  # fmt: skip
    assert [r.choices[0].message.content for r in out] == [f"echo: question number {k}" for k in keep]
    assert created(fake) == 3

    for bad in (["a", "a", "b", "c", "d"], ["a b", "c", "d", "e", "f"], ["a"]):
        with pytest.raises(volley.BadRequestError, match="custom_id"):
            await run_batch_api([t.call(m) for m in msgs], custom_ids=bad, **FAST)


# ------------------------------------------------------------------------------------- failures


async def test_anthropic_item_failures_are_typed(fake: FakeServer) -> None:
    fake.script("m", failures=[None, 400, "expired", "canceled", 529, 429])
    out = await run_batch_api([template(fake, "anthropic").call(m) for m in prompts(7)], **FAST)
    assert out[0].choices[0].message.content == "echo: question number 0"
    assert out[6].choices[0].message.content == "echo: question number 6"
    assert (type(out[1]), out[1].reason, out[1].status_code, out[1].error_type) == (
        BatchItemError, "errored", 400, "invalid_request_error"
    )  # fmt: skip
    assert isinstance(out[1].online_error, volley.BadRequestError)
    assert isinstance(out[2], BatchItemExpired) and isinstance(out[3], BatchItemCanceled)
    assert (out[4].status_code, out[4].error_type) == (529, "overloaded_error")
    assert isinstance(out[5].online_error, volley.RateLimitError)
    assert all(isinstance(e, volley.APIError) and e.provider == "anthropic" and e.model == "m" for e in out[1:6])
    assert {e.custom_id for e in out[1:6]} == {f"volley-{i}" for i in range(1, 6)}


async def test_openai_item_failures_are_typed(fake: FakeServer) -> None:
    fake.script("m", failures=[None, 429, "expired", 500])
    out = await run_batch_api([template(fake, "openai").call(m) for m in prompts(5)], **FAST)
    assert isinstance(out[0], volley.ModelResponse) and isinstance(out[4], volley.ModelResponse)
    assert (out[1].status_code, out[1].error_type) == (429, "requests")
    assert isinstance(out[1].online_error, volley.RateLimitError)
    assert isinstance(out[2], BatchItemExpired) and out[2].error_type == "batch_expired"
    assert isinstance(out[3].online_error, volley.InternalServerError)
    fake.script("m", failures=["canceled"])
    out = await run_batch_api([template(fake, "openai").call(m) for m in prompts(2)], **FAST)
    assert isinstance(out[0], BatchItemCanceled) and isinstance(out[1], volley.ModelResponse)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_fallback_online_fixes_the_failed_items(fake: FakeServer, provider: str) -> None:
    fake.script("m", failures=[None, 500, "expired", "canceled"])
    msgs = prompts(5)
    out = await run_batch_api([template(fake, provider).call(m) for m in msgs], fallback="online", **FAST)
    assert [r.choices[0].message.content for r in out] == [f"echo: question number {i}" for i in range(5)]
    assert [batch_discount(r) for r in out] == [0.5, 1.0, 1.0, 1.0, 0.5]  # the online answers pay full price
    online = [r for r in fake.requests if r.path in ("/v1/chat/completions", "/v1/messages")]
    assert len(online) == 3


async def test_failed_openai_batch_fails_its_items(fake: FakeServer) -> None:
    adapter = make_adapter("openai", fake.openai_base, KEY)
    body = template(fake, "openai").call(prompts(1)[0]).request.body
    info = await adapter.submit([("dup", body), ("dup", body)])
    while not info.done:
        await asyncio.sleep(0.02)
        info = await adapter.retrieve(info.id)
    assert info.status == "failed" and "duplicate_custom_id" in info.errors[0]
    assert await adapter.results(info) == {}


# ------------------------------------------------------------------------------------- refusals, keys


async def test_unsupported_provider_is_refused_before_any_request(fake: FakeServer) -> None:
    calls = [Template("cohere/command-r", {"api_key": KEY, "api_base": fake.url}).call(m) for m in prompts(2)]
    with pytest.raises(BatchModeUnsupportedError, match="works with openai, anthropic, azure, groq, mistral") as exc:
        await run_batch_api(calls, **FAST)
    assert isinstance(exc.value, volley.BadRequestError) and "cohere" in str(exc.value)
    streaming = [template(fake, "openai", stream=True).call(m) for m in prompts(1)]
    with pytest.raises(BatchModeUnsupportedError, match="stream"):
        await run_batch_api(streaming, **FAST)
    with pytest.raises(volley.BadRequestError, match="fallback"):
        await run_batch_api([template(fake, "openai").call(prompts(1)[0])], fallback="retry")
    assert fake.requests == []


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_the_key_never_shows(fake: FakeServer, provider: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fake, "api_key", "sk-the-right-one")
    calls = [template(fake, provider).call(m) for m in prompts(2)]
    with pytest.raises(volley.AuthenticationError) as exc:
        await run_batch_api(calls, **FAST)
    assert KEY not in str(exc.value) and KEY not in repr(exc.value)
    adapter = make_adapter(provider, base(fake, provider), KEY)
    assert KEY not in repr(adapter.client) and KEY not in repr(calls[0])
    monkeypatch.setattr(fake, "api_key", None)
    fake.script("m", failures=[400])
    out = await run_batch_api(calls, **FAST)
    assert KEY not in str(out[0]) and KEY not in repr(out[0]) and KEY not in repr(out[1])


# ------------------------------------------------------------------------------------- management


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_management_functions(fake: FakeServer, provider: str, monkeypatch: pytest.MonkeyPatch) -> None:
    where = {"api_base": base(fake, provider), "api_key": KEY}
    ids: list[list[str]] = []
    await run_batch_api([template(fake, provider).call(m) for m in prompts(3)], on_submitted=ids.append, **FAST)
    done_id = ids[-1][0]
    info = await batch_status(provider, done_id, **where)
    assert info.done and info.id == done_id and info.provider == provider
    results = await batch_results(provider, done_id, **where)
    assert sorted(results) == ["volley-0", "volley-1", "volley-2"]
    assert results["volley-1"].choices[0].message.content == "echo: question number 1"
    assert batch_discount(results["volley-1"]) == 0.5

    monkeypatch.setattr(fake, "batch_delay", 1.0)
    adapter = make_adapter(provider, base(fake, provider), KEY)
    running = await adapter.submit([("volley-0", template(fake, provider).call(prompts(1)[0]).request.body)])
    with pytest.raises(volley.BadRequestError, match="no results yet"):
        await batch_results(provider, running.id, **where)
    listed = await list_batches(provider, **where)
    assert [b.id for b in listed] == [running.id, done_id]
    after = await cancel_batch(provider, running.id, **where)
    assert after.status in ("cancelling", "canceling")
    while not (info := await batch_status(provider, running.id, **where)).done:
        await asyncio.sleep(0.05)
    assert info.status in ("cancelled", "ended")
    (item,) = (await batch_results(provider, running.id, **where)).values()
    assert isinstance(item, BatchItemCanceled)


def test_batches_cli(fake: FakeServer, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    fake.script("m", failures=[None, 400])
    ids: list[list[str]] = []
    calls = [template(fake, "anthropic").call(m) for m in prompts(2)]
    volley.batch_completion  # noqa: B018  (the sync machinery is what the CLI uses)
    from volley._sync import run_sync

    run_sync(run_batch_api(calls, on_submitted=ids.append, **FAST))
    bid = ids[-1][0]

    out = io.StringIO()
    assert batches_main(["status", bid, "--api-base", fake.url, "--json"], out=out) == 0
    status = json.loads(out.getvalue())
    assert (status["id"], status["provider"], status["status"], status["done"]) == (bid, "anthropic", "ended", True)

    out = io.StringIO()
    assert batches_main(["list", "--provider", "anthropic", "--api-base", fake.url], out=out) == 0
    assert bid in out.getvalue() and "ended" in out.getvalue()

    path = tmp_path / "results.jsonl"
    assert batches_main(["results", bid, "--api-base", fake.url, "-o", str(path)]) == 0
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [x["index"] for x in lines] == [0, 1]
    assert lines[0]["response"]["choices"][0]["message"]["content"] == "echo: question number 0"
    assert lines[1]["error"]["reason"] == "errored" and lines[1]["error"]["status_code"] == 400

    assert batches_main(["cancel", "msgbatch_nope", "--api-base", fake.url]) == 1  # 404, reported on stderr
    with pytest.raises(SystemExit):
        batches_main(["status", "weird-id", "--api-base", fake.url])


async def test_polls_back_off_and_report_status(fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fake, "batch_delay", 0.3)
    seen: list[str] = []
    out = await run_batch_api([template(fake, "anthropic").call(m) for m in prompts(2)], poll_interval=0.02,
                              max_poll_interval=0.08, on_status=lambda info: seen.append(info.status))  # fmt: skip
    assert all(isinstance(r, volley.ModelResponse) for r in out)
    assert seen[-1] == "ended" and set(seen[:-1]) == {"in_progress"}
    polls = [r for r in fake.requests if r.path.startswith("/v1/messages/batches/msgbatch_")]
    assert polls[-1].path.endswith("/results")
    assert 2 <= len(polls) - 1 <= 10  # after 0.02, 0.05, 0.095, 0.16, 0.24, 0.32 s (then every 0.08 s)


async def test_batch_only_failures_online_are_server_errors(fake: FakeServer) -> None:
    fake.script("m", failures=["expired"])
    with pytest.raises(volley.InternalServerError):
        await volley.acompletion("openai/m", prompts(1)[0], api_base=fake.openai_base, api_key=KEY, num_retries=0)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_batch_completion_mode_batch_api_matches_online(fake: FakeServer, provider: str) -> None:
    kw = {"api_base": base(fake, provider), "api_key": KEY, **FAST}
    msgs = prompts(5)
    batched = volley.batch_completion(f"{provider}/m", msgs, mode="batch_api", **kw)
    online = volley.batch_completion(f"{provider}/m", msgs, api_base=kw["api_base"], api_key=KEY)
    assert [dump(r) for r in batched] == [dump(r) for r in online]
    assert all(batch_discount(r) == 0.5 for r in batched) and all(batch_discount(r) == 1.0 for r in online)
    assert created(fake) == 1


def test_batch_completion_mode_is_checked_before_sending(fake: FakeServer) -> None:
    with pytest.raises(volley.InvalidRequestError, match="mode"):
        volley.batch_completion("openai/m", prompts(2), mode="overnight", api_base=fake.openai_base, api_key=KEY)
    with pytest.raises(BatchModeUnsupportedError, match="openai"):
        volley.batch_completion("cohere/m", prompts(2), mode="batch_api", api_base=fake.url, api_key=KEY)
    assert fake.requests == []


def test_batch_answers_cost_half(fake: FakeServer) -> None:
    kw = {"api_base": fake.openai_base, "api_key": KEY}
    batched = volley.batch_completion("openai/gpt-4o-mini", prompts(2), mode="batch_api", **kw, **FAST)
    online = volley.batch_completion("openai/gpt-4o-mini", prompts(2), **kw)
    for b, o in zip(batched, online):
        assert b.usage == o.usage and o.cost > 0
        assert volley.completion_cost(b) == pytest.approx(o.cost / 2) and b.cost == pytest.approx(o.cost / 2)
