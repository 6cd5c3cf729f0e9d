"""The caller's side of local models: one worker process per model file, one request at a time.

A native crash of llama.cpp (segfault, abort, OOM kill) ends only the worker: the request it was
running gets a :class:`LocalModelCrashedError` naming the model and the signal or exit code, the
requests still queued here go to a fresh worker, and the caller carries on. If a worker dies by a
signal while loading (before it answered anything) with llama.cpp's extra buffer types on, it is
started again once with them off (see ``volley.local.runtime``).

Workers are plain subprocesses read by one thread each, so they serve every event loop (volley's
private loop for sync calls, and any loop of the caller's) and survive across them.

Example::

    w = volley.local.pool.worker("/models/smollm2.gguf", "smollm2")
    print(w.pid, w.extra_bufts, list(w.history)[-1]["sampled"])
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any

from ..errors import APIError, BadRequestError, LocalModelCrashedError, Timeout, error_from_status
from . import files
from .worker import FATAL_EXIT

#: How long past its own timeout a request may run before its worker is killed (a hung native call).
HARD_TIMEOUT_GRACE = 15.0
#: How long a cancelled request may take to stop before its worker is killed.
CANCEL_GRACE = 10.0
#: How long loading a model may take.
LOAD_TIMEOUT = 300.0
#: Finished runs remembered per worker (their stats: pid, start/end, tokens sampled, cancelled).
HISTORY = 256
_STDERR_TAIL = 2000


class _Job:
    """One request: its message to the worker, and where its events go (an asyncio queue on its loop)."""

    def __init__(self, rid: int, msg: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
        self.id = rid
        self.msg = msg
        self.loop = loop
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.done = False  # a final event (or an error) was delivered
        self.abandoned = False  # the caller left: nothing more is delivered
        self.sent_at: float | None = None
        self.cancel_at: float | None = None
        self.killed_for_timeout = False

    def deliver(self, event: dict[str, Any]) -> None:
        if self.abandoned or self.done:
            return
        if event.get("ev") in ("result", "end", "error", "cancelled", "crash"):
            self.done = True
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, event)
        except RuntimeError:  # the caller's loop is closed
            self.abandoned = True


def _describe(returncode: int) -> tuple[str, str | None, int | None]:
    if returncode < 0:
        try:
            sig = signal.Signals(-returncode)
            name = sig.name
            text = f"killed by {name} ({signal.strsignal(sig) or name})"
        except ValueError:
            name, text = f"signal {-returncode}", f"killed by signal {-returncode}"
        return text, name, None
    return f"exited with code {returncode}", None, returncode


class Worker:
    """One model file's worker process, restarted on demand; requests are sent one at a time."""

    def __init__(self, path: str, model: str) -> None:
        self.path = path
        self.model = model
        use, self._fallback = _runtime_default()
        self.extra_bufts = use
        self.history: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self.crashes = 0
        self.pid: int | None = None
        self._lock = threading.RLock()
        self._queue: deque[_Job] = deque()
        self._current: _Job | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._ready = False
        self._answered = False  # this process answered at least one request
        self._stderr: deque[str] = deque(maxlen=50)
        self._ids = itertools.count(1)
        self._idle = threading.Event()
        self._idle.set()
        self._watchdog: threading.Thread | None = None
        self._spawned_at = 0.0

    # ------------------------------------------------------------------ the caller's side

    def submit(self, msg: dict[str, Any]) -> _Job:
        job = _Job(next(self._ids), msg, asyncio.get_running_loop())
        with self._lock:
            self._queue.append(job)
            self._idle.clear()
            if self._proc is None:
                self._spawn()
            elif self._ready and self._current is None:
                self._send_next()
        return job

    def warm(self) -> None:
        """Start the process (and the load) now, if it is not running."""
        with self._lock:
            if self._proc is None:
                self._spawn()

    def cancel(self, job: _Job) -> None:
        """The caller no longer wants ``job``: drop it if queued, stop it if running."""
        with self._lock:
            job.abandoned = True
            if job in self._queue:
                self._queue.remove(job)
                self._check_idle()
            elif self._current is job and self._proc is not None and job.cancel_at is None:
                job.cancel_at = time.monotonic()
                self._write({"op": "cancel", "id": job.id})

    def idle(self, timeout: float = 30.0) -> bool:
        """Block until nothing is running or queued (tests)."""
        return self._idle.wait(timeout)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the worker process (tests, or a user's own watchdog)."""
        with self._lock:
            if self._proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    self._proc.send_signal(sig)

    def close(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.close()  # the worker exits when its stdin closes
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    # ------------------------------------------------------------------ process

    def _spawn(self) -> None:
        src = str(Path(__file__).resolve().parents[2])  # the directory holding the volley package
        env = dict(os.environ)
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        cmd = [sys.executable, "-m", "volley.local.worker", self.path]
        if not self.extra_bufts:
            cmd.append("--no-extra-bufts")
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            start_new_session=True,  # Ctrl-C reaches the caller, which cancels; not the worker directly
        )  # fmt: skip
        self._proc, self._ready, self._answered, self.pid = proc, False, False, proc.pid
        self._stderr.clear()
        started = self._spawned_at = time.monotonic()
        assert proc.stdout is not None and proc.stderr is not None
        threading.Thread(target=self._read, args=(proc, started), name="volley-local-reader", daemon=True).start()
        threading.Thread(target=self._drain, args=(proc.stderr,), name="volley-local-stderr", daemon=True).start()
        if self._watchdog is None or not self._watchdog.is_alive():
            self._watchdog = threading.Thread(target=self._watch, name="volley-local-watchdog", daemon=True)
            self._watchdog.start()

    def _write(self, msg: dict[str, Any]) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            return
        try:
            proc.stdin.write(json.dumps(msg, ensure_ascii=False).encode("utf-8") + b"\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass  # the reader thread sees the exit and handles it

    def _send_next(self) -> None:
        while self._queue:
            job = self._queue.popleft()
            if job.abandoned:
                continue
            self._current = job
            job.sent_at = time.monotonic()
            self._write({"op": "run", "id": job.id, **job.msg})
            return
        self._check_idle()

    def _check_idle(self) -> None:
        if self._current is None and not self._queue:
            self._idle.set()

    def _drain(self, stream: IO[bytes]) -> None:
        for raw in stream:
            text = raw.decode("utf-8", "replace").rstrip()
            if text:
                self._stderr.append(text)

    def _read(self, proc: subprocess.Popen[bytes], started: float) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            try:
                ev = json.loads(raw)
            except ValueError:
                continue
            self._on_event(proc, ev)
        returncode = proc.wait()
        self._on_exit(proc, returncode, time.monotonic() - started)

    def _on_event(self, proc: subprocess.Popen[bytes], ev: dict[str, Any]) -> None:
        kind = ev.get("ev")
        with self._lock:
            if proc is not self._proc:
                return
            if kind == "ready":
                self._ready = True
                self._send_next()
                return
            if kind == "fatal":  # the file cannot be loaded: every queued request gets that error
                err = _rebuild(ev.get("error") or {}, self.model, self.path, loading=True)
                for job in [*self._queue, *([self._current] if self._current else [])]:
                    job.deliver({"ev": "crash", "error": err})
                self._queue.clear()
                self._current = None
                return
            current = self._current
            if current is None or ev.get("id") != current.id:
                return
            job = current
            if kind == "chunk":
                job.deliver(ev)
                return
            if "stats" in ev:
                self.history.append(ev["stats"])
            self._answered = True
            job.deliver(ev)
            self._current = None
            self._send_next()

    def _on_exit(self, proc: subprocess.Popen[bytes], returncode: int, lived: float) -> None:
        with self._lock:
            if proc is not self._proc:
                return  # closed on purpose
            self._proc, self.pid = None, None
            if returncode == FATAL_EXIT:  # a load error, already given to those waiting then
                if self._queue:  # requests that came after it: try again for them
                    self._spawn()
                else:
                    self._check_idle()
                return
            self.crashes += 1
            what, sig, code = _describe(returncode)
            tail = " | ".join(list(self._stderr)[-3:])
            job, self._current = self._current, None
            if not self._ready and sig is not None and self.extra_bufts and self._fallback:
                # Died while loading with extra buffer types on: try once more with them off.
                self.extra_bufts = False
                self._spawn()
                if job is not None:
                    self._queue.appendleft(job)
                return
            if not self._ready:  # cannot load at all: fail everything waiting, start again on the next request
                load_err = LocalModelCrashedError(
                    f"local model {self.model!r} could not start: its worker {what} while loading {self.path}"
                    + (f" (stderr: {tail})" if tail else ""),
                    signal=sig, exit_code=code, provider=files.NAME, model=self.model,
                )  # fmt: skip
                for waiting in [*([job] if job else []), *self._queue]:
                    waiting.deliver({"ev": "crash", "error": load_err})
                self._queue.clear()
                self._check_idle()
                return
            if job is not None:
                if job.killed_for_timeout:
                    err: APIError = _timeout(self.model, job.msg.get("timeout"))
                else:
                    err = LocalModelCrashedError(
                        f"local model {self.model!r} crashed: its worker process {what} while answering this "
                        "request; the worker restarts for the next request" + (f" (stderr: {tail})" if tail else ""),
                        signal=sig, exit_code=code, provider=files.NAME, model=self.model,
                    )  # fmt: skip
                job.deliver({"ev": "crash", "error": err})
            if self._queue:
                self._spawn()
            else:
                self._check_idle()

    def _watch(self) -> None:
        """Kill a worker whose request ran far past its timeout, or ignored a cancel (a hung native call)."""
        while True:
            time.sleep(0.5)
            with self._lock:
                job, proc = self._current, self._proc
                if proc is None:
                    if not self._queue:
                        self._watchdog = None
                        return
                    continue
                now = time.monotonic()
                if not self._ready:
                    if now - self._spawned_at > LOAD_TIMEOUT:
                        proc.kill()
                    continue
                if job is None:
                    continue
                timeout = job.msg.get("timeout")
                overdue = (
                    timeout is not None and job.sent_at is not None and now - job.sent_at > timeout + HARD_TIMEOUT_GRACE
                )
                stuck = job.cancel_at is not None and now - job.cancel_at > CANCEL_GRACE
                if overdue or stuck:
                    job.killed_for_timeout = overdue
                    proc.kill()


def _runtime_default() -> tuple[bool, bool]:
    # Reading the CPU flags needs no llama_cpp; runtime imports it only inside its functions.
    from .runtime import extra_bufts_default

    return extra_bufts_default()


def _timeout(model: str, seconds: Any) -> Timeout:
    err = Timeout(f"local model {model!r} did not finish within {seconds} s", provider=files.NAME, model=model)
    err.retryable = False  # the same run would take as long again
    return err


def _rebuild(error: dict[str, Any], model: str, path: str, *, loading: bool = False) -> APIError:
    """The worker's error description → the matching volley error."""
    if error.get("type") == "Timeout":
        return _timeout(model, "its")
    message = str(error.get("message") or "the local model failed")
    status = int(error.get("status") or 500)
    if loading:
        return BadRequestError(
            f"could not load GGUF model {path}: {message} (corrupt or unsupported file?)",
            provider=files.NAME, model=model,
        )  # fmt: skip
    return error_from_status(status, message, provider=files.NAME, model=model)


_workers: dict[str, Worker] = {}
_workers_lock = threading.Lock()


def worker(path: str, model: str) -> Worker:
    """The worker of a model file (created on first use; the process starts with the first request)."""
    w = _workers.get(path)
    if w is None:
        with _workers_lock:
            w = _workers.setdefault(path, Worker(path, model))
    return w


async def complete(path: str, model: str, msg: dict[str, Any]) -> dict[str, Any]:
    """Run one non-stream request on the model's worker; the dict llama-cpp-python returned."""
    w = worker(path, model)
    job = w.submit(msg)
    try:
        ev = await job.events.get()
    except BaseException:
        w.cancel(job)
        raise
    return _outcome(ev, w, msg)


async def events(path: str, model: str, msg: dict[str, Any]) -> AsyncIterator[tuple[str | None, Any]]:
    """Stream events ``(None, chunk)`` …, then ``("end", usage)``; closing early stops the generation."""
    w = worker(path, model)
    job = w.submit(msg)
    try:
        while True:
            ev = await job.events.get()
            if ev.get("ev") == "chunk":
                yield None, ev["data"]
            elif ev.get("ev") == "end":
                yield "end", ev.get("usage")
                return
            else:
                _outcome(ev, w, msg)
                return
    finally:
        if not job.done:
            w.cancel(job)


def _outcome(ev: dict[str, Any], w: Worker, msg: dict[str, Any]) -> dict[str, Any]:
    kind = ev.get("ev")
    if kind == "result":
        return dict(ev["data"])
    if kind == "crash":
        raise ev["error"]
    if kind == "error":
        err = ev.get("error") or {}
        if err.get("type") == "Timeout":
            raise _timeout(w.model, msg.get("timeout"))
        raise _rebuild(err, w.model, w.path)
    raise APIError(f"local model {w.model!r}: unexpected worker event {kind!r}", provider=files.NAME, model=w.model)


@atexit.register
def close_all() -> None:
    """Stop every worker process (at exit; also usable by hand)."""
    for w in list(_workers.values()):
        w.close()


def _forget_after_fork() -> None:
    global _workers_lock
    _workers.clear()  # the parent's workers belong to the parent; the child starts its own
    _workers_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)
