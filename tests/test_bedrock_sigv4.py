"""SigV4 signing per attempt (botocore's signer and credential chain) and Bedrock API keys."""

from __future__ import annotations

import datetime
import threading
import time

import boto3
import botocore.auth
import botocore.config
import pytest
from botocore.credentials import ReadOnlyCredentials, RefreshableCredentials

from volley.auth.sigv4 import AWSSigner, BearerToken, bedrock_auth, region_of
from volley.errors import AuthenticationError, BadRequestError
from volley.protocols import bedrock_converse as bc

EXAMPLE_KEY, EXAMPLE_SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch):
    """botocore's signing clock, settable: ``clock.now = datetime(...)``."""

    class Clock:
        now = datetime.datetime(2015, 8, 30, 12, 36, 0)

    c = Clock()
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: c.now)
    return c


@pytest.fixture
def no_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path):
    """No AWS credentials anywhere: environment cleared, config files empty, instance metadata off."""
    for name in (
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
        "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_BEARER_TOKEN_BEDROCK", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


def test_signatures_match_the_aws_sigv4_test_suite(clock):
    """get-vanilla and post-vanilla from AWS's SigV4 test suite (service "service", 20150830T123600Z)."""
    signer = AWSSigner(
        region="us-east-1", access_key_id=EXAMPLE_KEY, secret_access_key=EXAMPLE_SECRET, service="service"
    )
    url, host = "https://example.amazonaws.com/", {"Host": "example.amazonaws.com"}
    get = signer.headers("GET", url, host, None)
    assert get["X-Amz-Date"] == "20150830T123600Z"
    assert get["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )
    post = signer.headers("POST", url, host, b"")
    assert post["Authorization"].endswith("Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b")


def test_signature_equals_boto3s_for_the_same_request_and_time(clock, no_aws_env):
    """boto3 signs a Converse call; volley's signer, given the same method, URL, headers, body and
    time, produces the same Authorization header."""
    clock.now = datetime.datetime(2025, 3, 1, 9, 30, 15)
    sent: list = []

    def capture(request, **_):
        sent.append(request)
        from botocore.awsrequest import AWSResponse

        return AWSResponse(request.url, 200, {}, None)  # no network: answer before sending

    client = boto3.client(
        "bedrock-runtime",
        region_name="eu-west-3",
        aws_access_key_id=EXAMPLE_KEY,
        aws_secret_access_key=EXAMPLE_SECRET,
        aws_session_token="session-token-example",
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )
    client.meta.events.register("before-send", capture)
    try:
        client.converse(
            modelId="anthropic.claude-3-haiku-20240307-v1:0", messages=[{"role": "user", "content": [{"text": "hi"}]}]
        )
    except Exception:  # the empty canned answer does not parse; the request was captured
        pass
    (req,) = sent
    signed = (
        req.headers["Authorization"].decode()
        if isinstance(req.headers["Authorization"], bytes)
        else req.headers["Authorization"]
    )
    names = signed.split("SignedHeaders=")[1].split(",")[0].split(";")
    headers = {n: (v.decode() if isinstance(v, bytes) else v) for n, v in req.headers.items() if n.lower() in names}
    signer = AWSSigner(
        region="eu-west-3",
        access_key_id=EXAMPLE_KEY,
        secret_access_key=EXAMPLE_SECRET,
        session_token="session-token-example",
    )
    ours = signer.headers(req.method, req.url, headers, req.body)
    assert ours["Authorization"] == signed
    assert ours["X-Amz-Security-Token"] == "session-token-example"
    assert "%3A0/converse" in req.url  # boto3 percent-encodes the model id, as volley's path() does
    assert req.url.endswith(bc.path("anthropic.claude-3-haiku-20240307-v1:0", stream=False))


def test_every_attempt_gets_a_fresh_date_and_signature(clock):
    signer = AWSSigner(region="us-east-1", access_key_id=EXAMPLE_KEY, secret_access_key=EXAMPLE_SECRET)
    args = (
        "POST",
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse",
        {"Content-Type": "application/json"},
        b"{}",
    )
    first = signer.headers(*args)
    clock.now = clock.now + datetime.timedelta(seconds=61)
    second = signer.headers(*args)
    assert first["X-Amz-Date"] == "20150830T123600Z" and second["X-Amz-Date"] == "20150830T123701Z"
    assert first["Authorization"] != second["Authorization"]
    # headers of an earlier signature passed back in are replaced, not signed
    third = signer.headers(args[0], args[1], {**args[2], **first}, args[3])
    assert third == second


def test_credentials_from_the_environment_chain(no_aws_env, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENVEXAMPLE000001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret-key-value-000000000000000000")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "env-session-token")
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    auth = bedrock_auth({})
    assert isinstance(auth, AWSSigner) and auth.region == "ap-south-1"
    out = auth.headers("POST", "https://bedrock-runtime.ap-south-1.amazonaws.com/model/m/converse", {}, b"{}")
    assert "Credential=AKIAENVEXAMPLE000001/" in out["Authorization"] and "/ap-south-1/bedrock/" in out["Authorization"]
    assert out["X-Amz-Security-Token"] == "env-session-token"
    assert repr(auth) == "AWSSigner(region='ap-south-1', service='bedrock', source='env')"
    assert "env-secret" not in repr(auth) and "env-session" not in repr(auth)


def test_credentials_and_region_from_a_named_profile(no_aws_env):
    (no_aws_env / "credentials").write_text(
        "[dev]\naws_access_key_id = AKIAPROFILE000000001\naws_secret_access_key = profile-secret-0000000000000\n"
    )
    (no_aws_env / "config").write_text("[profile dev]\nregion = sa-east-1\n")
    auth = bedrock_auth({"aws_profile_name": "dev"})
    assert isinstance(auth, AWSSigner) and auth.region == "sa-east-1"
    out = auth.headers("POST", "https://bedrock-runtime.sa-east-1.amazonaws.com/model/m/converse", {}, b"{}")
    assert "Credential=AKIAPROFILE000000001/" in out["Authorization"]
    with pytest.raises(AuthenticationError, match="ProfileNotFound"):
        AWSSigner(region="us-east-1", profile="missing").resolve()


def test_region_precedence_and_a_clear_error_without_one(no_aws_env, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-1")
    assert region_of({}) == "us-west-1"
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    assert region_of({}) == "us-west-2"
    assert region_of({"aws_region_name": "eu-central-1"}) == "eu-central-1"
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(BadRequestError, match="aws_region_name"):
        region_of({})


def test_no_credentials_is_a_clear_error_without_secrets(no_aws_env):
    signer = AWSSigner(region="us-east-1")
    with pytest.raises(AuthenticationError) as info:
        signer.headers("POST", "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse", {}, b"{}")
    assert "AWS_ACCESS_KEY_ID" in str(info.value) and "AWS_BEARER_TOKEN_BEDROCK" in str(info.value)
    with pytest.raises(BadRequestError, match="aws_secret_access_key is missing"):
        AWSSigner(region="us-east-1", access_key_id="AKIA0000000000000000")


def test_explicit_params_win_and_secrets_stay_out_of_reprs(no_aws_env, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "ABSKenvbearertoken")
    params = {
        "aws_region_name": "us-east-2",
        "aws_access_key_id": "AKIAEXPLICIT00000001",
        "aws_secret_access_key": "explicit-secret-000000000000000000",
        "aws_session_token": "explicit-token",
    }
    signer = bedrock_auth(params)
    assert isinstance(signer, AWSSigner)
    assert signer.secrets() == ("explicit-secret-000000000000000000", "explicit-token")
    text = repr(signer) + str(signer.headers("POST", "https://h/model/m/converse", {}, b""))
    assert "explicit-secret" not in text
    env_bearer = bedrock_auth({"aws_region_name": "us-east-2"})
    assert isinstance(env_bearer, BearerToken)
    assert env_bearer.headers("POST", "https://h", {}, b"") == {"Authorization": "Bearer ABSKenvbearertoken"}
    assert "ABSK" not in repr(env_bearer)
    explicit_key = bedrock_auth({"aws_region_name": "us-east-2", "api_key": "ABSKexplicit"})
    assert explicit_key.headers("POST", "https://h", {}, b"") == {"Authorization": "Bearer ABSKexplicit"}


def _refreshable(minutes_left: float, calls: list[str]) -> RefreshableCredentials:
    def refresh() -> dict:
        calls.append(threading.current_thread().name)
        expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
        return {
            "access_key": f"ASIAREFRESHED{len(calls):07d}",
            "secret_key": "refreshed-secret",
            "token": f"token-{len(calls)}",
            "expiry_time": expiry.isoformat(),
        }

    expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes_left)
    metadata = {
        "access_key": "ASIAOLD0000000000001",
        "secret_key": "old",
        "token": "old",
        "expiry_time": expiry.isoformat(),
    }
    return RefreshableCredentials.create_from_metadata(metadata, refresh_using=refresh, method="sso")


def _signer_with(credentials: RefreshableCredentials) -> AWSSigner:
    signer = AWSSigner(region="us-east-1")
    signer._credentials = credentials  # as botocore's chain returns SSO / role credentials
    # (reading credentials.access_key would refresh them here: botocore's properties refresh on access)
    signer._frozen = ReadOnlyCredentials("ASIAOLD0000000000001", "old", "old")
    return signer


def test_credentials_near_expiry_are_renewed_in_a_thread_while_signing_goes_on(no_aws_env):
    calls: list[str] = []
    signer = _signer_with(_refreshable(12, calls))
    first = signer.headers("POST", "https://h/model/m/converse", {}, b"")
    assert "ASIAOLD0000000000001" in first["Authorization"]  # signed at once with the still-valid credentials
    deadline = time.monotonic() + 10
    while "ASIAREFRESHED" not in signer.headers("POST", "https://h/model/m/converse", {}, b"")["Authorization"]:
        assert time.monotonic() < deadline, "the background refresh never landed"
        time.sleep(0.02)
    assert calls == ["volley-aws-refresh"]  # renewed once, off the caller's thread


def test_expired_credentials_are_refreshed_before_signing(no_aws_env):
    calls: list[str] = []
    signer = _signer_with(_refreshable(-1, calls))
    out = signer.headers("POST", "https://h/model/m/converse", {}, b"")
    assert "ASIAREFRESHED0000001" in out["Authorization"] and out["X-Amz-Security-Token"] == "token-1"
    assert calls == [threading.current_thread().name]


def test_bearer_token_refuses_an_empty_key():
    with pytest.raises(BadRequestError):
        BearerToken("", region="us-east-1")
