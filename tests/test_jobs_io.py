"""Input lines (OpenAI Batch format and simple lines) and output lines (Batch output format)."""

import json

import openai.types.chat as oai
import pytest

import volley
from volley.jobs.io import error_code, invalid_record, parse_line, result_record


def test_batch_format_line():
    line = {
        "custom_id": "req-1",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "temperature": 0},
    }
    item = parse_line(json.dumps(line), 3)
    assert item.error is None
    assert (item.custom_id, item.model, item.params) == ("req-1", "gpt-4o-mini", {"temperature": 0})
    assert item.messages == [{"role": "user", "content": "hi"}]


def test_simple_lines():
    item = parse_line('{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}', 17)
    assert item.custom_id == "line-17" and item.model is None and item.params == {"max_tokens": 5}
    item = parse_line('{"custom_id": 7, "prompt": "hello", "system": "be brief", "metadata": {"a": 1}}', 2)
    assert item.custom_id == "7"
    assert item.messages == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]
    assert item.params == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"custom_id": "a"}', "no messages"),
        ('{"prompt": 3}', "prompt must be a string"),
        ('{"prompt": "a", "messages": []}', "not both"),
        ('{"messages": [{"role": "robot", "content": "x"}]}', "role"),
        ('{"messages": []}', "empty"),
        ('{"prompt": "a", "api_key": "sk-x"}', "cannot be set per line"),
        ('{"prompt": "a", "stream": true}', "cannot be set per line"),
        ('{"body": {"messages": [{"role": "user", "content": "x"}]}, "url": "/v1/embeddings"}', "not supported"),
        ('{"body": {"messages": [{"role": "user", "content": "x"}]}, "method": "GET"}', "method"),
        ('{"body": {"messages": [{"role": "user", "content": "x"}]}, "extra": 1}', "unknown key"),
        ('{"prompt": "a", "model": 5}', "model must be"),
    ],
)
def test_malformed_lines_say_why(text, message):
    item = parse_line(text, 9)
    assert item.error is not None and message in item.error
    record = invalid_record(item)
    assert record["response"] is None and record["error"]["code"] == "invalid_request"
    assert record["error"]["message"].startswith("line 9: ")


def test_invalid_utf8_is_a_line_error():
    assert "UTF-8" in parse_line(b'{"prompt": "\xff"}', 1).error


def test_success_record_is_batch_output_with_a_chat_completion_body():
    r = volley.completion("gpt-4o-mini", [{"role": "user", "content": "hi"}], mock_response="hello")
    rec = result_record("q1", r)
    assert set(rec) == {"id", "custom_id", "response", "error"}
    assert rec["id"].startswith("batch_req_") and rec["custom_id"] == "q1" and rec["error"] is None
    assert rec["response"]["status_code"] == 200
    oai.ChatCompletion.model_validate(rec["response"]["body"])
    assert json.loads(json.dumps(rec)) == rec


def test_failure_records():
    err = volley.RateLimitError("slow down", status_code=429, headers={"x-request-id": "req_9"})
    rec = result_record("q2", err)
    assert rec["error"] == {"code": "rate_limit_error", "message": "slow down"}
    assert rec["response"]["status_code"] == 429 and rec["response"]["request_id"] == "req_9"
    rec = result_record("q3", volley.APIConnectionError("connection reset"))
    assert rec["response"] is None and rec["error"]["code"] == "api_connection_error"
    assert error_code(volley.Timeout("t")) == "timeout"
