import pytest

import volley
from volley.providers import get_provider
from volley.routing import resolve, split_model


@pytest.mark.parametrize(
    ("model", "provider", "name"),
    [
        ("gpt-4o-mini", "openai", "gpt-4o-mini"),
        ("o1-mini", "openai", "o1-mini"),
        ("o3", "openai", "o3"),
        ("o4-mini", "openai", "o4-mini"),
        ("chatgpt-4o-latest", "openai", "chatgpt-4o-latest"),
        ("claude-3-5-haiku-latest", "anthropic", "claude-3-5-haiku-latest"),
        ("command-r-plus", "cohere", "command-r-plus"),
        ("gemini-2.0-flash", "gemini", "gemini-2.0-flash"),
        ("groq/llama-3.1-8b-instant", "groq", "llama-3.1-8b-instant"),
        ("openrouter/meta-llama/llama-3-70b", "openrouter", "meta-llama/llama-3-70b"),
        ("hosted_vllm/Qwen/Qwen2.5-7B", "hosted_vllm", "Qwen/Qwen2.5-7B"),
        ("openai/my-custom-model", "openai", "my-custom-model"),
    ],
)
def test_split_model(model, provider, name):
    assert split_model(model) == (provider, name)


def test_unknown_provider_lists_known_ones():
    with pytest.raises(volley.BadRequestError) as ei:
        split_model("nosuch/model-x")
    msg = str(ei.value)
    assert "nosuch" in msg
    for known in ("anthropic", "cohere", "gemini", "groq", "openai", "vllm"):
        assert known in msg
    assert "'openai/<model>' with api_base=" in msg  # what to do with a host volley has no name for


def test_bare_unknown_name_is_an_error():
    with pytest.raises(volley.BadRequestError, match="provider/model"):
        split_model("mystery-model")


def test_missing_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("COHERE_API_KEY", raising=False)
    monkeypatch.delenv("CO_API_KEY", raising=False)
    with pytest.raises(volley.AuthenticationError, match="COHERE_API_KEY or CO_API_KEY"):
        resolve("command-r")


def test_key_and_base_precedence(monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", "env-key-123")
    r = resolve("groq/llama")
    assert r.api_key == "env-key-123"
    assert r.api_base == get_provider("groq").default_base
    r = resolve("groq/llama", api_key="param-key", api_base="http://127.0.0.1:9/v1/")
    assert (r.api_key, r.api_base) == ("param-key", "http://127.0.0.1:9/v1")


def test_env_base(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1234/v1")
    assert resolve("gpt-4o").api_base == "http://127.0.0.1:1234/v1"


def test_gemini_key_fallback(monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.setenv("GOOGLE_API_KEY", "g-key")
    assert resolve("gemini-2.0-flash").api_key == "g-key"


def test_local_servers_need_no_key(monkeypatch):
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    r = resolve("ollama/llama3.2")
    assert r.api_key is None and r.api_base == "http://localhost:11434/v1"


def test_vllm_needs_a_base(monkeypatch):
    for v in ("VLLM_API_BASE", "HOSTED_VLLM_API_BASE"):
        monkeypatch.delenv(v, raising=False)
    with pytest.raises(volley.BadRequestError, match="api_base"):
        resolve("vllm/some-model")


def test_route_repr_hides_key():
    r = resolve("openai/x", api_key="sk-secret-value-xyz", api_base="http://127.0.0.1:1/v1")
    assert "sk-secret-value-xyz" not in repr(r)
