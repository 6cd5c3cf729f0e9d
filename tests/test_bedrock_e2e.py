"""volley's Bedrock pieces end to end, without the core: the Converse body, the SigV4 signer, an
aiohttp request to the fake (which validates the body and verifies the signature), and the answer
parsed by the protocol, the event-stream reader and the StreamParser."""

from __future__ import annotations

import datetime
import json
from typing import Any

import aiohttp
import botocore.auth
import pytest
import yarl

from volley.auth.sigv4 import AWSSigner, BearerToken
from volley.errors import APIConnectionError, InternalServerError, PermissionDeniedError, RateLimitError
from volley.protocols import bedrock_converse as bc
from volley.testing import FakeServer
from volley.testing.wires.bedrock import (
    FAKE_AWS_ACCESS_KEY_ID,
    FAKE_AWS_SECRET_ACCESS_KEY,
    FAKE_AWS_SESSION_ACCESS_KEY_ID,
    FAKE_AWS_SESSION_SECRET_ACCESS_KEY,
    FAKE_AWS_SESSION_TOKEN,
)
from volley.transports.eventstream import aws_eventstream_events

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
USER = [{"role": "user", "content": "hello brave new world"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
WEATHER = {"name": "get_weather", "arguments": {"city": "Paris"}}


def signer() -> AWSSigner:
    return AWSSigner(
        region="us-east-1", access_key_id=FAKE_AWS_ACCESS_KEY_ID, secret_access_key=FAKE_AWS_SECRET_ACCESS_KEY
    )


async def call(
    fake: FakeServer,
    messages: list[dict[str, Any]],
    params: dict[str, Any] | None = None,
    *,
    stream: bool = False,
    auth: Any = None,
    model: str = MODEL,
    encoded: bool = True,
) -> Any:
    """One attempt as the core will make it: body encoded once, signed now, sent unre-encoded."""
    auth = auth or signer()
    body = bc.build_body(model, messages, params or {}, stream=stream)
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    url = fake.url + bc.path(model, stream=stream)
    headers = {"Content-Type": "application/json"}
    headers.update(auth.headers("POST", url, headers, content))
    async with aiohttp.ClientSession() as session:
        target = yarl.URL(url, encoded=True) if encoded else url
        resp = await session.post(target, data=content, headers=headers, timeout=aiohttp.ClientTimeout(total=10))
        if resp.status >= 400:
            raise bc.error_from_response(
                resp.status, resp.headers, await resp.read(), model=model, secrets=auth.secrets()
            )
        if not stream:
            return bc.parse_response(json.loads(await resp.read()), model)
        parser = bc.StreamParser(model)
        chunks: list[dict[str, Any]] = []
        try:
            async for event, data in aws_eventstream_events(resp, model=model):
                chunks.extend(parser.feed(event, data))
        finally:
            parser.chunks = chunks  # type: ignore[attr-defined]
        return parser, chunks


def deltas(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c["choices"][0]["delta"] for c in chunks if c["choices"]]


async def test_converse_round_trip(fake: FakeServer):
    out = await call(fake, [{"role": "system", "content": "Be brief."}, *USER], {"max_tokens": 50, "temperature": 0.2})
    assert out["choices"][0]["message"]["content"] == "echo: hello brave new world"
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["usage"]["total_tokens"] == out["usage"]["prompt_tokens"] + out["usage"]["completion_tokens"] > 0
    record = fake.requests[-1]
    assert record.json["inferenceConfig"] == {"maxTokens": 50, "temperature": 0.2}
    assert record.path == f"/model/{MODEL}/converse"


async def test_stop_reasons_round_trip(fake: FakeServer):
    assert (await call(fake, USER, {"max_tokens": 2}))["choices"][0]["finish_reason"] == "length"
    out = await call(fake, USER, {"stop": ["brave"]})
    assert out["choices"][0]["message"]["content"] == "echo: hello " and out["choices"][0]["finish_reason"] == "stop"


async def test_tool_calls_and_results_round_trip(fake: FakeServer):
    fake.script(MODEL, tool_call=WEATHER)
    first = await call(fake, USER, {"tools": TOOLS, "tool_choice": "required"})
    message = first["choices"][0]["message"]
    assert first["choices"][0]["finish_reason"] == "tool_calls"
    (tool_call,) = message["tool_calls"]
    assert json.loads(tool_call["function"]["arguments"]) == WEATHER["arguments"]
    fake.script(MODEL, content="It is 18C in Paris.")
    history = [*USER, message, {"role": "tool", "tool_call_id": tool_call["id"], "content": "18C"}]
    second = await call(fake, history, {"tools": TOOLS})
    assert second["choices"][0]["message"]["content"] == "It is 18C in Paris."
    assert fake.requests[-1].json["messages"][2]["content"][0]["toolResult"]["toolUseId"] == tool_call["id"]


async def test_converse_stream_round_trip(fake: FakeServer):
    parser, chunks = await call(fake, USER, stream=True)
    assert parser.finished
    assert "".join(d.get("content") or "" for d in deltas(chunks)) == "echo: hello brave new world"
    assert [d for d in (c["choices"][0]["finish_reason"] for c in chunks if c["choices"]) if d] == ["stop"]
    assert chunks[-1]["usage"]["completion_tokens"] == 5
    assert fake.requests[-1].stream


async def test_stream_tool_call_round_trip(fake: FakeServer):
    fake.script(MODEL, tool_call=[WEATHER, {"name": "get_weather", "arguments": {"city": "Oslo"}}])
    parser, chunks = await call(fake, USER, {"tools": TOOLS}, stream=True)
    calls: dict[int, str] = {}
    for d in deltas(chunks):
        for tc in d.get("tool_calls", []):
            calls[tc["index"]] = calls.get(tc["index"], "") + tc["function"]["arguments"]
    assert [json.loads(a)["city"] for _, a in sorted(calls.items())] == ["Paris", "Oslo"]
    assert parser.finished


async def test_temporary_credentials_and_bedrock_api_keys(fake: FakeServer):
    session = AWSSigner(
        region="us-east-1",
        access_key_id=FAKE_AWS_SESSION_ACCESS_KEY_ID,
        secret_access_key=FAKE_AWS_SESSION_SECRET_ACCESS_KEY,
        session_token=FAKE_AWS_SESSION_TOKEN,
    )
    assert (await call(fake, USER, auth=session))["choices"][0]["finish_reason"] == "stop"
    assert fake.requests[-1].headers["x-amz-security-token"] == FAKE_AWS_SESSION_TOKEN
    assert (await call(fake, USER, auth=BearerToken("ABSKtestkey", region="us-east-1")))["choices"]
    assert fake.requests[-1].headers["authorization"] == "Bearer ABSKtestkey"


async def test_throttling_is_a_rate_limit_error_without_secrets(fake: FakeServer):
    fake.script(MODEL, fail=429)
    with pytest.raises(RateLimitError) as info:
        await call(fake, USER)
    assert info.value.status_code == 429 and "ThrottlingException" in str(info.value)
    assert FAKE_AWS_SECRET_ACCESS_KEY not in str(info.value) + repr(info.value)


async def test_a_signature_from_an_earlier_attempt_is_refused(fake: FakeServer, monkeypatch: pytest.MonkeyPatch):
    """Why signing happens per attempt: a signature dated 10 minutes ago is expired."""
    old = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=10)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: old)
    with pytest.raises(PermissionDeniedError, match="Signature expired"):
        await call(fake, USER)
    monkeypatch.undo()
    assert (await call(fake, USER))["choices"][0]["finish_reason"] == "stop"


async def test_the_url_must_be_sent_as_signed(fake: FakeServer):
    """aiohttp re-encodes a str URL (``%3A`` → ``:``), so what arrives is not what was signed: the
    transport has to send ``yarl.URL(url, encoded=True)``."""
    with pytest.raises(PermissionDeniedError, match="signature we calculated does not match"):
        await call(fake, USER, encoded=False)


async def test_stream_failures_surface_as_typed_errors(fake: FakeServer):
    fake.script(MODEL, failures=["stream_error", "malformed", "truncate"])
    with pytest.raises(InternalServerError) as info:
        await call(fake, USER, stream=True)
    assert info.value.status_code == 424 and info.value.retryable and "Overloaded" in info.value.message
    with pytest.raises(APIConnectionError, match="malformed JSON"):
        await call(fake, USER, stream=True)
    parser, chunks = await call(fake, USER, stream=True)  # cut before messageStop: the caller sees it unfinished
    assert not parser.finished and not parser.stopped and chunks


async def test_a_stream_cut_inside_a_message_is_a_connection_error():
    """A raw server that sends one whole event-stream message, half of the next, and hangs up."""
    import asyncio

    from volley.transports.eventstream import encode_message

    headers = {":event-type": "messageStart", ":message-type": "event", ":content-type": "application/json"}
    frame = encode_message(headers, b'{"role":"assistant"}')

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\nConnection: close\r\n\r\n"
        )
        writer.write(frame + frame[: len(frame) // 2])
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    events = []
    try:
        async with aiohttp.ClientSession() as session:
            resp = await session.post(f"http://127.0.0.1:{port}/model/m/converse-stream", data=b"{}")
            with pytest.raises(APIConnectionError, match=r"inside an event-stream message"):
                async for event in aws_eventstream_events(resp):
                    events.append(event)
    finally:
        server.close()
        await server.wait_closed()
    assert events == [("messageStart", {"role": "assistant"})]
