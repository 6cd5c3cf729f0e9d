"""Response types in the OpenAI ``chat.completion`` shape.

Every model allows unknown fields (providers add their own) and supports both attribute access
(``r.choices[0].message.content``) and dict access (``r["choices"][0]["message"]["content"]``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SerializerFunctionWrapHandler, model_serializer

FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "function_call"]


class _Obj(BaseModel):
    """Base: unknown fields kept, dict-style access on top of attributes."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def __setitem__(self, key: str, value: Any) -> None:
        setattr(self, key, value)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and getattr(self, key, None) is not None

    def get(self, key: str, default: Any = None) -> Any:
        """Dict-style ``get``: the field's value, or ``default`` when absent or None."""
        value = getattr(self, key, None)
        return default if value is None else value

    def keys(self) -> Iterator[str]:
        return iter(self.model_dump(exclude_none=True).keys())

    def json(self, **kwargs: Any) -> str:
        """The object as a JSON string (LiteLLM and openai<1 spelling)."""
        return self.model_dump_json(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The object as plain JSON-compatible data."""
        return self.model_dump()


class Function(_Obj):
    name: str | None = None
    arguments: str = ""


class ToolCall(_Obj):
    id: str
    type: Literal["function"] = "function"
    function: Function


class _Reasoning(_Obj):
    """Base of the objects that carry reasoning: ``reasoning_content`` (its text, from every provider)
    and ``thinking_blocks`` (Anthropic-style blocks: ``{"type": "thinking", "thinking", "signature"}``
    or ``{"type": "redacted_thinking", "data"}``, kept so an assistant turn can be sent back as it
    came). Both are left out of ``model_dump()`` when unset, so answers without reasoning dump as before."""

    @model_serializer(mode="wrap")
    def _drop_unset_reasoning(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for key in _REASONING_FIELDS:
                if data.get(key) is None:
                    data.pop(key, None)
        return data


_REASONING_FIELDS = ("reasoning_content", "thinking_blocks")


class Message(_Reasoning):
    """An assistant message: ``content``, ``tool_calls``, and the reasoning (see ``_Reasoning``).

    Example::

        m = volley.completion("anthropic/claude-sonnet-4-5", msgs, reasoning_effort="low").choices[0].message
        print(m.reasoning_content, m.content)
    """

    role: Literal["assistant", "user", "system", "tool", "developer"] = "assistant"
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    reasoning_content: str | None = None
    thinking_blocks: list[dict[str, Any]] | None = None


class Choice(_Obj):
    index: int = 0
    message: Message
    finish_reason: FinishReason | None = "stop"
    logprobs: Any = None


class Usage(_Obj):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


def new_id(prefix: str = "chatcmpl-") -> str:
    """A fresh response id in OpenAI's style."""
    return prefix + uuid.uuid4().hex


class ModelResponse(_Obj):
    """A chat completion: ``id, object, created, model, choices, usage``.

    Besides the OpenAI fields it carries declared metadata, not part of ``model_dump()``:
    ``provider``, ``latency`` (seconds), ``response_headers``, ``cache_hit``, ``billing``
    (``"standard"``, or ``"batch"`` for an answer from a provider batch API, with its ``batch_id``)
    and ``cost`` (USD, set when the answer arrives; None for a model with no price).

    Example::

        r = volley.completion("gpt-4o-mini", [{"role": "user", "content": "hi"}])
        print(r.choices[0].message.content, r.usage.total_tokens, r.latency, r.cost)
    """

    id: str = Field(default_factory=new_id)
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str = ""
    choices: list[Choice] = Field(default_factory=list)
    usage: Usage | None = None
    system_fingerprint: str | None = None

    _provider: str = PrivateAttr(default="")
    _latency: float | None = PrivateAttr(default=None)
    _headers: Mapping[str, str] = PrivateAttr(default_factory=dict)
    _cache_hit: bool = PrivateAttr(default=False)
    _billing: Literal["standard", "batch"] = PrivateAttr(default="standard")
    _batch_id: str | None = PrivateAttr(default=None)
    _cost: float | None = PrivateAttr(default=None)

    @property
    def provider(self) -> str:
        """The provider that answered, e.g. ``"anthropic"``."""
        return self._provider

    @property
    def cache_hit(self) -> bool:
        """True when the answer came from volley's cache (``cache=True``) rather than the provider."""
        return self._cache_hit

    @property
    def billing(self) -> Literal["standard", "batch"]:
        """How the provider bills this answer: ``"standard"``, or ``"batch"`` (a provider batch API's price)."""
        return self._billing

    @property
    def batch_id(self) -> str | None:
        """The provider batch this answer came from (``mode="batch_api"``), else None."""
        return self._batch_id

    @property
    def cost(self) -> float | None:
        """USD this answer cost (usage x price table, set when it arrived; 0.0 for a cache hit; None
        for a model with no price, or a response volley did not receive). See ``volley.completion_cost``."""
        return self._cost

    @property
    def latency(self) -> float | None:
        """Seconds from sending the request to the parsed answer."""
        return self._latency

    @property
    def response_headers(self) -> Mapping[str, str]:
        """The HTTP response headers of the answer."""
        return self._headers

    def __repr__(self) -> str:
        return f"<ModelResponse {self.id} model={self.model!r} provider={self._provider!r}>"


class DeltaFunction(_Obj):
    name: str | None = None
    arguments: str | None = None


class DeltaToolCall(_Obj):
    index: int = 0
    id: str | None = None
    type: Literal["function"] | None = None
    function: DeltaFunction | None = None


class Delta(_Reasoning):
    """One stream delta; reasoning text arrives as ``reasoning_content``, finished thinking blocks
    (with their signatures) as ``thinking_blocks``."""

    role: str | None = None
    content: str | None = None
    tool_calls: list[DeltaToolCall] | None = None
    reasoning_content: str | None = None
    thinking_blocks: list[dict[str, Any]] | None = None


class StreamChoice(_Obj):
    index: int = 0
    delta: Delta = Field(default_factory=Delta)
    finish_reason: FinishReason | None = None
    logprobs: Any = None


class StreamChunk(_Obj):
    """One ``chat.completion.chunk`` of a stream."""

    id: str = Field(default_factory=new_id)
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str = ""
    choices: list[StreamChoice] = Field(default_factory=list)
    usage: Usage | None = None

    _provider: str = PrivateAttr(default="")

    @property
    def provider(self) -> str:
        return self._provider
