"""Vertex AI (``vertex_ai/<model>``): Gemini, Anthropic Claude and the OpenAI-compatible model-as-a-service
endpoint, all with Google OAuth bearer tokens (:mod:`volley.auth.google`).

One registered host, ``vertex_ai``; the model picks the variant that serves it (:func:`provider_for`):
``claude-*`` → :class:`VertexAnthropic`, ``<publisher>/<model>`` → :class:`VertexOpenAI`, anything
else (``gemini-*``, a tuned model's endpoint id, a ``projects/...`` resource name) → :class:`VertexGemini`.

URLs, under ``https://{location}-aiplatform.googleapis.com/v1`` (``global``: ``aiplatform.googleapis.com``;
the ``us`` / ``eu`` multi-regions: ``aiplatform.{us,eu}.rep.googleapis.com``; ``api_base`` replaces the host,
with ``/v1`` or ``/v1beta1`` kept when given):

- Gemini (the gemini protocol's bodies): ``projects/{p}/locations/{l}/publishers/google/models/{m}``
  ``:generateContent`` and ``:streamGenerateContent?alt=sse``; a numeric model is a tuned model's endpoint
  (``projects/{p}/locations/{l}/endpoints/{id}``), a ``projects/...`` model a full resource name.
- Claude (the anthropic protocol's bodies without ``model`` and with ``anthropic_version:
  "vertex-2023-10-16"``): ``publishers/anthropic/models/{m}:rawPredict`` and ``:streamRawPredict``
  (model ids like ``claude-sonnet-4-5@20250929``).
- Other publishers (the openai protocol, ``model`` = ``"meta/llama-..."``):
  ``projects/{p}/locations/{l}/endpoints/openapi/chat/completions``.

Project: ``vertex_project``, else ``VERTEXAI_PROJECT`` / ``VERTEX_PROJECT`` / ``GOOGLE_CLOUD_PROJECT``, else
the credentials' project. Location: ``vertex_location``, else ``VERTEXAI_LOCATION`` / ``VERTEX_LOCATION`` /
``GOOGLE_CLOUD_LOCATION``, else ``us-central1`` (LiteLLM's default). Credentials: ``vertex_credentials``
(a key file path, its JSON, a dict, a google-auth ``Credentials`` or a volley ``TokenSource``), else
Application Default Credentials; the ``vertex`` extra (``pip install 'volley-llm[vertex]'``) brings
google-auth. An ``api_key`` is refused (Vertex AI takes OAuth tokens).

Example::

    volley.completion("vertex_ai/gemini-2.5-flash", messages, vertex_project="my-proj",
                      vertex_location="europe-west4")
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .. import masking
from ..auth.reuse import Reuse, fingerprint
from ..errors import BadRequestError
from ._cloud import first_env, http_base, option_str
from .base import Provider

if TYPE_CHECKING:
    from ..auth.tokens import BearerAuth, TokenSource
    from ..routing import Route
    from ..transports.base import Request

__all__ = ["ANTHROPIC_VERSION", "VertexAnthropic", "VertexGemini", "VertexOpenAI", "provider_for"]

ANTHROPIC_VERSION = "vertex-2023-10-16"
"""The ``anthropic_version`` Claude on Vertex takes in the body (instead of the ``anthropic-version`` header)."""
DEFAULT_LOCATION = "us-central1"
PROJECT_ENV = ("VERTEXAI_PROJECT", "VERTEX_PROJECT", "GOOGLE_CLOUD_PROJECT")
LOCATION_ENV = ("VERTEXAI_LOCATION", "VERTEX_LOCATION", "GOOGLE_CLOUD_LOCATION")
MULTI_REGIONS = frozenset({"us", "eu"})
OPTIONS = frozenset({"vertex_project", "vertex_location", "vertex_credentials"})

_LOCATION = re.compile(r"^[a-z][a-z0-9-]{0,62}$")  # it becomes part of a host name: nothing else gets in
_PROJECT = re.compile(r"^[a-z0-9][a-z0-9.:-]{0,127}$")  # ids, and the older "example.com:proj" form
_SOURCES: Reuse[tuple[Any, str | None, Any]] = Reuse()  # (TokenSource, project, the value it came from)


def host_base(location: str) -> str:
    """The Vertex AI host of ``location``.

    >>> host_base("global"), host_base("eu"), host_base("us-east5")
    ('https://aiplatform.googleapis.com', 'https://aiplatform.eu.rep.googleapis.com', 'https://us-east5-aiplatform.googleapis.com')
    """
    if location == "global":
        return "https://aiplatform.googleapis.com"
    if location in MULTI_REGIONS:
        return f"https://aiplatform.{location}.rep.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


def versioned(base: str) -> str:
    """``base`` ending in an API version (``/v1`` added unless it ends with ``/v1`` or ``/v1beta1``)."""
    return base if base.endswith(("/v1", "/v1beta1")) else base + "/v1"


class _Vertex(Provider):
    """What every Vertex AI publisher shares: project, location, host and Google OAuth credentials."""

    publisher = ""

    def __init__(self, protocol: str) -> None:
        super().__init__("vertex_ai", protocol, key_required=False, options=OPTIONS, aliases=("vertex_ai_beta",))

    def variant(self, model: str) -> Provider:
        return provider_for(model)

    def base(self, api_base: str | None, options: Mapping[str, Any]) -> str:
        """The location's host (or ``api_base``) with its API version; ``options["vertex_location"]`` is set."""
        location = option_str(options, "vertex_location", self.name) or first_env(LOCATION_ENV) or DEFAULT_LOCATION
        if not _LOCATION.match(location):
            raise BadRequestError(f"vertex_location {location!r} is not a Vertex AI location (e.g. us-central1, "
                                  "europe-west4, global)", provider=self.name)  # fmt: skip
        if isinstance(options, dict):
            options["vertex_location"] = location
        given = http_base(api_base, self.name, "https://us-central1-aiplatform.googleapis.com") if api_base else None
        return versioned(given or host_base(location))

    def key(self, api_key: str | None, model: str) -> str | None:
        if api_key:
            raise BadRequestError(
                "vertex_ai authenticates with Google OAuth (vertex_credentials= or Application Default "
                "Credentials), not api_key; drop api_key",
                provider=self.name,
                model=model,
            )
        return None

    def bind(self, route: Route) -> Route:
        """The token source (shared by every route naming the same credentials) and the project."""
        from ..auth.tokens import BearerAuth

        opts = dict(route.options)
        project = option_str(opts, "vertex_project", self.name) or first_env(PROJECT_ENV)
        source, own_project = _token_source(opts.pop("vertex_credentials", None), need_project=project is None)
        project = project or own_project
        if not project:
            raise BadRequestError(
                f"no Vertex AI project: pass vertex_project= or set {' or '.join(PROJECT_ENV)}", provider=self.name
            )
        if not _PROJECT.match(project):
            raise BadRequestError(f"vertex_project {project!r} is not a Google Cloud project id", provider=self.name)
        opts.update(vertex_project=project, vertex_location=opts.get("vertex_location") or DEFAULT_LOCATION)
        return dataclasses.replace(route, options=opts, credential=BearerAuth(source))

    def where(self, route: Route) -> str:
        return f"projects/{route.options['vertex_project']}/locations/{route.options['vertex_location']}"

    def resource(self, route: Route) -> str:
        """The model's resource name: ``projects/{p}/locations/{l}/publishers/{publisher}/models/{model}``."""
        model = route.model
        if not model.strip():
            raise BadRequestError("vertex_ai needs a model: model='vertex_ai/<model>'", provider=self.name)
        if model.startswith("projects/"):
            return model
        if model.isdigit():
            return f"{self.where(route)}/endpoints/{model}"
        return f"{self.where(route)}/publishers/{self.publisher}/models/{quote(model, safe='@.-_')}"

    def headers(self, route: Route) -> dict[str, str]:
        """Only the content type: the credential is added per attempt, Claude's version goes in the body."""
        return {"Content-Type": "application/json"}

    async def auth(self, request: Request, route: Route) -> dict[str, str]:
        """``Authorization: Bearer <access token>`` for this attempt (refreshed before expiry, off the loop)."""
        creds: BearerAuth = route.credential if route.credential is not None else self.bind(route).credential
        await creds.prepare()
        headers = creds.headers()
        masking.register(*creds.secrets())
        return headers

    def secrets(self, route: Route) -> tuple[str, ...]:
        return route.credential.secrets() if route.credential is not None else ()

    def account(self, route: Route) -> str | None:
        """The service account's e-mail, or a static token's fingerprint; None for Application Default
        Credentials and other sources whose identity is only known once they answer."""
        from ..auth.tokens import StaticToken

        creds = route.credential
        if creds is None:
            return ""
        source = creds.source
        if isinstance(source, StaticToken):
            return fingerprint("vertex-token", source.token())[:16]
        email = getattr(getattr(source, "credentials", None), "service_account_email", None)
        return fingerprint("vertex-sa", email)[:16] if isinstance(email, str) and "@" in email else None


class VertexGemini(_Vertex):
    """Gemini on Vertex AI: the gemini protocol's bodies at the Vertex resource paths."""

    publisher = "google"

    def __init__(self) -> None:
        super().__init__("gemini")

    def url(self, route: Route, *, stream: bool) -> str:
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"{route.api_base}/{self.resource(route)}:{method}"


class VertexAnthropic(_Vertex):
    """Claude on Vertex AI: ``:rawPredict`` / ``:streamRawPredict``, ``anthropic_version`` in the body."""

    publisher = "anthropic"

    def __init__(self) -> None:
        super().__init__("anthropic")

    def url(self, route: Route, *, stream: bool) -> str:
        return f"{route.api_base}/{self.resource(route)}:{'streamRawPredict' if stream else 'rawPredict'}"

    def prepare_body(self, body: dict[str, Any], route: Route, *, stream: bool) -> dict[str, Any]:
        """The Messages body without ``model`` (it is in the URL), with ``anthropic_version``."""
        out = {k: v for k, v in body.items() if k != "model"}
        out.setdefault("anthropic_version", ANTHROPIC_VERSION)
        return out


class VertexOpenAI(_Vertex):
    """Partner and open models on Vertex AI (Llama, Mistral, DeepSeek, Qwen ...) through the OpenAI-compatible
    ``endpoints/openapi`` endpoint; the model is ``"<publisher>/<model>"``."""

    def __init__(self) -> None:
        super().__init__("openai")

    def url(self, route: Route, *, stream: bool) -> str:
        return f"{route.api_base}/{self.where(route)}/endpoints/openapi/chat/completions"


_VARIANTS: dict[str, _Vertex] = {}


def provider_for(model: str) -> _Vertex:
    """The Vertex publisher that serves ``model``: ``claude-*`` → Anthropic, ``<publisher>/<model>`` → the
    OpenAI-compatible endpoint, anything else (``gemini-*``, tuned endpoint ids, resource names) → Gemini.

    >>> type(provider_for("claude-sonnet-4-5@20250929")).__name__, type(provider_for("meta/llama-4")).__name__
    ('VertexAnthropic', 'VertexOpenAI')
    """
    kind: type[VertexGemini | VertexAnthropic | VertexOpenAI]
    if model.startswith("claude"):
        kind = VertexAnthropic
    elif "/" in model and not model.startswith("projects/"):
        kind = VertexOpenAI
    else:
        kind = VertexGemini
    found = _VARIANTS.get(kind.__name__)
    if found is None:
        found = _VARIANTS[kind.__name__] = kind()
    return found


def _token_source(value: Any, *, need_project: bool) -> tuple[TokenSource, str | None]:
    """``google_token(value)``, shared by the routes naming the same credentials: a key (dict, JSON, file) by
    its content's fingerprint, an object by identity, Application Default Credentials once per process."""
    from ..auth.google import google_token
    from ..auth.tokens import TokenSource

    if isinstance(value, TokenSource):
        return value, None
    if value is None:
        key: Any = ("adc", need_project, os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"))
    elif isinstance(value, Mapping):
        key = ("info", fingerprint(json.dumps(dict(value), sort_keys=True, default=str)))
    elif isinstance(value, (str, os.PathLike)):
        text = os.fspath(value)
        try:
            stamp = str(os.stat(text).st_mtime_ns) if not text.lstrip().startswith("{") else ""
        except (OSError, ValueError):
            stamp = ""
        key = ("text", fingerprint(text, stamp))
    else:
        key = ("object", id(value))  # the entry holds the object: its id is not reused while the entry lives

    def make() -> tuple[TokenSource, str | None, Any]:
        return (*google_token(value, need_project=need_project), value)

    source, project, _ = _SOURCES.get(key, make)
    return source, project
