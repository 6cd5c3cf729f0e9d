"""Vertex AI over the Gemini and Anthropic wires: Google OAuth bearer tokens, the model in the path.

- :class:`VertexGeminiWire`: ``POST /{v1,v1beta1}/projects/{p}/locations/{l}/publishers/google/models/{m}``
  ``:generateContent`` and ``:streamGenerateContent?alt=sse`` (the Gemini bodies; answers add Vertex's ``createTime``).
- :class:`VertexAnthropicWire`: ``.../publishers/anthropic/models/{m}:rawPredict`` and ``:streamRawPredict``:
  the Messages body with ``anthropic_version`` (``"vertex-2023-10-16"``, or a dated Anthropic API version) and no
  ``model`` (it is in the path).

Both require ``Authorization: Bearer <access token>`` (401 ``UNAUTHENTICATED`` otherwise, in Google's shape).
Bound per request (``wire.bind(request)``) with the model and method of the path.
"""

from __future__ import annotations

import re
import time
from typing import Any

from .anthropic import AnthropicWire
from .base import Answer, BadRequest, Prompt, rfc3339
from .gemini import GeminiWire

ANTHROPIC_VERSION = "vertex-2023-10-16"
"""Google's documented ``anthropic_version`` for Claude on Vertex AI. A dated Anthropic API version
(``2026-10-21``, what anthropic's ``AnthropicVertex`` 2.x sends) is accepted too."""
_DATED = re.compile(r"^\d{4}-\d{2}-\d{2}$")
UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid "
    "authentication credential."
)


def _bearer_error(headers: Any, api_key: str | None) -> tuple[int, str] | None:
    auth = headers.get("Authorization", "")
    token = auth[7:].strip() if auth.startswith("Bearer ") else ""
    if not token or (api_key is not None and token != api_key):
        return 401, UNAUTHENTICATED
    return None


def _google_error(status: int, message: str) -> dict[str, Any]:
    return GeminiWire().error_body(status, message)


class VertexGeminiWire(GeminiWire):
    """Gemini on Vertex AI."""

    name = "vertex_ai"
    _methods = ("generateContent", "streamGenerateContent")

    def __init__(self, model: str = "", method: str = "", sse: bool = False) -> None:
        self.model, self.method, self.sse_stream = model, method, sse

    def bind(self, request: Any) -> VertexGeminiWire:
        model, _, method = request.match_info["spec"].rpartition(":")
        return type(self)(model, method, request.query.get("alt") == "sse")

    def auth_error(self, headers: Any, query: Any, api_key: str | None) -> tuple[int, str] | None:
        denied = _bearer_error(headers, api_key)
        if denied is None and (self.method not in self._methods or not self.model):
            return 404, f"Method not found: {self.method or '(none)'}"
        return denied

    def read(self, body: Any, model: str | None) -> Prompt:
        prompt = super().read(body, self.model)
        if self.method == "streamGenerateContent" and not self.sse_stream:
            raise BadRequest("this fake serves :streamGenerateContent with alt=sse only")
        prompt.stream = self.method == "streamGenerateContent"
        return prompt

    def _wrap(self, a: Answer, candidates: list[dict[str, Any]], output: int | None) -> dict[str, Any]:
        out = super()._wrap(a, candidates, output)
        out["createTime"] = rfc3339(a.created or time.time())
        out["usageMetadata"]["trafficType"] = "ON_DEMAND"
        return out


class VertexAnthropicWire(AnthropicWire):
    """Claude on Vertex AI."""

    name = "vertex_ai"
    _methods = ("rawPredict", "streamRawPredict")

    def __init__(self, model: str = "", method: str = "") -> None:
        self.model, self.method = model, method

    def bind(self, request: Any) -> VertexAnthropicWire:
        model, _, method = request.match_info["spec"].rpartition(":")
        return type(self)(model, method)

    def auth_error(self, headers: Any, query: Any, api_key: str | None) -> tuple[int, str] | None:
        denied = _bearer_error(headers, api_key)
        if denied is None and (self.method not in self._methods or not self.model):
            return 404, f"Method not found: {self.method or '(none)'}"
        return denied  # no anthropic-version header on Vertex: the version is in the body

    def read(self, body: Any, model: str | None) -> Prompt:
        if not isinstance(body, dict):
            raise BadRequest("There was an error parsing the body of your request.")
        if "model" in body:
            raise BadRequest("model: Extra inputs are not permitted (on Vertex AI the model is in the URL)", "model")
        version = body.get("anthropic_version")
        if version is None:
            raise BadRequest("anthropic_version: Field required", "anthropic_version")
        if version != ANTHROPIC_VERSION and not (isinstance(version, str) and _DATED.match(version)):
            raise BadRequest(f"anthropic_version: Input should be '{ANTHROPIC_VERSION}'", "anthropic_version")
        stream = bool(body.get("stream"))
        if stream != (self.method == "streamRawPredict"):
            raise BadRequest(f"stream: {stream} does not match :{self.method} (use :streamRawPredict to stream)")
        return super().read({**body, "model": self.model}, None)

    def error_body(self, status: int, message: str, kind: str | None = None) -> dict[str, Any]:
        if status in (401, 403, 404):  # answered by Google's front end, in Google's shape
            return _google_error(status, message)
        return super().error_body(status, message, kind)
