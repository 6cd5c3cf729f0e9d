import pickle

from openai.types.chat import ChatCompletion, ChatCompletionChunk

import volley
from volley.errors import error_from_status, retry_after_seconds
from volley.types import ModelResponse

MSG = [{"role": "user", "content": "one two three"}]


def test_attribute_and_dict_access_and_plain_dump():
    r = volley.completion("gpt-4o-mini", MSG, mock_response="hello there")
    assert r.choices[0].message.content == r["choices"][0]["message"]["content"] == "hello there"
    assert r.get("system_fingerprint", "none") == "none"
    assert "usage" in r and r["usage"]["total_tokens"] == 3 + 2
    dumped = r.model_dump()
    assert isinstance(dumped["choices"][0]["message"], dict)
    ChatCompletion.model_validate(dumped)
    assert r.provider == "openai" and r.latency is not None and r.latency >= 0


def test_unknown_provider_fields_are_kept():
    r = ModelResponse.model_validate(
        {"model": "m", "choices": [{"message": {"content": "x"}, "finish_reason": "stop"}], "x_groq": {"id": "q"}}
    )
    assert r["x_groq"] == {"id": "q"} and r.model_dump()["x_groq"] == {"id": "q"}


def test_mock_stream_rebuilds():
    chunks = list(volley.completion("claude-3-5-haiku-latest", MSG, mock_response="a b c", stream=True,
                                    stream_options={"include_usage": True}))  # fmt: skip
    for c in chunks:
        ChatCompletionChunk.model_validate(c.model_dump())
    assert chunks[-1].usage.completion_tokens == 3
    full = volley.stream_chunk_builder(chunks)
    assert full.choices[0].message.content == "a b c"
    assert full.choices[0].finish_reason == "stop"
    assert full.usage.total_tokens == 6


def test_stream_chunk_builder_merges_tool_call_fragments():
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    tc = lambda **kw: {**base, "choices": [{"index": 0, "delta": {"tool_calls": [kw]}, "finish_reason": None}]}  # noqa: E731
    chunks = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": None}, "finish_reason": None}]},
        tc(index=0, id="call_a", type="function", function={"name": "get", "arguments": ""}),
        tc(index=0, function={"arguments": '{"ci'}),
        tc(index=0, function={"arguments": 'ty":"Paris"}'}),
        tc(index=1, id="call_b", type="function", function={"name": "put", "arguments": "{}"}),
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {**base, "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}},
    ]
    full = volley.stream_chunk_builder(chunks)
    calls = full.choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["get", "put"]
    assert calls[0].function.arguments == '{"city":"Paris"}' and calls[0].id == "call_a"
    assert full.choices[0].finish_reason == "tool_calls" and full.usage.total_tokens == 12
    ChatCompletion.model_validate(full.model_dump())


def test_mock_response_exception_is_raised():
    err = volley.RateLimitError("slow down", retry_after=1)
    try:
        volley.completion("gpt-4o", MSG, mock_response=err)
    except volley.RateLimitError as e:
        assert e is err
    else:
        raise AssertionError("mock exception not raised")


def test_error_mapping_by_status():
    cases = {
        400: volley.BadRequestError, 401: volley.AuthenticationError, 403: volley.PermissionDeniedError,
        404: volley.NotFoundError, 429: volley.RateLimitError, 500: volley.InternalServerError,
        503: volley.ServiceUnavailableError, 529: volley.InternalServerError,
    }  # fmt: skip
    for status, cls in cases.items():
        e = error_from_status(status, "m", provider="p", model="x")
        assert type(e) is cls and e.status_code == status
    assert isinstance(error_from_status(403, "no"), volley.AuthenticationError)
    ctx = error_from_status(400, "This model's maximum context length is 8192 tokens")
    assert isinstance(ctx, volley.ContextWindowExceededError)
    assert isinstance(error_from_status(400, "prompt is too long: 210000 tokens"), volley.ContextWindowExceededError)


def test_retry_after_headers():
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({}) is None
    e = error_from_status(429, "slow", headers={"retry-after": "7"})
    assert e.retry_after == 7.0 and e.retryable


def test_errors_scrub_secrets_and_pickle():
    e = error_from_status(401, "Incorrect API key provided: sk-live-abcdef123456", secrets=["sk-live-abcdef123456"])
    assert "sk-live-abcdef123456" not in str(e) + repr(e) + e.message
    e2 = pickle.loads(pickle.dumps(e))
    assert type(e2) is type(e) and e2.status_code == 401 and e2.message == e.message


def test_all_models_failed_carries_each_error():
    e = volley.AllModelsFailedError({"a": volley.Timeout("slow"), "b": volley.NotFoundError("gone")})
    assert isinstance(e.exceptions["a"], volley.Timeout) and "gone" in str(e)
