"""Azure OpenAI (``azure/<deployment>``) and Azure AI Foundry model inference (``azure_ai/<model>``): hosts
that speak the OpenAI protocol, with Azure URLs and Azure credentials.

Azure OpenAI URLs, from the base (``api_base``, ``AZURE_API_BASE`` / ``AZURE_OPENAI_ENDPOINT``, e.g.
``https://my-resource.openai.azure.com``):

- ``{base}/openai/deployments/{deployment}/chat/completions?api-version={api_version}`` (the default);
- ``{base}/openai/v1/chat/completions`` (the v1 API, no dated version, the deployment goes in the
  body's ``model``) when ``api_version`` is ``"v1"``, ``"latest"`` or ``"preview"`` (sent as
  ``?api-version=preview``) or the base already ends with ``/openai/v1``.

``api_version`` comes from the call, else an ``api-version`` in a pasted base URL, else
``AZURE_API_VERSION`` / ``OPENAI_API_VERSION``, else :data:`DEFAULT_API_VERSION`. Credentials: the
``api-key`` header (``api_key``, ``AZURE_API_KEY`` / ``AZURE_OPENAI_API_KEY``) or a Microsoft Entra ID
bearer token (``azure_ad_token``, ``azure_ad_token_provider``, ``azure_credential``,
``AZURE_OPENAI_AD_TOKEN``, else ``DefaultAzureCredential`` with the ``azure`` extra), fetched and
refreshed off the event loop and asked for on every attempt; see :mod:`volley.auth.azure`.

Azure AI Foundry (``AZURE_AI_API_BASE``, key ``AZURE_AI_API_KEY``): ``https://<resource>.services.ai.azure.com``
(or ``.../models``) becomes ``{base}/models/chat/completions?api-version=2024-05-01-preview`` with the
``api-key`` header; a serverless or managed endpoint (``https://<name>.<region>.models.ai.azure.com``,
``.../v1``) gets ``{base}/chat/completions`` with ``Authorization: Bearer <key>``. The
``extra-parameters`` header is ``pass-through`` (parameters outside the model inference API reach the
model, as they would elsewhere) unless ``extra_parameters="drop"`` / ``"error"`` says otherwise.

Answers are the OpenAI protocol's, with Azure's content-filter results kept and a refused prompt raised
as ``ContentPolicyViolationError`` (see the Azure section of :mod:`volley.protocols.openai`).

Example::

    volley.completion("azure/gpt-4o-prod", messages, api_base="https://my-res.openai.azure.com",
                      api_version="2024-10-21")   # key from AZURE_API_KEY
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

from .. import masking
from ..errors import APIError, BadRequestError
from ._cloud import first_env, http_base, option_str
from .base import Provider, key_id
from .ratelimits import openai_style

if TYPE_CHECKING:
    from ..auth.azure import AzureAuth
    from ..routing import Route
    from ..transports.base import Request

__all__ = ["DEFAULT_API_VERSION", "AzureAI", "AzureOpenAI", "chat_url", "split_base"]

DEFAULT_API_VERSION = "2024-10-21"
"""The Azure OpenAI data-plane version used when none is given (the latest GA one with a dated path)."""
V1_VERSIONS = frozenset({"v1", "latest", "preview"})
"""``api_version`` values that select the ``/openai/v1/`` API."""
API_VERSION_ENV = ("AZURE_API_VERSION", "OPENAI_API_VERSION")

FOUNDRY_API_VERSION = "2024-05-01-preview"
"""The Azure AI model inference API version for ``{base}/models/...`` when none is given."""
FOUNDRY_HOSTS = (".services.ai.azure.com", ".cognitiveservices.azure.com")
EXTRA_PARAMETERS = ("pass-through", "drop", "error")

CREDENTIAL_OPTIONS = frozenset({"azure_ad_token", "azure_ad_token_provider", "azure_credential", "azure_scope"})
"""The Entra ID options (LiteLLM's and the openai SDK's names, ``volley.auth.azure.TOKEN_OPTIONS``), plus the
token scope."""


def split_base(base: str) -> tuple[str, bool, str | None]:
    """An Azure OpenAI base → ``(resource root, is_v1, api-version found in it)``.

    Accepts the resource root, ``.../openai``, ``.../openai/v1`` or a whole pasted endpoint URL.

    >>> split_base("https://r.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-06-01")
    ('https://r.openai.azure.com', False, '2024-06-01')
    """
    parts = urlsplit(base)
    versions = parse_qs(parts.query).get("api-version")
    version = versions[0] if versions else None
    path = parts.path.rstrip("/").removesuffix("/chat/completions")
    v1 = False
    cut = path.find("/openai/deployments")
    if cut >= 0:
        path = path[:cut]
    elif path.endswith("/openai/v1"):
        path, v1 = path[: -len("/openai/v1")], True
    elif path.endswith("/openai"):
        path = path[: -len("/openai")]
    return urlunsplit((parts.scheme, parts.netloc, path, "", "")), v1, version


def chat_url(root: str, deployment: str, api_version: str) -> str:
    """The chat-completions URL of ``deployment`` under a resource ``root`` for ``api_version``.

    Example: ``chat_url("https://r.openai.azure.com", "gpt4o", "2024-10-21")``
    """
    if api_version in V1_VERSIONS:
        query = "?api-version=preview" if api_version == "preview" else ""
        return f"{root}/openai/v1/chat/completions{query}"
    return f"{root}/openai/deployments/{quote(deployment, safe='')}/chat/completions?api-version={quote(api_version)}"


class _Azure(Provider):
    """What both Azure hosts share: an explicit-or-environment key weighed against Entra ID tokens in
    :meth:`bind`, the credential asked for on every attempt, Azure's errors and rate-limit headers."""

    example = ""
    key_header = "api-key"
    secret_env = ("AZURE_OPENAI_AD_TOKEN", "AZURE_AD_TOKEN")

    def key(self, api_key: str | None, model: str) -> str | None:
        """Only an explicit ``api_key`` here: the environment's key comes after the explicit token options."""
        return api_key

    def credential(self, route: Route) -> AzureAuth:
        """The route's credential (``api_key`` > token options > environment key > environment token >
        ``DefaultAzureCredential``); raises ``BadRequestError`` for two explicit ones."""
        from ..auth.azure import azure_auth

        creds = azure_auth(route.options, api_key=route.api_key, key_env=self.key_env, provider=self.name)
        creds.key_header = self.key_header_of(route)
        return creds

    def key_header_of(self, route: Route) -> str:
        return self.key_header

    def bind(self, route: Route) -> Route:
        creds = self.credential(route)
        return dataclasses.replace(route, api_key=creds.api_key, credential=creds)

    def headers(self, route: Route) -> dict[str, str]:
        return {"Content-Type": "application/json"}

    async def auth(self, request: Request, route: Route) -> dict[str, str]:
        """``api-key: <key>`` or ``Authorization: Bearer <Entra ID token>`` for this attempt (a token
        near expiry is refreshed first, in a thread; a token provider is asked again)."""
        creds: AzureAuth = route.credential if route.credential is not None else self.credential(route)
        await creds.prepare()
        headers = creds.headers()
        masking.register(*creds.secrets())
        return headers

    def account(self, route: Route) -> str | None:
        """The key's id; a static token's fingerprint; None for a token provider or credential object."""
        if route.api_key or route.credential is None:
            return key_id(route.api_key)
        identity = route.credential.identity
        return identity[:16] if identity else None

    def error(self, status: int, headers: Mapping[str, str], body: bytes, route: Route) -> APIError:
        """OpenAI's error mapping, plus Azure's content-filter 400 → ``ContentPolicyViolationError``."""
        from ..protocols import openai as wire

        return wire.error_from_response(
            status, headers, body, provider=route.provider, model=route.model, secrets=self.secrets(route)
        )


class AzureOpenAI(_Azure):
    """Azure OpenAI Service: ``azure/<deployment name>``."""

    example = "https://<resource>.openai.azure.com"

    def __init__(self) -> None:
        super().__init__(
            "azure",
            "openai",
            key_env=("AZURE_API_KEY", "AZURE_OPENAI_API_KEY"),
            base_env=("AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT"),
            key_required=False,
            rate_limits=openai_style,
            options=frozenset({"api_version", *CREDENTIAL_OPTIONS}),
        )

    def base(self, api_base: str | None, options: Mapping[str, Any]) -> str:
        """The resource root; ``options["api_version"]`` is set to the version in use (``"v1"`` for the v1 API)."""
        base = http_base(api_base or first_env(self.base_env), self.name, self.example)
        root, v1, url_version = split_base(base)
        given = option_str(options, "api_version", self.name)
        if v1:
            if given is not None and given not in V1_VERSIONS:
                raise BadRequestError(
                    f"api_base {base!r} is the v1 API, which takes no dated api_version; got api_version={given!r} "
                    "(drop it, or give the resource root as api_base)",
                    provider=self.name,
                )
            version = given or "v1"
        else:
            version = given or url_version or first_env(API_VERSION_ENV) or DEFAULT_API_VERSION
        _set(options, "api_version", version)
        return root

    def url(self, route: Route, *, stream: bool) -> str:
        if not route.model:
            raise BadRequestError("azure needs a deployment name: model='azure/<deployment>'", provider=self.name)
        return chat_url(route.api_base, route.model, str(route.options.get("api_version") or DEFAULT_API_VERSION))


class AzureAI(_Azure):
    """Azure AI Foundry model inference (Mistral, Llama, DeepSeek, Phi ... in Foundry): ``azure_ai/<model>``."""

    example = "https://<resource>.services.ai.azure.com/models"

    def __init__(self) -> None:
        super().__init__(
            "azure_ai",
            "openai",
            key_env=("AZURE_AI_API_KEY",),
            base_env=("AZURE_AI_API_BASE",),
            key_required=False,
            rate_limits=openai_style,
            options=frozenset({"api_version", "extra_parameters", *CREDENTIAL_OPTIONS}),
        )

    def base(self, api_base: str | None, options: Mapping[str, Any]) -> str:
        """``.../models`` for a Foundry resource (``options["api_version"]`` defaults to
        :data:`FOUNDRY_API_VERSION` there), the endpoint as given for a serverless or managed one."""
        base = http_base(api_base or first_env(self.base_env), self.name, self.example)
        parts = urlsplit(base)
        path = parts.path.rstrip("/").removesuffix("/chat/completions")
        host = parts.netloc.lower().rsplit("@", 1)[-1].split(":")[0]
        if not path and host.endswith(FOUNDRY_HOSTS):
            path = "/models"
        given = option_str(options, "api_version", self.name)
        version = given or (FOUNDRY_API_VERSION if path.endswith("/models") else None)
        if version is not None:
            _set(options, "api_version", version)
        mode = option_str(options, "extra_parameters", self.name)
        if mode is not None and mode not in EXTRA_PARAMETERS:
            raise BadRequestError(f"extra_parameters must be one of {', '.join(EXTRA_PARAMETERS)}; got {mode!r}",
                                  provider=self.name)  # fmt: skip
        return urlunsplit((parts.scheme, parts.netloc, path, "", ""))

    def key_header_of(self, route: Route) -> str:
        """``api-key`` for a Foundry resource's ``/models`` API, a bearer for serverless and managed endpoints."""
        return "api-key" if route.api_base.endswith("/models") else "Authorization"

    def url(self, route: Route, *, stream: bool) -> str:
        version = route.options.get("api_version")
        return f"{route.api_base}/chat/completions" + (f"?api-version={quote(str(version))}" if version else "")

    def headers(self, route: Route) -> dict[str, str]:
        """``extra-parameters``: the caller's choice, else ``pass-through`` (the API refuses fields it does not
        define by default, ``stream_options`` among them)."""
        mode = route.options.get("extra_parameters") or "pass-through"
        return {"Content-Type": "application/json", "extra-parameters": str(mode)}


def _set(options: Mapping[str, Any], name: str, value: Any) -> None:
    """Normalise an option in the route's own copy of the options (``Provider.base`` gets that copy)."""
    if isinstance(options, dict):
        options[name] = value
