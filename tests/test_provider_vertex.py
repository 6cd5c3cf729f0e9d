"""Vertex AI hosts (volley.providers.vertex): URLs per publisher and location, project / location / credential
resolution, the Claude body change, and the variant chosen by the model."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from cloud_fakes import TokenServer, service_account_info
from volley.auth.tokens import StaticToken
from volley.errors import BadRequestError
from volley.providers.vertex import (
    ANTHROPIC_VERSION,
    VertexAnthropic,
    VertexGemini,
    VertexOpenAI,
    provider_for,
)
from volley.routing import Route, resolve
from volley.testing import build_request

OPTS = {"vertex_project": "my-proj", "vertex_location": "us-east5", "vertex_credentials": StaticToken("ya29.t")}
VERTEX_ENV = ("VERTEXAI_PROJECT", "VERTEX_PROJECT", "GOOGLE_CLOUD_PROJECT", "VERTEXAI_LOCATION", "VERTEX_LOCATION",
              "GOOGLE_CLOUD_LOCATION")  # fmt: skip


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in VERTEX_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def route(model: str, *, api_base: str | None = None, api_key: str | None = None, **opts: Any) -> Route:
    return resolve(f"vertex_ai/{model}", api_key=api_key, api_base=api_base, options={**OPTS, **opts})


def url(model: str, *, stream: bool = False, api_base: str | None = None, **opts: Any) -> str:
    r = route(model, api_base=api_base, **opts)
    assert r.host is not None
    return r.host.url(r, stream=stream)


@pytest.mark.parametrize(
    ("model", "stream", "opts", "expect"),
    [
        ("gemini-2.5-flash", False, {}, "https://us-east5-aiplatform.googleapis.com/v1/projects/my-proj/locations/"
         "us-east5/publishers/google/models/gemini-2.5-flash:generateContent"),
        ("gemini-2.5-flash", True, {"vertex_location": "global"}, "https://aiplatform.googleapis.com/v1/projects/"
         "my-proj/locations/global/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse"),
        ("gemini-2.5-pro", False, {"vertex_location": "eu"}, "https://aiplatform.eu.rep.googleapis.com/v1/projects/"
         "my-proj/locations/eu/publishers/google/models/gemini-2.5-pro:generateContent"),
        ("claude-sonnet-4-5@20250929", False, {}, "https://us-east5-aiplatform.googleapis.com/v1/projects/my-proj/"
         "locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"),
        ("claude-haiku-4-5", True, {}, "https://us-east5-aiplatform.googleapis.com/v1/projects/my-proj/locations/"
         "us-east5/publishers/anthropic/models/claude-haiku-4-5:streamRawPredict"),
        ("meta/llama-3.3-70b-instruct-maas", True, {}, "https://us-east5-aiplatform.googleapis.com/v1/projects/"
         "my-proj/locations/us-east5/endpoints/openapi/chat/completions"),
        ("4567890123", False, {}, "https://us-east5-aiplatform.googleapis.com/v1/projects/my-proj/locations/"
         "us-east5/endpoints/4567890123:generateContent"),
        ("projects/p2/locations/europe-west4/endpoints/42", False, {}, "https://us-east5-aiplatform.googleapis.com/"
         "v1/projects/p2/locations/europe-west4/endpoints/42:generateContent"),
    ],
)  # fmt: skip
def test_vertex_urls(model: str, stream: bool, opts: dict, expect: str):
    assert url(model, stream=stream, **opts) == expect


def test_api_base_replaces_the_host_and_keeps_a_given_version():
    assert url("gemini-2.5-flash", api_base="http://127.0.0.1:9000").startswith(
        "http://127.0.0.1:9000/v1/projects/my-proj/"
    )
    assert url("gemini-2.5-flash", api_base="http://127.0.0.1:9000/v1beta1/").startswith(
        "http://127.0.0.1:9000/v1beta1/projects/my-proj/"
    )


def test_the_model_picks_the_variant_and_its_protocol():
    assert type(provider_for("claude-opus-4-1@20250805")) is VertexAnthropic
    assert type(provider_for("gemini-2.0-flash-001")) is VertexGemini
    assert type(provider_for("deepseek-ai/deepseek-r1-0528-maas")) is VertexOpenAI
    assert type(provider_for("123456")) is VertexGemini
    protocols = [route(m).protocol for m in ("gemini-2.5-flash", "claude-haiku-4-5", "meta/llama-4")]
    assert protocols == ["gemini", "anthropic", "openai"]
    assert {route(m).provider for m in ("gemini-2.5-flash", "claude-haiku-4-5")} == {"vertex_ai"}


def test_project_and_location_from_the_environment(clean_env: pytest.MonkeyPatch):
    creds = {"vertex_credentials": StaticToken("t")}

    def where(**env: str) -> tuple[str, str]:
        for name in VERTEX_ENV:
            clean_env.delenv(name, raising=False)
        for k, v in env.items():
            clean_env.setenv(k, v)
        r = resolve("vertex_ai/gemini-2.5-flash", options=creds)
        return r.options["vertex_project"], r.options["vertex_location"]

    assert where(VERTEXAI_PROJECT="a", GOOGLE_CLOUD_PROJECT="b", GOOGLE_CLOUD_LOCATION="asia-northeast1") == (
        "a", "asia-northeast1")  # fmt: skip
    assert where(GOOGLE_CLOUD_PROJECT="b", VERTEXAI_LOCATION="europe-west1", GOOGLE_CLOUD_LOCATION="x") == (
        "b", "europe-west1")  # fmt: skip
    assert where(VERTEX_PROJECT="c") == ("c", "us-central1")


def test_project_from_the_service_account_key_and_no_key_in_the_route():
    with TokenServer() as server:
        info = service_account_info(server, project="key-project")
        r = resolve("vertex_ai/gemini-2.5-flash", options={"vertex_credentials": json.dumps(info)})
    assert r.options["vertex_project"] == "key-project"
    assert "PRIVATE KEY" not in repr(r) and "vertex_credentials" not in r.options
    assert r.account  # a service account names its account (cache_scope="key" works)


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        ({"vertex_location": "evil.example.com/x"}, "is not a Vertex AI location"),
        ({"vertex_location": "US-EAST5"}, "is not a Vertex AI location"),
        ({"vertex_project": "my proj"}, "is not a Google Cloud project id"),
        ({"vertex_project": None}, "no Vertex AI project: pass vertex_project= or set VERTEXAI_PROJECT"),
    ],
)
def test_bad_project_or_location_is_refused_before_any_request(opts: dict, message: str):
    with pytest.raises(BadRequestError, match=message):
        route("gemini-2.5-flash", **opts)


def test_api_key_is_refused_with_the_reason():
    with pytest.raises(BadRequestError, match="Google OAuth"):
        route("gemini-2.5-flash", api_key="AIza...")


def test_auth_is_a_bearer_token_per_attempt():
    r = route("claude-haiku-4-5")
    assert r.host is not None
    assert asyncio.run(r.host.auth(None, r)) == {"Authorization": "Bearer ya29.t"}  # type: ignore[arg-type]


def test_claude_body_loses_model_and_gains_anthropic_version():
    req = build_request("vertex_ai", "claude-sonnet-4-5@20250929", [{"role": "user", "content": "hi"}],
                        {"max_tokens": 20}, stream=True, options=OPTS)  # fmt: skip
    assert "model" not in req.body and req.body["anthropic_version"] == ANTHROPIC_VERSION == "vertex-2023-10-16"
    assert req.body["stream"] is True and req.body["max_tokens"] == 20
    assert req.headers["Authorization"] == "Bearer ya29.t" and "anthropic-version" not in req.headers
    assert req.url.endswith("/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict")
    given = VertexAnthropic().prepare_body({"anthropic_version": "2026-10-21"}, route("claude-x"), stream=False)
    assert given["anthropic_version"] == "2026-10-21"
