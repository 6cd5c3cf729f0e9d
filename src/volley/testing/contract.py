"""The provider contract: what every host + protocol must do, checked end to end against a fake wire.

``check_provider(model, server=..., api_base=..., api_key=...)`` sends real calls through volley to
a :class:`~volley.testing.FakeServer` (or any server speaking the host's wire) and checks that:

- a plain answer is a ``ModelResponse`` that validates as the openai SDK's ``ChatCompletion``
  (when the openai package is installed), with usage and a normal finish reason;
- the same prompt streamed gives chunks that validate as ``ChatCompletionChunk`` and rebuild
  (``stream_chunk_builder``) to the same text;
- a tool call comes back as an OpenAI ``tool_calls`` entry with JSON arguments, streamed and not;
- HTTP errors map to volley's typed errors (400 → ``BadRequestError``, 401 → ``AuthenticationError``,
  429 → ``RateLimitError``, 500 → ``InternalServerError``), with the provider and model named;
- the key never appears in an error's text (nor any of ``secrets``: the credentials a host is given
  otherwise than as ``api_key``, such as an AWS secret key or an OAuth token).

``check_parse(module, data, model)`` checks one recorded answer of a protocol module the same way
(for fixtures). A failed check raises ``AssertionError`` saying what is wrong.

Example::

    with FakeServer() as server:
        check_provider("openai/m", server=server, api_base=server.openai_base, api_key="k")
"""

from __future__ import annotations

import json
from typing import Any

from ..api import completion
from ..errors import APIError, AuthenticationError, BadRequestError, InternalServerError, RateLimitError
from ..streaming import stream_chunk_builder
from ..types import ModelResponse

PROMPT = [{"role": "user", "content": "contract check"}]
_PARAMS = {"type": "object", "properties": {"q": {"type": "string"}}}
TOOL = {"type": "function", "function": {"name": "lookup", "description": "Look a thing up", "parameters": _PARAMS}}
_ERRORS: tuple[tuple[int, type[APIError]], ...] = (
    (400, BadRequestError), (401, AuthenticationError), (429, RateLimitError), (500, InternalServerError),
)  # fmt: skip


def _openai_types() -> Any:
    try:
        from openai.types.chat import ChatCompletion, ChatCompletionChunk
    except ImportError:  # the oracle is optional
        return None
    return ChatCompletion, ChatCompletionChunk


def check_response(response: Any, *, where: str = "") -> ModelResponse:
    """``response`` is a well-formed chat completion (and an openai ``ChatCompletion`` when openai is installed)."""
    assert isinstance(response, ModelResponse), f"{where}: not a ModelResponse: {response!r}"
    assert response.choices, f"{where}: no choices"
    assert response.choices[0].finish_reason in ("stop", "length", "tool_calls", "content_filter"), (
        f"{where}: finish_reason {response.choices[0].finish_reason!r}"
    )
    oracle = _openai_types()
    if oracle is not None:
        oracle[0].model_validate(response.model_dump())
    return response


def check_parse(module: Any, data: dict[str, Any], model: str) -> ModelResponse:
    """One recorded provider answer through a protocol module's ``parse_response``: a valid completion."""
    return check_response(ModelResponse.model_validate(module.parse_response(data, model)), where=module.NAME)


def check_provider(model: str, *, server: Any, secrets: tuple[str, ...] = (), **params: Any) -> None:
    """Run the contract (see the module docstring) for ``model`` against ``server`` with ``params``
    (``api_base``, ``api_key`` and anything else the host needs); raises ``AssertionError`` if broken.
    ``secrets``: credential values besides ``api_key`` that no error may show."""
    name = model.partition("/")[2] or model  # the model as the server sees it
    kw = {"num_retries": 0, "timeout": 10, **params}
    hidden = [s for s in (params.get("api_key"), *secrets) if s]
    server.script(name, content="the contract answer")
    plain = check_response(completion(model, PROMPT, **kw), where=f"{model} answer")
    text = plain.choices[0].message.content
    assert text == "the contract answer", f"{model}: answer text {text!r}"
    assert plain.usage is not None and plain.usage.total_tokens > 0, f"{model}: no usage"
    chunks = list(completion(model, PROMPT, stream=True, **kw))
    oracle = _openai_types()
    if oracle is not None:
        for c in chunks:
            oracle[1].model_validate(c.model_dump())
    rebuilt = check_response(stream_chunk_builder(chunks), where=f"{model} stream")
    assert rebuilt.choices[0].message.content == text, f"{model}: the stream rebuilds to {rebuilt!r}"

    server.script(name, tool_call={"name": "lookup", "arguments": {"q": "x"}})
    for stream in (False, True):
        out: Any = completion(model, PROMPT, tools=[TOOL], stream=stream, **kw)
        r = stream_chunk_builder(list(out)) if stream else out
        calls = r.choices[0].message.tool_calls or []
        assert calls and calls[0].function.name == "lookup", f"{model}: no tool call (stream={stream}): {r!r}"
        assert json.loads(calls[0].function.arguments) == {"q": "x"}, f"{model}: arguments {calls[0].function}"

    for status, cls in _ERRORS:
        server.script(name, failures=[status], retry_after=None)
        try:
            completion(model, PROMPT, **kw)
        except APIError as exc:
            assert isinstance(exc, cls), f"{model}: HTTP {status} became {type(exc).__name__}, not {cls.__name__}"
            assert exc.provider and exc.model, f"{model}: HTTP {status} error does not name provider and model"
            shown = f"{exc} {exc!r} {exc.args} {exc.body!r}"
            assert not any(s in shown for s in hidden), f"{model}: a credential is in the error"
        else:
            raise AssertionError(f"{model}: HTTP {status} raised nothing")
    server.script(name)
