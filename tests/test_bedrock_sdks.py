"""Fidelity of the fake Bedrock Runtime: boto3's ``bedrock-runtime`` client and ``anthropic.AnthropicBedrock``
must parse every kind of answer it gives, and the fake must check the SigV4 signatures they send.

If an SDK needs a field the fake does not send, the fake is wrong: fix the server, not the test.
"""

from __future__ import annotations

import json

import anthropic
import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError, EventStreamError

from volley.testing import FakeServer
from volley.testing.wires.base import BadRequest
from volley.testing.wires.bedrock import (
    FAKE_AWS_ACCESS_KEY_ID,
    FAKE_AWS_SECRET_ACCESS_KEY,
    FAKE_AWS_SESSION_ACCESS_KEY_ID,
    FAKE_AWS_SESSION_SECRET_ACCESS_KEY,
    FAKE_AWS_SESSION_TOKEN,
    BedrockInvokeWire,
)

NOVA = "amazon.nova-lite-v1:0"
CLAUDE = "anthropic.claude-3-5-haiku-20241022-v1:0"
USER = [{"role": "user", "content": [{"text": "hello brave new world"}]}]
WEATHER = {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}
TOOL_CONFIG = {
    "tools": [
        {
            "toolSpec": {
                "name": "get_weather",
                "description": "Weather of a city",
                "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}},
            }
        }
    ]
}


@pytest.fixture(autouse=True)
def _no_ambient_aws(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """The SDKs must use the test credentials given here, nothing from this machine."""
    for name in (
        "AWS_BEARER_TOKEN_BEDROCK",
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def runtime(
    fake: FakeServer,
    key: str = FAKE_AWS_ACCESS_KEY_ID,
    secret: str = FAKE_AWS_SECRET_ACCESS_KEY,
    token: str | None = None,
):
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=fake.url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=botocore.config.Config(retries={"total_max_attempts": 1}, read_timeout=5, connect_timeout=5),
    )


@pytest.fixture
def br(fake: FakeServer):
    return runtime(fake)


def error_code(info: pytest.ExceptionInfo) -> tuple[str, int]:
    err = info.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


# ---------------------------------------------------------------- boto3 converse


def test_converse_text(br, fake: FakeServer):
    out = br.converse(modelId=NOVA, messages=USER, system=[{"text": "Be brief."}], inferenceConfig={"temperature": 0.5})
    assert out["output"]["message"] == {"role": "assistant", "content": [{"text": "echo: hello brave new world"}]}
    assert out["stopReason"] == "end_turn"
    assert out["usage"] == {"inputTokens": 6, "outputTokens": 5, "totalTokens": 11}
    assert out["metrics"]["latencyMs"] >= 0
    record = fake.requests[-1]
    assert record.provider == "bedrock" and record.model == NOVA and not record.stream
    assert record.json["system"] == [{"text": "Be brief."}]
    assert record.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={FAKE_AWS_ACCESS_KEY_ID}/")


def test_converse_tool_use(br, fake: FakeServer):
    fake.script(NOVA, tool_call=WEATHER)
    out = br.converse(modelId=NOVA, messages=USER, toolConfig=TOOL_CONFIG)
    assert out["stopReason"] == "tool_use"
    (block,) = out["output"]["message"]["content"]
    assert block["toolUse"]["name"] == "get_weather" and block["toolUse"]["input"] == WEATHER["arguments"]
    tool_id = block["toolUse"]["toolUseId"]
    # the answer to the call is accepted in the next turn
    follow = br.converse(
        modelId=NOVA,
        messages=[
            *USER,
            out["output"]["message"],
            {"role": "user", "content": [{"toolResult": {"toolUseId": tool_id, "content": [{"json": {"temp": 18}}]}}]},
        ],
        toolConfig=TOOL_CONFIG,
    )
    assert follow["stopReason"] == "tool_use"


def test_converse_stop_reasons(br):
    assert br.converse(modelId=NOVA, messages=USER, inferenceConfig={"maxTokens": 2})["stopReason"] == "max_tokens"
    out = br.converse(modelId=NOVA, messages=USER, inferenceConfig={"stopSequences": ["brave"]})
    assert out["stopReason"] == "stop_sequence" and out["output"]["message"]["content"][0]["text"] == "echo: hello "


def test_converse_stream_text(br, fake: FakeServer):
    events = list(br.converse_stream(modelId=NOVA, messages=USER)["stream"])
    assert next(iter(events[0])) == "messageStart"
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == "echo: hello brave new world"
    assert events[-2] == {"messageStop": {"stopReason": "end_turn"}}
    assert events[-1]["metadata"]["usage"] == {"inputTokens": 4, "outputTokens": 5, "totalTokens": 9}
    assert fake.requests[-1].stream


def test_converse_stream_tool_use(br, fake: FakeServer):
    fake.script(NOVA, tool_call=WEATHER)
    events = list(br.converse_stream(modelId=NOVA, messages=USER, toolConfig=TOOL_CONFIG)["stream"])
    (start,) = [e["contentBlockStart"] for e in events if "contentBlockStart" in e]
    assert start["start"]["toolUse"]["name"] == "get_weather"
    fragments = [e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e]
    assert len(fragments) > 1 and json.loads("".join(fragments)) == WEATHER["arguments"]
    assert events[-2] == {"messageStop": {"stopReason": "tool_use"}}


def test_throttling_is_a_429_throttling_exception(br, fake: FakeServer):
    fake.script(NOVA, fail=429)
    with pytest.raises(ClientError) as info:
        br.converse(modelId=NOVA, messages=USER)
    assert error_code(info) == ("ThrottlingException", 429)
    micro = "amazon.nova-micro-v1:0"
    fake.script(micro, rpm=1, window=60)
    br.converse(modelId=micro, messages=USER)
    with pytest.raises(ClientError) as info:  # the rate limit's refusal
        br.converse(modelId=micro, messages=USER)
    assert error_code(info) == ("ThrottlingException", 429)
    assert "Too many requests" in info.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    ("status", "code"),
    [(500, "InternalServerException"), (503, "ServiceUnavailableException"), (400, "ValidationException")],
)
def test_injected_failures_carry_their_aws_error_type(br, fake: FakeServer, status: int, code: str):
    fake.script(NOVA, failures=[status])
    with pytest.raises(ClientError) as info:
        br.converse(modelId=NOVA, messages=USER)
    assert error_code(info) == (code, status)


def test_stream_error_mid_stream(br, fake: FakeServer):
    fake.script(NOVA, failures=["stream_error"])
    with pytest.raises(EventStreamError) as info:
        list(br.converse_stream(modelId=NOVA, messages=USER)["stream"])
    assert info.value.response["Error"]["Code"] == "modelStreamErrorException"


def test_the_fake_checks_the_sigv4_signature(fake: FakeServer):
    with pytest.raises(ClientError) as info:
        runtime(fake, secret="not-the-secret").converse(modelId=NOVA, messages=USER)
    assert error_code(info) == ("InvalidSignatureException", 403)
    with pytest.raises(ClientError) as info:
        runtime(fake, key="AKIAUNKNOWN000000000").converse(modelId=NOVA, messages=USER)
    assert error_code(info) == ("UnrecognizedClientException", 403)
    session = runtime(fake, FAKE_AWS_SESSION_ACCESS_KEY_ID, FAKE_AWS_SESSION_SECRET_ACCESS_KEY, FAKE_AWS_SESSION_TOKEN)
    assert session.converse(modelId=NOVA, messages=USER)["stopReason"] == "end_turn"
    with pytest.raises(ClientError) as info:  # temporary credentials without their token
        runtime(fake, FAKE_AWS_SESSION_ACCESS_KEY_ID, FAKE_AWS_SESSION_SECRET_ACCESS_KEY).converse(
            modelId=NOVA, messages=USER
        )
    assert error_code(info) == ("UnrecognizedClientException", 403)


def test_inference_profile_arn_model_ids(br, fake: FakeServer):
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0"
    out = br.converse(modelId=arn, messages=USER)
    assert out["stopReason"] == "end_turn"
    assert fake.requests[-1].model == arn


def test_the_fake_refuses_an_invalid_conversation(br):
    with pytest.raises(ClientError) as info:
        br.converse(modelId=NOVA, messages=[{"role": "assistant", "content": [{"text": "hi"}]}])
    assert error_code(info) == ("ValidationException", 400)
    assert "must start with a user message" in info.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as info:
        br.converse(
            modelId=NOVA,
            messages=[
                *USER,
                {
                    "role": "assistant",
                    "content": [{"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {}}}],
                },
                {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "18C"}]}}]},
            ],
        )
    assert "toolConfig field must be defined" in info.value.response["Error"]["Message"]


# ---------------------------------------------------------------- anthropic.AnthropicBedrock (InvokeModel)


@pytest.fixture
def ab(fake: FakeServer) -> anthropic.AnthropicBedrock:
    return anthropic.AnthropicBedrock(
        base_url=fake.url,
        aws_region="us-east-1",
        aws_access_key=FAKE_AWS_ACCESS_KEY_ID,
        aws_secret_key=FAKE_AWS_SECRET_ACCESS_KEY,
        max_retries=0,
        timeout=5,
    )


def test_anthropic_bedrock_messages(ab, fake: FakeServer):
    msg = ab.messages.create(model=CLAUDE, max_tokens=50, messages=[{"role": "user", "content": "hello there"}])
    assert msg.content[0].text == "echo: hello there" and msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens == 2 and msg.usage.output_tokens == 3
    record = fake.requests[-1]
    assert record.provider == "bedrock_invoke" and record.path == f"/model/{CLAUDE}/invoke"
    assert "model" not in record.json and "anthropic_version" in record.json


def test_anthropic_bedrock_stream(ab, fake: FakeServer):
    with ab.messages.stream(
        model=CLAUDE, max_tokens=50, messages=[{"role": "user", "content": "hello there"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "echo: hello there" and final.stop_reason == "end_turn" and final.usage.output_tokens == 3
    assert fake.requests[-1].path.endswith("/invoke-with-response-stream") and fake.requests[-1].stream


def test_anthropic_bedrock_tool_use_stream(ab, fake: FakeServer):
    fake.script(CLAUDE, tool_call=WEATHER)
    tools = [{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    with ab.messages.stream(
        model=CLAUDE, max_tokens=50, tools=tools, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[-1].name == "get_weather" and final.content[-1].input == WEATHER["arguments"]


def test_anthropic_bedrock_errors(ab, fake: FakeServer):
    fake.script(CLAUDE, fail=429)
    with pytest.raises(anthropic.RateLimitError):
        ab.messages.create(model=CLAUDE, max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    fake.script(CLAUDE, failures=["stream_error"])
    with (
        pytest.raises(anthropic.APIStatusError),
        ab.messages.stream(model=CLAUDE, max_tokens=50, messages=[{"role": "user", "content": "hi"}]) as stream,
    ):
        stream.get_final_message()
    wrong = anthropic.AnthropicBedrock(
        base_url=fake.url,
        aws_region="us-east-1",
        aws_access_key=FAKE_AWS_ACCESS_KEY_ID,
        aws_secret_key="nope",
        max_retries=0,
    )
    with pytest.raises(anthropic.PermissionDeniedError, match="signature"):
        wrong.messages.create(model=CLAUDE, max_tokens=50, messages=[{"role": "user", "content": "hi"}])


def test_invoke_bodies_are_checked_as_bedrock_checks_them():
    wire = BedrockInvokeWire()
    ok = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    assert wire.read(ok, CLAUDE).last_user == "hi"
    for body, match in [
        ({**ok, "model": CLAUDE}, "extraneous key \\[model\\]"),
        ({**ok, "stream": True}, "extraneous key \\[stream\\]"),
        ({k: v for k, v in ok.items() if k != "anthropic_version"}, "required key \\[anthropic_version\\]"),
        ({k: v for k, v in ok.items() if k != "max_tokens"}, "max_tokens"),
    ]:
        with pytest.raises(BadRequest, match=match):
            wire.read(body, CLAUDE)
