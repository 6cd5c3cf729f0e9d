"""LiteLLM's public batching tests and doc examples, ported to volley (``import volley as litellm``) and the
fake server: the same calls, arguments and assertions as LiteLLM's, written afresh, offline.

Sources: LiteLLM's tests/local_testing/test_batch_completions.py, test_batch_completion_return_exceptions.py,
test_router_batch_completion.py, and its docs pages "Batching Completion()", "Exception Mapping",
"Mock Completion", "Fallbacks"; the cases marked "volley:" check where volley keeps a better behaviour.
"""

from __future__ import annotations

import asyncio
import time

import openai
import pytest
from openai.types.chat.chat_completion import ChatCompletion
from openai.types.chat.chat_completion_chunk import ChatCompletionChunk

import volley as litellm
from volley import batch_completion, batch_completion_models, batch_completion_models_all_responses
from volley.testing import FakeServer

KEY = "sk-fake-0123456789"


@pytest.fixture(autouse=True)
def env(fake: FakeServer, monkeypatch: pytest.MonkeyPatch):
    """What a LiteLLM script has: keys (and here, the fake's bases) in the environment."""
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "COHERE_API_KEY", "GEMINI_API_KEY", "GROQ_API_KEY"):
        monkeypatch.setenv(name, KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", fake.openai_base)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
    monkeypatch.setenv("COHERE_BASE_URL", fake.url)
    monkeypatch.setenv("GEMINI_API_BASE", fake.url)
    monkeypatch.setenv("GROQ_API_BASE", fake.openai_base)
    litellm.num_retries = 0  # as LiteLLM's test module sets it
    yield
    litellm.settings.settings.reset()


# ---------------------------------------------------------------------- test_batch_completions.py


def test_batch_completions():
    messages = [[{"role": "user", "content": "write a short poem"}] for _ in range(3)]
    litellm.set_verbose = True
    result = batch_completion(model="gpt-3.5-turbo", messages=messages, max_tokens=10, temperature=0.2,
                              request_timeout=1)  # fmt: skip
    assert len(result) == 3
    for response in result:
        assert response.choices[0].message.content is not None


def test_batch_completions_models():
    result = batch_completion_models(
        models=["gpt-3.5-turbo", "gpt-3.5-turbo", "gpt-3.5-turbo"],
        messages=[{"role": "user", "content": "Hey, how's it going"}],
    )
    assert result.choices[0].message.content == "echo: Hey, how's it going"


def test_batch_completion_models_all_responses():
    responses = batch_completion_models_all_responses(
        models=["gemini/gemini-2.5-flash", "claude-haiku-4-5-20251001"],
        messages=[{"role": "user", "content": "write a poem"}],
        max_tokens=10,
    )
    assert len(responses) == 2
    assert {r.provider for r in responses} == {"gemini", "anthropic"}


# ---------------------------------------------------------------------- test_batch_completion_return_exceptions.py


def test_batch_completion_return_exceptions_true():
    msg1 = [{"role": "user", "content": "hi 1"}]
    msg2 = [{"role": "user", "content": "hi 2"}]
    with FakeServer(api_key="sk-the-real-key") as strict:
        res = litellm.batch_completion(model="gpt-3.5-turbo", messages=[msg1, msg2], api_key="sk_xxx",
                                       api_base=strict.openai_base)  # fmt: skip
    assert isinstance(res[0], litellm.exceptions.AuthenticationError)
    assert isinstance(res[1], litellm.exceptions.AuthenticationError)
    assert "sk_xxx" not in str(res[0])


# ---------------------------------------------------------------------- the "Batching Completion()" doc page


def test_doc_batch_completion_many_prompts_one_model():
    responses = batch_completion(
        model="claude-2",
        messages=[[{"role": "user", "content": "good morning? "}], [{"role": "user", "content": "what's the time? "}]],
    )
    assert [r.choices[0].message.content for r in responses] == ["echo: good morning? ", "echo: what's the time? "]
    assert all(r.provider == "anthropic" for r in responses)


def test_doc_batch_completion_models_fastest(fake: FakeServer):
    fake.script("gpt-3.5-turbo", latency=0.6)
    fake.script("claude-instant-1.2", latency=0.6)
    response = batch_completion_models(
        models=["gpt-3.5-turbo", "claude-instant-1.2", "command-nightly"],
        messages=[{"role": "user", "content": "Hey, how's it going"}],
    )
    # volley: the fastest model wins (LiteLLM waits for the first-listed model's answer)
    assert response.model == "command-nightly" and response.object == "chat.completion"
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens


def test_doc_batch_completion_models_all_responses():
    responses = batch_completion_models_all_responses(
        models=["gpt-3.5-turbo", "claude-instant-1.2", "command-nightly"],
        messages=[{"role": "user", "content": "Hey, how's it going"}],
    )
    assert [r.model for r in responses] == ["gpt-3.5-turbo", "claude-instant-1.2", "command-nightly"]
    assert all(r.choices[0].finish_reason == "stop" for r in responses)


def test_doc_all_responses_leaves_failed_models_out(fake: FakeServer):
    fake.script("claude-instant-1.2", fail=500)
    responses = batch_completion_models_all_responses(
        models=["gpt-3.5-turbo", "claude-instant-1.2"], messages=[{"role": "user", "content": "Hi"}]
    )
    assert [r.model for r in responses] == ["gpt-3.5-turbo"]


def test_models_as_string_and_deployments(fake: FakeServer):
    msgs = [{"role": "user", "content": "Hi"}]
    assert len(batch_completion_models_all_responses(models="gpt-3.5-turbo, command-nightly", messages=msgs)) == 2
    assert batch_completion_models(models="gpt-3.5-turbo", messages=msgs).model == "gpt-3.5-turbo"
    deployments = [{"model": "gpt-3.5-turbo", "api_base": fake.openai_base, "api_key": "sk-other-key-000000"}]
    r = batch_completion_models(deployments=deployments, model_list=[], messages=msgs)
    assert r.model == "gpt-3.5-turbo" and fake.requests[-1].headers["authorization"] == "Bearer sk-other-key-000000"
    with pytest.raises(litellm.BadRequestError, match="models is empty"):
        batch_completion_models(models=[], messages=msgs)


def test_max_workers_none_is_the_default():
    out = batch_completion(model="gpt-3.5-turbo", messages=[[{"role": "user", "content": "x"}]] * 3, max_workers=None)
    assert len(out) == 3 and all(isinstance(r, litellm.ModelResponse) for r in out)


# ---------------------------------------------------------------------- the "Exception Mapping" doc page


def test_doc_timeout_is_openai_api_timeout_error(fake: FakeServer):
    fake.script("gpt-4", latency=1.0)
    with pytest.raises(openai.APITimeoutError) as info:
        litellm.completion(model="gpt-4", messages=[{"role": "user", "content": "hello, write a 20 pageg essay"}],
                           timeout=0.05)  # fmt: skip
    assert info.value.status_code == 408 and info.value.llm_provider == "openai"


def test_doc_streaming_timeout_is_openai_api_timeout_error(fake: FakeServer):
    fake.script("gpt-3.5-turbo", latency=1.0)
    with pytest.raises(openai.APITimeoutError):
        response = litellm.completion(model="gpt-3.5-turbo", messages=[{"role": "user", "content": "essay"}],
                                      timeout=0.05, stream=True)  # fmt: skip
        for _chunk in response:
            pass


def test_doc_bad_key_maps_to_authentication_error(monkeypatch: pytest.MonkeyPatch):
    with FakeServer(api_key="sk-ant-the-real-one") as strict:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "bad-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", strict.url)
        with pytest.raises(openai.AuthenticationError) as info:
            litellm.completion(model="claude-instant-1", messages=[{"role": "user", "content": "Hey, how's it going?"}])
    e = info.value
    assert isinstance(e, litellm.AuthenticationError)
    assert (e.status_code, e.llm_provider) == (401, "anthropic") and e.message
    assert "bad-key" not in str(e)


# ---------------------------------------------------------------------- the "Mock Completion" doc page


def test_doc_mock_completion():
    response = litellm.mock_completion(model="gpt-3.5-turbo", messages=[{"role": "user", "content": "Hey"}],
                                       mock_response="This is a mock request")  # fmt: skip
    assert response.choices[0].message.content == "This is a mock request"


def test_doc_mock_response_raises_the_exception_given():
    err = litellm.RateLimitError(
        message="this is a mock rate limit error", llm_provider="openai", model="gpt-3.5-turbo"
    )
    with pytest.raises(openai.RateLimitError) as info:
        litellm.completion(model="gpt-3.5-turbo", messages=[{"role": "user", "content": "Hey"}], mock_response=err)
    assert info.value.status_code == 429 and "mock rate limit" in info.value.message


def test_mock_response_error_by_name():
    with pytest.raises(litellm.RateLimitError):
        litellm.completion(model="gpt-3.5-turbo", messages=[{"role": "user", "content": "Hey"}],
                           mock_response="litellm.RateLimitError")  # fmt: skip


def test_batch_with_a_mock_error_keeps_it_in_its_slot():
    err = litellm.InternalServerError(message="x", llm_provider="openai", model="m")
    out = batch_completion(model="gpt-3.5-turbo", messages=[[{"role": "user", "content": "a"}]] * 2, mock_response=err)
    assert all(isinstance(r, openai.InternalServerError) for r in out)


# ---------------------------------------------------------------------- the "Fallbacks" doc page


def test_doc_completion_fallbacks(fake: FakeServer):
    fake.script("gpt-4", fail=503)
    response = litellm.completion(model="gpt-4", messages=[{"role": "user", "content": "Hello!"}],
                                  fallbacks=["gpt-3.5-turbo", "claude-2"])  # fmt: skip
    assert response.model == "gpt-3.5-turbo"


def test_doc_context_window_fallback_dict(fake: FakeServer):
    from volley.testing import MockTransport

    def too_long(request):
        return (400, {"error": {"message": "This model's maximum context length is 4097 tokens",
                                "code": "context_length_exceeded"}})  # fmt: skip

    small = {"model": "gpt-3.5-turbo", "transport": MockTransport(too_long)}  # this model answers "too long"
    r = litellm.completion(model=small, messages=[{"role": "user", "content": "long " * 50}],
                           context_window_fallback_dict={"gpt-3.5-turbo": "gpt-3.5-turbo-16k"})  # fmt: skip
    assert r.model == "gpt-3.5-turbo-16k" and fake.requests[-1].model == "gpt-3.5-turbo-16k"


def test_fallbacks_per_item_in_a_batch(fake: FakeServer):
    fake.script("gpt-4", failures=[None, 500, None, 500])
    out = batch_completion(model="gpt-4", messages=[[{"role": "user", "content": f"q{i}"}] for i in range(4)],
                           fallbacks=["claude-2"], max_workers=1)  # fmt: skip
    assert [r.model for r in out] == ["gpt-4", "claude-2", "gpt-4", "claude-2"]


# ---------------------------------------------------------------------- test_router_batch_completion.py


def _router() -> litellm.Router:
    return litellm.Router(model_list=[
        {"model_name": "gpt-3.5-turbo", "litellm_params": {"model": "gpt-3.5-turbo"}},
        {"model_name": "groq-llama", "litellm_params": {"model": "groq/openai/gpt-oss-120b"}},
    ])  # fmt: skip


@pytest.mark.parametrize("mode", ["all_responses", "fastest_response"])
async def test_batch_completion_multiple_models(mode):
    litellm.set_verbose = True
    router = _router()
    if mode == "all_responses":
        response = await router.abatch_completion(
            models=["gpt-3.5-turbo", "groq-llama"],
            messages=[{"role": "user", "content": "is litellm becoming a better product ?"}],
            max_tokens=15,
        )
        assert len(response) == 2
        models_in_responses = [r["model"] for r in response]
        assert models_in_responses[0] != models_in_responses[1]
    else:
        response = await router.abatch_completion_fastest_response(
            model="gpt-3.5-turbo, groq-llama",
            messages=[{"role": "user", "content": "is litellm becoming a better product ?"}],
            max_tokens=15,
        )
        ChatCompletion.model_validate(response.model_dump(), strict=True)


async def test_batch_completion_fastest_response_unit_test(fake: FakeServer):
    fake.script("gpt-4", latency=1.0)
    router = litellm.Router(model_list=[
        {"model_name": "gpt-4", "litellm_params": {"model": "gpt-4"}, "model_info": {"id": "1"}},
        {"model_name": "gpt-3.5-turbo", "litellm_params": {"model": "gpt-3.5-turbo",
                                                           "mock_response": "This is a fake response"},
         "model_info": {"id": "2"}},
    ])  # fmt: skip
    response = await router.abatch_completion_fastest_response(
        model="gpt-4, gpt-3.5-turbo",
        messages=[{"role": "user", "content": "is litellm becoming a better product ?"}],
        max_tokens=500,
    )
    assert response._hidden_params["model_id"] == "2"
    assert response.choices[0].message.content == "This is a fake response"


async def test_batch_completion_fastest_response_streaming():
    litellm.turn_on_debug()
    router = _router()
    response = await router.abatch_completion_fastest_response(
        model="gpt-3.5-turbo, groq-llama",
        messages=[{"role": "user", "content": "is litellm becoming a better product ?"}],
        max_tokens=15,
        stream=True,
    )
    chunks = [chunk async for chunk in response]
    assert chunks
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk.model_dump(), strict=True)


async def test_batch_completion_multiple_models_multiple_messages():
    router = _router()
    response = await router.abatch_completion(
        models=["gpt-3.5-turbo", "groq-llama"],
        messages=[
            [{"role": "user", "content": "is litellm becoming a better product ?"}],
            [{"role": "user", "content": "who is this"}],
        ],
        max_tokens=15,
    )
    assert len(response) == 2
    assert len(response[0]) == 2
    assert isinstance(response[0][0], litellm.ModelResponse)


# ---------------------------------------------------------------------- volley keeps its better behaviour


def test_volley_race_returns_the_fastest_not_the_first_listed(fake: FakeServer):
    fake.script("gpt-3.5-turbo", latency=0.8)
    started = time.perf_counter()
    r = batch_completion_models(models=["gpt-3.5-turbo", "gpt-4"], messages=[{"role": "user", "content": "Hi"}])
    assert r.model == "gpt-4" and time.perf_counter() - started < 0.75


def test_volley_batch_results_keep_failures_in_place(fake: FakeServer):
    fake.script("gpt-4", failures=[None, 500])
    out = batch_completion(model="gpt-4", messages=[[{"role": "user", "content": "a"}]] * 3, max_workers=1)
    assert [type(r).__name__ for r in out] == ["ModelResponse", "InternalServerError", "ModelResponse"]


async def test_async_batch_from_a_running_loop():
    out = await litellm.abatch_completion("gpt-3.5-turbo", [[{"role": "user", "content": "a"}]] * 2)
    assert len(out) == 2
    await asyncio.sleep(0)
