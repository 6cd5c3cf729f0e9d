"""LiteLLM's keyword arguments never stop a batch: each is mapped, passed through to the provider, or
accepted and ignored (docs/litellm-compat.md tables them). Typos are still caught before sending."""

from __future__ import annotations

import pytest

import volley as litellm
from volley.testing import FakeServer

KEY = "sk-kwargs-0000000000"
MSGS = [[{"role": "user", "content": "q1"}], [{"role": "user", "content": "q2"}]]

# name → value; each is accepted and kept off the wire (logging, proxy, client objects, other hosts' credentials)
IGNORED = {
    "metadata": {"run": "a"}, "logger_fn": lambda details: None, "api_version": "2024-02-01",
    "litellm_call_id": "x", "tags": ["t"], "no-log": True, "deployment_id": "d", "model_list": [],
    "aws_access_key_id": "AKIA...", "aws_secret_access_key": "s", "aws_region_name": "us-east-1",
    "vertex_project": "p", "vertex_location": "us-central1", "input_cost_per_second": 0.1, "max_parallel_requests": 5,
    "base_model": "gpt-4", "proxy_server_request": {}, "litellm_trace_id": "t",
}  # fmt: skip


def run(fake: FakeServer, model: str = "gpt-4o", **params):
    base = fake.openai_base if not model.startswith(("anthropic/", "gemini/")) else fake.url
    out = litellm.batch_completion(model, MSGS, api_key=KEY, api_base=base, **params)
    assert all(isinstance(r, litellm.ModelResponse) for r in out), out
    return fake.requests[-1]


@pytest.mark.parametrize("name", sorted(IGNORED))
def test_ignored_kwargs_do_not_stop_a_batch(fake: FakeServer, name):
    sent = run(fake, **{name: IGNORED[name]})
    assert name not in sent.json and len(fake.requests) == 2


def test_aliases(fake: FakeServer):
    fake.script("gpt-4o", latency=0.5)
    with pytest.raises(litellm.Timeout):
        litellm.completion("gpt-4o", MSGS[0], api_key=KEY, api_base=fake.openai_base, request_timeout=0.05,
                           max_retries=0)  # fmt: skip
    fake.reset()
    sent = run(fake, headers={"X-Trace": "abc"}, caching=False, max_retries=1)
    assert sent.headers["x-trace"] == "abc"
    sent = run(fake, extra_headers={"X-A": "1"}, organization="org-1")
    assert sent.headers["x-a"] == "1" and sent.headers["openai-organization"] == "org-1"


def test_provider_passthrough(fake: FakeServer):
    assert run(fake, "anthropic/claude-3-5-haiku-latest", top_k=5).json["top_k"] == 5
    assert run(fake, "gemini/gemini-2.5-flash", top_k=5).json["generationConfig"]["topK"] == 5
    sent = run(fake, "anthropic/claude-sonnet-4-5", thinking={"type": "enabled", "budget_tokens": 1024})
    assert sent.json["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert run(fake, "openai/gpt-4o", repetition_penalty=1.1, extra_body={"x": 1}).json["repetition_penalty"] == 1.1


def test_reasoning_effort_and_stream_options(fake: FakeServer):
    assert run(fake, "openai/o3-mini", reasoning_effort="low").json["reasoning_effort"] == "low"
    run(fake, "anthropic/claude-3-5-haiku-latest", stream_options={"include_usage": True})  # volley honours it


def test_functions_and_function_call(fake: FakeServer):
    fn = {"name": "f", "parameters": {"type": "object", "properties": {}}}
    sent = run(fake, functions=[fn], function_call="auto")
    assert sent.json["tools"] == [{"type": "function", "function": fn}] and sent.json["tool_choice"] == "auto"


def test_per_call_prices(fake: FakeServer):
    out = litellm.completion("openai/my-custom-model", MSGS[0], api_key=KEY, api_base=fake.openai_base,
                             input_cost_per_token=1e-6, output_cost_per_token=2e-6)  # fmt: skip
    assert out.cost == pytest.approx(out.usage.prompt_tokens * 1e-6 + out.usage.completion_tokens * 2e-6)


def test_allowed_and_additional_drop_params(fake: FakeServer):
    sent = run(fake, "anthropic/claude-3-5-haiku-latest", logit_bias={"1": 1}, allowed_openai_params=["logit_bias"])
    assert sent.json.get("logit_bias") is None  # sent past the check; Anthropic's mapping has no place for it
    assert "temperature" not in run(fake, temperature=0.5, additional_drop_params=["temperature"]).json


def test_mock_timeout():
    with pytest.raises(litellm.Timeout):
        litellm.completion("gpt-4o", MSGS[0], mock_timeout=True)


def test_httpx_timeout_object(fake: FakeServer):
    import httpx

    run(fake, timeout=httpx.Timeout(30.0, connect=5.0))


def test_typos_are_still_caught_before_sending(fake: FakeServer):
    with pytest.raises(litellm.InvalidRequestError, match="unknown parameter 'temprature'"):
        litellm.batch_completion("gpt-4o", MSGS, api_key=KEY, api_base=fake.openai_base, temprature=0.2)
    assert fake.requests == []
