"""The hosts of issue 13 beside Azure / Bedrock / Vertex: every prefix LiteLLM scripts use routes (or
is refused with its reason), keys and bases come from the documented variables, the OpenAI-compatible
hosts pass the provider contract, and their quirks (Hugging Face router names, Databricks workspace
URLs, Cerebras rate-limit headers) are handled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import volley
from volley.providers import get_provider
from volley.providers.builtin import router_model
from volley.providers.ratelimits import cerebras_style
from volley.routing import find, resolve
from volley.testing import build_request, contract

FIXTURES = Path(__file__).parent / "fixtures"
KEY = "sk-hosts-test-0123456789"
USER = [{"role": "user", "content": "hi"}]

# The 23 prefixes of issue 13, less azure, azure_ai, bedrock and vertex_ai (another part of the issue).
ROUTED = {
    "openai/gpt-4o-mini": ("openai", "openai"), "anthropic/claude-x": ("anthropic", "anthropic"),
    "gemini/gemini-2.0-flash": ("gemini", "gemini"), "groq/llama-3.3-70b": ("groq", "openai"),
    "mistral/mistral-small": ("mistral", "openai"), "ollama/llama3": ("ollama", "openai"),
    "together_ai/meta/llama": ("together", "openai"), "ollama_chat/qwen3": ("ollama_chat", "ollama"),
    "xai/grok-4": ("xai", "openai"), "perplexity/sonar": ("perplexity", "openai"),
    "huggingface/org/model": ("huggingface", "openai"), "databricks/my-endpoint": ("databricks", "openai"),
    "cerebras/llama3.1-8b": ("cerebras", "openai"), "nvidia_nim/meta/llama3": ("nvidia_nim", "openai"),
    "cohere_chat/command-r": ("cohere", "cohere"), "sambanova/Meta-Llama-3.3": ("sambanova", "openai"),
    "deepinfra/meta/llama": ("deepinfra", "openai"), "lm_studio/qwen": ("lm_studio", "openai"),
}  # fmt: skip
REFUSED = {
    "sagemaker/my-endpoint": "InvokeEndpoint",
    "replicate/meta/llama-3": "prediction",
    "text-completion-openai/gpt-3.5-turbo-instruct": "chat completions only",
    "watsonx/ibm/granite-3-8b": "IAM token",
    "text-completion-codestral/codestral-2405": "fill-in-the-middle",
}
ENV = {
    "xai": ("XAI_API_KEY", "XAI_API_BASE"),
    "perplexity": ("PERPLEXITY_API_KEY", "PERPLEXITY_API_BASE"),
    "cerebras": ("CEREBRAS_API_KEY", "CEREBRAS_API_BASE"),
    "sambanova": ("SAMBANOVA_API_KEY", "SAMBANOVA_API_BASE"),
    "nvidia_nim": ("NVIDIA_NIM_API_KEY", "NVIDIA_NIM_API_BASE"),
    "huggingface": ("HF_TOKEN", "HUGGINGFACE_API_BASE"),
    "databricks": ("DATABRICKS_TOKEN", "DATABRICKS_API_BASE"),
    "deepinfra": ("DEEPINFRA_TOKEN", "DEEPINFRA_API_BASE"),
    "lm_studio": ("LM_STUDIO_API_KEY", "LM_STUDIO_API_BASE"),
}
DEFAULT_BASES = {
    "xai": "https://api.x.ai/v1", "perplexity": "https://api.perplexity.ai", "cerebras": "https://api.cerebras.ai/v1",
    "sambanova": "https://api.sambanova.ai/v1", "nvidia_nim": "https://integrate.api.nvidia.com/v1",
    "huggingface": "https://router.huggingface.co/v1", "deepinfra": "https://api.deepinfra.com/v1/openai",
    "lm_studio": "http://localhost:1234/v1", "ollama_chat": "http://localhost:11434",
}  # fmt: skip


@pytest.mark.parametrize("model", sorted(ROUTED))
def test_every_prefix_routes_to_its_host_and_protocol(model: str) -> None:
    host, _ = find(model)
    assert (host.name, host.protocol) == ROUTED[model]


@pytest.mark.parametrize("model", sorted(REFUSED))
def test_unsupported_prefixes_are_refused_with_the_reason_before_sending(model: str, fake) -> None:
    with pytest.raises(volley.BadRequestError, match="is not supported") as err:
        volley.completion(model, USER, api_base=fake.openai_base, api_key=KEY)
    assert REFUSED[model] in str(err.value) and "unknown provider" not in str(err.value)
    assert fake.requests == []


def test_keys_and_bases_come_from_the_documented_variables(monkeypatch) -> None:
    for name, (key_env, base_env) in ENV.items():
        monkeypatch.setenv(key_env, f"{KEY}-{name}")
        monkeypatch.setenv(base_env, f"https://{name}.example/v1")
        route = resolve(f"{name}/m")
        assert route.api_key == f"{KEY}-{name}"
        assert route.api_base.startswith(f"https://{name}.example/v1"), (name, route.api_base)
        monkeypatch.delenv(base_env)
    for name, base in DEFAULT_BASES.items():
        assert get_provider(name).default_base == base, name
    # LiteLLM's names and the hosts' own SDK names both work
    monkeypatch.setenv("PERPLEXITYAI_API_KEY", "litellm-name")
    assert resolve("perplexity/sonar").api_key == "litellm-name"
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setenv("HUGGINGFACE_API_KEY", "hf-litellm")
    assert resolve("huggingface/m").api_key == "hf-litellm"
    monkeypatch.setenv("NVIDIA_API_KEY", "nv-sdk")
    monkeypatch.delenv("NVIDIA_NIM_API_KEY")
    assert resolve("nvidia_nim/m").api_key == "nv-sdk"
    monkeypatch.delenv("XAI_API_KEY")
    with pytest.raises(volley.AuthenticationError, match="XAI_API_KEY"):
        resolve("xai/grok-4")
    assert resolve("lm_studio/m", api_key=None).api_base == "http://localhost:1234/v1"  # no key needed


def test_bare_names_are_inferred_only_where_unambiguous() -> None:
    assert find("grok-4")[0].name == "xai" and find("sonar-pro")[0].name == "perplexity"
    for bare in ("llama3.1-8b", "Meta-Llama-3.3-70B-Instruct", "deepseek-ai/DeepSeek-R1"):
        with pytest.raises(volley.BadRequestError, match=r"cannot infer|unknown provider"):
            find(bare)


def test_databricks_base_from_the_workspace_host_or_litellm_base(monkeypatch) -> None:
    monkeypatch.setenv("DATABRICKS_TOKEN", KEY)
    monkeypatch.setenv("DATABRICKS_HOST", "adb-123.4.azuredatabricks.net")
    r = build_request("databricks", "my-llama", USER, {}, api_key=KEY, api_base=None)
    assert r.url == "https://adb-123.4.azuredatabricks.net/serving-endpoints/chat/completions"
    monkeypatch.setenv("DATABRICKS_API_BASE", "https://adb-9.azuredatabricks.net/serving-endpoints")
    assert resolve("databricks/e").api_base == "https://adb-9.azuredatabricks.net/serving-endpoints"
    monkeypatch.delenv("DATABRICKS_API_BASE")
    monkeypatch.delenv("DATABRICKS_HOST")
    with pytest.raises(volley.BadRequestError, match="DATABRICKS_API_BASE or DATABRICKS_HOST"):
        resolve("databricks/e")


def test_hugging_face_router_names(fake) -> None:
    assert router_model("together/deepseek-ai/DeepSeek-R1") == "deepseek-ai/DeepSeek-R1:together"
    assert router_model("deepseek-ai/DeepSeek-R1") == "deepseek-ai/DeepSeek-R1"
    assert router_model("deepseek-ai/DeepSeek-R1:fastest") == "deepseek-ai/DeepSeek-R1:fastest"
    volley.completion("huggingface/novita/moonshotai/Kimi-K2", USER, api_base=fake.openai_base, api_key=KEY)
    assert fake.requests[-1].json["model"] == "moonshotai/Kimi-K2:novita"
    assert fake.requests[-1].headers["authorization"] == f"Bearer {KEY}"


def test_cerebras_rate_limit_headers_are_read() -> None:
    headers = json.loads((FIXTURES / "cerebras" / "ratelimit_headers.json").read_text())
    info = cerebras_style(headers)
    assert info is not None and info.limit_tokens == 60000 and info.remaining_tokens == 0
    assert info.remaining_requests == 14398 and info.reset_requests == pytest.approx(33011.382867)
    assert info.pause == pytest.approx(11.382867)  # the minute's tokens are used up: wait for their reset
    assert cerebras_style({"content-type": "application/json"}) is None
    assert get_provider("cerebras").rate_info(headers) == info


@pytest.mark.parametrize(
    "model", ["sambanova/m", "nvidia_nim/m", "deepinfra/m", "lm_studio/m"],  # xai, cerebras, huggingface: test_contract
)  # fmt: skip
def test_openai_compatible_hosts_pass_the_contract(model: str, fake) -> None:
    contract.check_provider(model, server=fake, api_base=fake.openai_base, api_key=KEY)


@pytest.mark.parametrize(
    "model", ["groq/m", "mistral/m", "together/m", "together_ai/m", "openrouter/m", "deepseek/m", "fireworks/m",
              "fireworks_ai/m", "vllm/m", "hosted_vllm/m", "llamacpp/m"],
)  # fmt: skip
def test_the_older_openai_compatible_hosts_pass_the_contract(model: str, fake) -> None:
    """The hosts registered before issue 13 (and their LiteLLM aliases): the same contract as the new ones, so
    the provider table's stream / tools / errors columns are proven for every OpenAI-protocol prefix."""
    contract.check_provider(model, server=fake, api_base=fake.openai_base, api_key=KEY)


def test_ollama_openai_api_gets_v1_and_passes_the_contract(fake) -> None:
    contract.check_provider("ollama/m", server=fake, api_base=fake.url, api_key=KEY)
    assert fake.requests[0].path == "/v1/chat/completions"


def test_hosts_whose_path_is_not_v1_pass_the_contract(fake) -> None:
    contract.check_provider("perplexity/sonar", server=fake, api_base=fake.url, api_key=KEY)
    assert fake.requests[0].path == "/chat/completions"
    fake.reset()
    contract.check_provider("databricks/endpoint", server=fake, api_base=fake.url, api_key=KEY)
    assert fake.requests[0].path == "/serving-endpoints/chat/completions"


# More prefixes LiteLLM scripts use beyond the 23: OpenAI-compatible hosts (LiteLLM's names for their key
# and base variables), and LiteLLM's alias for Gemini on Vertex AI.
MORE = {
    "codestral": ("https://codestral.mistral.ai/v1", "CODESTRAL_API_KEY", "CODESTRAL_API_BASE"),
    "moonshot": ("https://api.moonshot.ai/v1", "MOONSHOT_API_KEY", "MOONSHOT_API_BASE"),
    "dashscope": ("https://dashscope-intl.aliyuncs.com/compatible-mode/v1", "DASHSCOPE_API_KEY", "DASHSCOPE_API_BASE"),
    "hyperbolic": ("https://api.hyperbolic.xyz/v1", "HYPERBOLIC_API_KEY", "HYPERBOLIC_API_BASE"),
    "meta_llama": ("https://api.llama.com/compat/v1", "LLAMA_API_KEY", "LLAMA_API_BASE"),
    "llamafile": ("http://127.0.0.1:8080/v1", "LLAMAFILE_API_KEY", "LLAMAFILE_API_BASE"),
    "litellm_proxy": (None, "LITELLM_PROXY_API_KEY", "LITELLM_PROXY_API_BASE"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(MORE))
def test_more_litellm_prefixes_route_with_their_variables(name: str, monkeypatch, fake) -> None:
    default, key_env, base_env = MORE[name]
    host, model = find(f"{name}/some-model")
    assert (host.name, host.protocol, host.default_base, model) == (name, "openai", default, "some-model")
    monkeypatch.setenv(key_env, f"{KEY}-{name}")
    monkeypatch.setenv(base_env, f"https://{name}.example/v1")
    route = resolve(f"{name}/m")
    assert (route.api_key, route.api_base) == (f"{KEY}-{name}", f"https://{name}.example/v1")
    monkeypatch.delenv(base_env)
    contract.check_provider(f"{name}/m", server=fake, api_base=fake.openai_base, api_key=KEY)


def test_litellm_proxy_needs_a_base_and_local_servers_no_key(monkeypatch) -> None:
    for env in ("LITELLM_PROXY_API_BASE", "LITELLM_PROXY_API_KEY", "LLAMAFILE_API_KEY", "LLAMAFILE_API_BASE"):
        monkeypatch.delenv(env, raising=False)
    with pytest.raises(volley.BadRequestError, match="LITELLM_PROXY_API_BASE"):
        resolve("litellm_proxy/m")
    assert resolve("litellm_proxy/m", api_base="http://localhost:4000").api_key is None
    assert resolve("llamafile/m").api_base == "http://127.0.0.1:8080/v1"
    monkeypatch.delenv("CODESTRAL_API_KEY", raising=False)
    with pytest.raises(volley.AuthenticationError, match="CODESTRAL_API_KEY"):
        resolve("codestral/codestral-latest")


def test_vertex_ai_beta_is_vertex_ai() -> None:
    host, model = find("vertex_ai_beta/gemini-2.5-flash")
    assert (host.name, host.protocol, model) == ("vertex_ai", "gemini", "gemini-2.5-flash")
    assert find("vertex_ai_beta/claude-sonnet-4@20250514")[0].protocol == "anthropic"
