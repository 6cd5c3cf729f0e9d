"""The [fast] extra's helpers give the standard library's bytes and errors (orjson when installed)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from volley import _fast


def std_dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@pytest.fixture(params=["fast", "off"])
def mode(request, monkeypatch):
    if request.param == "off":
        monkeypatch.setenv("VOLLEY_FAST", "0")
    _fast.reset()
    yield request.param
    _fast.reset()


CASES = [
    {"model": "m", "messages": [{"role": "user", "content": 'héllo 日本 \U0001f600 \x01 \x7f \\u0041 "q"'}]},
    {"temperature": 0.7, "top_p": 1.0, "x": 1e-07, "y": 1e16, "z": 123456789.123, "w": -0.0, "v": 5e-324},
    {"big": 2**64, "neg": -(2**63), "max": 2**63 - 1, "b": True, "n": None, "t": (1, "a")},
    {1: "int key"},
    {"nan": math.nan, "inf": math.inf},
    {"nested": [[[[{"a": [1, 2.5, "x"]}]]]]},
    "just a string",
    [],
    {},
    # long ASCII bodies (the plain path's ASCII encoder): DEL, control characters, a non-ASCII field elsewhere
    {"model": "m", "messages": [{"role": "user", "content": "a" * 5000 + "\x7f"}]},
    {"model": "m", "messages": [{"role": "user", "content": 'line\n\t\x01 \\u0041 "q" ' * 500}]},
    {"model": "m", "messages": [{"role": "user", "content": "a" * 5000}], "stop": ["é"], "user": "x\x7f"},
]


@pytest.mark.parametrize("obj", CASES, ids=range(len(CASES)))
def test_dumps_gives_the_standard_librarys_bytes(mode, obj):
    assert _fast.dumps(obj) == std_dumps(obj)


def test_dumps_refuses_what_the_standard_library_refuses(mode):
    for bad in ({"s": "\ud800"}, {"o": object()}, {"e": __import__("enum").Enum("E", "a").a}):
        with pytest.raises(type(_error(std_dumps, bad))):
            _fast.dumps(bad)


def _error(fn, arg):
    try:
        fn(arg)
    except Exception as exc:
        return exc
    raise AssertionError("no error")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


def dumps_like_the_standard_library(obj):
    """``_fast.dumps(obj)``: the standard library's bytes, or its error."""
    try:
        want = std_dumps(obj)
    except Exception as exc:
        with pytest.raises(type(exc)):
            _fast.dumps(obj)
        return
    assert _fast.dumps(obj) == want


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_dumps_matches_on_any_json_value(obj):
    _fast.reset()
    dumps_like_the_standard_library(obj)


def test_turned_off_or_absent_gives_no_loop_factory(monkeypatch):
    monkeypatch.setenv("VOLLEY_FAST", "0")
    assert _fast.loop_factory() is None
    monkeypatch.setenv("VOLLEY_FAST", "1")
    try:
        import uvloop
    except ImportError:
        assert _fast.loop_factory() is None
    else:
        assert _fast.loop_factory() is uvloop.new_event_loop


ascii_heavy = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x7F)) | st.text()


@pytest.mark.parametrize("fast", ["1", "0"])
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(contents=st.lists(ascii_heavy, min_size=1, max_size=3), extra=st.dictionaries(st.text(max_size=4), json_values,
                                                                                     max_size=3))  # fmt: skip
def test_request_bodies_match_with_and_without_the_extra(fast, monkeypatch, contents, extra):
    # the plain path encodes long ASCII bodies with the faster ASCII encoder: the same bytes or its fallback
    monkeypatch.setenv("VOLLEY_FAST", fast)
    _fast.reset()
    long = [c * (1 + _fast._LONG // max(len(c), 1)) for c in contents]  # past the ASCII encoder's threshold
    for texts in (contents, long):
        dumps_like_the_standard_library({"model": "m", "messages": [{"role": "user", "content": c} for c in texts],
                                         **extra})  # fmt: skip
    _fast.reset()


# ------------------------------------------------------------------ loads (stream events)


def same_value(a, b) -> bool:
    """Equal and of the same types all the way down (``2**64 == 2.0**64`` is not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b or (isinstance(a, float) and math.copysign(1, a) == math.copysign(1, b))


LOADS_CASES = [
    '{"id": "c", "created": 1700000000, "choices": [{"index": 0, "delta": {"content": "h\\u00e9"}}], "usage": null}',
    '{"big": 18446744073709551616, "neg": -9223372036854775809, "max": 18446744073709551615}',
    '{"huge": 123456789012345678901234567890}',
    "18446744073709551616",
    "[ 18446744073709551616, 1,-18446744073709551617,\t99999999999999999999]",
    '{"a":\n18446744073709551616, "b":\r\n-18446744073709551617}',
    '{"id": "chatcmpl-000000000000000000000001", "n": 12, "s": "x 1234567890123456789012"}',
    "[1.0000000000000000001, 0.1000000000000000055511151231257827, 5e-324, -0.0, -0, 1e16]",
    '{"nan": NaN, "inf": Infinity, "ninf": -Infinity}',
    "[1e400]",
    '"\\ud800 lone surrogate escape"',
    '{"a": 1, "a": 2, "b": [true, false, null]}',
    "  [] ",
    '"日本 \U0001f600"',
]


@pytest.mark.parametrize("text", LOADS_CASES, ids=range(len(LOADS_CASES)))
def test_loads_gives_the_standard_librarys_values(mode, text):
    assert same_value(_fast.loads(text), json.loads(text))


@pytest.mark.parametrize("text", LOADS_CASES, ids=range(len(LOADS_CASES)))
def test_loads_of_bytes_gives_the_standard_librarys_values(mode, text):
    for raw in (text.encode("utf-8", "surrogatepass"), text.encode("utf-16")):
        try:
            want = json.loads(raw)
        except Exception as exc:
            with pytest.raises(type(exc)):
                _fast.loads(raw)
            continue
        assert same_value(_fast.loads(raw), want)


def test_loads_refuses_what_the_standard_library_refuses(mode):
    for bad in ("{", "[1,]", '{"a": 1} x', "\ufeff{}", '"\x01"', "[" * 100_000 + "]" * 100_000, "", "tru"):
        with pytest.raises(type(_error(json.loads, bad))):
            _fast.loads(bad)


def test_loads_takes_a_literal_lone_surrogate_as_json_does(mode):
    text = '"\ud800"'
    assert _fast.loads(text) == json.loads(text)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_loads_matches_on_any_json_value(obj):
    _fast.reset()
    text = json.dumps(obj, ensure_ascii=False)
    assert same_value(_fast.loads(text), json.loads(text))
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no UTF-8 body carries it
        return
    assert same_value(_fast.loads(raw), json.loads(raw))
