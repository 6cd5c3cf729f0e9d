"""Azure OpenAI and Azure AI Foundry over the OpenAI wire: Azure's paths, credentials, filter results and errors.

- :class:`AzureOpenAIWire`: ``/openai/deployments/{deployment}/chat/completions?api-version=...`` (the
  deployment is the model; without ``api-version`` Azure answers 404 "Resource not found") and the v1 API
  ``/openai/v1/chat/completions`` (model in the body). Credentials: the ``api-key`` header or
  ``Authorization: Bearer <Entra ID token>``. Answers add ``prompt_filter_results`` and per-choice
  ``content_filter_results``; a stream opens with Azure's filter-only chunk (empty ``choices``).
  A prompt containing :data:`PROMPT_FILTER_MARK` is refused with Azure's content-filter 400; an answer
  reaching :data:`COMPLETION_FILTER_MARK` is cut there with ``finish_reason: "content_filter"``.
- :class:`AzureAIWire`: Azure AI Foundry model inference, ``/models/chat/completions?api-version=...``;
  body fields outside the API's own are refused unless the ``extra-parameters`` header allows them.

Per-request state (the deployment in the path, the request headers) lives in a bound copy:
``wire.bind(request)``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

from .base import Answer, BadRequest, Prompt
from .openai import OpenAIWire

PROMPT_FILTER_MARK = "[content_filter]"
COMPLETION_FILTER_MARK = "[filtered]"
FILTERED_PROMPT = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. "
    "Please modify your prompt and retry."
)
DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an "
    "active subscription and use a correct regional API endpoint for your resource."
)

_SAFE = {"filtered": False, "severity": "safe"}
_NOT_DETECTED = {"filtered": False, "detected": False}
PROMPT_RESULTS = {"hate": _SAFE, "jailbreak": _NOT_DETECTED, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE}
CHOICE_RESULTS = {
    "hate": _SAFE,
    "protected_material_code": _NOT_DETECTED,
    "protected_material_text": _NOT_DETECTED,
    "self_harm": _SAFE,
    "sexual": _SAFE,
    "violence": _SAFE,
}
FILTERED_RESULTS = {**CHOICE_RESULTS, "violence": {"filtered": True, "severity": "high"}}

# The body fields of the Azure AI model inference API (its reference); others need ``extra-parameters``.
_FOUNDRY_FIELDS = frozenset(
    {
        "messages", "model", "stream", "frequency_penalty", "presence_penalty", "temperature", "top_p",
        "max_tokens", "response_format", "stop", "tools", "tool_choice", "seed", "modalities",
    }
)  # fmt: skip


def _azure_key(headers: Any, api_key: str | None) -> tuple[int, str] | None:
    key = headers.get("api-key")
    if not key:
        bearer = headers.get("Authorization", "")
        key = bearer[7:].strip() if bearer.startswith("Bearer ") else ""
    if not key or (api_key is not None and key != api_key):
        return 401, DENIED
    return None


class AzureOpenAIWire(OpenAIWire):
    """Azure OpenAI: deployments form when bound with a ``deployment``, else the v1 API."""

    name = "azure"
    _finish = {**OpenAIWire._finish, "content_filter": "content_filter"}

    def __init__(self, deployment: str | None = None) -> None:
        self.deployment = deployment

    def bind(self, request: Any) -> AzureOpenAIWire:
        return type(self)(request.match_info.get("deployment"))

    def auth_error(self, headers: Any, query: Any, api_key: str | None) -> tuple[int, str] | None:
        if self.deployment is not None and not query.get("api-version"):
            return 404, "Resource not found"
        return _azure_key(headers, api_key)

    def read(self, body: Any, model: str | None) -> Prompt:
        if self.deployment is not None and isinstance(body, dict):
            body = {**body, "model": self.deployment}  # the deployment in the path decides; the body's is ignored
        prompt = super().read(body, model)
        if PROMPT_FILTER_MARK in json.dumps(body.get("messages"), ensure_ascii=False):
            raise BadRequest(FILTERED_PROMPT, "prompt")
        return prompt

    @staticmethod
    def _filtered(a: Answer) -> tuple[Answer, bool]:
        text = a.text or ""
        cut = text.find(COMPLETION_FILTER_MARK)
        if cut < 0 or a.tools:
            return a, False
        return dataclasses.replace(a, text=text[:cut], finish="content_filter"), True

    def body(self, a: Answer) -> dict[str, Any]:
        a, filtered = self._filtered(a)
        out = super().body(a)
        out["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": copy.deepcopy(PROMPT_RESULTS)}]
        for choice in out["choices"]:
            choice["content_filter_results"] = copy.deepcopy(FILTERED_RESULTS if filtered else CHOICE_RESULTS)
        return out

    def events(self, a: Answer) -> tuple[list[bytes], int]:
        a, filtered = self._filtered(a)
        events, closing = super().events(a)
        head = {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": PROMPT_RESULTS}],
        }
        out = [self.sse(head)]
        for i, ev in enumerate(events):
            payload = ev[len(b"data: ") :].strip()
            if payload == b"[DONE]":
                out.append(ev)
                continue
            obj = json.loads(payload)
            for choice in obj.get("choices") or ():
                delta = choice.get("delta") or {}
                if i >= closing:  # the finish chunk
                    choice["content_filter_results"] = FILTERED_RESULTS if filtered else {}
                elif delta.get("content") or delta.get("tool_calls"):
                    choice["content_filter_results"] = CHOICE_RESULTS
                else:
                    choice["content_filter_results"] = {}
            out.append(self.sse(obj))
        return out, closing + 1

    def error_body(self, status: int, message: str, kind: str | None = None) -> dict[str, Any]:
        if message == FILTERED_PROMPT:
            return {
                "error": {
                    "message": message,
                    "type": None,
                    "param": "prompt",
                    "code": "content_filter",
                    "status": 400,
                    "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": FILTERED_RESULTS},
                }
            }
        if status in (401, 404, 429) or status >= 500:  # Azure's own gateway errors: a code and a message
            return {"error": {"code": str(status), "message": message}}
        return super().error_body(status, message, kind)


class AzureAIWire(OpenAIWire):
    """Azure AI Foundry model inference: ``POST /models/chat/completions?api-version=...``."""

    name = "azure_ai"

    def __init__(self, extra_parameters: str | None = None) -> None:
        self.extra_parameters = extra_parameters

    def bind(self, request: Any) -> AzureAIWire:
        return type(self)(request.headers.get("extra-parameters"))

    def auth_error(self, headers: Any, query: Any, api_key: str | None) -> tuple[int, str] | None:
        if not query.get("api-version"):
            return 404, "Resource not found"
        return _azure_key(headers, api_key)

    def read(self, body: Any, model: str | None) -> Prompt:
        prompt = super().read(body, model)
        extra = sorted(k for k in body if k not in _FOUNDRY_FIELDS)
        if extra and self.extra_parameters not in ("pass-through", "drop"):
            raise BadRequest(
                f"Extra parameters {extra} are not allowed when extra-parameters is not set or set to be 'error'. "
                "Set extra-parameters to 'pass-through' to pass to the model."
            )
        return prompt

    def error_body(self, status: int, message: str, kind: str | None = None) -> dict[str, Any]:
        return {
            "error": {"code": str(status) if status != 400 else "Invalid input", "message": message, "status": status}
        }
