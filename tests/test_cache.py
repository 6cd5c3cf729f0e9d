"""cache=True: identical requests answered from SQLite, sent once within a batch, keys never stored."""

import pytest

import volley
from volley.hooks import cache as cache_mod

KEY = "sk-test-cache-SECRET-0123456789"


@pytest.fixture
def cache_file(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_mod, "_caches", {})
    return tmp_path / "cache.sqlite"


def prompts(*texts):
    return [[{"role": "user", "content": t}] for t in texts]


def test_batch_dedupes_in_flight_and_second_batch_is_all_hits(fake, cache_file):
    fake.script("gpt-4o-mini", latency=0.05)
    msgs = prompts("a", "b", "a", "a", "c", "b")
    kw = {"api_base": fake.openai_base, "api_key": KEY, "cache": True, "cache_path": str(cache_file)}
    out = volley.batch_completion("gpt-4o-mini", msgs, **kw)
    assert [r.choices[0].message.content for r in out] == ["echo: a", "echo: b", "echo: a", "echo: a", "echo: c",
                                                           "echo: b"]  # fmt: skip
    assert len(fake.requests) == 3  # one per distinct request
    hits = [r.cache_hit for r in out]
    assert hits.count(False) == 3 and hits.count(True) == 3
    assert all(r.cost == 0.0 for r in out if r.cache_hit)
    assert all(r.cost > 0 for r in out if not r.cache_hit)

    again = volley.batch_completion("gpt-4o-mini", msgs, **kw)
    assert len(fake.requests) == 3  # nothing sent
    assert all(r.cache_hit and r.cost == 0.0 for r in again)
    assert all(r.response_headers.get("x-volley-cache") == "hit" for r in again)
    assert [r.choices[0].message.content for r in again] == [r.choices[0].message.content for r in out]
    assert again[0].provider == "openai"


def test_key_is_neither_stored_nor_part_of_the_cache_key(fake, cache_file):
    kw = {"api_base": fake.openai_base, "cache": True, "cache_path": str(cache_file)}
    volley.completion("gpt-4o-mini", prompts("x")[0], api_key=KEY, **kw)
    r = volley.completion("gpt-4o-mini", prompts("x")[0], api_key="sk-another-key-987654321", **kw)
    assert r.cache_hit and len(fake.requests) == 1
    for f in cache_file.parent.iterdir():
        assert KEY.encode() not in f.read_bytes(), f.name


def test_different_params_model_or_base_miss(fake, cache_file):
    kw = {"api_key": KEY, "cache": True, "cache_path": str(cache_file)}
    m = prompts("x")[0]
    volley.completion("gpt-4o-mini", m, api_base=fake.openai_base, **kw)
    volley.completion("gpt-4o-mini", m, api_base=fake.openai_base, temperature=0.5, **kw)
    volley.completion("gpt-4o", m, api_base=fake.openai_base, **kw)
    volley.completion("gpt-4o", m, api_base=fake.url + "/openai/v1", **kw)
    assert len(fake.requests) == 4
    volley.completion("gpt-4o-mini", m, api_base=fake.openai_base, temperature=0.5, **kw)
    assert len(fake.requests) == 4


def test_failures_are_not_cached(fake, cache_file):
    fake.script("gpt-4o-mini", failures=[400])
    kw = {"api_base": fake.openai_base, "api_key": KEY, "cache": True, "cache_path": str(cache_file)}
    with pytest.raises(volley.BadRequestError):
        volley.completion("gpt-4o-mini", prompts("x")[0], **kw)
    r = volley.completion("gpt-4o-mini", prompts("x")[0], **kw)
    assert not r.cache_hit and len(fake.requests) == 2


def test_identical_requests_share_the_first_ones_failure(fake, cache_file):
    fake.script("gpt-4o-mini", latency=0.05, failures=[400])
    kw = {"api_base": fake.openai_base, "api_key": KEY, "cache": True, "cache_path": str(cache_file)}
    out = volley.batch_completion("gpt-4o-mini", prompts("x", "x", "x"), **kw)
    assert all(isinstance(r, volley.BadRequestError) for r in out)
    assert len(fake.requests) == 1


def test_default_location_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("VOLLEY_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_mod.default_path() == tmp_path / "xdg" / "volley" / "cache.sqlite"
    monkeypatch.setenv("VOLLEY_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_mod.default_path() == tmp_path / "mine" / "cache.sqlite"


def test_cache_from_environment_dir(fake, tmp_path, monkeypatch):
    monkeypatch.setattr(cache_mod, "_caches", {})
    monkeypatch.setenv("VOLLEY_CACHE_DIR", str(tmp_path / "vc"))
    kw = {"api_base": fake.openai_base, "api_key": KEY, "cache": True}
    volley.completion("gpt-4o-mini", prompts("y")[0], **kw)
    assert volley.completion("gpt-4o-mini", prompts("y")[0], **kw).cache_hit
    assert (tmp_path / "vc" / "cache.sqlite").exists()


def test_cache_must_be_a_bool(fake):
    with pytest.raises(volley.InvalidRequestError, match="cache"):
        volley.completion("gpt-4o-mini", prompts("y")[0], api_base=fake.openai_base, api_key=KEY, cache="yes")
