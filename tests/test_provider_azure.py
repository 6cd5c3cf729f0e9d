"""Azure OpenAI and Azure AI Foundry hosts (volley.providers.azure: URLs, api_version, credentials) and Azure's
additions to the OpenAI wire (the Azure section of volley.protocols.openai), against fixtures in the shapes of
Azure's API reference."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from volley.errors import (
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    NotFoundError,
    RateLimitError,
)
from volley.protocols import openai as azure_response
from volley.providers.azure import DEFAULT_API_VERSION, split_base
from volley.routing import Route, resolve
from volley.types import ModelResponse, StreamChunk

FIXTURES = Path(__file__).parent / "fixtures" / "azure"
RES = "https://my-res.openai.azure.com"
AZURE_ENV = (
    "AZURE_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT", "AZURE_API_VERSION",
    "OPENAI_API_VERSION", "AZURE_OPENAI_AD_TOKEN", "AZURE_AD_TOKEN", "AZURE_AI_API_KEY", "AZURE_AI_API_BASE",
)  # fmt: skip


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in AZURE_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def route(model: str, api_key: str | None = "k", api_base: str | None = RES, **opts: Any) -> Route:
    return resolve(model, api_key=api_key, api_base=api_base, options=opts)


def url(r: Route, *, stream: bool = False) -> str:
    assert r.host is not None
    return r.host.url(r, stream=stream)


def auth(r: Route) -> dict[str, str]:
    assert r.host is not None
    return asyncio.run(r.host.auth(None, r))  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ URLs


@pytest.mark.parametrize(
    ("base", "opts", "env", "expect"),
    [
        (RES, {}, {}, f"{RES}/openai/deployments/gpt4o-prod/chat/completions?api-version={DEFAULT_API_VERSION}"),
        (RES + "/", {"api_version": "2025-01-01-preview"}, {},
         f"{RES}/openai/deployments/gpt4o-prod/chat/completions?api-version=2025-01-01-preview"),
        (RES + "/openai", {}, {"AZURE_API_VERSION": "2024-06-01", "OPENAI_API_VERSION": "2023-05-15"},
         f"{RES}/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-06-01"),
        (RES, {}, {"OPENAI_API_VERSION": "2023-05-15"},
         f"{RES}/openai/deployments/gpt4o-prod/chat/completions?api-version=2023-05-15"),
        (RES + "/openai/deployments/other/chat/completions?api-version=2024-08-01-preview", {},
         {"AZURE_API_VERSION": "2024-06-01"},
         f"{RES}/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-08-01-preview"),
        (RES, {"api_version": "v1"}, {}, f"{RES}/openai/v1/chat/completions"),
        (RES, {"api_version": "latest"}, {}, f"{RES}/openai/v1/chat/completions"),
        (RES, {"api_version": "preview"}, {}, f"{RES}/openai/v1/chat/completions?api-version=preview"),
        (RES + "/openai/v1/", {}, {"OPENAI_API_VERSION": "2024-06-01"}, f"{RES}/openai/v1/chat/completions"),
        ("http://127.0.0.1:8080/proxy", {}, {}, "http://127.0.0.1:8080/proxy/openai/deployments/gpt4o-prod/chat/"
         f"completions?api-version={DEFAULT_API_VERSION}"),
    ],
)  # fmt: skip
def test_azure_openai_urls(clean_env: pytest.MonkeyPatch, base: str, opts: dict, env: dict, expect: str):
    for k, v in env.items():
        clean_env.setenv(k, v)
    assert url(route("azure/gpt4o-prod", api_base=base, **opts)) == expect


def test_deployment_names_are_quoted():
    assert "/deployments/my%20dep%2Fx/" in url(route("azure/my dep/x"))


def test_split_base_takes_a_pasted_endpoint_apart():
    assert split_base(RES + "/openai/v1/chat/completions") == (RES, True, None)


def test_base_from_the_environment_and_clear_errors_without_one(clean_env: pytest.MonkeyPatch):
    clean_env.setenv("AZURE_OPENAI_ENDPOINT", RES)
    assert route("azure/d", api_base=None).api_base == RES
    clean_env.setenv("AZURE_API_BASE", RES + "/x")
    assert route("azure/d", api_base=None).api_base == RES + "/x"
    clean_env.delenv("AZURE_API_BASE")
    clean_env.delenv("AZURE_OPENAI_ENDPOINT")
    with pytest.raises(BadRequestError, match=r"azure needs api_base, e.g. https://<resource>.openai.azure.com"):
        route("azure/d", api_base=None)
    with pytest.raises(BadRequestError, match="must be an http"):
        route("azure/d", api_base="my-res.openai.azure.com")
    with pytest.raises(BadRequestError, match="v1 API, which takes no dated api_version"):
        route("azure/d", api_base=RES + "/openai/v1", api_version="2024-10-21")
    with pytest.raises(BadRequestError, match="api_version must be a non-empty string"):
        route("azure/d", api_version=20241021)


def test_a_route_never_shows_a_secret():
    for kwargs in ({"api_key": "key-SECRET-1"}, {"api_key": None, "azure_ad_token": "tok-SECRET-2"}):
        r = route("azure/d", **kwargs)
        assert "SECRET" not in repr(r) and "SECRET" not in repr(r.credential)


def test_azure_credentials_per_attempt_and_their_precedence(clean_env: pytest.MonkeyPatch):
    assert auth(route("azure/d", api_key="abc")) == {"api-key": "abc"}
    assert auth(route("azure/d", api_key=None, azure_ad_token="eyJ0")) == {"Authorization": "Bearer eyJ0"}
    clean_env.setenv("AZURE_OPENAI_API_KEY", "env-key")
    r = route("azure/d", api_key=None)
    assert auth(r) == {"api-key": "env-key"} and r.api_key == "env-key"  # the env key is the route's key
    # an explicit token option wins over a key in the environment (the openai SDK's order)
    assert auth(route("azure/d", api_key=None, azure_ad_token_provider=lambda: "tp")) == {"Authorization": "Bearer tp"}
    with pytest.raises(BadRequestError, match="pass only one of api_key"):
        route("azure/d", api_key="k", azure_ad_token="t")


@pytest.mark.parametrize(
    ("base", "expect", "header"),
    [
        ("https://r.services.ai.azure.com", "https://r.services.ai.azure.com/models/chat/completions"
         "?api-version=2024-05-01-preview", "api-key"),
        ("https://r.services.ai.azure.com/models/", "https://r.services.ai.azure.com/models/chat/completions"
         "?api-version=2024-05-01-preview", "api-key"),
        ("https://m-serverless.eastus2.models.ai.azure.com", "https://m-serverless.eastus2.models.ai.azure.com"
         "/chat/completions", "Authorization"),
        ("https://e.westus.inference.ml.azure.com/v1", "https://e.westus.inference.ml.azure.com/v1/chat/completions",
         "Authorization"),
    ],
)  # fmt: skip
def test_azure_ai_foundry_urls_and_key_header(base: str, expect: str, header: str):
    r = route("azure_ai/Mistral-Large-2411", api_key="key", api_base=base)
    assert url(r) == expect
    assert auth(r) == ({"api-key": "key"} if header == "api-key" else {"Authorization": "Bearer key"})


def test_azure_ai_foundry_extra_parameters_header(clean_env: pytest.MonkeyPatch):
    base = "https://r.services.ai.azure.com"
    r = route("azure_ai/m", api_base=base)
    assert r.host is not None and r.host.headers(r)["extra-parameters"] == "pass-through"
    drop = route("azure_ai/m", api_base=base, extra_parameters="drop")
    assert drop.host is not None and drop.host.headers(drop)["extra-parameters"] == "drop"
    with pytest.raises(BadRequestError, match="extra_parameters must be one of"):
        route("azure_ai/m", api_base=base, extra_parameters="allow")
    clean_env.setenv("AZURE_AI_API_KEY", "env-k")
    clean_env.setenv("AZURE_AI_API_BASE", base)
    assert auth(route("azure_ai/m", api_key=None, api_base=None)) == {"api-key": "env-k"}


# ------------------------------------------------------------------------------------------ responses


def test_filter_results_are_kept_on_the_response():
    data = azure_response.parse_response(load("chat_completion.json"), "gpt4o-prod")
    ChatCompletion.model_validate(data)
    resp = ModelResponse.model_validate(data)
    assert resp.choices[0].message.content.startswith("Parrots need")
    dumped = resp.model_dump()
    assert dumped["prompt_filter_results"][0]["content_filter_results"]["jailbreak"] == {
        "filtered": False,
        "detected": False,
    }
    assert dumped["choices"][0]["content_filter_results"]["violence"]["severity"] == "safe"
    assert resp.prompt_filter_results[0]["prompt_index"] == 0


def test_content_filter_finish_reason():
    resp = ModelResponse.model_validate(azure_response.parse_response(load("content_filter_finish.json"), "m"))
    choice = resp.choices[0]
    assert choice.finish_reason == "content_filter"
    assert choice.message.content is None
    assert choice.content_filter_results["violence"] == {"filtered": True, "severity": "high"}


def sse_data(name: str) -> list[str]:
    text = (FIXTURES / name).read_text()
    return [block[len("data: ") :] for block in text.split("\n\n") if block.startswith("data: ")]


def run_stream(name: str) -> list[dict[str, Any]]:
    parser = azure_response.StreamParser("gpt4o-prod")
    chunks: list[dict[str, Any]] = []
    for data in sse_data(name):
        assert not parser.finished
        chunks.extend(parser.feed(None, data))
    assert parser.finished
    for c in chunks:
        ChatCompletionChunk.model_validate(c)
        StreamChunk.model_validate(c)
    return chunks


def test_stream_folds_the_leading_filter_chunk_into_the_first_real_one():
    chunks = run_stream("stream.txt")
    assert all(c["id"] == "chatcmpl-AZ3s" for c in chunks)  # no chunk with Azure's empty id / created 0
    assert chunks[0]["prompt_filter_results"][0]["content_filter_results"]["hate"]["severity"] == "safe"
    assert "prompt_filter_results" not in chunks[1]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Feed them seeds."
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 19
    assert chunks[1]["choices"][0]["content_filter_results"]["violence"]["filtered"] is False


def test_asynchronous_filter_annotations_get_the_stream_id():
    chunks = run_stream("stream_async_filter.txt")
    annotation = chunks[-1]
    assert annotation["id"] == "chatcmpl-AZ4a" and annotation["created"] == 1733250300
    assert annotation["choices"][0]["content_filter_offsets"]["end_offset"] == 21
    assert annotation["choices"][0]["delta"] == {}
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == "Cages should be wide."


def test_in_stream_content_filter_error():
    parser = azure_response.StreamParser("m")
    body = json.dumps(load("error_content_filter.json"))
    with pytest.raises(ContentPolicyViolationError) as info:
        parser.feed(None, body)
    assert info.value.content_filter_results["self_harm"]["filtered"] is True


@pytest.mark.parametrize(
    ("name", "status", "cls", "category"),
    [
        ("error_content_filter.json", 400, ContentPolicyViolationError, "self_harm"),
        ("error_content_filter_reference.json", 400, ContentPolicyViolationError, "hate"),
        ("error_rate_limit.json", 429, RateLimitError, None),
        ("error_unauthorized.json", 401, AuthenticationError, None),
        ("error_deployment_not_found.json", 404, NotFoundError, None),
        ("error_resource_not_found.json", 404, NotFoundError, None),
    ],
)
def test_azure_errors_are_typed(name: str, status: int, cls: type, category: str | None):
    body = (FIXTURES / name).read_bytes()
    err = azure_response.error_from_response(status, {"retry-after": "6"}, body, model="gpt4o-prod")
    assert type(err) is cls
    assert err.status_code == status
    assert err.message == load(name)["error"]["message"]
    if category:
        assert isinstance(err, BadRequestError)
        assert err.content_filter_results[category]["filtered"] is True
    if cls is RateLimitError:
        assert err.retry_after == 6.0


def test_error_messages_are_scrubbed_of_secrets():
    body = b'{"error": {"code": "401", "message": "key sk-azure-SECRET is invalid"}}'
    err = azure_response.error_from_response(401, {}, body, secrets=("sk-azure-SECRET",))
    assert "SECRET" not in str(err)
    body = b'{"error": {"code": "content_filter", "message": "filtered for tok-azure-SECRET2"}}'
    err = azure_response.error_from_response(400, {}, body, secrets=("tok-azure-SECRET2",))
    assert isinstance(err, ContentPolicyViolationError) and "SECRET2" not in str(err)


def test_a_plain_openai_error_is_unchanged_by_the_azure_mapping():
    body = b'{"error": {"message": "bad", "type": "invalid_request_error", "code": "content_filter_x"}}'
    err = azure_response.error_from_response(400, {}, body, provider="openai", model="m")
    assert type(err) is BadRequestError and (err.provider, err.model, err.message) == ("openai", "m", "bad")
