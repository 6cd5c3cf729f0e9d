"""Model names → a :class:`Route`: the host (a registered ``Provider``), its protocol, the model, base and key.

``"provider/model"`` picks the provider; a bare name is inferred from the prefixes the registered
hosts claim (``gpt-`` → openai, ``claude`` → anthropic, ...). Keys and bases come from the call's
``api_key`` / ``api_base`` first, then from the host's environment variables; the host then binds the
route (``Provider.bind``: its typed options normalised, its credential resolved once per route).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import providers as registry
from .errors import BadRequestError
from .providers.base import key_id

if TYPE_CHECKING:
    from .providers.base import Provider


@dataclass(frozen=True, slots=True)
class Route:
    """A resolved model: where and how to send it. The key is hidden from repr.

    ``host`` is the provider object; ``options`` its typed options from the call (``api_version``...);
    ``credential`` what the host resolved to authenticate (a SigV4 signer, a token source; None for a
    plain key), built once per route by ``Provider.bind`` and used on every attempt.
    """

    provider: str
    protocol: str
    model: str
    api_base: str
    api_key: str | None = field(default=None, repr=False)
    host: Provider | None = field(default=None, repr=False, compare=False)
    options: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    credential: Any = field(default=None, repr=False, compare=False)

    @property
    def lane(self) -> tuple[str, str, str, str]:
        """What limits are shared by: provider, api_base, model and the account (:attr:`account`)."""
        return (self.provider, self.api_base, self.model, self.account)

    @property
    def account(self) -> str:
        """A short, non-reversible name of the account the call is made as (``Provider.account``):
        the key's :func:`key_id`, or the credential's identity; "" when there is none or it is unknown."""
        if self.host is None:
            return key_id(self.api_key)
        return self.host.account(self) or ""

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"


def find(model: str) -> tuple[Provider, str]:
    """``"groq/llama-3"`` → ``(<Provider groq>, "llama-3")``; bare names are inferred. Raises for unknown ones."""
    if not isinstance(model, str) or not model.strip():
        raise BadRequestError(f"model must be a non-empty string, got {model!r}")
    head, sep, rest = model.partition("/")
    host = registry.get_provider(head) if sep else None
    if host is not None:
        if not rest:
            raise BadRequestError(f"model {model!r} names a provider but no model")
        return host.variant(rest), rest
    inferred = registry.infer(model)
    if inferred is not None:
        return inferred.variant(model), model
    known = ", ".join(registry.provider_names())
    if sep:
        raise BadRequestError(
            f"unknown provider {head!r} in model {model!r}; known providers: {known}. A host with an "
            f"OpenAI-compatible API is 'openai/<model>' with api_base='<its URL>' (or volley.register_provider)"
        )
    raise BadRequestError(
        f"cannot infer the provider of model {model!r}; write it as 'provider/model' (known providers: {known})"
    )


def split_model(model: str) -> tuple[str, str]:
    """``"groq/llama-3"`` → ``("groq", "llama-3")``; bare names are inferred. Raises for unknown providers."""
    host, name = find(model)
    return host.name, name


def resolve(
    model: str, api_key: str | None = None, api_base: str | None = None, options: Mapping[str, Any] | None = None
) -> Route:
    """Resolve a model name plus optional overrides into a :class:`Route`, or raise before any request.

    Example::

        route = resolve("groq/llama-3.3-70b-versatile")   # key from GROQ_API_KEY
        route.api_base                                    # 'https://api.groq.com/openai/v1'
    """
    host, name = find(model)
    opts = dict(options or {})
    base = host.base(api_base, opts)
    key = host.key(api_key, name)
    return host.bind(Route(host.name, host.protocol, name, base, key, host, opts))


def provider(name: str) -> Provider:
    """The registered provider called ``name``; raises ``BadRequestError`` listing the known ones."""
    host = registry.get_provider(name)
    if host is None:
        raise BadRequestError(f"unknown provider {name!r}; known providers: {', '.join(registry.provider_names())}")
    return host
