"""``volley run`` on shared limits and a shared cache: ``--limits-url`` / ``$VOLLEY_REDIS_URL`` and ``--cache-url``
(a real redis-server, the fake server)."""

from __future__ import annotations

import asyncio
import json

import pytest

from _job_env import isolate_job
from volley.cli import main
from volley.prepare import Template
from volley.shared import wire
from volley.shared.redis_limits import RedisLimitStore

KEY = "sk-run-shared-SECRET-0123456789"
MODEL = "gpt-4o-mini"


@pytest.fixture(autouse=True)
def env(monkeypatch, tmp_path):
    isolate_job(monkeypatch, tmp_path, KEY)
    monkeypatch.delenv("VOLLEY_REDIS_URL", raising=False)
    wire.reset()
    yield
    wire.reset()


def _csv(path, n, tag):
    path.write_text("id,question\n" + "".join(f"{tag}{i},Q {tag} {i}?\n" for i in range(n)))
    return path


def _granted(url: str, fake) -> int:
    """Turns the lane of ``MODEL`` at the fake server has given in the Redis at ``url``."""
    lane = Template(MODEL, {"api_base": fake.openai_base, "api_key": KEY}).route.lane

    async def go() -> int:
        return int((await RedisLimitStore.from_url(url, lane).snapshot()).get("gr", 0))

    return asyncio.run(go())


def _run(inp, out, fake, *extra):
    return main(["run", str(inp), "-m", MODEL, "-o", str(out), "--prompt", "{question}", "--id-column", "id",
                 "--api-base", fake.openai_base, "--rpm", "6000", "-q", *extra])  # fmt: skip


def test_limits_url_and_the_environment_put_a_run_in_the_shared_lane(fake, tmp_path, redis_url, monkeypatch):
    before = _granted(redis_url, fake)
    assert _run(_csv(tmp_path / "a.csv", 7, "a"), tmp_path / "a.parquet", fake, "--limits-url", redis_url) == 0
    assert _granted(redis_url, fake) == before + 7  # each request took its turn in Redis
    monkeypatch.setenv("VOLLEY_REDIS_URL", redis_url)
    wire.reset()
    assert _run(_csv(tmp_path / "b.csv", 5, "b"), tmp_path / "b.parquet", fake) == 0
    assert _granted(redis_url, fake) == before + 12
    assert len(fake.requests) == 12


def test_a_bad_limits_url_is_refused_before_anything_is_sent(fake, tmp_path, capsys):
    code = _run(_csv(tmp_path / "a.csv", 3, "a"), tmp_path / "a.parquet", fake, "--limits-url",
                "http://user:hunter2@127.0.0.1:6379")  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "limits_url" in err and "hunter2" not in err, err
    assert fake.requests == []


def test_cache_url_answers_a_second_run_from_redis(fake, tmp_path, redis_url):
    inp = _csv(tmp_path / "c.csv", 6, "c")
    assert _run(inp, tmp_path / "c1.jsonl", fake, "--cache-url", redis_url) == 0
    assert len(fake.requests) == 6
    assert _run(inp, tmp_path / "c2.jsonl", fake, "--cache-url", redis_url) == 0
    assert len(fake.requests) == 6  # all six answered from the shared cache
    rows = [json.loads(x) for x in (tmp_path / "c2.jsonl").read_text().splitlines()]
    assert [r["answer"] for r in rows] == [f"echo: Q c {i}?" for i in range(6)]
    assert not (tmp_path / "cache").exists()  # the file cache was not used
