"""A host: where a model's requests go and how they authenticate; the wire format is its protocol's.

A :class:`Provider` owns its name, its protocol (``volley.protocols.<name>``), its URL building, the
credentials it adds on *every attempt* (an API-key header, a SigV4 signature with a fresh date, an
OAuth token refreshed before it expires), its stream framing, how it reads its rate-limit headers
into a neutral :class:`RateInfo`, and its typed options (``api_version``, ``region`` ...). The
built-in hosts are registered the same way a plugin's are (``volley.register_provider``).

An OpenAI-compatible host is one instance::

    volley.register_provider(volley.Provider(
        "acme", "openai", default_base="https://api.acme.ai/v1", key_env=("ACME_API_KEY",)))
    volley.completion("acme/acme-large", [{"role": "user", "content": "hi"}])

A host with quirks subclasses it and overrides :meth:`Provider.url`, :meth:`Provider.auth`, ...
A host whose credentials are more than a key (AWS SigV4, Entra ID or Google OAuth tokens) resolves
them once per route in :meth:`Provider.bind` (into ``route.credential``) and turns them into headers
in :meth:`Provider.auth`, on every attempt; :meth:`Provider.account` names the account for lanes and
``cache_scope="key"``. A host that speaks several protocols (Vertex AI: Gemini, Claude, OpenAI-compatible)
returns, from :meth:`Provider.variant`, the provider object that serves one model.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..engine.limits import RateInfo
from ..errors import APIError, AuthenticationError, BadRequestError, error_from_status
from ..protocols import get_protocol

if TYPE_CHECKING:
    from ..protocols.base import ProtocolModule
    from ..routing import Route
    from ..transports.base import Request


RateReader = Callable[[Mapping[str, str]], RateInfo | None]

__all__ = ["Provider", "RateInfo", "RateReader", "key_id"]


def key_id(api_key: str | None) -> str:
    """A short, non-reversible name for an API key (8 hex digits of its SHA-256); "" without a key.

    Lanes are per account: one key's 429 does not slow calls made with another key.
    """
    if not api_key:
        return ""
    return hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).hexdigest()[:8]


class Provider:
    """One host (see the module docstring). Arguments:

    ``name`` the routing prefix (``"groq"`` in ``"groq/llama-3.3-70b"``); ``protocol`` the registered
    wire format; ``default_base`` (None: the caller must give ``api_base``); ``key_env`` /
    ``base_env`` the environment variables read for the key and the base, in order;
    ``key_required``; ``infer`` bare-name prefixes routed here (``("claude",)``); ``framing`` of its
    streams; ``transport`` (``"http"``, ``"local"``); ``rate_limits`` a reader of its rate-limit
    headers; ``options`` the provider-specific keyword arguments it takes; ``auth_header`` overrides
    the protocol's key header as ``(name, "format with {key}")``; ``aliases`` other prefixes.
    ``secret_env`` (a class attribute) names other environment variables that hold a credential (an
    AWS secret key, an Entra ID token): the CLI masks their values too.
    """

    secret_env: tuple[str, ...] = ()

    def __init__(
        self,
        name: str,
        protocol: str,
        *,
        default_base: str | None = None,
        key_env: tuple[str, ...] = (),
        base_env: tuple[str, ...] = (),
        key_required: bool = True,
        infer: tuple[str, ...] = (),
        framing: str = "sse",
        transport: str = "http",
        rate_limits: RateReader | None = None,
        options: frozenset[str] = frozenset(),
        auth_header: tuple[str, str] | None = None,
        aliases: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.protocol = protocol
        self.default_base = default_base
        self.key_env = key_env
        self.base_env = base_env
        self.key_required = key_required
        self.infer = infer
        self.framing = framing
        self.transport = transport
        self.rate_limits = rate_limits
        self.options = options
        self.auth_header = auth_header
        self.aliases = aliases

    def __repr__(self) -> str:
        return f"<Provider {self.name} ({self.protocol})>"

    # ------------------------------------------------------------------ routing

    def matches(self, model: str) -> bool:
        """Whether a bare model name (no ``provider/``) belongs to this host."""
        return any(model.startswith(p) for p in self.infer)

    def variant(self, model: str) -> Provider:
        """The provider object that serves ``model`` (this one; a multi-protocol host returns one per protocol)."""
        return self

    def base(self, api_base: str | None, options: Mapping[str, Any]) -> str:
        """The base URL: ``api_base``, else the first ``base_env`` set, else ``default_base``. ``options`` is
        the route's own copy: a host may normalise it here (Azure records the ``api_version`` in use)."""
        base = api_base or _first_env(self.base_env) or self.default_base
        if not base:
            envs = " or ".join(self.base_env) or "api_base"
            raise BadRequestError(f"provider {self.name!r} needs api_base= (or {envs})", provider=self.name)
        return base.rstrip("/")

    def key(self, api_key: str | None, model: str) -> str | None:
        """The API key: ``api_key``, else the first ``key_env`` set; raises when required and missing."""
        key = api_key or _first_env(self.key_env)
        if not key and self.key_required:
            envs = " or ".join(self.key_env)
            raise AuthenticationError(
                f"no API key for {self.name}: pass api_key= or set {envs}", provider=self.name, model=model
            )
        return key

    def bind(self, route: Route) -> Route:
        """The route ready to send: options normalised and the credential resolved, once per route
        (``dataclasses.replace(route, credential=...)``); raises before any request when one is wrong."""
        return route

    def account(self, route: Route) -> str | None:
        """A short, non-reversible name of the account ``route`` authenticates as (lanes, ``cache_scope="key"``):
        the key's :func:`key_id` by default, "" without credentials, None when the identity cannot be known
        before sending (a token provider)."""
        return key_id(route.api_key)

    def check(self, route: Route, params: dict[str, Any]) -> None:
        """Refuse, before anything is sent, what is bound to fail (a missing extra, a missing file)."""

    # ------------------------------------------------------------------ requests

    @property
    def wire(self) -> ProtocolModule:
        """The protocol module."""

        return get_protocol(self.protocol)

    def url(self, route: Route, *, stream: bool) -> str:
        """The endpoint of one request (the protocol's path under the base, by default)."""
        return self.wire.url(route.api_base, route.model, stream=stream)

    def prepare_body(self, body: dict[str, Any], route: Route, *, stream: bool) -> dict[str, Any]:
        """Host tweaks to the protocol's body (e.g. Anthropic on Vertex moves ``model`` to the URL)."""
        return body

    def headers(self, route: Route) -> dict[str, str]:
        """Headers every request carries (the protocol's), before ``extra_headers``; never credentials."""
        return {"Content-Type": "application/json", **self.wire.HEADERS}

    async def auth(self, request: Request, route: Route) -> dict[str, str]:
        """The credential headers of one attempt (called again on every retry): the key header by default."""
        return self.key_headers(route)

    def key_headers(self, route: Route) -> dict[str, str]:
        """The header that carries the API key (the protocol's, or ``auth_header``); empty without a key."""
        header, fmt = self.auth_header or self.wire.AUTH
        if not header or not route.api_key:
            return {}
        return {header: fmt.format(key=route.api_key)}

    def secrets(self, route: Route) -> tuple[str, ...]:
        """Values to mask wherever volley writes text: the key, and what the route's credential holds (tokens)."""
        found = [route.api_key] if route.api_key else []
        if route.credential is not None:
            found.extend(s for s in route.credential.secrets() if s not in found)
        return tuple(found)

    # ------------------------------------------------------------------ answers

    def rate_info(self, headers: Mapping[str, str]) -> RateInfo | None:
        """What the response headers say about the rate limits (None: nothing)."""
        return self.rate_limits(headers) if self.rate_limits is not None and headers else None

    def error(self, status: int, headers: Mapping[str, str], body: bytes, route: Route) -> APIError:
        """The typed error of an HTTP error answer (the protocol reads the message from the body)."""
        return error_from_status(
            status, self.wire.error_message(status, body), headers=headers, body=body,
            provider=route.provider, model=route.model, secrets=self.secrets(route),
        )  # fmt: skip


def _first_env(names: tuple[str, ...]) -> str | None:
    for n in names:
        v = os.environ.get(n)
        if v:
            return v
    return None
