"""What Azure OpenAI adds to the OpenAI chat-completions wire format, as functions the OpenAI protocol calls.

- Answers carry ``prompt_filter_results`` (top level, one entry per prompt) and each choice
  ``content_filter_results``: the content filter's verdict per category (hate, sexual, violence,
  self_harm, profanity, jailbreak, protected material ...). They are kept on the response as is.
- ``finish_reason: "content_filter"``: the answer was cut by the filter (kept, a valid OpenAI reason).
- A stream starts with a chunk whose ``choices`` is empty, ``id`` / ``model`` empty and ``created`` 0,
  carrying only ``prompt_filter_results``; :class:`StreamParser` folds it into the first real chunk
  instead of handing an empty chunk to the caller. With the asynchronous filter, annotation chunks
  (``content_filter_offsets`` + ``content_filter_results``, no delta) arrive without id: they get the
  stream's.
- A prompt refused by the filter is a 400 whose ``error.code`` is ``content_filter`` with an
  ``innererror`` (``code: ResponsibleAIPolicyViolation`` and ``content_filter_result``; the API
  reference spells them ``inner_error`` / ``content_filter_results``, both are read):
  :func:`error_from_response` makes it a ``ContentPolicyViolationError``.

Example::

    err = error_from_response(400, {}, body_bytes, model="gpt-4o")
    isinstance(err, ContentPolicyViolationError), err.content_filter_results["violence"]
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..errors import APIError, ContentPolicyViolationError, error_from_status, redact
from . import openai

CONTENT_FILTER_CODES = frozenset({"content_filter", "ResponsibleAIPolicyViolation"})


def content_filter_error(data: Any) -> dict[str, Any] | None:
    """The ``error`` object of an Azure content-filter refusal (from a parsed body), else None."""
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return None
    inner = err.get("innererror") or err.get("inner_error")
    inner_code = inner.get("code") if isinstance(inner, dict) else None
    if err.get("code") in CONTENT_FILTER_CODES or inner_code in CONTENT_FILTER_CODES:
        return err
    return None


def filter_results(err: Mapping[str, Any]) -> dict[str, Any]:
    """The per-category verdicts inside a content-filter ``error`` object ({} when it gave none)."""
    inner = err.get("innererror") or err.get("inner_error")
    if not isinstance(inner, dict):
        return {}
    results = inner.get("content_filter_result") or inner.get("content_filter_results")
    return dict(results) if isinstance(results, dict) else {}


def error_from_response(
    status: int, headers: Mapping[str, str], body: bytes, *, model: str = "", secrets: tuple[str, ...] = ()
) -> APIError:
    """The typed error of an Azure OpenAI error answer: a content-filter 400 is a
    ``ContentPolicyViolationError``; everything else is mapped by status as for OpenAI.

    Example: ``error_from_response(400, {}, b'{"error":{"code":"content_filter","message":"..."}}')``
    """
    message = redact(openai.error_message(status, body), secrets)
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    err = content_filter_error(data)
    if status == 400 and err is not None:
        return ContentPolicyViolationError(
            message,
            content_filter_results=filter_results(err),
            status_code=status,
            model=model,
            headers=headers,
            body=body,
        )
    return error_from_status(status, message, model=model, headers=headers, body=body)


def parse_response(data: dict[str, Any], model: str) -> dict[str, Any]:
    """An Azure ``chat.completion`` → the OpenAI dict, its filter results kept (``prompt_filter_results`` at the
    top, ``content_filter_results`` on each choice)."""
    return openai.parse_response(data, model)


class StreamParser(openai.StreamParser):
    """The OpenAI stream parser plus Azure's leading filter-only chunk and in-stream content-filter errors."""

    def __init__(self, model: str) -> None:
        super().__init__(model)
        self._prompt_filters: Any = None
        self._head: tuple[str, Any] | None = None  # id and created of the stream's chunks

    def feed(self, event: str | None, data: str) -> list[dict[str, Any]]:
        if '"prompt_filter_results"' in data or '"error"' in data:
            obj = openai.load_json(data, "stream event")
            err = content_filter_error(obj)
            if err is not None and "choices" not in obj:
                raise ContentPolicyViolationError(
                    str(err.get("message") or "the content filter refused the request"),
                    content_filter_results=filter_results(err),
                    status_code=400,
                    model=self.model,
                )
            if isinstance(obj, dict) and not obj.get("choices") and not obj.get("usage"):
                self._prompt_filters = obj.get("prompt_filter_results")
                return []
        chunks = super().feed(event, data)
        for c in chunks:
            if c.get("id"):
                self._head = (c["id"], c.get("created"))
            elif self._head is not None:  # the asynchronous filter's annotation chunks come without id / created
                c["id"], c["created"] = self._head
        if self._prompt_filters is not None and chunks:
            chunks[0]["prompt_filter_results"] = self._prompt_filters
            self._prompt_filters = None
        return chunks
