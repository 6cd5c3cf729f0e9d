"""Prompt-cache-aware cost: usage bodies with cache reads and writes (tests/fixtures/cost/) go through each
provider's real protocol mapping and send path (a MockTransport answers), then are priced per item."""

import json
from pathlib import Path

import pytest

import volley
from volley import pricing
from volley.batch_api.discount import mark_batch
from volley.hooks.budget import reservation
from volley.pricing import model_rates
from volley.testing import MockTransport

FIXTURES = Path(__file__).parent / "fixtures" / "cost"
MSGS = [{"role": "user", "content": "hi"}]


@pytest.fixture(autouse=True)
def _clean_prices(monkeypatch):
    monkeypatch.delenv("VOLLEY_PRICES", raising=False)
    monkeypatch.setattr(pricing, "_user_prices", {})
    monkeypatch.setattr(pricing, "_user_cache", {})
    monkeypatch.setattr(pricing, "_lookups", {})
    monkeypatch.setattr(pricing, "_env_loaded", None)


def answer(model, fixture):
    body = json.loads((FIXTURES / fixture).read_text())
    return volley.completion(model, MSGS, api_key="k", transport=MockTransport(lambda request: body))


def test_openai_cached_tokens_are_billed_at_the_cached_rate():
    r = answer("openai/gpt-4o-mini", "openai_cached.json")
    assert r.usage.prompt_tokens_details["cached_tokens"] == 1920
    # 86 uncached at 0.15, 1920 cached at 0.075, 3 out at 0.60 (USD per million)
    assert r.cost == pytest.approx((86 * 0.15 + 1920 * 0.075 + 3 * 0.60) / 1e6)
    full = volley.completion_cost(model="openai/gpt-4o-mini", prompt_tokens=2006, completion_tokens=3)
    assert r.cost < full * 0.6  # the cache discount is really applied


def test_anthropic_cache_reads_cost_a_tenth_of_input():
    r = answer("anthropic/claude-sonnet-4-5", "anthropic_cache_read.json")
    u = r.usage
    assert u.prompt_tokens == 18021 and u.prompt_tokens_details["cached_tokens"] == 18000
    assert r.cost == pytest.approx((21 * 3.0 + 18000 * 0.30 + 12 * 15.0) / 1e6)


def test_anthropic_cache_writes_cost_more_than_input_by_ttl():
    r = answer("anthropic/claude-sonnet-4-5", "anthropic_cache_write.json")
    u = r.usage
    assert u.cache_creation_input_tokens == 18000  # the declared place for cache writes
    assert u.cache_creation == {"ephemeral_5m_input_tokens": 12000, "ephemeral_1h_input_tokens": 6000}
    # 21 input at 3.0; 12000 written for 5 minutes at 1.25x; 6000 for an hour at 2x; 8 out at 15.0
    assert r.cost == pytest.approx((21 * 3.0 + 12000 * 3.75 + 6000 * 6.0 + 8 * 15.0) / 1e6)
    assert r.cost > volley.completion_cost(model="anthropic/claude-sonnet-4-5", prompt_tokens=18021,
                                           completion_tokens=8)  # fmt: skip


def test_gemini_cached_content_and_thinking_tokens():
    r = answer("gemini/gemini-2.5-flash", "gemini_cached.json")
    u = r.usage
    assert u.prompt_tokens_details["cached_tokens"] == 40000
    assert u.completion_tokens == 52  # 7 candidate + 45 thinking tokens, billed as output
    assert r.cost == pytest.approx((210 * 0.30 + 40000 * 0.03 + 52 * 2.50) / 1e6)


def test_deepseek_cache_hits_become_cached_tokens():
    r = answer("deepseek/deepseek-chat", "deepseek_cache_hit.json")
    assert r.usage.prompt_tokens_details["cached_tokens"] == 1024
    assert r.cost == pytest.approx((76 * 0.28 + 1024 * 0.028 + 2 * 0.42) / 1e6)


@pytest.mark.parametrize(
    ("model", "fixture"),
    [
        ("openai/gpt-4o-mini", "openai_cached.json"),
        ("anthropic/claude-sonnet-4-5", "anthropic_cache_write.json"),
        ("anthropic/claude-sonnet-4-5", "anthropic_cache_read.json"),
    ],
)
def test_the_batch_discount_multiplies_every_rate_cached_ones_included(model, fixture):
    online = answer(model, fixture)
    batched = mark_batch(answer(model, fixture), "batch_1")
    assert batched.billing == "batch"
    assert batched.cost == pytest.approx(online.cost * pricing.BATCH_DISCOUNT)


def test_cost_per_item_in_the_result_columns():
    from volley.tables.results import result_columns

    cols = result_columns(answer("openai/gpt-4o-mini", "openai_cached.json"))
    assert cols["cached_tokens"] == 1920 and cols["prompt_tokens"] == 2006
    assert cols["cost_usd"] == pytest.approx((86 * 0.15 + 1920 * 0.075 + 3 * 0.60) / 1e6)


def test_every_model_says_its_source_and_date():
    for key in pricing.PRICES:
        r = model_rates(key)
        assert r is not None and r.source not in ("", "unknown") and r.checked, key
    r = model_rates("claude-haiku-4-5")
    assert (r.cached_input, r.cache_write, r.cache_write_1h) == pytest.approx((0.1, 1.25, 2.0))
    assert r.cache_known and "anthropic" in r.source and r.checked == "2026-11-27"


def test_a_model_without_known_cache_rates_bills_cached_tokens_at_the_input_rate():
    r = model_rates("groq/llama-3.3-70b-versatile")
    assert not r.cache_known and r.cached_input == r.input == 0.59
    cost = volley.completion_cost(model="groq/llama-3.3-70b-versatile", prompt_tokens=1000, cached_tokens=900)
    assert cost == pytest.approx(1000 * 0.59 / 1e6)  # never under-billed


def test_registered_prices_may_give_cache_rates_in_either_shape():
    volley.register_prices({
        "openai/house": {"input": 1.0, "output": 2.0, "cached_input": 0.1},
        "openai/litellm-shaped": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6,
                                  "cache_read_input_token_cost": 2.5e-7, "cache_creation_input_token_cost": 1.5e-6},
        "openai/plain": (1.0, 2.0),
    })  # fmt: skip
    house = model_rates("openai/house")
    assert (house.cached_input, house.cache_write, house.source) == (0.1, 1.0, "registered")
    shaped = model_rates("openai/litellm-shaped")
    assert shaped.cached_input == pytest.approx(0.25) and shaped.cache_write == pytest.approx(1.5)
    plain = model_rates("openai/plain")
    assert not plain.cache_known and plain.cached_input == 1.0
    assert volley.completion_cost(model="openai/house", prompt_tokens=100, cached_tokens=100) == pytest.approx(1e-5)
    with pytest.raises(ValueError, match="cache prices"):
        volley.register_prices({"openai/bad": {"input": 1, "output": 1, "cached_input": -1}})


def test_the_budget_reserves_prompt_tokens_at_the_cache_write_rate():
    """A prompt may be written to Anthropic's cache at 2x input: the worst case must cover it."""

    class Route:
        provider, model, label = "anthropic", "claude-sonnet-4-5", "anthropic/claude-sonnet-4-5"

    class Call:
        route = Route()
        messages = [{"role": "user", "content": "x" * 400}]
        max_output = 100
        choices = 1

        class request:
            body = None

    assert reservation(Call()) == pytest.approx((424 * 6.0 + 100 * 15.0) / 1e6)
