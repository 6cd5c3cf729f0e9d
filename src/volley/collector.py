"""The garbage collector's young-generation threshold, raised while a batch runs.

With hundreds of requests in flight, each holding coroutines, buffers and responses, CPython's
default threshold (a young collection every 700 new container objects) collects a dozen times per
wave of answers; nearly everything it scans is still in use, gets promoted, and is scanned again
by the older generations. Measured on the CPU-bound scenario of ``bench/paths.py``, that is about
a fifth of volley's CPU per request. While at least one batch runs, :func:`batch` raises the
young threshold to :data:`YOUNG_THRESHOLD` (the other two are left as they are); when the last
batch ends it puts back what it found, unless someone changed the thresholds meanwhile (then
theirs stay). Collection still runs, less often: reference cycles are freed a little later.

It is process-wide, as ``gc.set_threshold`` is. It does nothing when the collector is disabled,
when the threshold is already at least as high, or with ``VOLLEY_GC=0`` in the environment.

Example::

    with collector.batch():
        ...  # many requests in flight
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 10_000
"""The young generation's threshold while a batch runs (CPython's default is 700)."""

_lock = threading.Lock()
_active = 0
_saved: tuple[int, ...] | None = None  # the thresholds found by the first batch; None: left alone
_set: tuple[int, ...] | None = None  # the thresholds this module set


def enabled() -> bool:
    """Whether batches may raise the threshold (``VOLLEY_GC=0`` turns it off)."""
    return os.environ.get("VOLLEY_GC", "1").strip().lower() not in ("0", "false", "no", "off")


def enter() -> None:
    """A batch starts: the first one raises the threshold (see the module docstring)."""
    global _active, _saved, _set
    with _lock:
        _active += 1
        if _active > 1:
            return
        current = gc.get_threshold()
        if not enabled() or not gc.isenabled() or current[0] == 0 or current[0] >= YOUNG_THRESHOLD:
            _saved = _set = None
            return
        _saved, _set = current, (YOUNG_THRESHOLD, *current[1:])
        gc.set_threshold(*_set)


def leave() -> None:
    """A batch ended: the last one puts the thresholds back (if they are still the ones set here)."""
    global _active, _saved, _set
    with _lock:
        _active = max(_active - 1, 0)
        if _active:
            return
        if _saved is not None and gc.get_threshold() == _set:
            gc.set_threshold(*_saved)
        _saved = _set = None


@contextmanager
def batch() -> Iterator[None]:
    """The threshold raised for the ``with`` block (nested and concurrent blocks count)."""
    enter()
    try:
        yield
    finally:
        leave()
