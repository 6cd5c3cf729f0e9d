"""The fake server itself: Gemini shapes (no SDK installed), failure injection, limits, counters, CLI."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from volley.testing import FAILURES, FakeServer, behaviour_from_name, main

OPENAI_AUTH = {"Authorization": "Bearer sk-test"}
ANTHROPIC_AUTH = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
GEMINI_AUTH = {"x-goog-api-key": "k"}
USER = [{"role": "user", "content": "hello brave new world"}]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session


def openai_req(fake: FakeServer, model: str = "m", **extra: Any) -> dict[str, Any]:
    body = {"model": model, "messages": USER, **extra}
    return {"url": fake.openai_base + "/chat/completions", "json": body, "headers": OPENAI_AUTH}


def gemini_url(fake: FakeServer, model: str = "gemini-2.5-flash", stream: bool = False, sse: bool = True) -> str:
    action = "streamGenerateContent" + ("?alt=sse" if sse else "") if stream else "generateContent"
    return f"{fake.url}/v1beta/models/{model}:{action}"


GEMINI_BODY = {
    "systemInstruction": {"parts": [{"text": "be brief"}]},
    "contents": [{"role": "user", "parts": [{"text": "hello brave "}, {"text": "new world"}]}],
}


def sse_data(raw: str, sep: str = "\n\n") -> list[str]:
    return [line[6:] for block in raw.split(sep) for line in block.splitlines() if line.startswith("data: ")]


async def wait_for(predicate: Any, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


# ----------------------------------------------------------------------------------------------- Gemini


async def test_gemini_generate_content(fake: FakeServer, http: aiohttp.ClientSession) -> None:
    async with http.post(gemini_url(fake), json=GEMINI_BODY, headers=GEMINI_AUTH) as r:
        assert r.status == 200
        data = await r.json()
    (cand,) = data["candidates"]
    assert cand["content"] == {"parts": [{"text": "echo: hello brave new world"}], "role": "model"}
    assert cand["finishReason"] == "STOP"
    usage = data["usageMetadata"]
    assert (usage["promptTokenCount"], usage["candidatesTokenCount"], usage["totalTokenCount"]) == (6, 5, 11)
    assert data["modelVersion"] == "gemini-2.5-flash" and data["responseId"]
    rec = fake.requests[-1]
    assert (rec.provider, rec.model, rec.stream) == ("gemini", "gemini-2.5-flash", False)


async def test_gemini_stream_sse(fake: FakeServer, http: aiohttp.ClientSession) -> None:
    async with http.post(gemini_url(fake, stream=True), json=GEMINI_BODY, headers=GEMINI_AUTH) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = await r.text()
    assert "\r\n\r\n" in raw and "[DONE]" not in raw and "event:" not in raw
    chunks = [json.loads(d) for d in sse_data(raw, "\r\n\r\n")]
    assert len(chunks) >= 3
    text = "".join(p["text"] for c in chunks for p in c["candidates"][0]["content"]["parts"])
    assert text == "echo: hello brave new world"
    assert [c["candidates"][0].get("finishReason") for c in chunks][-1] == "STOP"
    assert all("finishReason" not in c["candidates"][0] for c in chunks[:-1])
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] == 5
    assert all(c["usageMetadata"]["promptTokenCount"] == 6 for c in chunks)
    assert fake.requests[-1].stream


async def test_gemini_stream_without_alt_sse_is_a_json_array(fake: FakeServer, http: aiohttp.ClientSession) -> None:
    async with http.post(gemini_url(fake, stream=True, sse=False), json=GEMINI_BODY, headers=GEMINI_AUTH) as r:
        data = await r.json()
    assert isinstance(data, list) and data[-1]["candidates"][0]["finishReason"] == "STOP"


async def test_gemini_function_call_and_max_tokens(fake: FakeServer, http: aiohttp.ClientSession) -> None:
    fake.script("gemini-pro", tool_call={"name": "get_weather", "arguments": {"city": "Paris"}})
    async with http.post(gemini_url(fake, "gemini-pro"), json=GEMINI_BODY, headers=GEMINI_AUTH) as r:
        cand = (await r.json())["candidates"][0]
    assert cand["content"]["parts"] == [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]
    assert cand["finishReason"] == "STOP"  # Gemini says STOP even for a function call
    async with http.post(gemini_url(fake, "gemini-pro", stream=True), json=GEMINI_BODY, headers=GEMINI_AUTH) as r:
        last = json.loads(sse_data(await r.text(), "\r\n\r\n")[-1])
    assert last["candidates"][0]["content"]["parts"][0]["functionCall"]["args"] == {"city": "Paris"}

    body = {**GEMINI_BODY, "generationConfig": {"maxOutputTokens": 2, "stopSequences": ["zzz"]}}
    async with http.post(gemini_url(fake), json=body, headers=GEMINI_AUTH) as r:
        cand = (await r.json())["candidates"][0]
    assert (cand["content"]["parts"][0]["text"], cand["finishReason"]) == ("echo: hello", "MAX_TOKENS")


async def test_gemini_auth_and_errors(fake: FakeServer, http: aiohttp.ClientSession) -> None:
    async with http.post(gemini_url(fake), json=GEMINI_BODY) as r:
        assert r.status == 403  # what the real API answers when no key is given
        err = (await r.json())["error"]
    assert err["code"] == 403 and err["status"] == "PERMISSION_DENIED" and "unregistered callers" in err["message"]
    async with http.post(gemini_url(fake) + "?key=k", json=GEMINI_BODY) as r:
        assert r.status == 200
    fake.script("gemini-2.5-flash", failures=[429, 500])
    async with http.post(gemini_url(fake), json=GEMINI_BODY, headers=GEMINI_AUTH) as r:
        assert r.status == 429 and r.headers["retry-after"] == "1"
        assert (await r.json()) == {
            "error": {"code": 429, "message": "Rate limit exceeded", "status": "RESOURCE_EXHAUSTED"}
        }
    async with http.post(gemini_url(fake), json=GEMINI_BODY, headers=GEMINI_AUTH) as r:
        assert (await r.json())["error"]["status"] == "INTERNAL"
    async with http.post(gemini_url(fake), json={"contents": []}, headers=GEMINI_AUTH) as r:
        assert r.status == 400 and (await r.json())["error"]["status"] == "INVALID_ARGUMENT"


# ------------------------------------------------------------------------------------- shapes / auth


async def test_error_bodies_and_missing_auth(fake: FakeServer, http: aiohttp.ClientSession) -> None:
    req = openai_req(fake)
    async with http.post(req["url"], json=req["json"]) as r:
        assert r.status == 401
        err = (await r.json())["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["type"] == "invalid_request_error"
    async with http.post(fake.url + "/v1/messages", json={"model": "c", "max_tokens": 5, "messages": USER}) as r:
        assert r.status == 401
        assert (await r.json())["error"] == {"type": "authentication_error", "message": "x-api-key header is required"}
    async with http.post(fake.url + "/v2/chat", json={"model": "c", "messages": USER}) as r:
        assert r.status == 401 and await r.json() == {"message": "no api key supplied"}
    async with http.post(req["url"], data=b"{not json", headers=OPENAI_AUTH) as r:
        assert r.status == 400 and (await r.json())["error"]["type"] == "invalid_request_error"
    assert len(fake.requests) == 4 and fake.requests[-1].json is None


async def test_anthropic_stream_shape(fake: FakeServer, http: aiohttp.ClientSession) -> None:
    body = {"model": "c", "max_tokens": 50, "stream": True, "messages": USER}
    async with http.post(fake.url + "/v1/messages", json=body, headers=ANTHROPIC_AUTH) as r:
        raw = await r.text()
    names = [line[7:] for line in raw.splitlines() if line.startswith("event: ")]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    delta = json.loads(sse_data(raw)[-2])
    assert delta["delta"]["stop_reason"] == "end_turn" and delta["usage"]["output_tokens"] == 5


# ------------------------------------------------------------------------------------ failure injection


async def test_each_failure_before_the_body(fake: FakeServer, http: aiohttp.ClientSession) -> None:
    fake.script("m", failures=["drop", "html", "malformed", 503, "drop_after_headers", "truncate"])
    req = openai_req(fake)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await http.post(**req)
    async with http.post(**req) as r:
        assert r.status == 502 and r.content_type == "text/html" and "502 Bad Gateway" in await r.text()
    async with http.post(**req) as r:
        assert r.status == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(await r.read())
    async with http.post(**req) as r:
        assert r.status == 503 and (await r.json())["error"]["type"] == "server_error"
    with pytest.raises(aiohttp.ClientPayloadError):
        async with http.post(**req) as r:
            assert r.status == 200
            await r.read()
    async with http.post(**req) as r:  # truncate: a clean HTTP end, half a JSON document
        text = await r.text()
        assert text.startswith('{"id":"chatcmpl-') and not text.endswith("}")
    async with http.post(**req) as r:  # failures consumed: back to normal
        assert (await r.json())["choices"][0]["message"]["content"] == "echo: hello brave new world"
    assert fake.disconnects == 0  # the server's own drops are not client disconnects


@pytest.mark.parametrize(
    ("provider", "end_marker"),
    [("openai", "data: [DONE]"), ("anthropic", "message_stop"), ("cohere", "message-end"), ("gemini", "finishReason")],
)
async def test_truncated_stream_lacks_its_end_marker(
    fake: FakeServer, http: aiohttp.ClientSession, provider: str, end_marker: str
) -> None:
    fake.script("*", failures=["truncate"])
    url, body, headers = stream_request(fake, provider)
    async with http.post(url, json=body, headers=headers) as r:
        raw = await r.text()
    assert (
        r.status == 200
        and end_marker not in raw
        and len(sse_data(raw, "\r\n\r\n" if provider == "gemini" else "\n\n")) >= 1
    )
    async with http.post(url, json=body, headers=headers) as r:
        assert end_marker in await r.text()


@pytest.mark.parametrize(
    ("provider", "error_marker"),
    [
        ("openai", '{"error":{"message":"Overloaded","type":"server_error"'),
        ("anthropic", 'event: error\ndata: {"type":"error","error":{"type":"overloaded_error"'),
        ("cohere", '"finish_reason":"ERROR","error":"Overloaded"'),
        ("gemini", '{"error":{"code":503,'),
    ],
)
async def test_stream_error_event_mid_stream(
    fake: FakeServer, http: aiohttp.ClientSession, provider: str, error_marker: str
) -> None:
    fake.script("*", failures=["stream_error"])
    url, body, headers = stream_request(fake, provider)
    async with http.post(url, json=body, headers=headers) as r:
        raw = await r.text()
    assert r.status == 200 and error_marker in raw
    assert raw.index(error_marker) > 0  # some events came before the error


async def test_stream_malformed_and_drop_after_headers(fake: FakeServer, http: aiohttp.ClientSession) -> None:
    fake.script("m", failures=["malformed", "drop_after_headers"])
    req = openai_req(fake, stream=True)
    async with http.post(**req) as r:
        data = sse_data(await r.text())
    bad = [d for d in data if d != "[DONE]" and not is_json(d)]
    assert len(bad) == 1 and data[-1] == "[DONE]"
    with pytest.raises(aiohttp.ClientPayloadError):
        async with http.post(**req) as r:
            assert r.status == 200
            await r.read()


async def test_slow_body_and_chunk_delay(fake: FakeServer, http: aiohttp.ClientSession) -> None:
    fake.script("m", failures=["slow_body"], slow_body=0.03)
    t0 = time.monotonic()
    async with http.post(**openai_req(fake)) as r:
        assert r.status == 200
        headers_at = time.monotonic() - t0
        data = await r.json()
    assert headers_at < 0.2 and time.monotonic() - t0 >= 7 * 0.03 * 0.9  # 8 pieces, 7 pauses
    assert data["choices"][0]["message"]["content"] == "echo: hello brave new world"
    fake.script("m", chunk_delay=0.03)
    t0 = time.monotonic()
    async with http.post(**openai_req(fake, stream=True)) as r:
        assert sse_data(await r.text())[-1] == "[DONE]"
    assert time.monotonic() - t0 >= 6 * 0.03 * 0.9  # 7 events, 6 pauses


async def test_stall_then_client_timeout_counts_a_disconnect(fake: FakeServer) -> None:
    fake.script("m", failures=["stall"])
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.2)) as http:
        with pytest.raises(asyncio.TimeoutError):
            await http.post(**openai_req(fake))
    await wait_for(lambda: fake.disconnects == 1 and fake.in_flight == 0)


async def test_fail_rate_is_seeded_and_mixes_500_and_drop(fake: FakeServer, http: aiohttp.ClientSession) -> None:
    async def outcomes() -> list[str]:
        out = []
        for _ in range(30):
            try:
                async with http.post(**openai_req(fake)) as r:
                    out.append(str(r.status))
            except aiohttp.ServerDisconnectedError:
                out.append("drop")
        return out

    fake.script("*", fail_rate=0.5, seed=7)
    first = await outcomes()
    fake.script("*", fail_rate=0.5, seed=7)
    assert await outcomes() == first
    assert {"200", "500", "drop"} <= set(first)


def test_script_validation_and_reset(fake: FakeServer) -> None:
    with pytest.raises(TypeError, match="latncy"):
        fake.script("m", latncy=1)
    with pytest.raises(ValueError, match="explode"):
        fake.script("m", failures=["explode"])
    assert "drop" in FAILURES and fake.script("m", fail=500) is fake
    fake.reset()
    assert fake._scripts == {} and fake.requests == [] and fake.disconnects == 0


def test_behaviour_from_model_name() -> None:
    assert behaviour_from_name("fake-latency-300ms") == {"latency": 0.3}
    assert behaviour_from_name("fake-latency-2s-fail-drop_after_headers-rpm-60") == {
        "latency": 2.0,
        "fail": "drop_after_headers",
        "rpm": 60,
    }
    assert behaviour_from_name("fake-failrate-0.25-tool-get_weather") == {
        "fail_rate": 0.25,
        "tool_call": {"name": "get_weather", "arguments": {}},
    }
    assert behaviour_from_name("gpt-4o-latency-300ms") == {}  # only names that say "fake"


async def test_latency_scripts_by_name_star_and_model(fake: FakeServer, http: aiohttp.ClientSession) -> None:
    async def timed(model: str) -> float:
        t0 = time.monotonic()
        async with http.post(**openai_req(fake, model)) as r:
            assert r.status == 200
        return time.monotonic() - t0

    assert await timed("fake-latency-150ms") >= 0.15
    fake.script("*", latency=0.1)
    fake.script("fast", latency=0)
    assert await timed("any") >= 0.1
    assert await timed("fast") < 0.1
    async with http.post(**openai_req(fake, "fake-fail-418")) as r:
        assert r.status == 418


# ---------------------------------------------------------------------------------------- rate limits


async def test_rpm_window_refills(fake: FakeServer, http: aiohttp.ClientSession) -> None:
    fake.script("m", rpm=400, window=0.3)  # 2 requests per 0.3 s window
    statuses = []
    for _ in range(3):
        async with http.post(**openai_req(fake)) as r:
            statuses.append(r.status)
            headers = r.headers
    assert statuses == [200, 200, 429]
    assert headers["retry-after"] == "1" and 0 < int(headers["retry-after-ms"]) <= 300
    await asyncio.sleep(0.31)
    async with http.post(**openai_req(fake)) as r:
        assert r.status == 200 and r.headers["x-ratelimit-remaining-requests"] == "200"


async def test_anthropic_429_has_retry_after_and_ratelimit_headers(
    fake: FakeServer, http: aiohttp.ClientSession
) -> None:
    fake.script("c", rpm=6, window=10)  # 1 request per 10 s window
    body = {"model": "c", "max_tokens": 5, "messages": USER}
    for expected in (200, 429):
        async with http.post(fake.url + "/v1/messages", json=body, headers=ANTHROPIC_AUTH) as r:
            assert r.status == expected
            data = await r.json()
    assert r.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert 1 <= int(r.headers["retry-after"]) <= 10
    assert data["error"]["type"] == "rate_limit_error"


async def test_tpm_limit(fake: FakeServer, http: aiohttp.ClientSession) -> None:
    fake.script("m", tpm=12, window=60)  # 12 tokens a minute; one request costs 4 + 5 = 9
    async with http.post(**openai_req(fake)) as r:
        assert r.status == 200 and r.headers["x-ratelimit-remaining-tokens"] == "3"
    async with http.post(**openai_req(fake)) as r:
        assert r.status == 429


# ------------------------------------------------------------------------------------ counters / speed


async def test_client_cancel_during_latency_counts_a_disconnect(fake: FakeServer, http: aiohttp.ClientSession) -> None:
    fake.script("slow", latency=5)

    async def call() -> None:
        async with http.post(**openai_req(fake, "slow")) as r:
            await r.read()

    tasks = [asyncio.create_task(call()) for _ in range(3)]
    await wait_for(lambda: fake.in_flight == 3)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await wait_for(lambda: fake.disconnects == 3 and fake.in_flight == 0)


async def test_client_leaving_mid_stream_counts_a_disconnect(fake: FakeServer, http: aiohttp.ClientSession) -> None:
    fake.script("m", chunk_delay=0.05, content=" ".join(["word"] * 40))
    async with http.post(**openai_req(fake, stream=True)) as r:
        await r.content.readline()
        r.close()
    await wait_for(lambda: fake.disconnects == 1 and fake.in_flight == 0)


async def test_in_flight_peak_and_concurrency(fake: FakeServer) -> None:
    fake.script("*", latency=0.4)  # long enough for 200 connections to overlap on a loaded machine
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as http:

        async def one(i: int) -> str:
            body = {"model": "m", "messages": [{"role": "user", "content": f"n{i}"}]}
            async with http.post(fake.openai_base + "/chat/completions", json=body, headers=OPENAI_AUTH) as r:
                return (await r.json())["choices"][0]["message"]["content"]

        t0 = time.monotonic()
        answers = await asyncio.gather(*(one(i) for i in range(200)))
        elapsed = time.monotonic() - t0
    assert answers == [f"echo: n{i}" for i in range(200)]
    assert fake.max_in_flight >= 150 and fake.in_flight == 0
    assert elapsed < 8.0  # 200 concurrent requests at 400 ms: not serialized (that would take 80 s)
    assert fake.disconnects == 0


# ------------------------------------------------------------------------------------ lifecycle / CLI


async def test_async_start_close_and_stall_does_not_block_close() -> None:
    async with FakeServer(api_key="secret") as server:
        server.script("m", failures=["stall"])
        async with aiohttp.ClientSession() as http:
            task = asyncio.create_task(
                http.post(**openai_req(server) | {"headers": {"Authorization": "Bearer secret"}})
            )
            await wait_for(lambda: server.in_flight == 1)
            t0 = time.monotonic()
            await server.close()
            assert time.monotonic() - t0 < 2
            with pytest.raises(aiohttp.ClientError):
                await task
    assert server.disconnects == 0  # the server's shutdown is not a client disconnect


def test_thread_mode_stop_is_prompt() -> None:
    server = FakeServer().start_in_thread()
    assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}"
    assert server.openai_base == server.url + "/v1"
    t0 = time.monotonic()
    server.stop()
    assert time.monotonic() - t0 < 2


def test_main_passes_options_to_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr("volley.testing._cli.serve", lambda host, port, **kw: seen.update(host=host, port=port, **kw))
    assert main(["--port", "9999", "--latency", "0.2", "--rpm", "600", "--fail-rate", "0.1", "--seed", "3"]) == 0
    assert seen == {
        "host": "127.0.0.1",
        "port": 9999,
        "api_key": None,
        "latency": 0.2,
        "rpm": 600,
        "window": 1.0,
        "fail_rate": 0.1,
        "seed": 3,
    }


def test_python_m_volley_testing_serves() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "volley.testing", "--port", "0", "--latency", "0.01"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("volley fake server on http://127.0.0.1:")
        url = line.split()[-1]
        import urllib.request

        req = urllib.request.Request(
            url + "/v2/chat",
            data=json.dumps({"model": "command", "messages": USER}).encode(),
            headers={"Authorization": "Bearer k", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert json.load(resp)["message"]["content"][0]["text"] == "echo: hello brave new world"
    finally:
        proc.terminate()
        proc.wait(timeout=5)


# ------------------------------------------------------------------------------------------- helpers


def is_json(s: str) -> bool:
    try:
        json.loads(s)
    except ValueError:
        return False
    return True


def stream_request(fake: FakeServer, provider: str) -> tuple[str, dict[str, Any], dict[str, str]]:
    if provider == "openai":
        return fake.openai_base + "/chat/completions", {"model": "m", "messages": USER, "stream": True}, OPENAI_AUTH
    if provider == "anthropic":
        body = {"model": "m", "max_tokens": 50, "messages": USER, "stream": True}
        return fake.url + "/v1/messages", body, ANTHROPIC_AUTH
    if provider == "cohere":
        return fake.url + "/v2/chat", {"model": "m", "messages": USER, "stream": True}, OPENAI_AUTH
    return gemini_url(fake, "m", stream=True), GEMINI_BODY, GEMINI_AUTH
