"""prepare()'s template memo: a repeated single call reuses its template, and only while nothing it was
built from has changed (settings, callbacks, environment, providers); calls with state of their own
(hooks, fallbacks, mocks) always get a fresh one."""

from __future__ import annotations

import copy
from typing import Any

import pytest

import volley
from volley.prepare import _MEMO, TemplateMemo, _memo_key, prepare
from volley.providers import get_provider, register_provider, unregister_provider
from volley.settings import settings

MSGS = [{"role": "user", "content": "hi"}]
BASE = {"api_base": "http://127.0.0.1:9/v1"}


@pytest.fixture(autouse=True)
def _settings_back() -> Any:
    yield
    settings.reset()


def test_a_repeated_call_reuses_its_template():
    memo = TemplateMemo()
    a = memo.template("openai/m", {**BASE, "api_key": "k", "temperature": 0})
    assert memo.template("openai/m", {**BASE, "api_key": "k", "temperature": 0}) is a
    assert memo.template("openai/m", {**BASE, "api_key": "k", "temperature": 1}) is not a


@pytest.mark.parametrize("one, other", [(1, 1.0), (1, True), (0.0, -0.0), ({"a": 1}, {"a": 1.0})])
def test_values_that_compare_equal_but_are_sent_differently_get_their_own_template(one: Any, other: Any):
    assert one == other
    assert _memo_key("openai/m", {"seed": one}) != _memo_key("openai/m", {"seed": other})


@pytest.mark.parametrize(
    "params",
    [{"transport": object()}, {"mock_response": "hi"}, {"mock_timeout": True}, {"metadata": {"f": object()}}],
    ids=["transport", "mock_response", "mock_timeout", "object value"],
)
def test_calls_with_objects_or_mocks_are_not_kept(params: dict[str, Any]):
    assert _memo_key("openai/m", params) is None
    assert _memo_key({"model": "openai/m"}, {}) is None  # a per-model override dict


def test_the_environment_and_the_settings_are_seen_at_once(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_API_KEY", "env-key-1")
    first = prepare("openai/m", MSGS, BASE)
    assert first.request.secrets == ("env-key-1",)
    assert prepare("openai/m", MSGS, BASE).route is first.route  # kept
    monkeypatch.setenv("OPENAI_API_KEY", "env-key-2")
    assert prepare("openai/m", MSGS, BASE).request.secrets == ("env-key-2",)
    volley.api_key = "setting-key"
    monkeypatch.delenv("OPENAI_API_KEY")
    assert prepare("openai/m", MSGS, BASE).request.secrets == ("setting-key",)


def test_a_callback_appended_in_place_is_called(fake: Any):
    seen: list[str] = []
    kw = {"api_base": fake.openai_base, "api_key": "k", "max_tokens": 5}
    volley.completion("openai/m", MSGS, **kw)
    volley.success_callback.append(lambda kwargs, resp, start, end: seen.append(kwargs["model"]))
    volley.completion("openai/m", MSGS, **kw)
    assert len(seen) == 1


def test_each_call_with_a_budget_has_its_own(fake: Any):
    kw = {"api_base": fake.openai_base, "api_key": "k", "max_tokens": 5, "budget_usd": 1.0}
    a, b = prepare("openai/gpt-4o-mini", MSGS, kw), prepare("openai/gpt-4o-mini", MSGS, kw)
    assert a.hooks and b.hooks and a.hooks != b.hooks  # a fresh budget hook each time, as before


def test_a_provider_registered_later_is_routed_to():
    kept = prepare("openai/m", MSGS, {**BASE, "api_key": "k"})
    openai = get_provider("openai")
    assert openai is not None
    mine = copy.copy(openai)
    mine.name, mine.aliases = "memo-test", ()
    register_provider(mine)
    try:
        assert prepare("memo-test/m", MSGS, {**BASE, "api_key": "k"}).route.provider == "memo-test"
        assert prepare("openai/m", MSGS, {**BASE, "api_key": "k"}).route is not kept.route  # the memo started again
    finally:
        unregister_provider("memo-test")


def test_the_memo_is_bounded_and_keeps_the_recently_used():
    memo = TemplateMemo(size=3)
    first = memo.template("openai/m", {**BASE, "api_key": "k", "seed": 0})
    for seed in (1, 2):
        memo.template("openai/m", {**BASE, "api_key": "k", "seed": seed})
    assert memo.template("openai/m", {**BASE, "api_key": "k", "seed": 0}) is first  # used again: now the newest
    memo.template("openai/m", {**BASE, "api_key": "k", "seed": 3})  # pushes out seed 1, the oldest
    assert len(memo._kept) == 3
    assert memo.template("openai/m", {**BASE, "api_key": "k", "seed": 0}) is first


def test_a_bad_call_raises_every_time():
    for _ in range(2):
        with pytest.raises(volley.InvalidRequestError, match="no_such_param"):
            prepare("openai/m", MSGS, {**BASE, "api_key": "k", "no_such_param": 1})


def test_the_module_memo_is_the_one_prepare_uses():
    _MEMO.clear()
    prepare("openai/m", MSGS, {**BASE, "api_key": "k"})
    assert len(_MEMO._kept) == 1


def test_many_threads_share_the_memo():
    # sync completion() prepares in the caller's thread: lookups, inserts and evictions from many at once
    import threading

    memo, errors = TemplateMemo(size=8), []

    def work(t: int) -> None:
        try:
            for i in range(300):
                seed = (t * 7 + i) % 20
                got = memo.template("openai/m", {**BASE, "api_key": "k", "seed": seed})
                assert got.completion["seed"] == seed
        except Exception as exc:  # pragma: no cover - what the test looks for
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == [] and len(memo._kept) <= 8
