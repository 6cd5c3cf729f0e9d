"""The garbage collector's young-generation threshold, raised while a batch runs.

With hundreds of requests in flight, each holding coroutines, buffers and responses, CPython's
default threshold (a young collection every 700 new container objects) collects many times per
wave of answers; nearly everything it scans is still in use, gets promoted, and is scanned again
by the older generations. Measured on the CPU-bound scenario of ``bench/paths.py`` (500 in
flight), that is about a fifth of volley's CPU per request at 700, 34 µs per request at 10 000,
11 at 20 000 and 2 at 50 000: the threshold pays once it is above what is alive in flight.

While at least one batch runs, :func:`enter` raises the young threshold to
:func:`threshold_for` its concurrency (:data:`PER_REQUEST` objects per request in flight, between
:data:`MIN_THRESHOLD` and :data:`MAX_THRESHOLD`; the other two thresholds are left as they are);
when the last batch ends, :func:`leave` puts back what it found, unless someone changed the
thresholds meanwhile (then theirs stay). Collection still runs, less often: only garbage in
reference cycles waits longer (everything else is freed by reference counting at once).

It is process-wide, as ``gc.set_threshold`` is. It does nothing when the collector is disabled,
when the threshold is already at least as high, or with ``VOLLEY_GC=0`` in the environment.

Example::

    with collector.batch(in_flight=500):
        ...  # many requests in flight
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

PER_REQUEST = 100
"""Young-generation objects allowed per request in flight (a request holds some 40-60 of them)."""
MIN_THRESHOLD = 10_000
"""The young generation's threshold while any batch runs (CPython's default is 700)."""
MAX_THRESHOLD = 100_000
"""The highest threshold set, whatever the concurrency (a young collection then scans that many)."""


def threshold_for(in_flight: int) -> int:
    """The young threshold for a batch with ``in_flight`` requests at most."""
    return max(MIN_THRESHOLD, min(MAX_THRESHOLD, PER_REQUEST * max(int(in_flight), 0)))


_lock = threading.Lock()
_active = 0
_saved: tuple[int, ...] | None = None  # the thresholds found by the first batch; None: left alone
_set: tuple[int, ...] | None = None  # the thresholds this module set


def enabled() -> bool:
    """Whether batches may raise the threshold (``VOLLEY_GC=0`` turns it off)."""
    return os.environ.get("VOLLEY_GC", "1").strip().lower() not in ("0", "false", "no", "off")


def enter(in_flight: int = 0) -> None:
    """A batch of up to ``in_flight`` requests starts: the threshold is raised to :func:`threshold_for`
    it (a later, larger batch raises it further while the first runs; see the module docstring)."""
    global _active, _saved, _set
    with _lock:
        _active += 1
        current = gc.get_threshold()
        want = threshold_for(in_flight)
        if _active > 1 and (_set is None or current != _set):
            return  # left alone by the first batch, or changed by someone else since: theirs
        if not enabled() or not gc.isenabled() or current[0] == 0 or current[0] >= want:
            return
        if _set is None:
            _saved = current
        _set = (want, *current[1:])
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
def batch(in_flight: int = 0) -> Iterator[None]:
    """The threshold raised for the ``with`` block (nested and concurrent blocks count)."""
    enter(in_flight)
    try:
        yield
    finally:
        leave()
