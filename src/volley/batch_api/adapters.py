"""Which providers have a batch API here, and the adapter that speaks each one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._http import DEFAULT_TIMEOUT, Client
from ._types import Adapter
from .errors import BatchModeUnsupportedError

if TYPE_CHECKING:
    from ..prepare import Call

SUPPORTED_PROVIDERS = ("openai", "anthropic", "groq", "mistral")
"""Providers whose batch API volley speaks: OpenAI Batch, Anthropic Message Batches, Groq's batch API
(OpenAI's format) and Mistral batch jobs."""


def unsupported(provider: str) -> BatchModeUnsupportedError:
    """The error for a provider without batch support (raised before any request)."""
    return BatchModeUnsupportedError(
        f"provider {provider!r} has no batch API in volley; mode='batch_api' works with "
        f"{', '.join(SUPPORTED_PROVIDERS)} (use online mode for {provider})",
        provider=provider,
    )


def provider_of(batch_id: str) -> str | None:
    """The provider an id belongs to, by its prefix (``msgbatch_``: anthropic, ``batch_``: openai, or Groq,
    whose ids look the same); None when the id does not tell (Mistral's are UUIDs)."""
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
) -> Adapter:
    """The batch adapter of ``provider`` at ``api_base``; ``headers`` (with the key) replace the host's default.

    Limits default to the provider's documented ones (OpenAI: 50,000 requests / 200 MB per file;
    Anthropic: 100,000 requests / 256 MB per batch; Groq: 50,000 lines / 100 MB; Mistral: 1M requests).
    """
    if provider not in SUPPORTED_PROVIDERS:
        raise unsupported(provider)
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
    from ._anthropic import AnthropicBatches

    return AnthropicBatches(client, **limits)


def adapter_for_call(call: Call, **kwargs: Any) -> Adapter:
    """The adapter that sends ``call``'s batch with the same base, key and extra headers as online."""
    r = call.route
    headers = {**call.request.headers, **call.host.key_headers(r)}
    return make_adapter(r.provider, r.api_base, r.api_key, headers=headers, **kwargs)


def adapter_from_env(provider: str, api_base: str | None = None, api_key: str | None = None, **kwargs: Any) -> Adapter:
    """The adapter of ``provider``, base and key from the arguments or the usual environment variables."""
    if provider not in SUPPORTED_PROVIDERS:
        raise unsupported(provider)
    from ..routing import resolve

    route = resolve(f"{provider}/-", api_key=api_key, api_base=api_base)
    return make_adapter(provider, route.api_base, route.api_key, **kwargs)
