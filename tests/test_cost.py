"""Prices, completion_cost, response.cost, and budget_usd (library) against the fake server."""

import asyncio
import json

import pytest

import volley
from volley import pricing as cost
from volley.budget import Budget
from volley.errors import BudgetExceededError
from volley.hooks.budget import BudgetHook, reservation
from volley.pricing import model_price

KEY = "sk-test-cost-0123456789"


@pytest.fixture(autouse=True)
def _clean_prices(monkeypatch):
    """Each test starts from the built-in table (no user prices, no VOLLEY_PRICES)."""
    monkeypatch.delenv("VOLLEY_PRICES", raising=False)
    monkeypatch.setattr(cost, "_user_prices", {})
    monkeypatch.setattr(cost, "_lookups", {})
    monkeypatch.setattr(cost, "_env_loaded", None)


@pytest.mark.parametrize(
    ("model", "provider", "price"),
    [
        ("gpt-4o-mini", None, (0.15, 0.60)),
        ("gpt-4o-mini-2024-07-18", "openai", (0.15, 0.60)),  # dated snapshot
        ("gpt-4o", "openai", (2.50, 10.0)),
        ("gpt-4.1-nano", None, (0.10, 0.40)),
        ("o3-mini-2025-01-31", None, (1.10, 4.40)),
        ("o3-pro", None, (20.0, 80.0)),  # not o3's price
        ("claude-3-5-haiku-20241022", "anthropic", (0.80, 4.0)),
        ("claude-3-7-sonnet-latest", None, (3.0, 15.0)),
        ("claude-opus-4-1-20250805", None, (15.0, 75.0)),
        ("claude-sonnet-4-20250514", None, (3.0, 15.0)),
        ("command-r-plus-08-2024", "cohere", (2.50, 10.0)),
        ("command-a-03-2025", None, (2.50, 10.0)),
        ("gemini-2.5-flash-preview-05-20", "gemini", (0.30, 2.50)),  # longer name: the base model's price
        ("gemini-2.5-flash-lite", "gemini", (0.10, 0.40)),  # but the longest known name wins
        ("models/gemini-1.5-flash-002", "gemini", (0.075, 0.30)),
        ("groq/llama-3.3-70b-versatile", None, (0.59, 0.79)),
        ("llama-3.1-8b-instant", "groq", (0.05, 0.08)),
        ("mistral/mistral-large-2411", None, (2.0, 6.0)),
        ("ollama/llama3.2", None, (0.0, 0.0)),  # self-hosted: free
    ],
)
def test_price_table_lookup(model, provider, price):
    assert model_price(model, provider) == price


def test_unknown_model_has_no_price_and_no_cost():
    assert model_price("openai/my-finetune") is None
    assert model_price("llama-3.3-70b-versatile", "together") is None  # a price is per provider
    assert volley.completion_cost(model="openai/my-finetune", prompt_tokens=10, completion_tokens=10) is None


def test_completion_cost_from_tokens():
    c = volley.completion_cost(model="gpt-4o", prompt_tokens=1000, completion_tokens=200)
    assert c == pytest.approx((1000 * 2.5 + 200 * 10.0) / 1e6)


def test_register_prices_accepts_three_shapes_and_overrides_the_table():
    volley.register_prices(
        {
            "openai/my-finetune": (3.0, 12.0),
            "house-model": {"input": 1.0, "output": 2.0},
            "gpt-4o": {"input_cost_per_token": 1e-6, "output_cost_per_token": 4e-6},  # LiteLLM's shape
        }
    )
    assert model_price("openai/my-finetune") == (3.0, 12.0)
    assert model_price("openai/my-finetune-2025-01-01") == (3.0, 12.0)
    assert model_price("house-model", "vllm") == (0.0, 0.0)  # self-hosted stays free
    assert model_price("house-model", "openai") == (1.0, 2.0)  # a bare name applies to any provider
    assert model_price("gpt-4o") == pytest.approx((1.0, 4.0))
    with pytest.raises(ValueError):
        volley.register_prices({"x": (-1, 2)})


def test_prices_file_from_environment(tmp_path, monkeypatch):
    f = tmp_path / "prices.json"
    f.write_text(json.dumps({"openai/in-house": {"input": 7, "output": 9}}))
    monkeypatch.setenv("VOLLEY_PRICES", str(f))
    assert model_price("openai/in-house") == (7.0, 9.0)


def test_response_cost_property(fake):
    r = volley.completion(
        "gpt-4o-mini", [{"role": "user", "content": "one two three"}], api_base=fake.openai_base, api_key=KEY
    )
    u = r.usage
    assert r.cost == pytest.approx((u.prompt_tokens * 0.15 + u.completion_tokens * 0.60) / 1e6)
    assert volley.completion_cost(r) == r.cost
    assert r["cost"] == r.cost
    assert not r.cache_hit
    assert "cost" not in r.model_dump()

    other = volley.completion("openai/house", [{"role": "user", "content": "hi"}], api_base=fake.openai_base,
                              api_key=KEY)  # fmt: skip
    assert other.cost is None


def test_budget_usd_stops_sending_before_the_limit(fake):
    fake.script("gpt-4o-mini", latency=0.01)
    prompts = [[{"role": "user", "content": f"q {i}"}] for i in range(40)]
    one = volley.completion("gpt-4o-mini", prompts[0], api_base=fake.openai_base, api_key=KEY, max_tokens=5).cost
    fake.reset()
    budget = one * 6.5
    out = volley.batch_completion(
        "gpt-4o-mini", prompts, api_base=fake.openai_base, api_key=KEY, max_tokens=5, budget_usd=budget, max_workers=4
    )
    answered = [r for r in out if isinstance(r, volley.ModelResponse)]
    refused = [r for r in out if isinstance(r, BudgetExceededError)]
    assert len(answered) + len(refused) == 40
    assert 1 <= len(answered) <= 6
    assert len(fake.requests) == len(answered)  # refused items were never sent
    assert sum(r.cost for r in answered) <= budget


def test_budget_needs_a_price(fake):
    with pytest.raises(volley.InvalidRequestError, match="price"):
        volley.batch_completion("openai/house", [[{"role": "user", "content": "hi"}]], api_base=fake.openai_base,
                                api_key=KEY, budget_usd=1.0)  # fmt: skip
    assert fake.requests == []


class _Route:
    provider, model, label = "openai", "gpt-4o", "openai/gpt-4o"


class _Request:
    body = None


class _Call:
    route = _Route()
    messages = [{"role": "user", "content": "x" * 400}]  # 400 bytes: at most 400 + 3 * 8 prompt tokens
    max_output = 100  # max_tokens=100
    choices = 1
    request = _Request()


class _Usage:
    def __init__(self, p, c):
        self.prompt_tokens, self.completion_tokens = p, c


class _Resp:
    model, provider, cache_hit = "gpt-4o", "openai", False

    def __init__(self, p, c):
        self.usage = _Usage(p, c)


async def test_budget_waits_for_in_flight_then_refuses():
    est = (424 * 2.5 + 100 * 10.0) / 1e6  # the worst case: every byte a token, max_tokens answer tokens
    b = Budget(est * 2.5)
    assert reservation(_Call()) == pytest.approx(est)
    release = asyncio.Event()

    async def send():
        await release.wait()
        return _Resp(400, 100)  # a little less than the reservation

    first = asyncio.ensure_future(BudgetHook(b)(_Call(), send))
    second = asyncio.ensure_future(BudgetHook(b)(_Call(), send))
    await asyncio.sleep(0.01)
    assert b.reserved == pytest.approx(2 * est)
    third = asyncio.ensure_future(BudgetHook(b)(_Call(), send))  # does not fit while two are in flight: waits
    await asyncio.sleep(0.01)
    assert not third.done()
    release.set()
    await asyncio.gather(first, second)
    with pytest.raises(BudgetExceededError):  # two real costs spent; a third would pass the limit
        await third
    assert b.exhausted and b.spent == pytest.approx(2 * (400 * 2.5 + 100 * 10.0) / 1e6)
    with pytest.raises(BudgetExceededError):  # and nothing is sent after that
        await BudgetHook(b)(_Call(), send)


async def test_budget_reserves_the_worst_case_even_after_short_answers():
    b = Budget(1.0)

    async def short():
        return _Resp(104, 10)

    first = reservation(_Call())
    for _ in range(5):
        await BudgetHook(b)(_Call(), short)
    assert reservation(_Call()) == first  # short answers so far say nothing about the next one
    assert b.spent == pytest.approx(5 * (104 * 2.5 + 10 * 10.0) / 1e6)  # the real costs, not the reservations


async def test_budget_refuses_rather_than_waits_once_nothing_is_in_flight():
    """Float reservations never sum back to exactly 0: a refusal must not wait for a settle that never comes."""

    class Odd(_Call):
        messages = [{"role": "user", "content": "x" * 37}]

    b = Budget(1.0)

    async def nothing():
        return None

    for _ in range(7):  # reserve and release awkward amounts (no usage: nothing is spent)
        await asyncio.gather(
            BudgetHook(b)(Odd(), nothing), BudgetHook(b)(_Call(), nothing), BudgetHook(b)(Odd(), nothing)
        )
    assert b.in_flight == 0 and b.reserved == 0.0
    b.spent = 1.0 - reservation(_Call()) / 2
    with pytest.raises(BudgetExceededError):
        await asyncio.wait_for(BudgetHook(b)(_Call(), nothing), 1.0)
