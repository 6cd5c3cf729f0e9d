"""The worker process of one local model: ``python -m volley.local.worker PATH [--no-extra-bufts]``.

Speaks newline-delimited JSON: requests on stdin, events on the stdout it was given. Native code
that prints is kept off that channel (file descriptor 1 is pointed at stderr once the channel is
saved). The caller sends one request at a time:

- in: ``{"op": "run", "id", "messages", "kwargs", "stream", "timeout"}``, ``{"op": "cancel", "id"}``
- out: ``{"ev": "ready", "pid", "extra_bufts", "load_s"}`` once loaded, or ``{"ev": "fatal", "error"}``
  (the file cannot be loaded; the process then exits 3); per request ``chunk`` events then ``end``
  (streams), or one ``result``; or ``error`` / ``cancelled``. Each final event carries ``stats``.

When stdin closes (the caller exited, even by SIGKILL) the worker exits at once.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
from typing import Any, BinaryIO

from . import runtime

FATAL_EXIT = 3


class _Channel:
    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._lock = threading.Lock()

    def send(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        with self._lock:
            self._out.write(line)
            self._out.flush()


def _error(exc: BaseException) -> dict[str, Any]:
    status = 400 if isinstance(exc, (ValueError, TypeError, KeyError)) else 500
    return {"status": status, "type": type(exc).__name__, "message": f"{type(exc).__name__}: {exc}"}


def _read_requests(jobs: queue.Queue[dict[str, Any] | None], current: dict[str, runtime.Run]) -> None:
    """The reader thread: queue runs, honour cancels at once; exit the process when stdin closes."""
    for raw in sys.stdin.buffer:
        try:
            msg = json.loads(raw)
        except ValueError:
            continue
        if msg.get("op") == "cancel":
            run = current.get(str(msg.get("id")))
            if run is not None:
                run.cancel.set()
        elif msg.get("op") == "run":
            jobs.put(msg)
    os._exit(0)  # the caller is gone: nobody will read an answer


def _emitter(channel: _Channel, rid: Any) -> Any:
    return lambda chunk: channel.send({"ev": "chunk", "id": rid, "data": chunk})


def _serve(llama: Any, channel: _Channel, jobs: queue.Queue[dict[str, Any] | None], current: dict[str, Any]) -> None:
    while True:
        msg = jobs.get()
        if msg is None:
            return
        rid = msg["id"]
        run = runtime.Run(msg.get("timeout"))
        current[str(rid)] = run
        try:
            if msg.get("stream"):
                usage = runtime.stream(llama, msg["messages"], msg["kwargs"], run, _emitter(channel, rid))
                final: dict[str, Any] = {"ev": "end", "id": rid, "usage": usage}
            else:
                out = runtime.complete(llama, msg["messages"], msg["kwargs"], run)
                final = {"ev": "result", "id": rid, "data": out}
            if run.timed_out:
                final = {"ev": "error", "id": rid, "error": {"status": 408, "type": "Timeout", "message": ""}}
            elif run.cancel.is_set():
                final = {"ev": "cancelled", "id": rid}
        except Exception as exc:
            final = {"ev": "error", "id": rid, "error": _error(exc)}
        finally:
            current.pop(str(rid), None)
        final["stats"] = run.stats()
        channel.send(final)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m volley.local.worker PATH [--no-extra-bufts]", file=sys.stderr)
        return 2
    path = args[0]
    extra_bufts = "--no-extra-bufts" not in args
    _no_core_files()
    channel = _Channel(os.fdopen(os.dup(1), "wb"))
    os.dup2(2, 1)  # whatever native code prints goes to stderr, never into the channel
    sys.stdout = sys.stderr
    _fault("start", extra_bufts)
    import time

    t0 = time.perf_counter()
    try:
        llama = runtime.load(path, extra_bufts=extra_bufts, self_test=extra_bufts)  # the test guards them
        _fault("loaded", extra_bufts)
    except Exception as exc:
        channel.send({"ev": "fatal", "error": _error(exc)})
        return FATAL_EXIT
    jobs: queue.Queue[dict[str, Any] | None] = queue.Queue()
    current: dict[str, runtime.Run] = {}
    threading.Thread(target=_read_requests, args=(jobs, current), name="volley-worker-stdin", daemon=True).start()
    channel.send({"ev": "ready", "pid": os.getpid(), "extra_bufts": extra_bufts,
                  "load_s": time.perf_counter() - t0})  # fmt: skip
    _serve(llama, channel, jobs, current)
    return 0


def _no_core_files() -> None:
    """A crashing model should not leave a core file the size of the model in the caller's directory
    (``VOLLEY_LOCAL_CORE_DUMPS=1`` keeps the system's setting, for debugging llama.cpp)."""
    if os.environ.get("VOLLEY_LOCAL_CORE_DUMPS"):
        return
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass


def _fault(stage: str, extra_bufts: bool) -> None:
    """Fault injection for volley's own tests: ``_VOLLEY_LOCAL_FAULT=loaded`` dies by SIGSEGV after the
    load when extra buffer types are on (what the AMX bug does), ``abort`` aborts at start."""
    fault = os.environ.get("_VOLLEY_LOCAL_FAULT")
    if not fault:
        return
    import signal

    if fault == stage and extra_bufts:
        os.kill(os.getpid(), signal.SIGSEGV)
    if fault == "abort" and stage == "start":
        os.abort()


if __name__ == "__main__":
    sys.exit(main())
