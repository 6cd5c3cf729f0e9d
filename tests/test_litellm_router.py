"""``volley.Router``: LiteLLM's Router for batch work (deployments, strategies, lanes, cooldowns, fallbacks),
against the fake server. Ports of LiteLLM's router docs examples plus checks of each behaviour."""

from __future__ import annotations

import collections
import time

import pytest

import volley as litellm
from volley._sync import run_sync
from volley.engine.limits import get_lane
from volley.routing import key_id
from volley.testing import FakeServer

KEY_A, KEY_B = "sk-key-a-0000000000", "sk-key-b-0000000000"
MSG = [{"role": "user", "content": "Hey, how's it going?"}]


@pytest.fixture(autouse=True)
def _reset():
    yield
    litellm.settings.settings.reset()


def dep(fake: FakeServer, group: str, model: str, key: str = KEY_A, **extra) -> dict:
    params = {"model": f"openai/{model}", "api_base": fake.openai_base, "api_key": key, **extra}
    info = {"id": extra.pop("id")} if "id" in extra else {}
    params.pop("id", None)
    return {"model_name": group, "litellm_params": params, "model_info": info}


def test_doc_quick_start_load_balancing(fake: FakeServer):
    router = litellm.Router(model_list=[
        dep(fake, "gpt-3.5-turbo", "azure-like-1", id="a"),
        dep(fake, "gpt-3.5-turbo", "azure-like-2", KEY_B, id="b"),
    ], seed=7)  # fmt: skip
    ids = collections.Counter(router.completion(model="gpt-3.5-turbo", messages=MSG)._hidden_params["model_id"]
                              for _ in range(30))  # fmt: skip
    assert set(ids) == {"a", "b"} and min(ids.values()) >= 5  # both deployments take a share
    assert {r.headers["authorization"] for r in fake.requests} == {f"Bearer {KEY_A}", f"Bearer {KEY_B}"}


def test_simple_shuffle_follows_weights(fake: FakeServer):
    router = litellm.Router(model_list=[
        dep(fake, "g", "m1", id="heavy", weight=9), dep(fake, "g", "m2", id="light", weight=1),
    ], seed=1)  # fmt: skip
    picks = collections.Counter(router.pick(router.group("g")).id for _ in range(2000))
    assert 0.8 < picks["heavy"] / 2000 < 0.98


def test_least_busy_picks_the_idle_deployment(fake: FakeServer):
    router = litellm.Router(model_list=[dep(fake, "g", "m1", id="x"), dep(fake, "g", "m2", id="y")],
                            routing_strategy="least-busy")  # fmt: skip
    router.group("g")[0].in_flight = 5
    assert {router.pick(router.group("g")).id for _ in range(20)} == {"y"}


async def test_latency_based_routing_prefers_the_faster(fake: FakeServer):
    fake.script("slow", latency=0.3)
    router = litellm.Router(model_list=[dep(fake, "g", "slow", id="slow"), dep(fake, "g", "fast", id="fast")],
                            routing_strategy="latency-based-routing")  # fmt: skip
    for _ in range(2):  # both get tried first (unknown latency)
        await router.acompletion(model="g", messages=MSG)
    later = [(await router.acompletion(model="g", messages=MSG))._hidden_params["model_id"] for _ in range(5)]
    assert later == ["fast"] * 5


def test_usage_based_routing_skips_a_deployment_at_its_rpm(fake: FakeServer):
    small, big = dep(fake, "g", "m1", id="small", rpm=2), dep(fake, "g", "m2", id="big", rpm=1000)
    router = litellm.Router(model_list=[small, big],
                            routing_strategy="usage-based-routing-v2")  # fmt: skip
    ids = [router.completion(model="g", messages=MSG)._hidden_params["model_id"] for _ in range(8)]
    assert ids.count("small") <= 2 and ids.count("big") >= 6


def test_cost_based_routing_picks_the_cheapest(fake: FakeServer):
    router = litellm.Router(model_list=[
        {"model_name": "g", "litellm_params": {"model": "openai/gpt-4o", "api_base": fake.openai_base,
                                               "api_key": KEY_A}},
        {"model_name": "g", "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": fake.openai_base,
                                               "api_key": KEY_A}},
    ], routing_strategy="cost-based-routing")  # fmt: skip
    assert router.completion(model="g", messages=MSG).model == "gpt-4o-mini"


def test_rpm_tpm_become_the_deployments_lane_limits(fake: FakeServer):
    router = litellm.Router(model_list=[
        {"model_name": "g", "litellm_params": {"model": "openai/m1", "api_base": fake.openai_base, "api_key": KEY_A},
         "rpm": 300, "tpm": 90000},
    ])  # fmt: skip
    started = time.perf_counter()
    out = router.batch_completion(model="g", messages=[MSG] * 8)
    elapsed = time.perf_counter() - started
    assert all(isinstance(r, litellm.ModelResponse) for r in out)

    async def lane_of_deployment():  # lanes live on volley's loop, where the sync calls ran
        return get_lane(("openai", fake.openai_base, "m1", key_id(KEY_A)))

    lane = run_sync(lane_of_deployment())
    assert (lane.rpm, lane.tpm) == (300, 90000)
    assert elapsed > 0.5  # 300 rpm = one request per 0.2 s: 8 requests cannot all go at once


def test_cooldown_moves_traffic_off_a_rate_limited_deployment(fake: FakeServer):
    fake.script("limited", fail=429, retry_after=None)
    router = litellm.Router(model_list=[dep(fake, "g", "limited", id="bad"), dep(fake, "g", "healthy", id="good")],
                            num_retries=2, cooldown_time=30)  # fmt: skip
    ids = [router.completion(model="g", messages=MSG)._hidden_params["model_id"] for _ in range(6)]
    assert ids == ["good"] * 6
    assert "bad" in router.cooldowns() and sum(r.model == "limited" for r in fake.requests) == 1


def test_key_rotation_past_a_bad_key():
    with FakeServer(api_key=KEY_B) as strict:
        old, new = dep(strict, "g", "m", KEY_A, id="old-key"), dep(strict, "g", "m", KEY_B, id="new-key")
        router = litellm.Router(model_list=[old, new],
                                num_retries=1)  # fmt: skip
        ids = {router.completion(model="g", messages=MSG)._hidden_params["model_id"] for _ in range(5)}
    assert ids == {"new-key"}


def test_allowed_fails_before_cooldown(fake: FakeServer):
    fake.script("flaky", fail=500)
    router = litellm.Router(model_list=[dep(fake, "g", "flaky", id="f")], num_retries=0, allowed_fails=2,
                            cooldown_time=30)  # fmt: skip
    for _ in range(3):
        with pytest.raises(litellm.InternalServerError):
            router.completion(model="g", messages=MSG)
    assert "f" in router.cooldowns()


def test_all_cooling_down_waits_for_the_first_back(fake: FakeServer):
    fake.script("m", failures=[429])
    router = litellm.Router(model_list=[dep(fake, "g", "m", id="only")], num_retries=1, cooldown_time=0.3)
    started = time.perf_counter()
    r = router.completion(model="g", messages=MSG)
    assert r._hidden_params["model_id"] == "only" and time.perf_counter() - started >= 0.25


def test_doc_fallbacks_between_groups(fake: FakeServer):
    fake.script("azure-down", fail=503)
    router = litellm.Router(model_list=[dep(fake, "gpt-3.5-turbo", "azure-down"), dep(fake, "gpt-4", "gpt-4-ca")],
                            fallbacks=[{"gpt-3.5-turbo": ["gpt-4"]}], num_retries=0)  # fmt: skip
    r = router.completion(model="gpt-3.5-turbo", messages=MSG)
    assert r.model == "gpt-4-ca" and r._hidden_params["model_group"] == "gpt-4"


def test_doc_mock_testing_fallbacks(fake: FakeServer):
    router = litellm.Router(model_list=[dep(fake, "gpt-3.5-turbo", "a"), dep(fake, "gpt-4", "b")],
                            fallbacks=[{"gpt-3.5-turbo": ["gpt-4"]}])  # fmt: skip
    r = router.completion(model="gpt-3.5-turbo", messages=MSG, mock_testing_fallbacks=True)
    assert r.model == "b"


def test_context_window_fallbacks(fake: FakeServer):
    from volley.testing import MockTransport

    def too_long(request):
        return (400, {"error": {"message": "maximum context length is 4097 tokens", "code": "context_length_exceeded"}})

    small = dep(fake, "small", "s")
    small["litellm_params"]["transport"] = MockTransport(too_long)
    router = litellm.Router(model_list=[small, dep(fake, "big", "b"), dep(fake, "other", "o")],
                            context_window_fallbacks=[{"small": ["big"]}],
                            fallbacks=[{"small": ["other"]}])  # fmt: skip
    assert router.completion(model="small", messages=MSG).model == "b"


def test_fallbacks_per_item_in_a_router_batch(fake: FakeServer):
    fake.script("primary", failures=[None, 500, None])
    router = litellm.Router(model_list=[dep(fake, "p", "primary"), dep(fake, "q", "backup")],
                            fallbacks=[{"p": ["q"]}], num_retries=0)  # fmt: skip
    out = router.batch_completion(model="p", messages=[MSG, MSG, MSG], max_workers=1)
    assert [r.model for r in out] == ["primary", "backup", "primary"]


def test_a_bad_request_is_not_retried_elsewhere(fake: FakeServer):
    fake.script("m", fail=400)
    router = litellm.Router(model_list=[dep(fake, "g", "m", id="1"), dep(fake, "g", "m", KEY_B, id="2")], num_retries=3)
    with pytest.raises(litellm.BadRequestError):
        router.completion(model="g", messages=MSG)
    assert len(fake.requests) == 1 and router.cooldowns() == {}


def test_router_batch_fails_fast_on_a_wrong_setup(fake: FakeServer):
    router = litellm.Router(model_list=[dep(fake, "g", "m")])
    with pytest.raises(litellm.BadRequestError, match="no deployments"):
        router.batch_completion(model="nope", messages=[MSG])
    with pytest.raises(litellm.InvalidRequestError, match="temperature"):
        router.batch_completion(model="g", messages=[MSG], temperature=9)
    assert fake.requests == []


def test_router_stream_and_sync_fastest(fake: FakeServer):
    fake.script("slow", latency=0.5)
    router = litellm.Router(model_list=[dep(fake, "a", "slow"), dep(fake, "b", "quick")])
    text = "".join(c.choices[0].delta.content or "" for c in router.completion(model="a", messages=MSG, stream=True))
    assert text == "echo: Hey, how's it going?"
    assert router.batch_completion_fastest_response(model=["a", "b"], messages=MSG).model == "quick"


def test_router_default_params_and_alias(fake: FakeServer):
    router = litellm.Router(model_list=[dep(fake, "g", "m")], default_litellm_params={"temperature": 0.3},
                            model_group_alias={"gpt-4": "g"})  # fmt: skip
    router.completion(model="gpt-4", messages=MSG)
    assert fake.requests[-1].json["temperature"] == 0.3
    assert router.get_model_names() == ["g"]
