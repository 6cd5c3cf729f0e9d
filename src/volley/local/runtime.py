"""The llama-cpp-python side of a local model: loading it safely on every CPU, and running one request.

Only the worker process imports this module (and with it ``llama_cpp``).

**CPU safety.** llama.cpp puts weights in "extra" buffer types when it can: repacked layouts and, on
Intel CPUs with AMX, AMX tiles. llama-cpp-python 0.3.36 built natively on an Intel Xeon with
AVX-512 + AMX segfaults in ``ggml_backend_amx_mul_mat`` on the first prompt of two or more tokens
(SmolLM2-135M Q4_1); with the model parameter ``use_extra_bufts = False`` the same build answers
correctly. ``VOLLEY_LOCAL_EXTRA_BUFTS`` chooses:

- ``auto`` (default): off on CPUs that report AMX (``amx_int8`` / ``amx_tile`` in /proc/cpuinfo),
  on elsewhere — and the worker checks each load with a short prompt, so a crash there on any other
  CPU makes the caller restart the worker with them off (see ``volley.local.pool``);
- ``0``: always off; ``1``: always on (no fallback); ``try``: on, with the fallback, on every CPU.

llama-cpp-python does not expose ``use_extra_bufts`` as a ``Llama`` argument; :func:`load` sets it
on the model parameters that ``Llama`` builds, for the duration of the load only.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

_llama_cls: Any = None
SELF_TEST_TEXT = b"The quick brown fox jumps over the lazy dog."


def cpu_flags() -> frozenset[str]:
    """The CPU feature flags Linux reports (empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def extra_bufts_default() -> tuple[bool, bool]:
    """``(use_extra_bufts, fallback_allowed)`` from ``VOLLEY_LOCAL_EXTRA_BUFTS`` and the CPU."""
    setting = (os.environ.get("VOLLEY_LOCAL_EXTRA_BUFTS") or "auto").strip().lower()
    if setting in ("0", "off", "false", "no"):
        return False, False
    if setting in ("1", "on", "true", "yes"):
        return True, False
    if setting == "try":
        return True, True
    return not (cpu_flags() & {"amx_int8", "amx_tile"}), True


def load_options() -> dict[str, Any]:
    """``Llama(...)`` settings. Token generation uses half the CPUs (llama.cpp's own advice, physical cores):
    for a model this small, more threads gain little on an idle machine and lose a lot when another process
    holds a core (measured on 2 cores: 1 thread 120-128 tok/s steady; 2 threads 130 idle, 70 under load).
    Prompt processing uses all of them. ``VOLLEY_LOCAL_N_CTX`` / ``VOLLEY_LOCAL_N_THREADS`` override."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return {
        "n_ctx": int(os.environ.get("VOLLEY_LOCAL_N_CTX") or 2048),
        "n_threads": int(os.environ.get("VOLLEY_LOCAL_N_THREADS") or max(1, cpus // 2)),
        "n_threads_batch": int(os.environ.get("VOLLEY_LOCAL_N_THREADS") or max(1, cpus)),
        "verbose": False,
    }


@contextlib.contextmanager
def model_params(**fields: Any) -> Iterator[None]:
    """Within the block, every ``Llama(...)`` built gets these llama.cpp model-parameter fields.

    Fields this llama-cpp-python does not know are ignored (older releases have no ``use_extra_bufts``).
    """
    import llama_cpp.llama_cpp as low

    original = low.llama_model_default_params

    def with_fields() -> Any:
        params = original()
        for name, value in fields.items():
            if hasattr(params, name):
                setattr(params, name, value)
        return params

    low.llama_model_default_params = with_fields
    try:
        yield
    finally:
        low.llama_model_default_params = original


def load(path: str, *, extra_bufts: bool, self_test: bool = True) -> Any:
    """Load ``path`` with :func:`load_options`; with ``self_test``, evaluate a short prompt once.

    A CPU-specific crash in llama.cpp's matrix code shows on the first prompt of two or more tokens;
    the self-test makes it happen at load, where the caller can restart with safer settings, rather
    than in the middle of a user's request.
    """
    cls = llama_class()
    with model_params(use_extra_bufts=extra_bufts):
        llama = cls(model_path=path, **load_options())
    if self_test:
        tokens = llama.tokenize(SELF_TEST_TEXT)[:8]
        llama.eval(tokens)
        llama.reset()
    return llama


class Run:
    """One request's controls, shared between the worker's reader thread and its model thread."""

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self.deadline: float | None = None
        self.cancel = threading.Event()
        self.timed_out = False
        self.prompt_tokens = 0
        self.sampled = 0
        self.last_token: int | None = None
        self.started = 0.0
        self.ended = 0.0

    def start(self) -> None:
        self.started = time.time()
        if self.timeout is not None:
            self.deadline = time.monotonic() + self.timeout

    def should_stop(self) -> bool:
        if self.cancel.is_set():
            return True
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.timed_out = True
            return True
        return False

    def stats(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "thread": threading.current_thread().name,
            "started": self.started,
            "ended": self.ended or time.time(),
            "sampled": self.sampled,
            "prompt_tokens": self.prompt_tokens,
            "cancelled": self.cancel.is_set(),
            "timed_out": self.timed_out,
        }


def llama_class() -> Any:
    """``llama_cpp.Llama`` with a hook that counts tokens and stops on cancel or timeout."""
    global _llama_cls
    if _llama_cls is not None:
        return _llama_cls
    import llama_cpp

    class VolleyLlama(llama_cpp.Llama):
        volley_run: Run | None = None

        def generate(self, tokens: Any, *args: Any, **kwargs: Any) -> Any:
            run = self.volley_run
            gen = super().generate(tokens, *args, **kwargs)
            if run is None:
                yield from gen
                return
            run.prompt_tokens = len(tokens)
            try:
                for tok in gen:
                    if run.should_stop():
                        return
                    run.sampled += 1
                    run.last_token = tok
                    yield tok
            finally:
                gen.close()

        def volley_completion_tokens(self) -> int:
            """Tokens the answer holds: every sampled token but a final end-of-generation one."""
            run = self.volley_run
            if run is None or not run.sampled:
                return 0
            return run.sampled - (1 if run.last_token is not None and self.volley_is_eog(run.last_token) else 0)

        def volley_is_eog(self, token: int) -> bool:
            is_eog = getattr(llama_cpp, "llama_vocab_is_eog", None)
            if is_eog is not None:
                return bool(is_eog(self._model.vocab, token))
            is_eog = getattr(llama_cpp, "llama_token_is_eog", None)  # older llama-cpp-python
            if is_eog is not None:
                return bool(is_eog(self._model.model, token))
            return token == self.token_eos()

    _llama_cls = VolleyLlama
    return _llama_cls


def complete(llama: Any, messages: list[dict[str, Any]], kwargs: dict[str, Any], run: Run) -> dict[str, Any]:
    """One non-stream chat completion (llama-cpp-python's dict). Stops early on cancel or timeout."""
    llama.volley_run = run
    run.start()
    try:
        return dict(llama.create_chat_completion(messages=messages, stream=False, **kwargs))
    finally:
        llama.volley_run = None
        run.ended = time.time()


def stream(
    llama: Any, messages: list[dict[str, Any]], kwargs: dict[str, Any], run: Run, emit: Callable[[Any], None]
) -> dict[str, int]:
    """Emit each chunk dict; return the usage. Stops at the next token on cancel or timeout."""
    llama.volley_run = run
    run.start()
    it = llama.create_chat_completion(messages=messages, stream=True, **kwargs)
    try:
        for ch in it:
            if run.cancel.is_set() or run.timed_out:
                break
            emit(ch)
        completion = llama.volley_completion_tokens()
        return {"prompt_tokens": run.prompt_tokens, "completion_tokens": completion,
                "total_tokens": run.prompt_tokens + completion}  # fmt: skip
    finally:
        it.close()
        llama.volley_run = None
        run.ended = time.time()
