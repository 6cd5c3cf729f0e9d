"""Vertex AI hosts (volley.providers.vertex): URLs per publisher and location, project / location / credential
resolution, and the Claude body change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cloud_fakes import TokenServer, service_account_info
from volley.auth.tokens import StaticToken
from volley.errors import BadRequestError
from volley.providers import anthropic as anthropic_protocol
from volley.providers.vertex import (
    ANTHROPIC_VERSION,
    VertexAnthropic,
    VertexGemini,
    VertexOpenAI,
    provider_for,
)

OPTS = {"vertex_project": "my-proj", "vertex_location": "us-east5", "vertex_credentials": StaticToken("ya29.t")}


def url(model: str, *, stream: bool = False, api_base: str | None = None, **opts: Any) -> str:
    p = provider_for(model)
    setup = p.resolve(api_base=api_base, options={**OPTS, **opts}, environ={})
    return p.url(setup.base, model, stream=stream, options=setup.options)


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


def test_publisher_by_model_name():
    assert type(provider_for("claude-opus-4-1@20250805")) is VertexAnthropic
    assert type(provider_for("gemini-2.0-flash-001")) is VertexGemini
    assert type(provider_for("deepseek-ai/deepseek-r1-0528-maas")) is VertexOpenAI
    assert type(provider_for("123456")) is VertexGemini
    assert (VertexGemini.protocol, VertexAnthropic.protocol, VertexOpenAI.protocol) == ("gemini", "anthropic", "openai")


def test_project_and_location_from_the_environment():
    p = VertexGemini()
    creds = {"vertex_credentials": StaticToken("t")}
    env = {"VERTEXAI_PROJECT": "a", "GOOGLE_CLOUD_PROJECT": "b", "GOOGLE_CLOUD_LOCATION": "asia-northeast1"}
    want = {"vertex_project": "a", "vertex_location": "asia-northeast1"}
    assert p.resolve(options=creds, environ=env).options == want
    env = {"GOOGLE_CLOUD_PROJECT": "b", "VERTEXAI_LOCATION": "europe-west1", "GOOGLE_CLOUD_LOCATION": "x"}
    assert p.resolve(options=creds, environ=env).options == {"vertex_project": "b", "vertex_location": "europe-west1"}
    assert p.resolve(options=creds, environ={"VERTEX_PROJECT": "c"}).options["vertex_location"] == "us-central1"


def test_project_from_the_service_account_key_and_no_key_in_the_setup(tmp_path: Path):
    with TokenServer() as server:
        info = service_account_info(server, project="key-project")
        setup = VertexGemini().resolve(options={"vertex_credentials": json.dumps(info)}, environ={})
    assert setup.options["vertex_project"] == "key-project"
    assert "PRIVATE KEY" not in repr(setup) and "vertex_credentials" not in setup.options


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
        VertexGemini().resolve(options={**OPTS, **opts}, environ={})


def test_api_key_is_refused_with_the_reason():
    with pytest.raises(BadRequestError, match="Google OAuth"):
        VertexGemini().resolve(api_key="AIza...", options=OPTS, environ={})


def test_auth_is_a_bearer_token():
    p = VertexAnthropic()
    setup = p.resolve(options=OPTS, environ={})
    assert p.auth(None, setup.credentials) == {"Authorization": "Bearer ya29.t"}
    assert p.credential_headers == {"authorization"}


def test_claude_body_loses_model_and_gains_anthropic_version():
    req = anthropic_protocol.build_request(
        "claude-sonnet-4-5@20250929", [{"role": "user", "content": "hi"}], {"max_tokens": 20},
        api_base="http://unused", api_key=None, stream=True,
    )  # fmt: skip
    body = VertexAnthropic().prepare_body(req.body, "claude-sonnet-4-5@20250929", stream=True, options={})
    assert "model" not in body and req.body["model"]  # the protocol's body is not changed in place
    assert body["anthropic_version"] == ANTHROPIC_VERSION == "vertex-2023-10-16"
    assert body["stream"] is True and body["max_tokens"] == 20
    given = VertexAnthropic().prepare_body({"anthropic_version": "2026-10-21"}, "m", stream=False, options={})
    assert given["anthropic_version"] == "2026-10-21"
