"""Which providers have a batch API here, and the adapter that speaks each one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._http import DEFAULT_TIMEOUT, Client
from ._types import Adapter
from .errors import BatchModeUnsupportedError

if TYPE_CHECKING:
    from ..prepare import Call

SUPPORTED_PROVIDERS = ("openai", "anthropic", "azure", "groq", "mistral", "gemini")
"""Providers whose batch API volley speaks: OpenAI Batch, Anthropic Message Batches, Azure OpenAI Batch,
Groq's batch API (OpenAI's format), Mistral batch jobs and the Gemini API's Batch Mode (inline requests)."""

_PLANNED = {
    "bedrock": "Bedrock batch inference reads and writes S3 (see docs/batch-apis.md)",
    "vertex_ai": "Vertex AI batch prediction reads and writes Cloud Storage or BigQuery (see docs/batch-apis.md)",
}


def unsupported(provider: str) -> BatchModeUnsupportedError:
    """The error for a provider without batch support (raised before any request)."""
    why = f"; {_PLANNED[provider]}" if provider in _PLANNED else ""
    return BatchModeUnsupportedError(
        f"provider {provider!r} has no batch API in volley{why}; mode='batch_api' works with "
        f"{', '.join(SUPPORTED_PROVIDERS)} (use online mode for {provider})",
        provider=provider,
    )


def provider_of(batch_id: str) -> str | None:
    """The provider an id belongs to, by its prefix (``msgbatch_``: anthropic, ``batches/``: gemini,
    ``batch_``: openai, or Groq and Azure OpenAI, whose ids look the same: name those yourself); None when
    the id does not tell (Mistral's are UUIDs)."""
    if batch_id.startswith("batches/"):
        return "gemini"
    if batch_id.startswith("msgbatch_"):
        return "anthropic"
    if batch_id.startswith("batch_"):
        return "openai"
    return None


def make_adapter(
    provider: str,
    api_base: str,
    api_key: str | None,
    *,
    headers: Mapping[str, str] | None = None,
    max_requests: int | None = None,
    max_bytes: int | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    model: str | None = None,
) -> Adapter:
    """The batch adapter of ``provider`` at ``api_base``; ``headers`` (with the key) replace the host's default.

    Limits default to the provider's documented ones (OpenAI: 50,000 requests / 200 MB per file;
    Anthropic: 100,000 requests / 256 MB per batch; Groq: 50,000 lines / 100 MB; Mistral: 1M requests;
    Gemini: 20 MB of inline requests). ``model``: Gemini's batches name it in the URL (needed to submit).
    """
    if provider not in SUPPORTED_PROVIDERS:
        raise unsupported(provider)
    if provider == "azure":
        return adapter_from_env(provider, api_base, api_key, headers=headers, max_requests=max_requests,
                                max_bytes=max_bytes, timeout=timeout)  # fmt: skip
    from ..routing import Route
    from ..routing import provider as host_of

    host = host_of(provider)
    if headers is None:
        route = Route(provider, host.protocol, "-", api_base, api_key, host)
        headers = {**host.headers(route), **host.key_headers(route)}
    hdrs = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    client = Client(provider, api_base, hdrs, (api_key,) if api_key else (), host.wire.error_message, timeout)
    limits: dict[str, Any] = {}
    if max_requests is not None:
        limits["max_requests"] = max_requests
    if max_bytes is not None:
        limits["max_bytes"] = max_bytes
    if provider in ("openai", "groq"):
        from ._openai import GROQ_MAX_BYTES, GROQ_MAX_REQUESTS, OpenAIBatches

        if provider == "groq":
            limits = {"max_requests": GROQ_MAX_REQUESTS, "max_bytes": GROQ_MAX_BYTES, **limits}
        return OpenAIBatches(client, provider=provider, **limits)
    if provider == "mistral":
        from ._mistral import MistralBatches

        return MistralBatches(client, **limits)
    if provider == "gemini":
        from ._gemini import GeminiBatches

        return GeminiBatches(client, model=model, **limits)
    from ._anthropic import AnthropicBatches

    return AnthropicBatches(client, **limits)


def adapter_for_call(call: Call, **kwargs: Any) -> Adapter:
    """The adapter that sends ``call``'s batch with the same base, credentials and extra headers as online."""
    r = call.route
    if r.provider == "azure":
        from ._azure import azure_batches

        return azure_batches(r, headers=call.request.headers, **kwargs)
    headers = {**call.request.headers, **call.host.key_headers(r)}
    if r.provider == "gemini":
        kwargs = {"model": r.model, **kwargs}
    return make_adapter(r.provider, r.api_base, r.api_key, headers=headers, **kwargs)


def adapter_from_env(
    provider: str,
    api_base: str | None = None,
    api_key: str | None = None,
    *,
    options: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> Adapter:
    """The adapter of ``provider``, base and credentials from the arguments (``options``: the provider's, e.g.
    ``api_version`` or ``azure_ad_token_provider``) or the usual environment variables."""
    if provider not in SUPPORTED_PROVIDERS:
        raise unsupported(provider)
    from ..routing import resolve

    route = resolve(f"{provider}/-", api_key=api_key, api_base=api_base, options=options)
    if provider == "azure":
        from ._azure import azure_batches

        return azure_batches(route, **{k: v for k, v in kwargs.items() if v is not None})
    return make_adapter(provider, route.api_base, route.api_key, **kwargs)
