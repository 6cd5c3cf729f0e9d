"""volley.collector: the young GC threshold raised while batches run, and put back after."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

import volley
from volley import collector


@pytest.fixture(autouse=True)
def _thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


def test_a_batch_raises_the_young_threshold_and_puts_it_back() -> None:
    with collector.batch():
        assert gc.get_threshold() == (collector.MIN_THRESHOLD, 10, 10)
        with collector.batch():  # nested (or concurrent) batches: the last one out restores
            assert gc.get_threshold()[0] == collector.MIN_THRESHOLD
        assert gc.get_threshold()[0] == collector.MIN_THRESHOLD
    assert gc.get_threshold() == (700, 10, 10)


def test_a_threshold_changed_during_the_batch_is_kept() -> None:
    with collector.batch():
        gc.set_threshold(1234, 5, 5)
    assert gc.get_threshold() == (1234, 5, 5)


@pytest.mark.parametrize("setup", ["env", "disabled", "higher"])
def test_left_alone(setup: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if setup == "env":
        monkeypatch.setenv("VOLLEY_GC", "0")
    elif setup == "higher":
        gc.set_threshold(50_000, 10, 10)
    else:
        gc.disable()
    try:
        before = gc.get_threshold()
        with collector.batch():
            assert gc.get_threshold() == before
        assert gc.get_threshold() == before
    finally:
        gc.enable()


def test_batches_in_threads_restore_once_all_end() -> None:
    inside = threading.Barrier(3)
    out = threading.Event()

    def run() -> None:
        with collector.batch():
            inside.wait()
            out.wait()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    inside.wait()
    assert gc.get_threshold()[0] == collector.MIN_THRESHOLD
    out.set()
    for t in threads:
        t.join()
    assert gc.get_threshold() == (700, 10, 10)


def test_batch_completion_runs_with_it_and_restores_even_when_stopped_early() -> None:
    seen: list[int] = []

    def on_result(i: int, r: object) -> None:
        seen.append(gc.get_threshold()[0])

    msgs = [[{"role": "user", "content": f"q{i}"}] for i in range(5)]
    out = volley.batch_completion("gpt-4o-mini", msgs, mock_response="ok", on_result=on_result)
    assert len(out) == 5 and seen == [collector.MIN_THRESHOLD] * 5
    assert gc.get_threshold() == (700, 10, 10)
    it = volley.iter_batch_completion("gpt-4o-mini", iter(msgs * 100), mock_response="ok")
    next(it)
    assert gc.get_threshold()[0] == collector.MIN_THRESHOLD
    it.close()  # stopped early: the threshold comes back too
    assert gc.get_threshold() == (700, 10, 10)


def test_the_threshold_follows_the_concurrency_within_bounds() -> None:
    assert collector.threshold_for(0) == collector.threshold_for(50) == collector.MIN_THRESHOLD
    assert collector.threshold_for(500) == 500 * collector.PER_REQUEST
    assert collector.threshold_for(10**6) == collector.MAX_THRESHOLD
    with collector.batch(in_flight=200):
        assert gc.get_threshold()[0] == 200 * collector.PER_REQUEST
        with collector.batch(in_flight=500):  # a larger batch meanwhile raises it further
            assert gc.get_threshold()[0] == 500 * collector.PER_REQUEST
        assert gc.get_threshold()[0] == 500 * collector.PER_REQUEST  # until the last one ends
    assert gc.get_threshold() == (700, 10, 10)


def test_batch_completion_sets_the_threshold_for_its_max_workers() -> None:
    seen: list[int] = []
    msgs = [[{"role": "user", "content": "q"}]] * 3
    volley.batch_completion("gpt-4o-mini", msgs, max_workers=400, mock_response="ok",
                            on_result=lambda i, r: seen.append(gc.get_threshold()[0]))  # fmt: skip
    assert seen == [400 * collector.PER_REQUEST] * 3
    assert gc.get_threshold() == (700, 10, 10)
