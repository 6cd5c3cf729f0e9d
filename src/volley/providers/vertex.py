"""Vertex AI (``vertex_ai/<model>``): Gemini, Anthropic Claude and the OpenAI-compatible model-as-a-service
endpoint, all with Google OAuth bearer tokens (:mod:`volley.auth.google`).

URLs, under ``https://{location}-aiplatform.googleapis.com/v1`` (``global``: ``aiplatform.googleapis.com``;
the ``us`` / ``eu`` multi-regions: ``aiplatform.{us,eu}.rep.googleapis.com``; ``api_base`` replaces the host,
with ``/v1`` or ``/v1beta1`` kept when given):

- Gemini (:class:`VertexGemini`, the gemini protocol's bodies):
  ``projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent`` and
  ``:streamGenerateContent?alt=sse``; a numeric model is a tuned model's endpoint
  (``projects/{p}/locations/{l}/endpoints/{id}``), a ``projects/...`` model a full resource name.
- Claude (:class:`VertexAnthropic`, the anthropic protocol's bodies without ``model`` and with
  ``anthropic_version: "vertex-2023-10-16"``): ``publishers/anthropic/models/{m}:rawPredict`` and
  ``:streamRawPredict`` (model ids like ``claude-sonnet-4-5@20250929``).
- Other publishers (:class:`VertexOpenAI`, the openai protocol, ``model`` = ``"meta/llama-..."``):
  ``projects/{p}/locations/{l}/endpoints/openapi/chat/completions``.

Project: ``vertex_project``, else ``VERTEXAI_PROJECT`` / ``VERTEX_PROJECT`` / ``GOOGLE_CLOUD_PROJECT``, else
the credentials' project. Location: ``vertex_location``, else ``VERTEXAI_LOCATION`` / ``VERTEX_LOCATION`` /
``GOOGLE_CLOUD_LOCATION``, else ``us-central1`` (LiteLLM's default).

Example::

    p = provider_for("gemini-2.5-flash")
    setup = p.resolve(options={"vertex_project": "my-proj", "vertex_location": "europe-west4"})
    p.url(setup.base, "gemini-2.5-flash", stream=True, options=setup.options)
    # https://europe-west4-aiplatform.googleapis.com/v1/projects/my-proj/locations/europe-west4/
    #   publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ..auth.google import google_token
from ..auth.tokens import BearerAuth
from ..errors import BadRequestError
from ._setup import Setup, first_env, http_base, option_str

ANTHROPIC_VERSION = "vertex-2023-10-16"
"""The ``anthropic_version`` Claude on Vertex takes in the body (instead of the ``anthropic-version`` header)."""
DEFAULT_LOCATION = "us-central1"
PROJECT_ENV = ("VERTEXAI_PROJECT", "VERTEX_PROJECT", "GOOGLE_CLOUD_PROJECT")
LOCATION_ENV = ("VERTEXAI_LOCATION", "VERTEX_LOCATION", "GOOGLE_CLOUD_LOCATION")
MULTI_REGIONS = frozenset({"us", "eu"})

_LOCATION = re.compile(r"^[a-z][a-z0-9-]{0,62}$")  # it becomes part of a host name: nothing else gets in
_PROJECT = re.compile(r"^[a-z0-9][a-z0-9.:-]{0,127}$")  # ids, and the older "example.com:proj" form


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


class _Vertex:
    """What every Vertex AI publisher shares: project, location, host and Google OAuth credentials."""

    name = "vertex_ai"
    protocol = ""
    publisher = ""
    default_base: str | None = None  # derived from the location
    key_env: tuple[str, ...] = ()
    base_env: tuple[str, ...] = ()
    key_required = False
    framing = "sse"
    credential_headers = frozenset({"authorization"})
    options = frozenset({"vertex_project", "vertex_location", "vertex_credentials"})

    def resolve(
        self,
        *,
        api_key: str | None = None,
        api_base: str | None = None,
        options: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Setup:
        """Project, location, base and token source of a call; raises before any request when one is wrong."""
        env = os.environ if environ is None else environ
        opts = dict(options or {})
        if api_key:
            raise BadRequestError(
                "vertex_ai authenticates with Google OAuth (vertex_credentials= or Application Default "
                "Credentials), not api_key; drop api_key",
                provider=self.name,
            )
        location = option_str(opts, "vertex_location", self.name) or first_env(env, LOCATION_ENV) or DEFAULT_LOCATION
        if not _LOCATION.match(location):
            raise BadRequestError(f"vertex_location {location!r} is not a Vertex AI location (e.g. us-central1, "
                                  "europe-west4, global)", provider=self.name)  # fmt: skip
        project = option_str(opts, "vertex_project", self.name) or first_env(env, PROJECT_ENV)
        source, own_project = google_token(opts.pop("vertex_credentials", None), need_project=project is None)
        project = project or own_project
        if not project:
            raise BadRequestError(
                f"no Vertex AI project: pass vertex_project= or set {' or '.join(PROJECT_ENV)}", provider=self.name
            )
        if not _PROJECT.match(project):
            raise BadRequestError(f"vertex_project {project!r} is not a Google Cloud project id", provider=self.name)
        opts.update(vertex_project=project, vertex_location=location)
        base = http_base(api_base, self.name, "https://us-central1-aiplatform.googleapis.com") if api_base else None
        return Setup(versioned(base or host_base(location)), opts, BearerAuth(source))

    def resource(self, model: str, options: Mapping[str, Any]) -> str:
        """The model's resource name: ``projects/{p}/locations/{l}/publishers/{publisher}/models/{model}``."""
        if not isinstance(model, str) or not model.strip():
            raise BadRequestError("vertex_ai needs a model: model='vertex_ai/<model>'", provider=self.name)
        if model.startswith("projects/"):
            return model
        where = f"projects/{options['vertex_project']}/locations/{options['vertex_location']}"
        if model.isdigit():
            return f"{where}/endpoints/{model}"
        return f"{where}/publishers/{self.publisher}/models/{quote(model, safe='@.-_')}"

    def prepare_body(self, body: dict[str, Any], model: str, *, stream: bool, options: Mapping[str, Any]) -> dict:
        return body

    def headers(self, body: Mapping[str, Any], model: str, *, options: Mapping[str, Any]) -> dict[str, str]:
        """Non-secret headers of every request (none)."""
        return {}

    def auth(self, request: Any, credentials: BearerAuth) -> dict[str, str]:
        """``Authorization: Bearer <access token>``, per attempt (``await credentials.prepare()`` first)."""
        return credentials.headers()


class VertexGemini(_Vertex):
    """Gemini on Vertex AI: the gemini protocol's bodies at the Vertex resource paths."""

    protocol = "gemini"
    publisher = "google"

    def url(self, base: str, model: str, *, stream: bool, options: Mapping[str, Any]) -> str:
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"{base}/{self.resource(model, options)}:{method}"


class VertexAnthropic(_Vertex):
    """Claude on Vertex AI: ``:rawPredict`` / ``:streamRawPredict``, ``anthropic_version`` in the body."""

    protocol = "anthropic"
    publisher = "anthropic"

    def url(self, base: str, model: str, *, stream: bool, options: Mapping[str, Any]) -> str:
        return f"{base}/{self.resource(model, options)}:{'streamRawPredict' if stream else 'rawPredict'}"

    def prepare_body(self, body: dict[str, Any], model: str, *, stream: bool, options: Mapping[str, Any]) -> dict:
        """The Messages body without ``model`` (it is in the URL), with ``anthropic_version``."""
        out = {k: v for k, v in body.items() if k != "model"}
        out.setdefault("anthropic_version", ANTHROPIC_VERSION)
        return out


class VertexOpenAI(_Vertex):
    """Partner and open models on Vertex AI (Llama, Mistral, DeepSeek, Qwen ...) through the OpenAI-compatible
    ``endpoints/openapi`` endpoint; the model is ``"<publisher>/<model>"``."""

    protocol = "openai"
    publisher = ""

    def url(self, base: str, model: str, *, stream: bool, options: Mapping[str, Any]) -> str:
        where = f"projects/{options['vertex_project']}/locations/{options['vertex_location']}"
        return f"{base}/{where}/endpoints/openapi/chat/completions"


def provider_for(model: str) -> _Vertex:
    """The Vertex publisher that serves ``model``: ``claude-*`` → Anthropic, ``<publisher>/<model>`` → the
    OpenAI-compatible endpoint, anything else (``gemini-*``, tuned endpoint ids, resource names) → Gemini.

    >>> type(provider_for("claude-sonnet-4-5@20250929")).__name__, type(provider_for("meta/llama-4")).__name__
    ('VertexAnthropic', 'VertexOpenAI')
    """
    if model.startswith("claude"):
        return VertexAnthropic()
    if "/" in model and not model.startswith("projects/"):
        return VertexOpenAI()
    return VertexGemini()
