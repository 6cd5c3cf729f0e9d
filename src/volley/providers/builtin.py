"""The hosts volley knows out of the box, registered through ``volley.register_provider`` like any plugin.

Most are OpenAI-compatible (one ``Provider`` each); a few subclasses handle a quirk (Ollama's two
APIs and their bases, the Hugging Face router's ``model:provider`` names, Databricks' workspace
URL); :class:`Refused` names the prefixes LiteLLM users type that volley cannot serve, and says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import BadRequestError
from .base import Provider
from .ratelimits import anthropic_style, cerebras_style, openai_style

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


class OllamaProvider(Provider):
    """``ollama/``: Ollama's OpenAI-compatible API under ``/v1`` (a base given without it gets it,
    as LiteLLM's ``OLLAMA_API_BASE`` is the server's root)."""

    def base(self, api_base: str | None, options: Mapping[str, Any]) -> str:
        base = super().base(api_base, options)
        return base if base.endswith("/v1") else base + "/v1"


class OllamaChatProvider(Provider):
    """``ollama_chat/``: Ollama's native ``/api/chat`` (NDJSON streams, ``think``, ``message.thinking``),
    at the server's root (a ``/v1`` meant for ``ollama/`` is dropped)."""

    def base(self, api_base: str | None, options: Mapping[str, Any]) -> str:
        return super().base(api_base, options).removesuffix("/v1")


class HuggingFaceProvider(Provider):
    """``huggingface/``: the Hugging Face router's OpenAI-compatible API.

    LiteLLM's ``huggingface/<inference provider>/<org>/<model>`` becomes the router's
    ``<org>/<model>:<inference provider>``; ``huggingface/<org>/<model>`` (the router picks the
    provider) and ``huggingface/<org>/<model>:<provider>`` go as they are.
    """

    def prepare_body(self, body: dict[str, Any], route: Route, *, stream: bool) -> dict[str, Any]:
        body["model"] = router_model(route.model)
        return body


def router_model(model: str) -> str:
    """``"together/deepseek-ai/DeepSeek-R1"`` → ``"deepseek-ai/DeepSeek-R1:together"`` (a Hub model id
    is ``<org>/<name>``, so a third part in front names the inference provider)."""
    parts = model.split("/")
    if len(parts) >= 3 and ":" not in model:
        return "/".join(parts[1:]) + ":" + parts[0]
    return model


class DatabricksProvider(Provider):
    """``databricks/<serving endpoint>``: a workspace's OpenAI-compatible ``/serving-endpoints``.

    The base is ``api_base``, or ``DATABRICKS_API_BASE`` (LiteLLM's name, ending in
    ``/serving-endpoints``), or the Databricks SDK's ``DATABRICKS_HOST`` (the workspace URL);
    ``/serving-endpoints`` is added when missing.
    """

    def base(self, api_base: str | None, options: Mapping[str, Any]) -> str:
        base = super().base(api_base, options)
        if "://" not in base:
            base = "https://" + base
        return base if base.endswith("/serving-endpoints") else base + "/serving-endpoints"


class Refused(Provider):
    """A prefix LiteLLM users type that volley does not serve: routing it raises ``BadRequestError``
    with ``reason`` (what is missing and what to use instead) before anything is sent."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(name, "openai", key_required=False)
        self.reason = reason

    def base(self, api_base: str | None, options: Mapping[str, Any]) -> str:
        raise BadRequestError(f"{self.name}/ is not supported: {self.reason}", provider=self.name)

    def check(self, route: Route, params: dict[str, Any]) -> None:
        self.base(None, {})


REFUSED = {
    "text-completion-openai": (
        "it is OpenAI's legacy text-completion API (/v1/completions: a prompt string, no messages) and volley "
        "sends chat completions only; use 'openai/<model>' with a chat model"
    ),
    "text-completion-codestral": (
        "it is Mistral's fill-in-the-middle API (/v1/fim/completions: a prompt and a suffix, no messages) and volley "
        "sends chat completions only; use 'codestral/<model>' (or 'mistral/<model>') for Codestral's chat endpoint"
    ),
    "sagemaker": (
        "a SageMaker endpoint is called through InvokeEndpoint, signed with AWS SigV4, with a body its container "
        "defines: there is no standard chat endpoint to map to. If the container serves an OpenAI-compatible API "
        "at a URL you can reach, use 'hosted_vllm/<model>' or 'openai/<model>' with api_base=...; for models on "
        "Bedrock use 'bedrock/<model id>'"
    ),
    "sagemaker_chat": (
        "a SageMaker endpoint is called through InvokeEndpoint, signed with AWS SigV4: there is no chat endpoint "
        "to reach with a key. If the container serves an OpenAI-compatible API at a URL you can reach, use "
        "'hosted_vllm/<model>' or 'openai/<model>' with api_base=..."
    ),
    "replicate": (
        "Replicate runs a model as a prediction (POST /v1/models/{owner}/{name}/predictions with the model's own "
        "input fields, then polling or a stream from another URL); it has no chat-completions endpoint. Use "
        "Replicate's client, or the model on a host with an OpenAI-compatible API (e.g. 'together/', 'deepinfra/')"
    ),
    "watsonx": (
        "watsonx.ai's chat API (/ml/v1/text/chat) needs a project_id or space_id and a version date on every "
        "request, and the API key must first be exchanged for an IBM Cloud IAM token that expires within the "
        "hour; volley does not do that exchange. Use IBM's ibm-watsonx-ai SDK; a model behind watsonx.ai's "
        "OpenAI-compatible model gateway can be called as 'openai/<model>' with "
        "api_base='https://<region>.ml.cloud.ibm.com/ml/gateway/v1' and an IAM bearer token as api_key"
    ),
}
"""Prefixes refused with the reason (see :class:`Refused`)."""


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
        OllamaProvider("ollama", "openai", default_base="http://localhost:11434/v1", key_env=("OLLAMA_API_KEY",),
                       base_env=("OLLAMA_API_BASE",), key_required=False, rate_limits=openai_style),
        OllamaChatProvider("ollama_chat", "ollama", default_base="http://localhost:11434", key_env=("OLLAMA_API_KEY",),
                           base_env=("OLLAMA_API_BASE",), key_required=False, framing="ndjson"),
        oc("xai", "https://api.x.ai/v1", ("XAI_API_KEY",), ("XAI_API_BASE",), infer=("grok-",)),
        oc("perplexity", "https://api.perplexity.ai", ("PERPLEXITYAI_API_KEY", "PERPLEXITY_API_KEY"),
           ("PERPLEXITY_API_BASE",), infer=("sonar",)),
        Provider("cerebras", "openai", default_base="https://api.cerebras.ai/v1", key_env=("CEREBRAS_API_KEY",),
                 base_env=("CEREBRAS_API_BASE",), rate_limits=cerebras_style),
        oc("sambanova", "https://api.sambanova.ai/v1", ("SAMBANOVA_API_KEY",), ("SAMBANOVA_API_BASE",)),
        oc("nvidia_nim", "https://integrate.api.nvidia.com/v1", ("NVIDIA_NIM_API_KEY", "NVIDIA_API_KEY"),
           ("NVIDIA_NIM_API_BASE",)),
        HuggingFaceProvider("huggingface", "openai", default_base="https://router.huggingface.co/v1",
                            key_env=("HF_TOKEN", "HUGGINGFACE_API_KEY"),
                            base_env=("HF_API_BASE", "HUGGINGFACE_API_BASE"), rate_limits=openai_style),
        DatabricksProvider("databricks", "openai", key_env=("DATABRICKS_API_KEY", "DATABRICKS_TOKEN"),
                           base_env=("DATABRICKS_API_BASE", "DATABRICKS_HOST"), rate_limits=openai_style),
        oc("deepinfra", "https://api.deepinfra.com/v1/openai", ("DEEPINFRA_API_KEY", "DEEPINFRA_TOKEN"),
           ("DEEPINFRA_API_BASE",)),
        oc("lm_studio", "http://localhost:1234/v1", ("LM_STUDIO_API_KEY",), ("LM_STUDIO_API_BASE",),
           key_required=False),
        oc("codestral", "https://codestral.mistral.ai/v1", ("CODESTRAL_API_KEY",), ("CODESTRAL_API_BASE",)),
        oc("moonshot", "https://api.moonshot.ai/v1", ("MOONSHOT_API_KEY",), ("MOONSHOT_API_BASE",)),
        oc("dashscope", "https://dashscope-intl.aliyuncs.com/compatible-mode/v1", ("DASHSCOPE_API_KEY",),
           ("DASHSCOPE_API_BASE",)),
        oc("hyperbolic", "https://api.hyperbolic.xyz/v1", ("HYPERBOLIC_API_KEY",), ("HYPERBOLIC_API_BASE",)),
        oc("meta_llama", "https://api.llama.com/compat/v1", ("LLAMA_API_KEY",), ("LLAMA_API_BASE",)),
        oc("litellm_proxy", None, ("LITELLM_PROXY_API_KEY",), ("LITELLM_PROXY_API_BASE",), key_required=False),
        oc("llamafile", "http://127.0.0.1:8080/v1", ("LLAMAFILE_API_KEY",), ("LLAMAFILE_API_BASE",),
           key_required=False),
        oc("vllm", None, ("VLLM_API_KEY", "HOSTED_VLLM_API_KEY"), ("VLLM_API_BASE", "HOSTED_VLLM_API_BASE"),
           key_required=False),
        oc("hosted_vllm", None, ("HOSTED_VLLM_API_KEY", "VLLM_API_KEY"), ("HOSTED_VLLM_API_BASE", "VLLM_API_BASE"),
           key_required=False),
        oc("llamacpp", "http://localhost:8080/v1", ("LLAMACPP_API_KEY",), ("LLAMACPP_API_BASE",), key_required=False),
        LocalProvider(),
        *_cloud(),
        *(Refused(name, reason) for name, reason in REFUSED.items()),
    ]  # fmt: skip
