"""Response types in the OpenAI ``chat.completion`` shape.

Every model allows unknown fields (providers add their own) and supports both attribute access
(``r.choices[0].message.content``) and dict access (``r["choices"][0]["message"]["content"]``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SerializerFunctionWrapHandler, model_serializer

from .headers import Headers

FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "function_call"]


def _private(obj: BaseModel, name: str) -> Any:
    """A private attribute's value, read from pydantic's dict: ``obj._name`` reaches it only through
    ``BaseModel.__getattr__`` after a failed look-up (about 2 us instead of 40 ns)."""
    private = obj.__pydantic_private__
    if private is not None and name in private:
        return private[name]
    return getattr(obj, name)


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

    def json(self, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        """The object as plain data, as LiteLLM's ``json()`` returns it (a dict; ``model_dump_json()`` for text)."""
        return self.model_dump(**kwargs)

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
    """An answer's message: ``content``, ``tool_calls``, and the reasoning (see ``_Reasoning``). It can go
    back into ``messages`` as it is (only :attr:`INPUT_FIELDS` are sent).

    ``function_call`` is set when the call used the legacy ``functions=``; ``parsed`` holds the validated
    instance when ``response_format`` was a pydantic class.

    Example::

        m = volley.completion("anthropic/claude-sonnet-4-5", msgs, reasoning_effort="low").choices[0].message
        print(m.reasoning_content, m.content)
    """

    role: Literal["assistant", "user", "system", "tool", "developer"] = "assistant"
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    reasoning_content: str | None = None
    thinking_blocks: list[dict[str, Any]] | None = None
    function_call: Function | None = None

    #: What a message sent back to a provider carries: the reasoning text stays out (DeepSeek refuses it
    #: in input), signed thinking blocks go back (Anthropic checks them; other protocols leave them out).
    INPUT_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"role", "content", "name", "tool_calls", "function_call", "tool_call_id", "thinking_blocks"}
    )
    _parsed: Any = PrivateAttr(default=None)

    @property
    def parsed(self) -> Any:
        """The ``response_format`` pydantic class's instance validated from this message (else None)."""
        return self._parsed


class TopLogprob(_Obj):
    token: str = ""
    logprob: float = 0.0
    bytes: list[int] | None = None


class TokenLogprob(_Obj):
    token: str = ""
    logprob: float = 0.0
    bytes: list[int] | None = None
    top_logprobs: list[TopLogprob] = Field(default_factory=list)


class ChoiceLogprobs(_Obj):
    """``choice.logprobs``: per-token log probabilities (``content``), with attribute access."""

    content: list[TokenLogprob] | None = None
    refusal: list[TokenLogprob] | None = None


class Choice(_Obj):
    index: int = 0
    message: Message
    finish_reason: FinishReason | None = "stop"
    logprobs: ChoiceLogprobs | Any = None


class PromptTokensDetails(_Obj):
    cached_tokens: int | None = None
    audio_tokens: int | None = None


class CompletionTokensDetails(_Obj):
    reasoning_tokens: int | None = None
    audio_tokens: int | None = None
    accepted_prediction_tokens: int | None = None
    rejected_prediction_tokens: int | None = None


class Usage(_Obj):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None


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
    _headers: Mapping[str, str] = PrivateAttr(default_factory=Headers)
    _cache_hit: bool = PrivateAttr(default=False)
    _billing: Literal["standard", "batch"] = PrivateAttr(default="standard")
    _batch_id: str | None = PrivateAttr(default=None)
    _cost: float | None = PrivateAttr(default=None)
    _api_base: str = PrivateAttr(default="")
    _hidden_extra: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def provider(self) -> str:
        """The provider that answered, e.g. ``"anthropic"``."""
        return _private(self, "_provider")  # type: ignore[no-any-return]

    @property
    def cache_hit(self) -> bool:
        """True when the answer came from volley's cache (``cache=True``) rather than the provider."""
        return _private(self, "_cache_hit")  # type: ignore[no-any-return]

    @property
    def billing(self) -> Literal["standard", "batch"]:
        """How the provider bills this answer: ``"standard"``, or ``"batch"`` (a provider batch API's price)."""
        return _private(self, "_billing")  # type: ignore[no-any-return]

    @property
    def batch_id(self) -> str | None:
        """The provider batch this answer came from (``mode="batch_api"``), else None."""
        return _private(self, "_batch_id")  # type: ignore[no-any-return]

    @property
    def cost(self) -> float | None:
        """USD this answer cost (usage x price table, set when it arrived; 0.0 for a cache hit; None
        for a model with no price, or a response volley did not receive). See ``volley.completion_cost``."""
        return _private(self, "_cost")  # type: ignore[no-any-return]

    @property
    def latency(self) -> float | None:
        """Seconds from sending the request to the parsed answer."""
        return _private(self, "_latency")  # type: ignore[no-any-return]

    @property
    def response_headers(self) -> Mapping[str, str]:
        """The HTTP response headers of the answer (a case-insensitive, picklable dict)."""
        return _private(self, "_headers")  # type: ignore[no-any-return]

    @property
    def _hidden_params(self) -> dict[str, Any]:
        """LiteLLM's ``_hidden_params``: ``custom_llm_provider``, ``response_cost``, ``api_base``,
        ``model_id`` (the Router deployment that answered), ``cache_hit``, ``additional_headers``
        (rate-limit headers, and every header as ``llm_provider-<name>``). Keys written to it are kept."""
        return _HiddenParams(self)

    def __repr__(self) -> str:
        return f"<ModelResponse {self.id} model={self.model!r} provider={self._provider!r}>"


class _HiddenParams(dict[str, Any]):
    """A fresh view of a response's metadata; what is written to it is kept on the response."""

    def __init__(self, resp: ModelResponse) -> None:
        headers = resp._headers
        extra = {k: v for k, v in headers.items() if k.lower().startswith("x-ratelimit-")}
        extra.update({f"llm_provider-{k}": v for k, v in headers.items()})
        super().__init__(
            custom_llm_provider=resp._provider, response_cost=resp._cost, api_base=resp._api_base or None,
            model_id=None, cache_hit=resp._cache_hit, additional_headers=extra,
        )  # fmt: skip
        self.update(resp._hidden_extra)
        self._resp = resp

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._resp._hidden_extra[key] = value


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
    function_call: DeltaFunction | None = None


class StreamChoice(_Obj):
    index: int = 0
    delta: Delta = Field(default_factory=Delta)
    finish_reason: FinishReason | None = None
    logprobs: ChoiceLogprobs | Any = None


class StreamChunk(_Obj):
    """One ``chat.completion.chunk`` of a stream."""

    id: str = Field(default_factory=new_id)
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str = ""
    choices: list[StreamChoice] = Field(default_factory=list)
    usage: Usage | None = None

    _provider: str = PrivateAttr(default="")
    _usage: Usage | None = PrivateAttr(default=None)  # usage the stream withheld (no include_usage)

    @property
    def provider(self) -> str:
        return _private(self, "_provider")  # type: ignore[no-any-return]


# LiteLLM's names for the same types.
Choices = Choice
StreamingChoices = StreamChoice
ModelResponseStream = StreamChunk


# ---------------------------------------------------------------- building without re-validation
#
# A protocol module hands over plain data (freshly parsed JSON, normalised). Validating it again with
# pydantic costs more than the rest of the response's path; ``response_from`` / ``chunk_from`` build
# the same objects directly when every value already has its field's exact type, and leave anything
# else (a value of another type, logprobs, a field the fast path does not know) to pydantic, field by
# field: the result is the object ``model_validate`` gives (tests/test_types_build.py compares them).


class _Slow(Exception):
    """A value the fast path does not build: pydantic validates it instead."""


_NONE = type(None)
_object_new = object.__new__
_object_set = object.__setattr__
# the slots of every pydantic model, set directly (cheaper than object.__setattr__ by name)
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


class _Types(frozenset[type]):
    """A field that takes a value of exactly one of these types as it is."""


class _Values(frozenset[Any]):
    """A ``Literal`` field: a string (or None) among these values."""


def _exact(*types: type) -> _Types:
    return _Types(types)


def _literal(values: frozenset[Any]) -> _Values:
    return _Values(values)


class _Nested:
    """A field holding a model (``many``: a list of them), None allowed when ``optional``."""

    __slots__ = ("cls", "many", "optional")

    def __init__(self, cls: type[_Obj], optional: bool, many: bool) -> None:
        self.cls, self.optional, self.many = cls, optional, many


def _model(cls: type[_Obj], optional: bool = True) -> _Nested:
    return _Nested(cls, optional, False)


def _models(cls: type[_Obj], optional: bool = True) -> _Nested:
    return _Nested(cls, optional, True)


def _dicts(v: Any) -> Any:
    if v is None:
        return None
    if type(v) is not list or any(type(x) is not dict for x in v):
        raise _Slow
    return [dict(x) for x in v]  # validation copies them too (a parser may keep its own)


_none_only = _Values({None})


_Check = _Types | _Values | _Nested | Callable[[Any], Any]


class _Spec:
    """How to build one model class: each field's check (checked in line for exact types and
    literals, called otherwise), the defaults, the private attributes."""

    __slots__ = (
        "checks", "defaults", "exact", "factories", "factory_names", "literal", "nested", "private",
        "private_factories", "required",
    )  # fmt: skip

    def __init__(self, cls: type[_Obj], checks: dict[str, _Check]) -> None:
        assert set(checks) == set(cls.model_fields), cls
        self.exact = {k: c for k, c in checks.items() if isinstance(c, _Types)}
        self.literal = {k: c for k, c in checks.items() if isinstance(c, _Values)}
        self.nested = {k: c for k, c in checks.items() if isinstance(c, _Nested)}
        self.checks = {k: c for k, c in checks.items() if callable(c)}
        self.required = frozenset(k for k, f in cls.model_fields.items() if f.is_required())
        self.defaults: dict[str, Any] = {}
        self.factories: list[tuple[str, Callable[[], Any]]] = []
        for name, field in cls.model_fields.items():
            if field.default_factory is not None:
                self.defaults[name] = None  # keeps the field order; filled when absent
                self.factories.append((name, field.default_factory))  # type: ignore[arg-type]
            else:
                self.defaults[name] = field.default
        self.factory_names = frozenset(name for name, _ in self.factories)
        private = cls.__private_attributes__
        self.private: dict[str, Any] | None = {
            k: None if p.default_factory is not None else p.default for k, p in private.items()
        } if private else None  # fmt: skip
        factories = [(k, p.default_factory) for k, p in private.items() if p.default_factory is not None]
        self.private_factories: list[tuple[str, Callable[[], Any]]] = factories  # type: ignore[assignment]

    def parts(self) -> tuple[Any, ...]:
        """What ``_build`` reads, in its order (one unpacking instead of an attribute load each)."""
        return (
            self.exact, self.nested, self.literal, self.checks, self.defaults, self.required, self.factory_names,
            self.factories, self.private, self.private_factories,
        )  # fmt: skip


_SPECS: dict[type[_Obj], tuple[Any, ...]] = {}  # each class's _Spec.parts()
_SPEC_OF: dict[type[_Obj], _Spec] = {}  # each class's _Spec


def _build(cls: type[_Obj], data: dict[str, Any]) -> Any:
    """``cls`` from plain ``data`` whose values are of the field types; a sub-object that is not
    plain is validated by pydantic on its own (``_Slow`` from this level: the caller validates it)."""
    spec = _SPECS[cls]
    exact, nested, literal, checks, defaults, required, factory_names, factories, private, private_factories = spec
    values = defaults.copy()
    extra: dict[str, Any] = {}
    try:
        for k, v in data.items():
            types = exact.get(k)
            if types is not None:
                if type(v) not in types:
                    raise _Slow
                values[k] = v
                continue
            sub = nested.get(k)
            if sub is not None:
                if v is None and sub.optional:
                    values[k] = None
                elif not sub.many:
                    if type(v) is not dict:
                        raise _Slow
                    values[k] = _build(sub.cls, v)
                elif type(v) is list:
                    built = []
                    for x in v:
                        built.append(_build(sub.cls, x) if type(x) is dict else sub.cls.model_validate(x))
                    values[k] = built
                else:
                    raise _Slow
                continue
            allowed = literal.get(k)
            if allowed is not None:
                if (type(v) is not str and v is not None) or v not in allowed:
                    raise _Slow
                values[k] = v
                continue
            check = checks.get(k)
            if check is None:
                extra[k] = v
            else:
                values[k] = check(v)
    except _Slow:
        return cls.model_validate(data)
    if required and not data.keys() >= required:
        return cls.model_validate(data)  # it raises the error
    fields_set = set(data)  # pydantic counts the extra fields as set too
    if not factory_names <= fields_set:
        for name, factory in factories:
            if name not in fields_set:
                values[name] = factory()
    if private is not None:
        private = private.copy()
        for name, factory in private_factories:
            private[name] = factory()
    return _assemble(cls, values, fields_set, extra, private)


def _assemble(
    cls: type[_Obj], values: dict[str, Any], fields_set: set[str], extra: dict[str, Any], private: dict[str, Any] | None
) -> Any:
    """A ``cls`` holding these field values, fields set, extras and private attributes, as pydantic keeps them."""
    obj = _object_new(cls)
    _object_set(obj, "__dict__", values)
    _set_fields_set(obj, fields_set)
    _set_extra(obj, extra)
    _set_private(obj, private)
    return obj


def response_from(data: dict[str, Any]) -> ModelResponse:
    """A :class:`ModelResponse` from a protocol's parsed answer: what ``ModelResponse.model_validate(data)``
    gives (and raises), built without validating again the values that already have their types.
    The common answer (text messages, plain usage) is built in line (:func:`_text_answer`), every
    other one by ``_build``."""
    if type(data) is not dict:
        return ModelResponse.model_validate(data)
    resp = _text_answer(data)
    return _build(ModelResponse, data) if resp is None else resp


def chunk_from(data: dict[str, Any], provider: str = "") -> StreamChunk:
    """A :class:`StreamChunk` from a protocol's parsed stream event, as :func:`response_from` builds
    answers; ``provider`` is the chunk's ``provider``. The common chunk (one choice, text or a role
    alone in its delta) is built in line (:func:`_text_chunk`), every other one by ``_build``."""
    if type(data) is dict:
        fast = _text_chunk(data, provider)
        if fast is not None:
            return fast
        chunk: StreamChunk = _build(StreamChunk, data)
    else:
        chunk = StreamChunk.model_validate(data)
    if provider:
        chunk.__pydantic_private__["_provider"] = provider  # type: ignore[index] # (no pydantic setattr)
    return chunk


_CHUNK_KEYS = frozenset(StreamChunk.model_fields)
_CHOICE_KEYS = frozenset(StreamChoice.model_fields)
_TEXT_DELTA_KEYS = frozenset({"content", "role"})
_FINISH = frozenset(FinishReason.__args__)  # type: ignore[attr-defined]
_CHUNK_OBJECT = StreamChunk.model_fields["object"].default


def _text_chunk(data: dict[str, Any], provider: str) -> StreamChunk | None:
    """The chunk ``_build`` makes of ``data`` when it is the common one: id, created and one choice whose
    delta holds text or a role alone (str or None), no logprobs, no usage; None for any other shape.
    Most chunks of a stream are this one: three objects straight from their values, without the
    generic builder's loop over the class's checks."""
    choices = data.get("choices")
    if type(choices) is not list or len(choices) != 1:
        return None
    choice = choices[0]
    if type(choice) is not dict:
        return None
    delta = choice.get("delta")
    if type(delta) is not dict or not _TEXT_DELTA_KEYS.issuperset(delta) or not _CHOICE_KEYS.issuperset(choice):
        return None
    cid, created, model = data.get("id"), data.get("created"), data.get("model", "")
    content, role = delta.get("content"), delta.get("role")
    index, reason = choice.get("index", 0), choice.get("finish_reason")
    if (
        type(cid) is not str
        or type(created) is not int
        or type(model) is not str
        or (content is not None and type(content) is not str)
        or (role is not None and type(role) is not str)
        or type(index) is not int
        or (reason is not None and (type(reason) is not str or reason not in _FINISH))
        or choice.get("logprobs") is not None
        or data.get("usage") is not None
        or type(kind := data.get("object", _CHUNK_OBJECT)) is not str
        or kind != _CHUNK_OBJECT
    ):
        return None
    # every field, in the class's order (tests compare the result with model_validate's, field by field);
    # a copy of a dict of the defaults is cheaper than a dict display
    values = _DELTA_VALUES.copy()
    values["role"], values["content"] = role, content
    d = _assemble(Delta, values, set(delta), {}, None)
    values = _CHOICE_VALUES.copy()
    values["index"], values["delta"], values["finish_reason"] = index, d, reason
    c = _assemble(StreamChoice, values, set(choice), {}, None)
    values = _CHUNK_VALUES.copy()
    values["id"], values["created"], values["model"], values["choices"] = cid, created, model, [c]
    private = _CHUNK_PRIVATE.copy()
    private["_provider"] = provider
    return _assemble(StreamChunk, values, set(data), _extras(data, _CHUNK_KEYS), private)  # type: ignore[no-any-return]


_ANSWER_KEYS = frozenset(ModelResponse.model_fields)
_ANSWER_CHOICE_KEYS = frozenset(Choice.model_fields)
_MESSAGE_KEYS = frozenset(Message.model_fields)
_ANSWER_OBJECT = ModelResponse.model_fields["object"].default


def _extras(data: dict[str, Any], known: frozenset[str]) -> dict[str, Any]:
    """The fields of ``data`` a model does not declare (kept as they are, as pydantic keeps them)."""
    if data.keys() <= known:
        return {}
    return {k: v for k, v in data.items() if k not in known}


def _text_answer(data: dict[str, Any]) -> ModelResponse | None:
    """The answer ``_build`` makes of ``data`` when it is the common one: id, created, choices whose
    messages hold text (no tool calls, no thinking blocks, no logprobs) and a usage of plain counts;
    None for any other shape. Straight from the values, without the generic builder's loops."""
    choices = data.get("choices")
    cid, created, model, fp = data.get("id"), data.get("created"), data.get("model", ""), data.get("system_fingerprint")
    kind = data.get("object", _ANSWER_OBJECT)
    if (
        type(choices) is not list
        or type(cid) is not str
        or type(created) is not int
        or type(model) is not str
        or (fp is not None and type(fp) is not str)
        or type(kind) is not str
        or kind != _ANSWER_OBJECT
    ):
        return None
    built = []
    for choice in choices:
        c = _text_choice(choice)
        if c is None:
            return None
        built.append(c)
    usage = data.get("usage")
    if usage is not None:
        usage = _plain_usage(usage)
        if usage is None:
            return None
    values = _ANSWER_VALUES.copy()
    values["id"], values["created"], values["model"], values["choices"] = cid, created, model, built
    values["usage"], values["system_fingerprint"] = usage, fp
    private = _ANSWER_PRIVATE.copy()
    for name, factory in _ANSWER_PRIVATE_FACTORIES:
        private[name] = factory()
    return _assemble(ModelResponse, values, set(data), _extras(data, _ANSWER_KEYS), private)  # type: ignore[no-any-return]


def _text_choice(choice: Any) -> Choice | None:
    if type(choice) is not dict:
        return None
    message = choice.get("message")
    index, reason = choice.get("index", 0), choice.get("finish_reason", "stop")
    if (
        type(message) is not dict
        or type(index) is not int
        or (reason is not None and (type(reason) is not str or reason not in _FINISH))
        or choice.get("logprobs") is not None
    ):
        return None
    role, content, reasoning = (
        message.get("role", "assistant"),
        message.get("content"),
        message.get("reasoning_content"),
    )
    if (
        type(role) is not str
        or role not in _ROLES
        or (content is not None and type(content) is not str)
        or (reasoning is not None and type(reasoning) is not str)
        or message.get("tool_calls") is not None
        or message.get("thinking_blocks") is not None
        or message.get("function_call") is not None
    ):
        return None
    values = _MESSAGE_VALUES.copy()
    values["role"], values["content"], values["reasoning_content"] = role, content, reasoning
    m = _assemble(Message, values, set(message), _extras(message, _MESSAGE_KEYS), _MESSAGE_PRIVATE.copy())
    values = _CHOICE_ANSWER_VALUES.copy()
    values["index"], values["message"], values["finish_reason"] = index, m, reason
    return _assemble(Choice, values, set(choice), _extras(choice, _ANSWER_CHOICE_KEYS), None)  # type: ignore[no-any-return]


def _plain_usage(usage: Any) -> Usage | None:
    """A usage of int counts (details: int or None counts), or None for any other shape."""
    if type(usage) is not dict:
        return None
    values = _USAGE_VALUES.copy()
    extra: dict[str, Any] = {}
    for key, value in usage.items():
        if key in _USAGE_COUNTS:
            if type(value) is not int:
                return None
            values[key] = value
        elif key in _USAGE_DETAILS:
            if value is not None:
                cls = _USAGE_DETAILS[key]
                value = _counts(cls, value)
                if value is None:
                    return None
            values[key] = value
        else:
            extra[key] = value  # a field the model does not declare: kept as it is, as pydantic does
    return _assemble(Usage, values, set(usage), extra, None)  # type: ignore[no-any-return]


def _counts(cls: type[_Obj], data: Any) -> Any:
    """A usage-details object whose declared fields are int or None counts, or None for any other shape."""
    if type(data) is not dict:
        return None
    fields = _DETAILS_DEFAULTS[cls]
    values = fields.copy()
    extra: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            extra[key] = value  # a count the model does not declare: kept as it is, as pydantic does
        elif value is not None and type(value) is not int:
            return None
        else:
            values[key] = value
    return _assemble(cls, values, set(data), extra, None)


_USAGE_COUNTS = frozenset({"prompt_tokens", "completion_tokens", "total_tokens"})
_USAGE_DETAILS: dict[str, type[_Obj]] = {"prompt_tokens_details": PromptTokensDetails,
                                         "completion_tokens_details": CompletionTokensDetails}  # fmt: skip


def _specs() -> None:
    s, i, n = str, int, _NONE
    finish = _literal(frozenset(FinishReason.__args__) | {None})  # type: ignore[attr-defined]
    details: dict[type[_Obj], dict[str, _Check]] = {
        PromptTokensDetails: {"cached_tokens": _exact(i, n), "audio_tokens": _exact(i, n)},
        CompletionTokensDetails: {k: _exact(i, n) for k in CompletionTokensDetails.model_fields},
        Usage: {
            "prompt_tokens": _exact(i), "completion_tokens": _exact(i), "total_tokens": _exact(i),
            "prompt_tokens_details": _model(PromptTokensDetails),
            "completion_tokens_details": _model(CompletionTokensDetails),
        },
        Function: {"name": _exact(s, n), "arguments": _exact(s)},
        ToolCall: {"id": _exact(s), "type": _literal(frozenset({"function"})), "function": _model(Function, False)},
        Message: {
            "role": _literal(frozenset({"assistant", "user", "system", "tool", "developer"})),
            "content": _exact(s, n), "tool_calls": _models(ToolCall), "reasoning_content": _exact(s, n),
            "thinking_blocks": _dicts, "function_call": _model(Function),
        },
        Choice: {"index": _exact(i), "message": _model(Message, False), "finish_reason": finish,
                 "logprobs": _none_only},
        ModelResponse: {
            "id": _exact(s), "object": _literal(frozenset({"chat.completion"})), "created": _exact(i),
            "model": _exact(s), "choices": _models(Choice, False), "usage": _model(Usage),
            "system_fingerprint": _exact(s, n),
        },
        DeltaFunction: {"name": _exact(s, n), "arguments": _exact(s, n)},
        DeltaToolCall: {"index": _exact(i), "id": _exact(s, n), "type": _literal(frozenset({"function", None})),
                        "function": _model(DeltaFunction)},
        Delta: {
            "role": _exact(s, n), "content": _exact(s, n), "tool_calls": _models(DeltaToolCall),
            "reasoning_content": _exact(s, n), "thinking_blocks": _dicts, "function_call": _model(DeltaFunction),
        },
        StreamChoice: {"index": _exact(i), "delta": _model(Delta, False), "finish_reason": finish,
                       "logprobs": _none_only},
        StreamChunk: {
            "id": _exact(s), "object": _literal(frozenset({"chat.completion.chunk"})), "created": _exact(i),
            "model": _exact(s), "choices": _models(StreamChoice, False), "usage": _model(Usage),
        },
    }  # fmt: skip
    for cls, checks in details.items():
        spec = _SPEC_OF[cls] = _Spec(cls, checks)
        _SPECS[cls] = spec.parts()


_specs()
# What the in-line builders start from (copied for each object): each class's defaults in its field
# order (a placeholder for a default factory or a required field: always given) and private attributes, as
# its _Spec holds them for ``_build``.
_DELTA_VALUES = _SPEC_OF[Delta].defaults
_CHOICE_VALUES = _SPEC_OF[StreamChoice].defaults
_CHUNK_VALUES = _SPEC_OF[StreamChunk].defaults
_CHUNK_PRIVATE: dict[str, Any] = _SPEC_OF[StreamChunk].private or {}
_ANSWER_VALUES = _SPEC_OF[ModelResponse].defaults
_ANSWER_PRIVATE: dict[str, Any] = _SPEC_OF[ModelResponse].private or {}
_ANSWER_PRIVATE_FACTORIES = _SPEC_OF[ModelResponse].private_factories
_MESSAGE_VALUES = _SPEC_OF[Message].defaults
_MESSAGE_PRIVATE: dict[str, Any] = _SPEC_OF[Message].private or {}
_ROLES: frozenset[Any] = _SPEC_OF[Message].literal["role"]
_CHOICE_ANSWER_VALUES = _SPEC_OF[Choice].defaults
_USAGE_VALUES = _SPEC_OF[Usage].defaults
_DETAILS_DEFAULTS = {cls: _SPEC_OF[cls].defaults for cls in _USAGE_DETAILS.values()}
