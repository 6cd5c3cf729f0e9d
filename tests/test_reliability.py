"""Faults, cancellation, bad input, secrets and concurrency: a batch never hangs, loses, duplicates or leaks."""

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import volley

KEY = "sk-secret-DO-NOT-LEAK-7f3a9c"
Q = [{"role": "user", "content": "hello there"}]

# (provider model, base attribute): one per wire protocol
WIRES = [("openai/m", "openai_base"), ("anthropic/m", "url"), ("cohere/m", "url"), ("gemini/m", "url")]
WIRE_IDS = ["openai", "anthropic", "cohere", "gemini"]


def kw(fake, base="openai_base", **extra):
    return {"api_key": KEY, "api_base": getattr(fake, base), "retry_delay": 0.01, "timeout": 2, **extra}


def run(model, fake, base, stream, **extra):
    out = volley.completion(model, Q, stream=stream, **kw(fake, base, **extra))
    return volley.stream_chunk_builder(list(out)) if stream else out


# ------------------------------------------------------------------ the fault matrix

RETRIED = ["500s", "429s", "drop", "stall", "malformed", "html"]  # faults a retry gets past
FAULTS = {
    "500s": [500, 502, 503],
    "429s": [429, 429],
    "drop": ["drop"],
    "stall": ["stall"],
    "malformed": ["malformed"],
    "html": ["html"],
}


# in a stream the fake sends its malformed event mid-stream: see test_broken_streams_raise_a_typed_error
RETRIED_CASES = [(f, s) for f in RETRIED for s in (False, True) if not (s and f == "malformed")]
RETRIED_IDS = [f"{f}-{'sse' if s else 'json'}" for f, s in RETRIED_CASES]


@pytest.mark.parametrize(("fault", "stream"), RETRIED_CASES, ids=RETRIED_IDS)
@pytest.mark.parametrize(("model", "base"), WIRES, ids=WIRE_IDS)
def test_fault_is_retried_then_succeeds(fake, model, base, stream, fault):
    fake.script("m", failures=FAULTS[fault], retry_after=0.05)
    # timeout: what a stall costs before its retry; long enough that the answer after it is never cut
    # short on a loaded machine (the request count below would then be off by one)
    r = run(model, fake, base, stream, num_retries=3, timeout=2.0)
    assert r.choices[0].message.content == "echo: hello there"
    assert len(fake.requests) == len(FAULTS[fault]) + 1


EXPECTED = {
    "500s": volley.InternalServerError,
    "429s": volley.RateLimitError,
    "drop": volley.APIConnectionError,
    "stall": volley.Timeout,
    "malformed": volley.APIConnectionError,
    "html": volley.InternalServerError,
}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("fault", RETRIED)
@pytest.mark.parametrize(("model", "base"), WIRES, ids=WIRE_IDS)
def test_fault_without_retries_is_a_typed_error(fake, model, base, stream, fault):
    fake.script("m", failures=FAULTS[fault][:1], retry_after=0.05)
    t0 = time.perf_counter()
    with pytest.raises(EXPECTED[fault]) as ei:
        run(model, fake, base, stream, num_retries=0, timeout=0.5)
    assert time.perf_counter() - t0 < 2  # never hangs
    assert KEY not in str(ei.value) + repr(ei.value)


@pytest.mark.parametrize("fault", ["truncate", "stream_error", "drop_after_headers", "malformed"])
@pytest.mark.parametrize(("model", "base"), WIRES, ids=WIRE_IDS)
def test_broken_streams_raise_a_typed_error(fake, model, base, fault):
    # the break comes after the first chunks were delivered, so it cannot be retried transparently
    fake.script("m", failures=[fault])
    t0 = time.perf_counter()
    with pytest.raises(volley.APIError) as ei:
        run(model, fake, base, True, num_retries=3)
    assert time.perf_counter() - t0 < 2
    assert type(ei.value) is not volley.APIError or ei.value.status_code  # a specific, typed error


@pytest.mark.parametrize(("model", "base"), WIRES, ids=WIRE_IDS)
def test_body_cut_after_headers_is_retried(fake, model, base):
    fake.script("m", failures=["drop_after_headers"])
    r = run(model, fake, base, False, num_retries=1)
    assert r.choices[0].message.content == "echo: hello there"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_slow_body_within_the_timeout_succeeds_and_past_it_times_out(fake, stream):
    fake.script("m", failures=["slow_body"], slow_body=0.05)
    assert run("openai/m", fake, "openai_base", stream, num_retries=0, timeout=2).choices[0].message.content
    fake.script("m", failures=["slow_body"], slow_body=1.0)
    with pytest.raises(volley.Timeout):
        run("openai/m", fake, "openai_base", stream, num_retries=0, timeout=0.3)


@pytest.mark.parametrize(("model", "base"), WIRES, ids=WIRE_IDS)
def test_a_faulty_batch_keeps_every_item_once_in_order(fake, model, base):
    fake.script("m", fail_rate=0.3, seed=11)
    msgs = [[{"role": "user", "content": f"item {i}"}] for i in range(40)]
    out = volley.batch_completion(model, msgs, max_workers=8, num_retries=8, **kw(fake, base, rpm=1e6))
    assert [r.choices[0].message.content for r in out] == [f"echo: item {i}" for i in range(40)]
    answered = [r.json["messages"] if r.json and "messages" in r.json else r.json for r in fake.requests]
    assert len(answered) >= 40


def test_a_faulty_batch_without_retries_loses_nothing(fake):
    fake.script("m", fail_rate=0.5, seed=3, latency=(0.0, 0.02))
    msgs = [[{"role": "user", "content": f"item {i}"}] for i in range(60)]
    out = volley.batch_completion("openai/m", msgs, num_retries=0, deadline=10, **kw(fake, rpm=1e6))
    assert len(out) == 60
    for i, r in enumerate(out):
        if isinstance(r, volley.ModelResponse):
            assert r.choices[0].message.content == f"echo: item {i}"
        else:
            assert isinstance(r, (volley.InternalServerError, volley.APIConnectionError))
    assert 0 < sum(isinstance(r, Exception) for r in out) < 60


# ------------------------------------------------------------------ cancellation


def _script(body: str) -> str:
    return textwrap.dedent(body)


def test_cancelled_async_batch_closes_everything_without_warnings(fake):
    fake.script("m", latency=5)
    code = _script(f"""
        import asyncio, volley
        async def main():
            t = asyncio.ensure_future(volley.abatch_completion(
                "openai/m", [[{{"role": "user", "content": str(i)}}] for i in range(5)],
                api_base="{fake.openai_base}", api_key="k", rpm=1e6))
            await asyncio.sleep(2.0)  # the 5 requests reach the server (it answers after 5 s), even under load
            t.cancel()
            try:
                await t
            except asyncio.CancelledError:
                print("cancelled")
        asyncio.run(main())
    """)
    out = subprocess.run([sys.executable, "-W", "error::ResourceWarning", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "cancelled" in out.stdout
    assert "Unclosed" not in out.stderr and "unclosed" not in out.stderr, out.stderr
    deadline = time.monotonic() + 3
    while fake.disconnects < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.disconnects == 5


def test_ctrl_c_in_the_sync_api_cancels_the_requests(fake):
    fake.script("m", latency=30)
    code = _script(f"""
        import volley
        print("start", flush=True)
        try:
            volley.batch_completion("openai/m", [[{{"role": "user", "content": str(i)}}] for i in range(4)],
                                    api_base="{fake.openai_base}", api_key="k", rpm=1e6)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "start"
    deadline = time.monotonic() + 10
    while fake.in_flight < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.in_flight == 4
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert "interrupted" in out, err
    assert "Unclosed" not in err, err
    deadline = time.monotonic() + 3
    while fake.disconnects < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.disconnects == 4


# ------------------------------------------------------------------ bad input, property-tested

_json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3),
)  # fmt: skip
_json = st.recursive(
    _json_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3)
)
_role = st.one_of(st.sampled_from(["user", "system", "assistant", "tool", "wizard", "", None]), st.integers())
_message = st.one_of(
    st.fixed_dictionaries({"role": _role, "content": _json}),
    st.fixed_dictionaries({"role": _role}),
    _json,
)
_messages = st.one_of(st.lists(_message, max_size=3), _json)
_params = st.dictionaries(
    st.sampled_from(["temperature", "top_p", "max_tokens", "n", "stop", "tools", "response_format", "seed",
                     "frobnicate", "tool_choice", "user"]),
    _json, max_size=3,
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=_messages, params=_params)
def test_bad_input_is_a_clear_error_before_any_request(fake_server, messages, params):
    before = len(fake_server.requests)
    try:
        r = volley.completion("openai/m", messages, api_key=KEY, api_base=fake_server.openai_base, num_retries=0,
                              **params)  # fmt: skip
    except (ValueError, volley.BadRequestError) as e:
        assert len(fake_server.requests) == before  # refused before sending
        assert str(e) and "Traceback" not in str(e)
    except volley.APIError as e:  # sent; the server refused it (e.g. a tool_choice it could not honour)
        assert e.status_code is not None and e.status_code < 500
    else:
        assert isinstance(r, volley.ModelResponse)


def test_huge_string_is_sent_fine(fake):
    big = "word " * 200_000
    r = volley.completion("openai/m", [{"role": "user", "content": big}], **kw(fake))
    assert r.choices[0].message.content.startswith("echo: word word")


# ------------------------------------------------------------------ secrets


def test_key_never_in_logs_errors_or_reprs(fake, caplog):
    caplog.set_level(logging.DEBUG)
    fake.script("m", failures=[500, 500, 401])
    with pytest.raises(volley.AuthenticationError) as ei:
        volley.completion("openai/m", Q, num_retries=3, **kw(fake))
    fake.script("m", fail_rate=1.0, seed=1)
    out = volley.batch_completion("openai/m", [Q, Q], num_retries=1, **kw(fake))
    texts = [caplog.text, str(ei.value), repr(ei.value), *map(str, out), *map(repr, out)]
    from volley.prepare import prepare

    call = prepare("openai/m", Q, kw(fake))
    texts += [repr(call), repr(call.request), repr(call.route)]
    assert "retrying" in caplog.text  # the DEBUG log did record the failures
    for t in texts:
        assert KEY not in t


def test_key_echoed_by_a_server_is_scrubbed(fake):
    from volley.errors import error_from_status

    e = error_from_status(401, f"Incorrect API key provided: {KEY}", secrets=[KEY])
    assert KEY not in str(e) and "***" in str(e)


# ------------------------------------------------------------------ concurrency


def test_after_fork_both_processes_can_call(fake):
    assert volley.completion("openai/m", Q, **kw(fake)).choices[0].message.content  # parent's loop thread runs
    pid = os.fork()
    if pid == 0:  # child: a fresh loop thread, a fresh session
        code = 1
        try:
            r = volley.completion("openai/m", [{"role": "user", "content": "from child"}], **kw(fake))
            code = 0 if r.choices[0].message.content == "echo: from child" else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert volley.completion("openai/m", Q, **kw(fake)).choices[0].message.content


async def test_sync_api_inside_a_running_loop(fake):
    # Jupyter: the caller's thread runs a loop; the sync call must not deadlock nor need nest_asyncio
    r = volley.completion("openai/m", Q, **kw(fake))
    assert r.choices[0].message.content == "echo: hello there"
    out = volley.batch_completion("openai/m", [Q, Q], **kw(fake))
    assert len(out) == 2 and all(isinstance(x, volley.ModelResponse) for x in out)
    await asyncio.sleep(0)
