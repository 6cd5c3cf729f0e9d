"""completion() end to end: every provider's wire format through the fake server."""

import json

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

import volley

KEY = "sk-test-key-0123456789"
HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello world"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]

# (volley model name, model name the server sees, which base to use, wire path fragment)
PROVIDERS = [
    ("openai/gpt-x", "gpt-x", "openai_base", "/v1/chat/completions"),
    ("anthropic/claude-x", "claude-x", "url", "/v1/messages"),
    ("cohere/command-x", "command-x", "url", "/v2/chat"),
    ("gemini/gemini-x", "gemini-x", "url", "generateContent"),
    ("groq/llama-x", "llama-x", "openai_base", "/v1/chat/completions"),
]
IDS = [p[0].split("/")[0] for p in PROVIDERS]


def kw(fake, base_attr, **extra):
    return {"api_key": KEY, "api_base": getattr(fake, base_attr), "num_retries": 0, **extra}


@pytest.mark.parametrize(("model", "served", "base", "path"), PROVIDERS, ids=IDS)
def test_text_answer(fake, model, served, base, path):
    r = volley.completion(model, HELLO, **kw(fake, base))
    assert r.choices[0].message.content == "echo: hello world"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.completion_tokens == 3 and r.usage.total_tokens == r.usage.prompt_tokens + 3
    assert r.provider == model.split("/")[0] and r.latency > 0
    assert r.response_headers  # real headers from the answer
    ChatCompletion.model_validate(r.model_dump())
    (rec,) = fake.requests
    assert path in rec.path and rec.model == served
    assert KEY in json.dumps(rec.headers) or rec.query.get("key") == KEY  # the key went in the provider's header


@pytest.mark.parametrize(("model", "served", "base", "path"), PROVIDERS, ids=IDS)
def test_stream_rebuilds_to_the_same_answer(fake, model, served, base, path):
    chunks = list(volley.completion(model, HELLO, stream=True, **kw(fake, base)))
    for c in chunks:
        ChatCompletionChunk.model_validate(c.model_dump())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: hello world"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    # no stream_options: no chunk shows usage and every chunk has a choice (OpenAI's shape) ...
    assert all(c.usage is None and c.choices for c in chunks)
    full = volley.stream_chunk_builder(chunks)  # ... yet the provider's usage is kept for the rebuild
    assert full.choices[0].message.content == "echo: hello world" and full.usage.completion_tokens == 3
    with_usage = list(volley.completion(model, HELLO, stream=True, stream_options={"include_usage": True},
                                        **kw(fake, base)))  # fmt: skip
    assert with_usage[-1].choices == [] and with_usage[-1].usage.completion_tokens == 3
    assert all(c.usage is None for c in with_usage[:-1])


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize(("model", "served", "base", "path"), PROVIDERS, ids=IDS)
def test_tool_calls(fake, model, served, base, path, stream):
    fake.script(served, tool_call={"name": "get_weather", "arguments": {"city": "Paris"}})
    msgs = [{"role": "user", "content": "weather in Paris?"}]
    out = volley.completion(model, msgs, tools=TOOLS, tool_choice="auto", stream=stream, **kw(fake, base))
    r = volley.stream_chunk_builder(list(out)) if stream else out
    (call,) = r.choices[0].message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    assert call.id and call.type == "function"
    assert r.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize(("model", "served", "base", "path"), PROVIDERS, ids=IDS)
def test_max_tokens_gives_length(fake, model, served, base, path):
    msgs = [{"role": "user", "content": "one two three four five six"}]
    r = volley.completion(model, msgs, max_tokens=2, **kw(fake, base))
    assert r.choices[0].finish_reason == "length"
    assert r.choices[0].message.content == "echo: one"


@pytest.mark.parametrize(("model", "served", "base", "path"), PROVIDERS, ids=IDS)
def test_multi_turn_history_with_tool_results_is_accepted(fake, model, served, base, path):
    msgs = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
        {"role": "user", "content": "thanks, and tomorrow"},
    ]  # fmt: skip
    r = volley.completion(model, msgs, tools=TOOLS, **kw(fake, base))
    assert r.choices[0].message.content.endswith("thanks, and tomorrow")


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, volley.BadRequestError),
        (401, volley.AuthenticationError),
        (403, volley.PermissionDeniedError),
        (404, volley.NotFoundError),
        (429, volley.RateLimitError),
        (500, volley.InternalServerError),
        (503, volley.ServiceUnavailableError),
    ],
)
@pytest.mark.parametrize(("model", "served", "base", "path"), PROVIDERS[:4], ids=IDS[:4])
def test_error_statuses_map_to_classes(fake, model, served, base, path, status, cls):
    fake.script(served, failures=[status])
    with pytest.raises(cls) as ei:
        volley.completion(model, HELLO, **kw(fake, base))
    e = ei.value
    assert e.status_code == status and e.provider == model.split("/")[0] and e.model == served
    assert e.message and "{" not in e.message  # the provider's message, read out of its error body
    assert KEY not in str(e) + repr(e)
    if status == 429:
        assert e.retry_after is not None


def test_missing_key_at_server_is_authentication_error(fake):
    with pytest.raises(volley.AuthenticationError):
        volley.completion("llamacpp/x", HELLO, api_base=fake.openai_base, num_retries=0)


def test_retries_transient_failures(fake):
    fake.script("gpt-x", failures=[500, "drop", 429])
    r = volley.completion("openai/gpt-x", HELLO, **kw(fake, "openai_base", num_retries=3, retry_delay=0.01))
    assert r.choices[0].message.content == "echo: hello world"
    assert len(fake.requests) == 4


def test_no_retry_on_bad_request(fake):
    fake.script("gpt-x", failures=[400, 400])
    with pytest.raises(volley.BadRequestError):
        volley.completion("openai/gpt-x", HELLO, **kw(fake, "openai_base", num_retries=3, retry_delay=0.01))
    assert len(fake.requests) == 1


def test_timeout(fake):
    fake.script("gpt-x", failures=["stall"])
    with pytest.raises(volley.Timeout):
        volley.completion("openai/gpt-x", HELLO, timeout=0.3, **kw(fake, "openai_base"))


@pytest.mark.parametrize(("model", "served", "base", "path"), PROVIDERS[:4], ids=IDS[:4])
def test_malformed_body_is_a_connection_error(fake, model, served, base, path):
    fake.script(served, failures=["malformed"])
    with pytest.raises(volley.APIConnectionError, match="malformed JSON"):
        volley.completion(model, HELLO, **kw(fake, base))


def test_html_error_page(fake):
    fake.script("gpt-x", failures=["html"])
    with pytest.raises(volley.InternalServerError, match="Bad Gateway") as ei:
        volley.completion("openai/gpt-x", HELLO, **kw(fake, "openai_base"))
    assert ei.value.status_code == 502


@pytest.mark.parametrize(("model", "served", "base", "path"), PROVIDERS[:4], ids=IDS[:4])
def test_truncated_stream_is_an_error(fake, model, served, base, path):
    fake.script(served, failures=["truncate"])
    with pytest.raises(volley.APIConnectionError):
        list(volley.completion(model, HELLO, stream=True, **kw(fake, base)))


@pytest.mark.parametrize(("model", "served", "base", "path"), PROVIDERS[:4], ids=IDS[:4])
def test_error_event_mid_stream(fake, model, served, base, path):
    fake.script(served, failures=["stream_error"])
    with pytest.raises(volley.APIError):
        list(volley.completion(model, HELLO, stream=True, **kw(fake, base)))


def test_drop_params(fake):
    r = volley.completion("anthropic/claude-x", HELLO, n=2, seed=3, drop_params=True, **kw(fake, "url"))
    assert r.choices[0].message.content == "echo: hello world"
    assert "n" not in fake.requests[0].json and "seed" not in fake.requests[0].json


def test_params_mapped_on_the_wire(fake):
    volley.completion("anthropic/claude-x", HELLO, temperature=0.2, top_p=0.9, stop=["END"], **kw(fake, "url"))
    body = fake.requests[0].json
    assert body["system"] == "Be brief." and body["max_tokens"] == 4096
    assert body["stop_sequences"] == ["END"] and body["temperature"] == 0.2 and body["top_p"] == 0.9
    volley.completion("gemini/gemini-x", HELLO, temperature=0.3, max_tokens=7, **kw(fake, "url"))
    g = fake.requests[1].json
    assert g["systemInstruction"]["parts"][0]["text"] == "Be brief."
    assert g["generationConfig"]["maxOutputTokens"] == 7 and g["generationConfig"]["temperature"] == 0.3


def test_bad_input_sends_nothing(fake):
    with pytest.raises(volley.InvalidRequestError):
        volley.completion("openai/gpt-x", [{"role": "user", "content": 3}], **kw(fake, "openai_base"))
    with pytest.raises(volley.BadRequestError):
        volley.completion("nosuch/gpt-x", HELLO, **kw(fake, "openai_base"))
    assert fake.requests == []


async def test_acompletion_and_async_stream(fake):
    r = await volley.acompletion("cohere/command-x", HELLO, **kw(fake, "url"))
    assert r.choices[0].message.content == "echo: hello world"
    stream = await volley.acompletion("anthropic/claude-x", HELLO, stream=True, **kw(fake, "url"))
    text = ""
    async with stream:
        async for chunk in stream:
            text += chunk.choices[0].delta.content or "" if chunk.choices else ""
    assert text == "echo: hello world"


def test_sync_call_inside_a_running_event_loop(fake):
    import asyncio

    async def notebook_cell():
        return volley.completion("openai/gpt-x", HELLO, **kw(fake, "openai_base"))

    r = asyncio.run(notebook_cell())
    assert r.choices[0].message.content == "echo: hello world"


def test_sync_calls_from_many_threads(fake):
    from concurrent.futures import ThreadPoolExecutor

    def one(i):
        msgs = [{"role": "user", "content": f"thread {i}"}]
        return volley.completion("openai/gpt-x", msgs, **kw(fake, "openai_base")).choices[0].message.content

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(one, range(32))) == [f"echo: thread {i}" for i in range(32)]
