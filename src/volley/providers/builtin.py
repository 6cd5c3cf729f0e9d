"""The hosts volley knows out of the box, registered through ``volley.register_provider`` like any plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Provider
from .ratelimits import anthropic_style, openai_style

if TYPE_CHECKING:
    from ..routing import Route


class LocalProvider(Provider):
    """``local/smollm2`` and ``local/<path>.gguf``: llama.cpp in a worker process on this machine."""

    def __init__(self) -> None:
        super().__init__("local", "local", default_base="local", key_required=False, transport="local")

    def base(self, api_base: str | None, options: Any) -> str:
        return "local"

    def check(self, route: Route, params: dict[str, Any]) -> None:
        """The extra is installed, the model file is a GGUF, the sampling options are known; then the
        model's worker starts loading, so the load overlaps the rest of the caller's set-up."""
        from ..local import pool
        from ..protocols import local

        local.check(route.model, params)
        pool.worker(local.model_path(route.model), route.model).warm()


def _openai_compatible(name: str, base: str | None, key_env: tuple[str, ...], base_env: tuple[str, ...],
                       **kw: Any) -> Provider:  # fmt: skip
    return Provider(name, "openai", default_base=base, key_env=key_env, base_env=base_env,
                    rate_limits=openai_style, **kw)  # fmt: skip


def _cloud() -> list[Provider]:
    """The cloud hosts, each in its own module: AWS Bedrock, Azure OpenAI, Azure AI Foundry, Vertex AI."""
    from .aws import BedrockProvider
    from .azure import AzureAI, AzureOpenAI
    from .vertex import provider_for

    return [BedrockProvider(), AzureOpenAI(), AzureAI(), provider_for("gemini")]


def providers() -> list[Provider]:
    """Every built-in host."""
    oc = _openai_compatible
    return [
        oc("openai", "https://api.openai.com/v1", ("OPENAI_API_KEY",), ("OPENAI_BASE_URL", "OPENAI_API_BASE"),
           infer=("gpt-", "chatgpt-", "o1", "o3", "o4")),
        Provider("anthropic", "anthropic", default_base="https://api.anthropic.com", key_env=("ANTHROPIC_API_KEY",),
                 base_env=("ANTHROPIC_BASE_URL",), rate_limits=anthropic_style, infer=("claude",)),
        Provider("cohere", "cohere", default_base="https://api.cohere.com", key_env=("COHERE_API_KEY", "CO_API_KEY"),
                 base_env=("COHERE_BASE_URL", "CO_API_URL"), infer=("command",), aliases=("cohere_chat",)),
        Provider("gemini", "gemini", default_base="https://generativelanguage.googleapis.com",
                 key_env=("GEMINI_API_KEY", "GOOGLE_API_KEY"), base_env=("GEMINI_API_BASE",), infer=("gemini-",)),
        oc("groq", "https://api.groq.com/openai/v1", ("GROQ_API_KEY",), ("GROQ_API_BASE",)),
        oc("mistral", "https://api.mistral.ai/v1", ("MISTRAL_API_KEY",), ("MISTRAL_API_BASE",)),
        oc("together", "https://api.together.xyz/v1", ("TOGETHER_API_KEY", "TOGETHERAI_API_KEY"),
           ("TOGETHER_API_BASE",), aliases=("together_ai",)),
        oc("openrouter", "https://openrouter.ai/api/v1", ("OPENROUTER_API_KEY",), ("OPENROUTER_API_BASE",)),
        oc("deepseek", "https://api.deepseek.com/v1", ("DEEPSEEK_API_KEY",), ("DEEPSEEK_API_BASE",)),
        oc("fireworks", "https://api.fireworks.ai/inference/v1", ("FIREWORKS_API_KEY", "FIREWORKS_AI_API_KEY"),
           ("FIREWORKS_API_BASE",), aliases=("fireworks_ai",)),
        oc("ollama", "http://localhost:11434/v1", ("OLLAMA_API_KEY",), ("OLLAMA_API_BASE",), key_required=False),
        oc("vllm", None, ("VLLM_API_KEY", "HOSTED_VLLM_API_KEY"), ("VLLM_API_BASE", "HOSTED_VLLM_API_BASE"),
           key_required=False),
        oc("hosted_vllm", None, ("HOSTED_VLLM_API_KEY", "VLLM_API_KEY"), ("HOSTED_VLLM_API_BASE", "VLLM_API_BASE"),
           key_required=False),
        oc("llamacpp", "http://localhost:8080/v1", ("LLAMACPP_API_KEY",), ("LLAMACPP_API_BASE",), key_required=False),
        LocalProvider(),
        *_cloud(),
    ]  # fmt: skip
