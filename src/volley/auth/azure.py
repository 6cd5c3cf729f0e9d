"""Microsoft Entra ID (Azure AD) bearer tokens for Azure OpenAI and Azure AI Foundry.

Which credential a call uses, first match wins (keys and tokens never mix: passing two of the
explicit ones is an error):

1. ``api_key=`` → the ``api-key`` header (no token here: :func:`azure_auth` returns no source);
2. ``azure_ad_token=`` → that token, as is; ``azure_ad_token_provider=`` → a function returning a
   token, asked again before an attempt once its last answer is 15 s old (the openai SDK's and
   LiteLLM's names; ``azure.identity.get_bearer_token_provider`` makes one); ``azure_credential=`` →
   an ``azure.identity`` credential object, asked for a token for ``azure_scope`` and refreshed
   before expiry;
3. ``AZURE_API_KEY`` / ``AZURE_OPENAI_API_KEY`` in the environment → the ``api-key`` header;
4. ``AZURE_OPENAI_AD_TOKEN`` / ``AZURE_AD_TOKEN`` → that token;
5. ``azure.identity.DefaultAzureCredential`` (environment service principal, workload or managed
   identity, Azure CLI ...) when the ``azure`` extra is installed: ``pip install 'volley-llm[azure]'``.

azure-identity is imported only in cases 2 (credential objects) and 5. The token source of a credential
object, and the default credential's, are shared by every call that names them (one token fetch for a
loop of calls, refreshed before it expires).

Example::

    auth = azure_auth({"azure_credential": DefaultAzureCredential()}, environ={})
    await auth.prepare()
    auth.headers()  # {"Authorization": "Bearer eyJ0..."}
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import APIConnectionError, APIError, AuthenticationError, BadRequestError
from .reuse import Reuse, fingerprint
from .tokens import CallableToken, RefreshingToken, StaticToken, TokenSource

SCOPE = "https://cognitiveservices.azure.com/.default"
"""The Entra ID scope of Azure OpenAI and Azure AI Foundry (Cognitive Services)."""

KEY_ENV = ("AZURE_API_KEY", "AZURE_OPENAI_API_KEY")
TOKEN_ENV = ("AZURE_OPENAI_AD_TOKEN", "AZURE_AD_TOKEN")
TOKEN_OPTIONS = ("azure_ad_token", "azure_ad_token_provider", "azure_credential")
EXTRA_HINT = "pip install 'volley-llm[azure]'"

_SOURCES: Reuse[TokenSource] = Reuse()


class EntraToken(RefreshingToken):
    """Tokens from an ``azure.identity`` credential (``get_token(scope)``), refreshed before expiry in a thread.

    ``credential=None`` builds ``DefaultAzureCredential()`` on first use.

    Example: ``EntraToken(ClientSecretCredential(tenant, client_id, secret)).token()``
    """

    what = "Microsoft Entra ID token"

    def __init__(self, credential: Any = None, *, scope: str = SCOPE, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if credential is not None:
            check_credential(credential)
        self._credential = credential
        self.scope = scope

    def _fetch(self) -> tuple[str, float | None]:
        if self._credential is None:
            self._credential = default_credential()
        access = self._credential.get_token(self.scope)
        expires = getattr(access, "expires_on", None)
        return access.token, float(expires) if expires else None

    def _error(self, exc: BaseException) -> APIError:
        kind = type(exc).__name__
        # azure-core: the identity endpoint could not be reached (worth a retry) vs a refused credential
        if kind in ("ServiceRequestError", "ServiceResponseError", "ServiceRequestTimeoutError"):
            return APIConnectionError(f"could not reach Microsoft Entra ID for a token: {kind}: {exc}")
        return AuthenticationError(f"could not get a Microsoft Entra ID token for {self.scope}: {kind}: {exc}")


def check_credential(credential: Any) -> None:
    """Refuse what is not a synchronous azure-identity credential, before any request."""
    get_token = getattr(credential, "get_token", None)
    if not callable(get_token):
        raise BadRequestError(
            f"azure_credential must be an azure.identity credential (with get_token); got {type(credential).__name__}"
        )
    if inspect.iscoroutinefunction(get_token):
        raise BadRequestError(
            "azure_credential is an async credential (azure.identity.aio); pass the synchronous one from "
            "azure.identity: volley refreshes it in a thread"
        )


def default_credential() -> Any:
    """``azure.identity.DefaultAzureCredential()``, or a clear error when azure-identity is missing."""
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError:
        raise AuthenticationError(f"Microsoft Entra ID authentication needs azure-identity: {EXTRA_HINT}") from None
    return DefaultAzureCredential()


def identity_installed() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("azure.identity") is not None
    except (ImportError, ValueError):
        return False


@dataclass(slots=True)
class AzureAuth:
    """A resolved Azure credential: an ``api_key`` or a token ``source`` (one of them)."""

    api_key: str | None = field(default=None, repr=False)
    source: TokenSource | None = None
    key_header: str = "api-key"  # where the key goes: "api-key", or "Authorization" (as a bearer)

    async def prepare(self) -> None:
        """Await before every attempt: refreshes an expiring token off the event loop."""
        if self.source is not None:
            await self.source.prepare()

    def headers(self) -> dict[str, str]:
        """The credential header of one attempt: ``Authorization: Bearer <token>`` or the key in ``key_header``."""
        if self.source is not None:
            return {"Authorization": f"Bearer {self.source.token()}"}
        if self.key_header.lower() == "authorization":
            return {"Authorization": f"Bearer {self.api_key}"}
        return {self.key_header: str(self.api_key)}

    def secrets(self) -> tuple[str, ...]:
        """Every secret value in use (for scrubbing error messages)."""
        return tuple(s for s in (self.api_key, *(self.source.secrets() if self.source else ())) if s)

    @property
    def kind(self) -> str:
        return "api-key" if self.source is None else "entra-id"

    @property
    def identity(self) -> str | None:
        """Whose credential this is, known before sending: the key's or a static token's fingerprint; None
        for a token provider or credential object (the identity is the identity service's to say)."""
        if self.source is None:
            return fingerprint("azure-key", self.api_key)
        if isinstance(self.source, StaticToken):
            return fingerprint("azure-token", self.source.token())
        return None


def azure_auth(
    options: Mapping[str, Any],
    *,
    api_key: str | None = None,
    key_env: tuple[str, ...] = KEY_ENV,
    provider: str = "azure",
    environ: Mapping[str, str] | None = None,
) -> AzureAuth:
    """Resolve the credential of an Azure call (order in the module docstring); raises before any request.

    Example: ``azure_auth({}, api_key="abc").headers()  # {"api-key": "abc"}``
    """
    env = os.environ if environ is None else environ
    given = [n for n in TOKEN_OPTIONS if options.get(n) is not None]
    if api_key:
        given.insert(0, "api_key")
    if len(given) > 1:
        raise BadRequestError(f"pass only one of api_key, {', '.join(TOKEN_OPTIONS)}; got {', '.join(given)}",
                              provider=provider)  # fmt: skip
    scope = options.get("azure_scope") or SCOPE
    if not isinstance(scope, str):
        raise BadRequestError(f"azure_scope must be a string; got {scope!r}", provider=provider)
    if api_key:
        return AzureAuth(api_key=api_key)
    if options.get("azure_ad_token") is not None:
        return AzureAuth(source=StaticToken(options["azure_ad_token"], what="azure_ad_token"))
    if options.get("azure_ad_token_provider") is not None:
        return AzureAuth(source=CallableToken(options["azure_ad_token_provider"], what="azure_ad_token_provider"))
    if options.get("azure_credential") is not None:
        credential = options["azure_credential"]
        check_credential(credential)
        made = _SOURCES.get(("credential", id(credential), scope), lambda: EntraToken(credential, scope=scope))
        return AzureAuth(source=made)
    for name in key_env:
        if env.get(name):
            return AzureAuth(api_key=env[name])
    for name in TOKEN_ENV:
        if env.get(name):
            return AzureAuth(source=StaticToken(env[name], what=name))
    if identity_installed():
        return AzureAuth(source=_SOURCES.get(("default", scope), lambda: EntraToken(None, scope=scope)))
    raise AuthenticationError(
        f"no credentials for {provider}: pass api_key= or set {' or '.join(key_env)}; or pass azure_ad_token=, "
        f"azure_ad_token_provider= or azure_credential=; or {EXTRA_HINT} to use Microsoft Entra ID "
        "(DefaultAzureCredential)",
        provider=provider,
    )
