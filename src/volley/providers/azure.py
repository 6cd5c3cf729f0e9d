"""Azure OpenAI (``azure/<deployment>``) and Azure AI Foundry model inference (``azure_ai/<model>``): hosts
that speak the OpenAI protocol, with Azure URLs and Azure credentials.

Azure OpenAI URLs, from the base (``AZURE_API_BASE`` / ``AZURE_OPENAI_ENDPOINT``, e.g.
``https://my-resource.openai.azure.com``):

- ``{base}/openai/deployments/{deployment}/chat/completions?api-version={api_version}`` (the default);
- ``{base}/openai/v1/chat/completions`` (the v1 API, no dated version, the deployment goes in the
  body's ``model``) when ``api_version`` is ``"v1"``, ``"latest"`` or ``"preview"`` (sent as
  ``?api-version=preview``) or the base already ends with ``/openai/v1``.

``api_version`` comes from the call, else an ``api-version`` in a pasted base URL, else
``AZURE_API_VERSION`` / ``OPENAI_API_VERSION``, else :data:`DEFAULT_API_VERSION`. Credentials: the
``api-key`` header or a Microsoft Entra ID bearer token, see :mod:`volley.auth.azure`.

Azure AI Foundry (``AZURE_AI_API_BASE``, key ``AZURE_AI_API_KEY``): ``https://<resource>.services.ai.azure.com``
(or ``.../models``) becomes ``{base}/models/chat/completions?api-version=2024-05-01-preview`` with the
``api-key`` header; a serverless or managed endpoint (``https://<name>.<region>.models.ai.azure.com``,
``.../v1``) gets ``{base}/chat/completions`` with ``Authorization: Bearer <key>``.

Example::

    p = AzureOpenAI()
    setup = p.resolve(api_key="...", api_base="https://res.openai.azure.com", options={"api_version": "2024-10-21"})
    p.url(setup.base, "gpt-4o-prod", stream=False, options=setup.options)
    # https://res.openai.azure.com/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

from ..auth.azure import TOKEN_OPTIONS, AzureAuth, azure_auth
from ..errors import BadRequestError
from ._setup import Setup, first_env, http_base, option_str

DEFAULT_API_VERSION = "2024-10-21"
"""The Azure OpenAI data-plane version used when none is given (the latest GA one with a dated path)."""
V1_VERSIONS = frozenset({"v1", "latest", "preview"})
"""``api_version`` values that select the ``/openai/v1/`` API."""
API_VERSION_ENV = ("AZURE_API_VERSION", "OPENAI_API_VERSION")

FOUNDRY_API_VERSION = "2024-05-01-preview"
"""The Azure AI model inference API version for ``{base}/models/...`` when none is given."""
FOUNDRY_HOSTS = (".services.ai.azure.com", ".cognitiveservices.azure.com")
FOUNDRY_PARAMS = frozenset(
    {
        "messages", "model", "stream", "frequency_penalty", "presence_penalty", "temperature", "top_p",
        "max_tokens", "response_format", "stop", "tools", "tool_choice", "seed", "modalities",
    }
)  # fmt: skip
"""The body fields of the Azure AI model inference API; with any other, ``extra-parameters: pass-through``
is sent (the service refuses extra fields by default)."""

_TOKEN_OPTIONS = frozenset({"azure_ad_token", "azure_ad_token_provider", "azure_credential", "azure_scope"})


def _public(options: dict[str, Any]) -> dict[str, Any]:
    """The options without the credential ones (they live in the credential object, never in a repr)."""
    return {k: v for k, v in options.items() if k not in TOKEN_OPTIONS}


def split_base(base: str) -> tuple[str, bool, str | None]:
    """An Azure OpenAI base → ``(resource root, is_v1, api-version found in it)``.

    Accepts the resource root, ``.../openai``, ``.../openai/v1`` or a whole pasted endpoint URL.

    >>> split_base("https://r.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-06-01")
    ('https://r.openai.azure.com', False, '2024-06-01')
    """
    parts = urlsplit(base)
    version = (parse_qs(parts.query).get("api-version") or [None])[0]
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
    """The chat-completions URL of ``deployment`` under a resource ``root`` for ``api_version``."""
    if api_version in V1_VERSIONS:
        query = "?api-version=preview" if api_version == "preview" else ""
        return f"{root}/openai/v1/chat/completions{query}"
    return f"{root}/openai/deployments/{quote(deployment, safe='')}/chat/completions?api-version={quote(api_version)}"


class AzureOpenAI:
    """Azure OpenAI Service: ``azure/<deployment name>``."""

    name = "azure"
    protocol = "openai"
    default_base: str | None = None
    key_env = ("AZURE_API_KEY", "AZURE_OPENAI_API_KEY")
    base_env = ("AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT")
    key_required = False  # Entra ID tokens instead of a key
    framing = "sse"
    credential_headers = frozenset({"api-key", "authorization"})
    options = frozenset({"api_version", *_TOKEN_OPTIONS})
    example_base = "https://<resource>.openai.azure.com"

    def resolve(
        self,
        *,
        api_key: str | None = None,
        api_base: str | None = None,
        options: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Setup:
        """Base, ``api_version`` and credential of a call; raises before any request when one is missing."""
        env = os.environ if environ is None else environ
        opts = dict(options or {})
        base = http_base(api_base or first_env(env, self.base_env), self.name, self.example_base)
        root, v1, url_version = split_base(base)
        given = option_str(opts, "api_version", self.name)
        if v1:
            if given is not None and given not in V1_VERSIONS:
                raise BadRequestError(
                    f"api_base {base!r} is the v1 API, which takes no dated api_version; got api_version={given!r} "
                    "(drop it, or give the resource root as api_base)",
                    provider=self.name,
                )
            version = given or "v1"
        else:
            version = given or url_version or first_env(env, API_VERSION_ENV) or DEFAULT_API_VERSION
        opts["api_version"] = version
        creds = azure_auth(opts, api_key=api_key, key_env=self.key_env, provider=self.name, environ=env)
        return Setup(root, _public(opts), creds)

    def url(self, base: str, model: str, *, stream: bool, options: Mapping[str, Any]) -> str:
        if not model or not isinstance(model, str):
            raise BadRequestError("azure needs a deployment name: model='azure/<deployment>'", provider=self.name)
        return chat_url(base, model, str(options.get("api_version") or DEFAULT_API_VERSION))

    def prepare_body(self, body: dict[str, Any], model: str, *, stream: bool, options: Mapping[str, Any]) -> dict:
        """The OpenAI body as is: ``model`` is the deployment (required by the v1 API, ignored by the other)."""
        return body

    def headers(self, body: Mapping[str, Any], model: str, *, options: Mapping[str, Any]) -> dict[str, str]:
        """Non-secret headers of every request (none for Azure OpenAI)."""
        return {}

    def auth(self, request: Any, credentials: AzureAuth) -> dict[str, str]:
        """``api-key: <key>`` or ``Authorization: Bearer <Entra ID token>``, per attempt."""
        return credentials.headers()


class AzureAI:
    """Azure AI Foundry model inference (Mistral, Llama, DeepSeek, Phi ... in Foundry): ``azure_ai/<model>``."""

    name = "azure_ai"
    protocol = "openai"
    default_base: str | None = None
    key_env = ("AZURE_AI_API_KEY",)
    base_env = ("AZURE_AI_API_BASE",)
    key_required = False
    framing = "sse"
    credential_headers = frozenset({"api-key", "authorization"})
    options = frozenset({"api_version", "extra_parameters", *_TOKEN_OPTIONS})
    example_base = "https://<resource>.services.ai.azure.com/models"

    def resolve(
        self,
        *,
        api_key: str | None = None,
        api_base: str | None = None,
        options: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Setup:
        env = os.environ if environ is None else environ
        opts = dict(options or {})
        base = http_base(api_base or first_env(env, self.base_env), self.name, self.example_base)
        parts = urlsplit(base)
        path = parts.path.rstrip("/").removesuffix("/chat/completions")
        host = parts.netloc.lower().rsplit("@", 1)[-1].split(":")[0]
        if path.endswith("/models") or (not path and host.endswith(FOUNDRY_HOSTS)):
            form, path = "models", path if path.endswith("/models") else "/models"
        else:
            form = "v1" if path.endswith("/v1") else "endpoint"
        given = option_str(opts, "api_version", self.name)
        opts["api_version"] = given or (FOUNDRY_API_VERSION if form == "models" else None)
        mode = option_str(opts, "extra_parameters", self.name)
        if mode is not None and mode not in ("pass-through", "drop", "error"):
            raise BadRequestError(f"extra_parameters must be 'pass-through', 'drop' or 'error'; got {mode!r}",
                                  provider=self.name)  # fmt: skip
        opts["_form"] = form
        creds = azure_auth(opts, api_key=api_key, key_env=self.key_env, provider=self.name, environ=env)
        creds.key_header = "api-key" if form == "models" else "Authorization"
        return Setup(urlunsplit((parts.scheme, parts.netloc, path, "", "")), _public(opts), creds)

    def url(self, base: str, model: str, *, stream: bool, options: Mapping[str, Any]) -> str:
        version = options.get("api_version")
        return f"{base}/chat/completions" + (f"?api-version={quote(str(version))}" if version else "")

    def prepare_body(self, body: dict[str, Any], model: str, *, stream: bool, options: Mapping[str, Any]) -> dict:
        return body

    def headers(self, body: Mapping[str, Any], model: str, *, options: Mapping[str, Any]) -> dict[str, str]:
        """``extra-parameters``: the caller's choice, else ``pass-through`` when the body has fields the
        model inference API does not define (``stream_options``, ``logprobs`` ...), so they reach the model."""
        mode = options.get("extra_parameters")
        if mode is None and any(k not in FOUNDRY_PARAMS for k in body):
            mode = "pass-through"
        return {"extra-parameters": str(mode)} if mode else {}

    def auth(self, request: Any, credentials: AzureAuth) -> dict[str, str]:
        return credentials.headers()
