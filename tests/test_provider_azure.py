"""Azure OpenAI and Azure AI Foundry hosts (volley.providers.azure) and Azure's additions to the OpenAI wire
(volley.providers.azure_response), against fixtures in the shapes of Azure's API reference."""

from __future__ import annotations

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
from volley.providers import azure_response
from volley.providers.azure import DEFAULT_API_VERSION, AzureAI, AzureOpenAI, split_base
from volley.types import ModelResponse, StreamChunk

FIXTURES = Path(__file__).parent / "fixtures" / "azure"
RES = "https://my-res.openai.azure.com"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def azure_url(base: str, model: str = "gpt4o-prod", *, stream: bool = False, env: dict | None = None, **opts: Any):
    p = AzureOpenAI()
    setup = p.resolve(api_key="k", api_base=base, options=opts, environ=env or {})
    return p.url(setup.base, model, stream=stream, options=setup.options)


# ------------------------------------------------------------------------------------------ URLs


@pytest.mark.parametrize(
    ("base", "opts", "env", "url"),
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
def test_azure_openai_urls(base: str, opts: dict, env: dict, url: str):
    assert azure_url(base, env=env, **opts) == url


def test_deployment_names_are_quoted():
    assert "/deployments/my%20dep%2Fx/" in azure_url(RES, "my dep/x")


def test_split_base_takes_a_pasted_endpoint_apart():
    assert split_base(RES + "/openai/v1/chat/completions") == (RES, True, None)


def test_base_from_the_environment_and_clear_errors_without_one():
    p = AzureOpenAI()
    setup = p.resolve(api_key="k", environ={"AZURE_OPENAI_ENDPOINT": RES})
    assert setup.base == RES
    both = {"AZURE_API_BASE": RES + "/x", "AZURE_OPENAI_ENDPOINT": RES}
    assert p.resolve(api_key="k", environ=both).base == RES + "/x"
    with pytest.raises(BadRequestError, match=r"azure needs api_base, e.g. https://<resource>.openai.azure.com"):
        p.resolve(api_key="k", environ={})
    with pytest.raises(BadRequestError, match="must be an http"):
        p.resolve(api_key="k", api_base="my-res.openai.azure.com", environ={})
    with pytest.raises(BadRequestError, match="v1 API, which takes no dated api_version"):
        p.resolve(api_key="k", api_base=RES + "/openai/v1", options={"api_version": "2024-10-21"}, environ={})
    with pytest.raises(BadRequestError, match="api_version must be a non-empty string"):
        p.resolve(api_key="k", api_base=RES, options={"api_version": 20241021}, environ={})


def test_setup_never_shows_a_secret():
    p = AzureOpenAI()
    for kwargs in ({"api_key": "key-SECRET-1"}, {"options": {"azure_ad_token": "tok-SECRET-2"}}):
        setup = p.resolve(api_base=RES, environ={}, **kwargs)
        assert "SECRET" not in repr(setup)
        assert "SECRET" not in repr(setup.options)


def test_azure_auth_headers_per_attempt():
    p = AzureOpenAI()
    key = p.resolve(api_key="abc", api_base=RES, environ={})
    assert p.auth(None, key.credentials) == {"api-key": "abc"}
    tok = p.resolve(api_base=RES, options={"azure_ad_token": "eyJ0"}, environ={})
    assert p.auth(None, tok.credentials) == {"Authorization": "Bearer eyJ0"}
    assert {"api-key", "authorization"} == p.credential_headers


@pytest.mark.parametrize(
    ("base", "url", "header"),
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
def test_azure_ai_foundry_urls_and_key_header(base: str, url: str, header: str):
    p = AzureAI()
    setup = p.resolve(api_key="key", api_base=base, environ={})
    assert p.url(setup.base, "Mistral-Large-2411", stream=False, options=setup.options) == url
    assert p.auth(None, setup.credentials) == ({"api-key": "key"} if header == "api-key" else
                                               {"Authorization": "Bearer key"})  # fmt: skip


def test_azure_ai_foundry_extra_parameters_header():
    p = AzureAI()
    setup = p.resolve(api_key="k", api_base="https://r.services.ai.azure.com", environ={})
    plain = {"model": "m", "messages": [], "temperature": 0.2, "stream": True}
    assert p.headers(plain, "m", options=setup.options) == {}
    assert p.headers({**plain, "stream_options": {}}, "m", options=setup.options) == {
        "extra-parameters": "pass-through"
    }
    drop = p.resolve(api_key="k", api_base="https://r.services.ai.azure.com", environ={},
                     options={"extra_parameters": "drop"})  # fmt: skip
    assert p.headers({**plain, "logprobs": True}, "m", options=drop.options) == {"extra-parameters": "drop"}
    with pytest.raises(BadRequestError, match="extra_parameters must be"):
        p.resolve(api_key="k", api_base="https://r.services.ai.azure.com", environ={},
                  options={"extra_parameters": "allow"})  # fmt: skip
    assert p.resolve(environ={"AZURE_AI_API_KEY": "env-k", "AZURE_AI_API_BASE": "https://r.services.ai.azure.com"})


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
