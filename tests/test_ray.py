"""volley.ray on a real local Ray (ray.init(num_cpus=2)) against the fake server: global limits across
actors, failing rows as error rows, the three batch formats, and a job killed and rerun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'volley-llm[ray]')")
import volley.ray as vray  # noqa: E402

KEY = "sk-ray-SECRET-0123456789"


ENV_KEY = "sk-ray-env-SECRET-9876543210"


@pytest.fixture(scope="module")
def cluster():
    # The workers' environment holds the key a job without api_key= uses (volley run --ray takes none).
    before = os.environ.get("OPENAI_API_KEY")
    os.environ["OPENAI_API_KEY"] = ENV_KEY
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 1024 * 1024,
             log_to_driver=False, configure_logging=False)  # fmt: skip
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.max_tasks_in_flight_per_actor = 1  # each actor takes one batch at a time, so both actors work at once
    actor = vray.limits_actor()  # the driver holds the shared limits for the module's jobs
    yield ray.get_runtime_context().gcs_address
    del actor
    ray.shutdown()
    if before is None:
        os.environ.pop("OPENAI_API_KEY", None)
    else:
        os.environ["OPENAI_API_KEY"] = before


def _kw(fake, **extra):
    return {"model": "gpt-4o-mini", "api_base": fake.openai_base, "api_key": KEY, **extra}


def _refused(fake) -> int:
    return len(fake.requests) - len({json.dumps(r.json["messages"]) for r in fake.requests})


def test_actors_share_one_rpm_limit(cluster, fake):
    fake.script("gpt-4o-mini", rpm=600, window=1.0)  # the server allows 10 requests a second
    limits = os.environ.get("VOLLEY_TEST_RAY_LIMITS", "shared")  # "local": see this test fail
    ds = ray.data.from_items([{"id": i, "prompt": f"p{i}"} for i in range(40)], override_num_blocks=2)
    out = ds.map_batches(vray.Completions, fn_constructor_kwargs=_kw(fake, rpm=600, max_workers=8, limits=limits),
                         concurrency=2, num_cpus=0.5, batch_size=20, batch_format="pandas").to_pandas()  # fmt: skip
    assert sorted(out["id"]) == list(range(40))
    assert all(out["answer"] == [f"echo: p{i}" for i in out["id"]])
    assert out["error"].isna().all() and (out["total_tokens"] > 0).all() and (out["cost"] > 0).all()
    # One lane for both actors: the named actor gave every turn and saw both actors (per-actor limits
    # would leave it untouched). The server's 429s stay at 0 but for a late wake-up on a loaded machine.
    key = vray.Completions(**_kw(fake, rpm=600)).lane_key
    state = ray.get(vray.limits_actor().snapshot.remote(key))
    assert state["granted"] >= 40 and state["members"] == 2, state
    assert _refused(fake) <= 1, _refused(fake)
    times = sorted(r.time for r in fake.requests)
    assert times[-1] - times[0] >= 39 / 10 * 0.9  # 40 requests at <= 10/s across both actors
    assert max(sum(1 for u in times if t <= u < t + 2.0) for t in times) <= 22


def test_failing_rows_are_error_rows_in_every_batch_format(cluster, fake):
    fake.script("gpt-4o-mini", failures=[400])  # the first request is refused for good
    items = [{"id": i, "prompt": f"f{i}"} for i in range(5)] + [{"id": 5, "prompt": None}]
    for fmt in ("pyarrow", "numpy", "pandas"):
        fake.reset()
        fake.script("gpt-4o-mini", failures=[400])
        rows = ray.data.from_items(items).map_batches(
            vray.Completions, fn_constructor_kwargs=_kw(fake, max_workers=1, include_response=fmt == "pyarrow"),
            concurrency=1, batch_size=6, batch_format=fmt,
        ).take_all()  # fmt: skip
        by_id = {r["id"]: r for r in rows}
        assert sorted(by_id) == list(range(6)), fmt
        errors = {i: r["error_type"] for i, r in by_id.items() if r["error"] is not None}
        assert errors.get(5) == "InvalidRequestError", (fmt, errors)  # no prompt: an error row, nothing sent
        assert list(errors.values()).count("BadRequestError") == 1, (fmt, errors)
        assert len(errors) == 2 and len(fake.requests) == 5, (fmt, errors)
        for r in rows:
            assert KEY not in json.dumps(r, default=str)
            if r["error"] is None:
                assert r["answer"] == f"echo: {r['prompt']}" and r["attempts"] == 1
                if fmt == "pyarrow":
                    body = json.loads(r["response"])
                    assert (
                        body["object"] == "chat.completion" and body["choices"][0]["message"]["content"] == r["answer"]
                    )
            assert ("response" in r) == (fmt == "pyarrow")


def test_a_killed_job_rerun_skips_what_finished(cluster, fake, tmp_path):
    fake.script("gpt-4o-mini", latency=0.25)
    n = 48
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"custom_id": f"q{i:03d}", "prompt": f"k{i}"}) + "\n" for i in range(n)))
    out = tmp_path / "out"
    code = (
        "import sys, ray, volley.ray\n"
        "ray.init(address=sys.argv[1], log_to_driver=False)\n"
        "volley.ray.run(sys.argv[2], sys.argv[3], 'gpt-4o-mini', concurrency=2, batch_size=2, rows_per_file=4,\n"
        "               api_base=sys.argv[4], api_key='sk-driver-SECRET', max_workers=2)\n"
        "print('finished')\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    driver = subprocess.Popen([sys.executable, "-c", code, cluster, str(source), str(out), fake.openai_base],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    try:
        until = time.monotonic() + 120
        while time.monotonic() < until and len(vray.finished_ids(out)) < 12 and driver.poll() is None:
            time.sleep(0.1)
        assert driver.poll() is None, driver.communicate()
        driver.send_signal(signal.SIGKILL)  # mid-job
        driver.wait(30)
    finally:
        if driver.poll() is None:
            driver.kill()
        driver.communicate()
    done_before = vray.finished_ids(out)
    assert 12 <= len(done_before) < n
    time.sleep(1.0)  # requests of the killed job's actors still in flight land now
    sent_before = len(fake.requests)

    summary = vray.run(source, out, "gpt-4o-mini", concurrency=2, batch_size=4, api_base=fake.openai_base,
                       api_key=KEY, max_workers=4)  # fmt: skip
    resent = [r.json["messages"][0]["content"] for r in fake.requests[sent_before:]]
    finished_prompts = {f"k{int(i[1:])}" for i in done_before}
    assert not finished_prompts & set(resent)  # nothing that finished was sent again
    assert summary == {"skipped": len(done_before), "sent": n - len(done_before), "errors": 0}
    results = vray.read_results(out)
    assert [r["id"] for r in results] == [f"q{i:03d}" for i in range(n)]  # every id once, in id order
    assert all(r["answer"] == f"echo: k{int(r['id'][1:])}" and r["error"] is None for r in results)
    assert len(vray.finished_ids(out)) == n
    for path in out.rglob("*.parquet"):
        assert b"SECRET" not in path.read_bytes()


def test_actors_share_one_redis_lane(cluster, fake, redis_url):
    fake.script("gpt-4o-mini", rpm=600, window=1.0)
    ds = ray.data.from_items([{"id": i, "prompt": f"r{i}"} for i in range(30)], override_num_blocks=2)
    kw = _kw(fake, rpm=600, max_workers=8, limits_url=redis_url)
    out = ds.map_batches(vray.Completions, fn_constructor_kwargs=kw, concurrency=2, num_cpus=0.5, batch_size=15,
                         batch_format="pyarrow").take_all()  # fmt: skip
    assert sorted(r["id"] for r in out) == list(range(30))
    assert all(r["error"] is None and r["answer"] == f"echo: r{r['id']}" for r in out)
    key = vray.Completions(**kw).lane_key

    async def state() -> dict:
        from volley.shared.redis_limits import RedisLimitStore

        store = RedisLimitStore.from_url(redis_url, key)
        return {**(await store.snapshot()), "members": await store.client.zcard(store.keys[2])}

    import asyncio

    s = asyncio.run(state())
    assert int(s["gr"]) >= 30 and s["members"] == 2 and s["in_flight"] == 0, s  # both actors, one lane in Redis
    assert _refused(fake) <= 1, _refused(fake)


def test_volley_run_on_ray_writes_every_line_in_order_and_resumes(cluster, fake, tmp_path):
    source = tmp_path / "in.jsonl"
    lines = [{"custom_id": f"c{i:02d}", "prompt": f"v{i}"} for i in range(10)]
    lines.insert(4, {"custom_id": "bad", "nothing": "here"})
    source.write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    cmd = [sys.executable, "-c", "import sys, volley.cli; sys.exit(volley.cli.main())", "run", str(source), "-m",
           "gpt-4o-mini", "-o", str(out), "--ray", cluster, "--ray-actors", "2", "--api-base", fake.openai_base,
           "--json", "-q"]  # fmt: skip
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert first.returncode == 1, first.stderr[-3000:]  # one line cannot be sent
    report = json.loads(first.stdout.strip().splitlines()[-1])
    assert (report["sent"], report["skipped"], report["failed"]) == (11, 0, 1)
    got = [json.loads(x) for x in out.read_text().splitlines()]
    assert [g["custom_id"] for g in got] == [x["custom_id"] for x in lines]  # input order
    for g, x in zip(got, lines):
        if x["custom_id"] == "bad":
            assert g["response"] is None and g["error"]["code"] == "invalid_request"
        else:
            body = g["response"]["body"]
            assert g["error"] is None and body["choices"][0]["message"]["content"] == f"echo: {x['prompt']}"
    sent = len(fake.requests)
    assert sent == 10
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert again.returncode == 1 and json.loads(again.stdout.strip().splitlines()[-1])["skipped"] == 10
    assert len(fake.requests) == sent  # the rerun sent nothing that had finished (the bad line again: nothing)
    for path in [out, *tmp_path.rglob("*.parquet")]:
        assert ENV_KEY.encode() not in path.read_bytes()
    refused = subprocess.run([*cmd, "--api-key", "sk-cli-SECRET-abcdefabcdef"], capture_output=True, text=True,
                             env=env, timeout=120)  # fmt: skip
    assert refused.returncode == 2 and "environment" in refused.stderr and "SECRET" not in refused.stderr


def test_volley_run_on_ray_takes_its_limits_and_cache_from_the_redis_it_is_given(cluster, fake, tmp_path, redis_url):
    from volley.cli import main
    from volley.shared.redis_limits import RedisLimitStore

    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"custom_id": f"s{i}", "prompt": f"s{i}"}) + "\n" for i in range(6)))
    args = ["run", str(source), "-m", "gpt-4o-mini", "--ray", cluster, "--ray-actors", "2", "--api-base",
            fake.openai_base, "--limits-url", redis_url, "--cache-url", redis_url, "-q"]  # fmt: skip
    assert main([*args, "-o", str(tmp_path / "a.jsonl")]) == 0
    assert len(fake.requests) == 6
    key = vray.Completions("gpt-4o-mini", api_base=fake.openai_base, limits_url=redis_url).lane_key

    async def granted() -> int:
        return int((await RedisLimitStore.from_url(redis_url, key).snapshot())["gr"])

    import asyncio

    assert asyncio.run(granted()) == 6  # every request took its turn in the Redis lane
    assert main([*args, "-o", str(tmp_path / "b.jsonl")]) == 0  # another job: answered from the Redis cache
    assert len(fake.requests) == 6
    got = [json.loads(x) for x in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert [g["response"]["body"]["choices"][0]["message"]["content"] for g in got] == [f"echo: s{i}" for i in range(6)]


def test_a_429_in_one_actor_is_retried_after_its_retry_after_and_the_row_is_answered(cluster, fake):
    fake.script("gpt-4o-mini", failures=[429], retry_after=1.5)  # the first request is refused, retry in 1.5 s
    rows = ray.data.from_items([{"id": i, "prompt": f"t{i}"} for i in range(4)]).map_batches(
        vray.Completions, fn_constructor_kwargs=_kw(fake, max_workers=1), concurrency=1, batch_size=4,
        batch_format="pandas",
    ).take_all()  # fmt: skip
    assert sorted(r["id"] for r in rows) == [0, 1, 2, 3]
    assert all(r["error"] is None and r["answer"] == f"echo: t{r['id']}" for r in rows)
    assert sorted(r["attempts"] for r in rows) == [1, 1, 1, 2]  # the refused row was sent again
    times = [r.time for r in fake.requests]
    assert len(times) == 5 and times[1] - times[0] >= 1.4  # nothing sent before the retry-after passed
