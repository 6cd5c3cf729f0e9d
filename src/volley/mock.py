"""``mock_response=``: well-formed answers without any network, as LiteLLM offers for tests."""

from __future__ import annotations

import time
from typing import Any

from .providers.base import chunk, text_of, usage
from .types import ModelResponse, new_id


def _words(messages: list[dict[str, Any]]) -> int:
    return max(1, sum(len(text_of(m.get("content")).split()) for m in messages))


def response(mock: Any, model: str, messages: list[dict[str, Any]]) -> ModelResponse:
    """A ModelResponse whose content is ``mock``; an exception instance is raised instead."""
    if isinstance(mock, BaseException):
        raise mock
    text = str(mock)
    return ModelResponse.model_validate(
        {
            "id": new_id(),
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": usage(_words(messages), len(text.split())),
        }
    )


def stream_chunks(mock: Any, model: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chunk dicts of a streamed mock answer, one per word, then finish and usage chunks."""
    if isinstance(mock, BaseException):
        raise mock
    text = str(mock)
    cid, created = new_id(), int(time.time())
    pieces = [w + " " for w in text.split(" ")]
    if pieces:
        pieces[-1] = pieces[-1][:-1]
    out = [chunk(cid, model, created, {"role": "assistant", "content": ""})]
    out += [chunk(cid, model, created, {"content": p}) for p in pieces if p]
    out.append(chunk(cid, model, created, {}, finish_reason="stop"))
    out.append(chunk(cid, model, created, usage=usage(_words(messages), len(text.split()))))
    return out
