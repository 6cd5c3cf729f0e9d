"""Pure mapping of provider batch APIs: input lines, result lines (documented shapes), errors, splitting."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

import volley
from volley.batch_api import (
    BatchInfo,
    BatchItemCanceled,
    BatchItemError,
    BatchItemExpired,
    batch_discount,
    custom_id,
    index_of,
    split,
    split_options,
)
from volley.batch_api import _anthropic as an
from volley.batch_api import _openai as oa
from volley.batch_api.run import body_of, to_result
from volley.prepare import Template

FIX = Path(__file__).parent / "fixtures" / "batch_api"
MSGS = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]


def _call(model: str, **params):
    return Template(model, {"api_key": "sk-test-0123456789", "api_base": "http://fake.invalid/v1", **params}).call(MSGS)


def _info(provider: str, status: str = "completed", errors: list[str] | None = None) -> BatchInfo:
    return BatchInfo(provider, "batch_1", status, True, errors=errors or [])


def test_openai_input_line_carries_the_online_body() -> None:
    call = _call("openai/gpt-4o-mini", temperature=0, max_tokens=5)
    line = json.loads(oa.line("volley-7", body_of(call)))
    assert line == {"custom_id": "volley-7", "method": "POST", "url": "/v1/chat/completions", "body": call.request.body}
    data = oa.jsonl([("volley-0", body_of(call)), ("volley-1", body_of(call))])
    assert data.count(b"\n") == 2 and data.endswith(b"\n")


def test_anthropic_request_is_the_online_body_without_stream() -> None:
    call = _call("anthropic/claude-3-5-haiku-latest", max_tokens=5)
    req = an.request("volley-0", {**call.request.body, "stream": True})
    assert req == {"custom_id": "volley-0", "params": call.request.body}
    assert req["params"]["system"] == "be brief" and "stream" not in req["params"]


def test_openai_output_and_error_files() -> None:
    got = oa.parse_jsonl((FIX / "openai_output.jsonl").read_bytes())
    got.update(oa.parse_jsonl((FIX / "openai_errors.jsonl").read_bytes()))
    assert {k: v.kind for k, v in got.items()} == {
        "volley-0": "succeeded",
        "volley-2": "succeeded",
        "volley-1": "errored",
        "volley-3": "expired",
        "volley-4": "canceled",
    }
    call = _call("openai/gpt-4o-mini")
    ok = to_result(call, "volley-0", got["volley-0"], _info("openai"))
    assert isinstance(ok, volley.ModelResponse) and ok.choices[0].message.content == "Hello."
    assert ok.provider == "openai" and batch_discount(ok) == 0.5 and ok._batch_id == "batch_1"
    tool = to_result(call, "volley-2", got["volley-2"], _info("openai"))
    assert tool.choices[0].finish_reason == "tool_calls"
    assert tool.choices[0].message.tool_calls[0].function.name == "get_weather"

    err = to_result(call, "volley-1", got["volley-1"], _info("openai"))
    assert type(err) is BatchItemError and err.reason == "errored"
    assert (err.status_code, err.error_type) == (400, "invalid_request_error")
    assert "maximum context length" in err.message
    assert isinstance(err.online_error, volley.ContextWindowExceededError)
    assert (err.batch_id, err.custom_id, err.provider, err.model) == ("batch_1", "volley-1", "openai", "gpt-4o-mini")
    expired = to_result(call, "volley-3", got["volley-3"], _info("openai", "expired"))
    assert isinstance(expired, BatchItemExpired) and expired.error_type == "batch_expired"
    assert expired.online_error is None
    canceled = to_result(call, "volley-4", got["volley-4"], _info("openai", "cancelled"))
    assert isinstance(canceled, BatchItemCanceled) and canceled.reason == "canceled"


def test_anthropic_results_file() -> None:
    got = an.parse_jsonl((FIX / "anthropic_results.jsonl").read_bytes())
    call = _call("anthropic/claude-3-5-haiku-latest")
    info = _info("anthropic", "ended")
    out = {cid: to_result(call, cid, item, info) for cid, item in got.items()}
    ok = out["volley-0"]
    assert ok.choices[0].message.content == "Hello again! It's nice to see you."
    assert ok.choices[0].finish_reason == "stop" and ok.usage.total_tokens == 47
    assert ok.provider == "anthropic" and batch_discount(ok) == 0.5
    bad = out["volley-1"]
    assert (bad.reason, bad.status_code, bad.error_type) == ("errored", 400, "invalid_request_error")
    assert isinstance(bad.online_error, volley.ContextWindowExceededError)  # "prompt is too long"
    assert isinstance(out["volley-2"], BatchItemExpired)
    assert isinstance(out["volley-3"], BatchItemCanceled)
    overloaded = out["volley-4"]
    assert (overloaded.status_code, overloaded.error_type) == (529, "overloaded_error")
    assert isinstance(overloaded.online_error, volley.InternalServerError)


@pytest.mark.parametrize(
    ("status", "kind", "reason"),
    [("expired", BatchItemExpired, "expired"), ("cancelled", BatchItemCanceled, "canceled"),
     ("canceling", BatchItemCanceled, "canceled"), ("failed", BatchItemError, "failed"),
     ("completed", BatchItemError, "missing")],
)  # fmt: skip
def test_item_without_a_result_takes_the_batch_outcome(status: str, kind: type, reason: str) -> None:
    exc = to_result(_call("openai/gpt-4o-mini"), "volley-5", None, _info("openai", status, ["line 3: bad: nope"]))
    assert type(exc) is kind and exc.reason == reason
    if reason == "failed":
        assert "line 3: bad: nope" in exc.message


def test_batch_info_of_each_provider() -> None:
    o = oa.batch_info({"id": "batch_1", "status": "validating", "request_counts": {"total": 0, "completed": 0}})
    assert (o.done, o.total) == (False, None)
    o = oa.batch_info(
        {
            "id": "batch_1",
            "status": "failed",
            "errors": {"object": "list", "data": [{"code": "duplicate_custom_id", "message": "dup", "line": 2}]},
        }
    )
    assert o.done and o.errors == ["line 2: duplicate_custom_id: dup"]
    counts = {"processing": 0, "succeeded": 3, "errored": 1, "canceled": 0, "expired": 1}
    a = an.batch_info({"id": "msgbatch_1", "processing_status": "ended", "request_counts": counts})
    assert (a.done, a.total, a.to_dict()["counts"]) == (True, 5, counts)


def test_split_by_count_and_bytes() -> None:
    assert split([5, 5, 5, 20, 5], max_requests=2, max_bytes=12) == ([[0, 1], [2, 4]], [3])
    assert split([1] * 7, max_requests=3, max_bytes=100) == ([[0, 1, 2], [3, 4, 5], [6]], [])
    assert split([4, 4, 4], max_requests=10, max_bytes=8) == ([[0, 1], [2]], [])
    assert split([], max_requests=1, max_bytes=1) == ([], [])


def test_custom_ids_and_options() -> None:
    assert [index_of(custom_id(i)) for i in (0, 7, 12345)] == [0, 7, 12345]
    assert index_of("req-1") is None and index_of("volley-x") is None
    options, rest = split_options({"poll_interval": 1, "fallback": "online", "temperature": 0})
    assert options == {"poll_interval": 1, "fallback": "online"} and rest == {"temperature": 0}


def test_item_errors_pickle() -> None:
    exc = BatchItemExpired("gone", provider="openai", model="m", batch_id="b", custom_id="volley-1", error_type="x")
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is BatchItemExpired
    assert (again.reason, again.batch_id, again.custom_id, again.error_type) == ("expired", "b", "volley-1", "x")
    assert "BatchItemExpired" in repr(again) and "gone" in str(again)
    assert batch_discount(volley.ModelResponse()) == 1.0
