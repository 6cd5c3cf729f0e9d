import math

import pytest

import volley

OK = [{"role": "user", "content": "hi"}]


def bad(messages=OK, **params):
    with pytest.raises(volley.InvalidRequestError) as ei:
        volley.completion("openai/m", messages, api_key="k", api_base="http://127.0.0.1:9/v1", **params)
    assert isinstance(ei.value, ValueError) and isinstance(ei.value, volley.BadRequestError)
    return str(ei.value)


@pytest.mark.parametrize(
    ("messages", "needle"),
    [
        ("hello", "list of message dicts"),
        ([], "empty"),
        (["hi"], "messages[0] must be a dict"),
        ([{"role": "wizard", "content": "x"}], "messages[0].role"),
        ([{"role": "user"}], "messages[0].content is missing"),
        ([{"role": "user", "content": 5}], "messages[0].content must be"),
        ([{"role": "user", "content": [{"text": "no type"}]}], "messages[0].content[0]"),
        ([{"role": "user", "content": "\ud800"}], "not valid Unicode"),
        ([{"role": "tool", "content": "x"}], "tool_call_id"),
    ],
)
def test_bad_messages(messages, needle):
    assert needle in bad(messages)


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"temperature": math.nan}, "temperature"),
        ({"temperature": 3}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"n": -1}, "n must"),
        ({"stop": 5}, "stop"),
        ({"tools": [{"type": "function", "function": {"name": "bad name!"}}]}, "tools[0].function.name"),
        ({"tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}]}, "parameters"),
        ({"tools": "f"}, "tools must be a list"),
        ({"response_format": {"type": "yaml"}}, "response_format"),
        ({"frobnicate": 1}, "unknown parameter 'frobnicate'"),
        ({"timeout": -1}, "timeout"),
        ({"num_retries": -2}, "num_retries"),
    ],
)
def test_bad_params(params, needle):
    assert needle in bad(**params)


def test_assistant_tool_call_without_content_is_fine():
    msgs = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]  # fmt: skip
    r = volley.completion("gpt-4o", msgs, mock_response="ok")
    assert r.choices[0].message.content == "ok"


def test_unsupported_param_error_and_drop_params():
    with pytest.raises(volley.UnsupportedParamsError, match="drop_params"):
        volley.completion("anthropic/claude-x", OK, api_key="k", n=2, api_base="http://127.0.0.1:9")


def test_batch_rejects_a_single_message_list():
    with pytest.raises(volley.InvalidRequestError, match="list of message lists"):
        volley.batch_completion("gpt-4o", OK, mock_response="x")


def test_bad_item_in_batch_raises_before_sending():
    batch = [OK, OK, [{"role": "user", "content": 7}]]
    with pytest.raises(volley.InvalidRequestError, match=r"messages\[2\]\[0\].content"):
        volley.batch_completion("openai/m", batch, api_key="k", api_base="http://127.0.0.1:9/v1")
