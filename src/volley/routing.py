"""Model names → (provider, wire protocol, model, base URL, key).

``"provider/model"`` picks the provider; a bare name is inferred from its prefix. Keys and bases
come from the call's ``api_key`` / ``api_base`` first, then from the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .errors import AuthenticationError, BadRequestError


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """How to reach one provider."""

    name: str
    protocol: str  # module in volley.providers
    default_base: str | None
    key_env: tuple[str, ...] = ()
    base_env: tuple[str, ...] = ()
    key_required: bool = True


_P = ProviderInfo
PROVIDERS: dict[str, ProviderInfo] = {
    p.name: p
    for p in (
        _P("openai", "openai", "https://api.openai.com/v1", ("OPENAI_API_KEY",),
           ("OPENAI_BASE_URL", "OPENAI_API_BASE")),
        _P("anthropic", "anthropic", "https://api.anthropic.com", ("ANTHROPIC_API_KEY",), ("ANTHROPIC_BASE_URL",)),
        _P("cohere", "cohere", "https://api.cohere.com", ("COHERE_API_KEY", "CO_API_KEY"),
           ("COHERE_BASE_URL", "CO_API_URL")),
        _P("gemini", "gemini", "https://generativelanguage.googleapis.com", ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
           ("GEMINI_API_BASE",)),
        _P("groq", "openai", "https://api.groq.com/openai/v1", ("GROQ_API_KEY",), ("GROQ_API_BASE",)),
        _P("mistral", "openai", "https://api.mistral.ai/v1", ("MISTRAL_API_KEY",), ("MISTRAL_API_BASE",)),
        _P("together", "openai", "https://api.together.xyz/v1", ("TOGETHER_API_KEY", "TOGETHERAI_API_KEY"),
           ("TOGETHER_API_BASE",)),
        _P("together_ai", "openai", "https://api.together.xyz/v1", ("TOGETHER_API_KEY", "TOGETHERAI_API_KEY"),
           ("TOGETHER_API_BASE",)),
        _P("openrouter", "openai", "https://openrouter.ai/api/v1", ("OPENROUTER_API_KEY",), ("OPENROUTER_API_BASE",)),
        _P("deepseek", "openai", "https://api.deepseek.com/v1", ("DEEPSEEK_API_KEY",), ("DEEPSEEK_API_BASE",)),
        _P("fireworks", "openai", "https://api.fireworks.ai/inference/v1",
           ("FIREWORKS_API_KEY", "FIREWORKS_AI_API_KEY"), ("FIREWORKS_API_BASE",)),
        _P("fireworks_ai", "openai", "https://api.fireworks.ai/inference/v1",
           ("FIREWORKS_API_KEY", "FIREWORKS_AI_API_KEY"), ("FIREWORKS_API_BASE",)),
        _P("ollama", "openai", "http://localhost:11434/v1", ("OLLAMA_API_KEY",), ("OLLAMA_API_BASE",),
           key_required=False),
        _P("vllm", "openai", None, ("VLLM_API_KEY", "HOSTED_VLLM_API_KEY"), ("VLLM_API_BASE", "HOSTED_VLLM_API_BASE"),
           key_required=False),
        _P("hosted_vllm", "openai", None, ("HOSTED_VLLM_API_KEY", "VLLM_API_KEY"),
           ("HOSTED_VLLM_API_BASE", "VLLM_API_BASE"), key_required=False),
        _P("llamacpp", "openai", "http://localhost:8080/v1", ("LLAMACPP_API_KEY",), ("LLAMACPP_API_BASE",),
           key_required=False),
    )
}  # fmt: skip

_BARE_PREFIXES: tuple[tuple[str, str], ...] = (
    ("gpt-", "openai"),
    ("chatgpt-", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("claude-", "anthropic"),
    ("claude", "anthropic"),
    ("command", "cohere"),
    ("gemini-", "gemini"),
)


@dataclass(frozen=True, slots=True)
class Route:
    """A resolved model: where and how to send it. The key is hidden from repr."""

    provider: str
    protocol: str
    model: str
    api_base: str
    api_key: str | None = field(default=None, repr=False)

    @property
    def lane(self) -> tuple[str, str, str, str]:
        """What limits are shared by: provider, api_base, model and the account (``key_id``)."""
        return (self.provider, self.api_base, self.model, key_id(self.api_key))

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"


def key_id(api_key: str | None) -> str:
    """A short, non-reversible name for an API key (8 hex digits of its SHA-256); "" without a key.

    Lanes are per account: one key's 429 does not slow calls made with another key.
    """
    if not api_key:
        return ""
    import hashlib

    return hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def split_model(model: str) -> tuple[str, str]:
    """``"groq/llama-3"`` → ``("groq", "llama-3")``; bare names are inferred. Raises for unknown providers."""
    if not isinstance(model, str) or not model.strip():
        raise BadRequestError(f"model must be a non-empty string, got {model!r}")
    head, sep, rest = model.partition("/")
    if sep and head in PROVIDERS:
        if not rest:
            raise BadRequestError(f"model {model!r} names a provider but no model")
        return head, rest
    if sep and head == "local":
        return "local", rest
    for prefix, provider in _BARE_PREFIXES:
        if model.startswith(prefix):
            return provider, model
    known = ", ".join(sorted([*PROVIDERS, "local"]))
    if sep:
        raise BadRequestError(f"unknown provider {head!r} in model {model!r}; known providers: {known}")
    raise BadRequestError(
        f"cannot infer the provider of model {model!r}; write it as 'provider/model' (known providers: {known})"
    )


def resolve(model: str, api_key: str | None = None, api_base: str | None = None) -> Route:
    """Resolve a model name plus optional overrides into a :class:`Route`, or raise before any request."""
    provider, name = split_model(model)
    if provider == "local":
        return Route("local", "local", name, api_base or "local", None)
    info = PROVIDERS[provider]
    base = api_base or _first_env(info.base_env) or info.default_base
    if not base:
        envs = " or ".join(info.base_env)
        raise BadRequestError(f"provider {provider!r} needs api_base= (or {envs}) for model {model!r}")
    key = api_key or _first_env(info.key_env)
    if not key and info.key_required:
        envs = " or ".join(info.key_env)
        raise AuthenticationError(
            f"no API key for {provider}: pass api_key= or set {envs}", provider=provider, model=name
        )
    return Route(provider, info.protocol, name, base.rstrip("/"), key)


def _first_env(names: tuple[str, ...]) -> str | None:
    for n in names:
        v = os.environ.get(n)
        if v:
            return v
    return None
