"""The cloud hosts through volley itself (routing → protocol → send with per-attempt auth → HTTP transport →
parse) against the fake server, which checks what the real services check (SigV4 signatures, api-version,
api-key / bearer credentials, Vertex paths and bodies): AWS Bedrock, Azure OpenAI (key and Entra ID),
Azure AI Foundry, Vertex AI Gemini, Claude and the OpenAI-compatible endpoint."""

from __future__ import annotations

import datetime
import itertools
import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

import volley
from cloud_fakes import TokenServer, service_account_info
from volley.engine import limits
from volley.errors import (
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    InvalidRequestError,
    MissingExtraError,
    RateLimitError,
)
from volley.testing import FakeServer, contract
from volley.testing.wires.bedrock import (
    FAKE_AWS_ACCESS_KEY_ID,
    FAKE_AWS_SECRET_ACCESS_KEY,
    FAKE_AWS_SESSION_ACCESS_KEY_ID,
    FAKE_AWS_SESSION_SECRET_ACCESS_KEY,
    FAKE_AWS_SESSION_TOKEN,
)

USER = [{"role": "user", "content": "hello brave new world"}]
ECHO = "echo: hello brave new world"
WEATHER = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
KEY = "azure-key-0123456789abcdef"
BEDROCK = "anthropic.claude-3-5-haiku-20241022-v1:0"
CLAUDE = "claude-sonnet-4-5@20250929"
CLOUD_ENV = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
    "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_BEARER_TOKEN_BEDROCK", "AWS_BEDROCK_RUNTIME_ENDPOINT",
    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AZURE_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_API_BASE",
    "AZURE_OPENAI_ENDPOINT", "AZURE_API_VERSION", "OPENAI_API_VERSION", "AZURE_OPENAI_AD_TOKEN", "AZURE_AD_TOKEN",
    "AZURE_AI_API_KEY", "AZURE_AI_API_BASE", "VERTEXAI_PROJECT", "VERTEX_PROJECT", "GOOGLE_CLOUD_PROJECT",
    "VERTEXAI_LOCATION", "VERTEX_LOCATION", "GOOGLE_CLOUD_LOCATION", "GOOGLE_APPLICATION_CREDENTIALS",
)  # fmt: skip


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> pytest.MonkeyPatch:
    """No cloud credentials from this machine: environment cleared, AWS config files empty, metadata off."""
    for name in CLOUD_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


@pytest.fixture(scope="module")
def tokens() -> Iterator[TokenServer]:
    """Google's token endpoint on 127.0.0.1 (verifies the service-account JWT grants google-auth signs)."""
    with TokenServer() as server:
        yield server


@pytest.fixture(scope="module")
def service_account(tokens: TokenServer) -> dict[str, Any]:
    return service_account_info(tokens, project="cloud-project")


def bedrock_kw(fake: FakeServer, **extra: Any) -> dict[str, Any]:
    return {"api_base": fake.url, "aws_region_name": "us-east-1", "aws_access_key_id": FAKE_AWS_ACCESS_KEY_ID,
            "aws_secret_access_key": FAKE_AWS_SECRET_ACCESS_KEY, **extra}  # fmt: skip


def vertex_kw(fake: FakeServer, info: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"api_base": fake.url, "vertex_location": "europe-west4", "vertex_credentials": info, **extra}


def host_kw(host: str, fake: FakeServer, info: dict[str, Any]) -> tuple[str, dict[str, Any], tuple[str, ...]]:
    """``(model, keyword arguments, secrets no error may show)`` of each host against ``fake``."""
    if host == "bedrock":
        return f"bedrock/{BEDROCK}", bedrock_kw(fake), (FAKE_AWS_SECRET_ACCESS_KEY,)
    if host == "azure-key":
        return "azure/gpt4o-prod", {"api_base": fake.url, "api_key": KEY, "api_version": "2024-10-21"}, ()
    if host == "azure-entra":
        return "azure/gpt4o-prod", {"api_base": fake.url, "azure_ad_token_provider": lambda: "entra-token-1"}, (
            "entra-token-1",)  # fmt: skip
    if host == "azure_ai":
        return "azure_ai/Mistral-Large-2411", {"api_base": fake.url + "/models", "api_key": KEY}, ()
    model = {"vertex-gemini": "gemini-2.5-flash", "vertex-claude": CLAUDE, "vertex-openai": "meta/llama-3.3-70b"}[host]
    return f"vertex_ai/{model}", vertex_kw(fake, info), (info["private_key"],)


HOSTS = ["bedrock", "azure-key", "azure-entra", "azure_ai", "vertex-gemini", "vertex-claude", "vertex-openai"]


@pytest.mark.parametrize("host", HOSTS)
def test_each_cloud_host_passes_the_provider_contract(fake: FakeServer, service_account: dict, host: str):
    model, kw, secrets = host_kw(host, fake, service_account)
    contract.check_provider(model, server=fake, secrets=secrets, **kw)
    assert fake.requests, "nothing reached the fake"


@pytest.mark.parametrize("host", HOSTS)
def test_completion_stream_and_tool_call_reach_the_real_paths(fake: FakeServer, service_account: dict, host: str):
    model, kw, _ = host_kw(host, fake, service_account)
    r = volley.completion(model, USER, **kw)
    assert r.choices[0].message.content == ECHO and r.provider == model.split("/")[0]
    chunks = list(volley.completion(model, USER, stream=True, stream_options={"include_usage": True}, **kw))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ECHO
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5
    fake.script(model.partition("/")[2], tool_call={"name": "get_weather", "arguments": {"city": "Oslo"}})
    r = volley.completion(model, USER, tools=WEATHER, **kw)
    assert r.choices[0].finish_reason == "tool_calls"
    assert json.loads(r.choices[0].message.tool_calls[0].function.arguments) == {"city": "Oslo"}
    paths = {rec.path for rec in fake.requests}
    expected = {
        "bedrock": {f"/model/{BEDROCK}/converse", f"/model/{BEDROCK}/converse-stream"},
        "azure-key": {"/openai/deployments/gpt4o-prod/chat/completions"},
        "azure-entra": {"/openai/deployments/gpt4o-prod/chat/completions"},
        "azure_ai": {"/models/chat/completions"},
        "vertex-gemini": {"/v1/projects/cloud-project/locations/europe-west4/publishers/google/models/"
                          f"gemini-2.5-flash:{m}" for m in ("generateContent", "streamGenerateContent")},
        "vertex-claude": {f"/v1/projects/cloud-project/locations/europe-west4/publishers/anthropic/models/{CLAUDE}:{m}"
                          for m in ("rawPredict", "streamRawPredict")},
        "vertex-openai": {"/v1/projects/cloud-project/locations/europe-west4/endpoints/openapi/chat/completions"},
    }[host]  # fmt: skip
    assert paths == expected


def test_bedrock_sends_what_bedrock_checks(fake: FakeServer):
    volley.completion(f"bedrock/{BEDROCK}", USER, **bedrock_kw(fake))
    rec = fake.requests[-1]
    assert rec.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={FAKE_AWS_ACCESS_KEY_ID}/")
    assert "/us-east-1/bedrock/aws4_request" in rec.headers["authorization"]
    assert rec.json["messages"] == [{"role": "user", "content": [{"text": "hello brave new world"}]}]
    # temporary credentials carry their session token; a Bedrock API key is a bearer (no signature)
    kw = bedrock_kw(
        fake,
        aws_access_key_id=FAKE_AWS_SESSION_ACCESS_KEY_ID,
        aws_secret_access_key=FAKE_AWS_SESSION_SECRET_ACCESS_KEY,
        aws_session_token=FAKE_AWS_SESSION_TOKEN,
    )
    volley.completion(f"bedrock/{BEDROCK}", USER, **kw)  # fmt: skip
    assert fake.requests[-1].headers["x-amz-security-token"] == FAKE_AWS_SESSION_TOKEN
    volley.completion(f"bedrock/{BEDROCK}", USER, api_base=fake.url, aws_region_name="us-east-1", api_key="ABSK-key")
    assert fake.requests[-1].headers["authorization"] == "Bearer ABSK-key"


def test_bedrock_routes_converse_ids_profiles_and_bare_names(fake: FakeServer, clean_env: pytest.MonkeyPatch):
    clean_env.setenv("AWS_REGION", "us-east-1")
    clean_env.setenv("AWS_BEDROCK_RUNTIME_ENDPOINT", fake.url)
    clean_env.setenv("AWS_ACCESS_KEY_ID", FAKE_AWS_ACCESS_KEY_ID)  # botocore's chain: the environment
    clean_env.setenv("AWS_SECRET_ACCESS_KEY", FAKE_AWS_SECRET_ACCESS_KEY)
    for model in (
        f"bedrock/converse/{BEDROCK}",
        "us.anthropic.claude-3-5-haiku-20241022-v1:0",
        "amazon.nova-lite-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-2-1b-instruct-v1:0",
    ):
        r = volley.completion(model, USER)
        assert r.provider == "bedrock" and r.choices[0].message.content == ECHO, model  # fmt: skip
    assert fake.requests[0].path == f"/model/{BEDROCK}/converse"
    assert fake.requests[-1].model.startswith("arn:aws:bedrock:")  # the ARN travelled percent-encoded
    with pytest.raises(BadRequestError, match=r"InvokeModel API is not supported.*bedrock/anthropic"):
        volley.completion("bedrock/invoke/anthropic.claude-3-haiku-20240307-v1:0", USER)
    with pytest.raises(BadRequestError, match="does not assume roles"):
        volley.completion(f"bedrock/{BEDROCK}", USER, aws_role_name="arn:aws:iam::1:role/x")
    with pytest.raises(BadRequestError, match="not an AWS region"):
        volley.completion(f"bedrock/{BEDROCK}", USER, aws_region_name="evil.example.com/")
    assert len(fake.requests) == 4  # the refused calls sent nothing


def test_bedrock_without_botocore_is_refused_before_any_request(fake: FakeServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "botocore", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'volley-llm\[bedrock\]'"):
        volley.completion(f"bedrock/{BEDROCK}", USER, **bedrock_kw(fake))
    assert fake.requests == []
    # a Bedrock API key needs no signer, so no botocore
    r = volley.completion(f"bedrock/{BEDROCK}", USER, api_base=fake.url, aws_region_name="us-east-1", api_key="ABSK")
    assert r.choices[0].message.content == ECHO


def test_every_bedrock_attempt_is_signed_afresh(fake: FakeServer, monkeypatch: pytest.MonkeyPatch):
    """The retry after a throttle carries a new X-Amz-Date and signature, and the fake verifies both."""
    import botocore.auth

    ticks = itertools.count()
    start = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: start + datetime.timedelta(
        seconds=2 * next(ticks)))  # fmt: skip
    fake.script(BEDROCK, failures=[429], retry_after=None)
    r = volley.completion(f"bedrock/{BEDROCK}", USER, num_retries=1, retry_delay=0.01, **bedrock_kw(fake))
    assert r.choices[0].message.content == ECHO
    first, second = fake.requests
    assert first.headers["x-amz-date"] != second.headers["x-amz-date"]
    assert first.headers["authorization"] != second.headers["authorization"]


def test_bedrock_throttling_and_errors_are_typed_and_free_of_secrets(fake: FakeServer):
    fake.script(BEDROCK, failures=[429], retry_after=3)
    with pytest.raises(RateLimitError) as info:
        volley.completion(f"bedrock/{BEDROCK}", USER, num_retries=0, **bedrock_kw(fake))
    assert "ThrottlingException" in info.value.message and info.value.retry_after == 3.0
    assert info.value.provider == "bedrock" and info.value.model == BEDROCK
    limits.reset()  # the throttle paused the lane for 3 s; the next call need not wait it out
    wrong = bedrock_kw(fake, aws_secret_access_key="wrongSecretKey/0000000000000000000000000")
    with pytest.raises(AuthenticationError, match="signature") as info:
        volley.completion(f"bedrock/{BEDROCK}", USER, num_retries=0, **wrong)
    assert "wrongSecretKey" not in f"{info.value} {info.value!r} {info.value.body!r}"


# ------------------------------------------------------------------------------------------ Azure


class ShortLived:
    """An azure-identity style credential whose tokens live ``life`` seconds (``get_token`` → ``AccessToken``)."""

    def __init__(self, life: float) -> None:
        self.life, self.calls = life, 0

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.calls += 1
        self.scopes = scopes
        return AccessToken(f"entra-{self.calls}", int(time.time() + self.life))


def test_azure_retry_after_the_token_expired_is_sent_with_a_fresh_token(fake: FakeServer):
    credential = ShortLived(life=2)
    fake.script("gpt4o-prod", failures=[429], retry_after=2)
    r = volley.completion("azure/gpt4o-prod", USER, api_base=fake.url, azure_credential=credential, num_retries=1)
    assert r.choices[0].message.content == ECHO
    assert [rec.headers["authorization"] for rec in fake.requests] == ["Bearer entra-1", "Bearer entra-2"]
    assert credential.scopes == ("https://cognitiveservices.azure.com/.default",)


def test_azure_token_provider_and_credential_are_shared_across_calls(fake: FakeServer):
    asked: list[int] = []

    def provider() -> str:
        asked.append(1)
        return f"tp-{len(asked)}"

    for _ in range(3):
        volley.completion("azure/gpt4o-prod", USER, api_base=fake.url, azure_ad_token_provider=provider)
    assert [rec.headers["authorization"] for rec in fake.requests] == ["Bearer tp-1", "Bearer tp-2", "Bearer tp-3"]
    fake.reset()
    credential = ShortLived(life=3600)
    volley.batch_completion("azure/gpt4o-prod", [USER] * 4, api_base=fake.url, azure_credential=credential)
    volley.completion("azure/gpt4o-prod", USER, api_base=fake.url, azure_credential=credential)
    assert {rec.headers["authorization"] for rec in fake.requests} == {"Bearer entra-1"} and credential.calls == 1
    assert all("api-key" not in rec.headers for rec in fake.requests)


def test_azure_environment_versions_and_the_v1_api(fake: FakeServer, clean_env: pytest.MonkeyPatch):
    clean_env.setenv("AZURE_OPENAI_ENDPOINT", fake.url)
    clean_env.setenv("AZURE_OPENAI_API_KEY", KEY)
    clean_env.setenv("OPENAI_API_VERSION", "2024-06-01")
    volley.completion("azure/gpt4o-prod", USER)
    rec = fake.requests[-1]
    assert rec.query == {"api-version": "2024-06-01"} and rec.headers["api-key"] == KEY
    chunks = list(volley.completion("azure/gpt4o-prod", USER, stream=True, api_version="v1"))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ECHO
    rec = fake.requests[-1]
    assert (rec.path, rec.query, rec.json["model"]) == ("/openai/v1/chat/completions", {}, "gpt4o-prod")


def test_azure_filter_results_content_filter_and_throttling(fake: FakeServer):
    kw = {"api_base": fake.url, "api_key": KEY}
    r = volley.completion("azure/gpt4o-prod", USER, **kw)
    assert r.model_dump()["prompt_filter_results"][0]["content_filter_results"]["violence"]["severity"] == "safe"
    assert r.choices[0].content_filter_results["hate"]["filtered"] is False
    chunks = list(volley.completion("azure/gpt4o-prod", USER, stream=True, **kw))
    assert chunks[0].prompt_filter_results and all(c.id for c in chunks)  # the filter-only chunk folded in
    with pytest.raises(ContentPolicyViolationError) as info:
        volley.completion("azure/gpt4o-prod", [{"role": "user", "content": "x [content_filter]"}], **kw)
    assert info.value.content_filter_results["violence"]["filtered"] is True and info.value.provider == "azure"
    assert len([rec for rec in fake.requests if "[content_filter]" in json.dumps(rec.json)]) == 1  # not retried
    fake.script("cut-dep", content="one two [filtered] three")
    r = volley.completion("azure/cut-dep", USER, **kw)
    assert r.choices[0].finish_reason == "content_filter" and r.choices[0].message.content == "one two "
    fake.script("gpt4o-prod", failures=[429], retry_after=7)
    with pytest.raises(RateLimitError) as info:
        volley.completion("azure/gpt4o-prod", USER, num_retries=0, **kw)
    assert info.value.retry_after == 7.0


def test_azure_rate_limit_headers_reach_the_lane(fake: FakeServer):
    fake.script("gpt4o-limited", rpm=600)
    r = volley.completion("azure/gpt4o-limited", USER, api_base=fake.url, api_key=KEY)
    host = volley.providers.get_provider("azure")
    info = host.rate_info(r._headers)
    assert info is not None and info.limit_requests == 600


def test_azure_ai_foundry_key_header_and_extra_parameters(fake: FakeServer):
    volley.completion("azure_ai/Mistral-Large-2411", USER, api_base=fake.url + "/models", api_key=KEY,
                      stream=True, num_retries=0)  # fmt: skip
    rec = fake.requests[-1]
    assert rec.headers["api-key"] == KEY and rec.headers["extra-parameters"] == "pass-through"
    assert rec.query == {"api-version": "2024-05-01-preview"}
    # with extra_parameters="error" the service refuses the stream_options every stream sends
    with pytest.raises(BadRequestError, match="stream_options"):
        volley.completion("azure_ai/Mistral-Large-2411", USER, api_base=fake.url + "/models", api_key=KEY,
                          stream=True, extra_parameters="error", num_retries=0)  # fmt: skip


# ------------------------------------------------------------------------------------------ Vertex AI


def test_vertex_tokens_come_from_the_service_account_and_are_reused(
    fake: FakeServer, tokens: TokenServer, service_account: dict
):
    before = len(tokens.grants)
    for model in ("gemini-2.5-flash", CLAUDE, "gemini-2.5-pro"):
        volley.completion(f"vertex_ai/{model}", USER, **vertex_kw(fake, service_account))
    assert len(tokens.grants) - before <= 1  # one token for every call naming that key (cached until near expiry)
    token = fake.requests[-1].headers["authorization"]
    assert token.startswith("Bearer ya29.fake-") and {r.headers["authorization"] for r in fake.requests} == {token}
    assert tokens.grants[-1]["iss"] == service_account["client_email"]


def test_vertex_retry_after_the_token_expired_is_sent_with_a_fresh_token(fake: FakeServer):
    with TokenServer(expires_in=2) as short:
        info = service_account_info(short, project="short-project")
        fake.script(CLAUDE, failures=[429], retry_after=2)
        r = volley.completion(f"vertex_ai/{CLAUDE}", USER, num_retries=1, **vertex_kw(fake, info))
        assert r.choices[0].message.content == ECHO
        assert [rec.headers["authorization"] for rec in fake.requests] == ["Bearer ya29.fake-1", "Bearer ya29.fake-2"]
        assert len(short.grants) == 2


def test_vertex_errors_are_typed_and_a_wrong_token_is_an_authentication_error(fake: FakeServer, service_account):
    fake.script("gemini-2.5-flash", failures=[429], retry_after=None)
    with pytest.raises(RateLimitError):
        volley.completion("vertex_ai/gemini-2.5-flash", USER, num_retries=0, **vertex_kw(fake, service_account))
    with FakeServer(api_key="ya29.the-only-good-one") as strict:
        with pytest.raises(AuthenticationError, match="invalid authentication credentials"):
            volley.completion("vertex_ai/gemini-2.5-flash", USER, num_retries=0,
                              **vertex_kw(strict, service_account))  # fmt: skip
        from volley.auth.tokens import StaticToken

        r = volley.completion(f"vertex_ai/{CLAUDE}", USER, **vertex_kw(
            strict, {}, vertex_credentials=StaticToken("ya29.the-only-good-one"), vertex_project="p"))  # fmt: skip
        assert r.choices[0].message.content == ECHO


# ------------------------------------------------------------------------------------------ cache scope


def test_cache_scope_key_names_aws_accounts_and_refuses_token_providers(fake: FakeServer, tmp_path: Any):
    cache = {"cache": True, "cache_path": str(tmp_path / "c.sqlite"), "cache_scope": "key"}
    session = {"aws_access_key_id": FAKE_AWS_SESSION_ACCESS_KEY_ID, "aws_session_token": FAKE_AWS_SESSION_TOKEN,
               "aws_secret_access_key": FAKE_AWS_SESSION_SECRET_ACCESS_KEY}  # fmt: skip
    for kw in (bedrock_kw(fake), bedrock_kw(fake), bedrock_kw(fake, **session)):
        volley.completion(f"bedrock/{BEDROCK}", USER, **cache, **kw)
    assert len(fake.requests) == 2  # the second call was a hit; another account's is not
    shared = {**cache, "cache_scope": "shared", "cache_path": str(tmp_path / "s.sqlite")}
    for kw in (bedrock_kw(fake), bedrock_kw(fake, **session)):
        volley.completion(f"bedrock/{BEDROCK}", USER, **shared, **kw)
    assert len(fake.requests) == 3  # shared: the second account gets the first one's answer
    with pytest.raises(InvalidRequestError, match=r"cache_scope=.key.*does not say whose it is"):
        volley.completion("azure/gpt4o-prod", USER, api_base=fake.url, azure_ad_token_provider=lambda: "t", **cache)
    assert len(fake.requests) == 3
    volley.completion("azure/gpt4o-prod", USER, api_base=fake.url, azure_ad_token="static-token", **cache)
    assert len(fake.requests) == 4  # a static token names its identity


def test_lanes_are_per_aws_account(fake: FakeServer):
    from volley.routing import resolve

    a = resolve(f"bedrock/{BEDROCK}", options={k: v for k, v in bedrock_kw(fake).items() if k != "api_base"})
    b = resolve(f"bedrock/{BEDROCK}", options={"aws_region_name": "us-east-1", "aws_access_key_id": "AKIAOTHER",
                                                 "aws_secret_access_key": "x" * 40})  # fmt: skip
    assert a.account and b.account and a.account != b.account and a.lane != b.lane
    assert FAKE_AWS_ACCESS_KEY_ID not in str(a.lane)


def test_bedrock_reasoning_effort_on_a_non_claude_model_is_refused_or_dropped(fake: FakeServer):
    """reasoning_effort is mapped for Claude on Bedrock only: elsewhere it is refused before any request, naming
    drop_params, and with drop_params=True the request goes without it (as docs/litellm-compat.md says)."""
    nova = "bedrock/amazon.nova-pro-v1:0"
    with pytest.raises(volley.UnsupportedParamsError, match="drop_params"):
        volley.completion(nova, USER, reasoning_effort="low", num_retries=0, **bedrock_kw(fake))
    assert fake.requests == []
    r = volley.completion(nova, USER, reasoning_effort="low", drop_params=True, num_retries=0, **bedrock_kw(fake))
    assert r.choices[0].message.content == "echo: hello brave new world"
    assert "additionalModelRequestFields" not in fake.requests[-1].json
