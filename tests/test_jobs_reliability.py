"""``volley run`` under hostile input: lines that cannot be built, long answers against a budget, input
files that would route keys elsewhere, and the files it writes (modes, cache scope). Fake server only."""

import json
import logging
import os
import sqlite3
import stat
import threading

import pytest

import volley
from volley import pricing as cost
from volley.cli import main
from volley.hooks import cache as cache_mod
from volley.hooks.budget import reservation
from volley.jobs import run as runner_mod
from volley.jobs import setup as setup_mod
from volley.testing import FakeServer

OPENAI_KEY = "sk-test-rel-OPENAI-0123456789"
ANTHROPIC_KEY = "sk-ant-test-rel-ANTHROPIC-0123456789"
COHERE_KEY = "co-test-rel-COHERE-0123456789"
MODEL = "gpt-4o-mini"
LONG = " ".join(["word"] * 2000)  # a 2000-token answer (the fake counts words)


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("COHERE_API_KEY", COHERE_KEY)
    for name in ("OPENAI_BASE_URL", "OPENAI_API_BASE", "ANTHROPIC_BASE_URL", "COHERE_BASE_URL", "CO_API_URL",
                 "VOLLEY_PRICES"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VOLLEY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache_mod, "_caches", {})
    monkeypatch.chdir(tmp_path)


def write_input(path, lines):
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def simple(n, prefix="q"):
    return [{"custom_id": f"{prefix}{i}", "messages": [{"role": "user", "content": f"{prefix} {i}"}]} for i in range(n)]


def run(capsys, *args, timeout=60.0):
    """``volley run`` in-process on a thread, so a hang fails the test instead of freezing the suite."""
    box = {}

    def target():
        try:
            box["code"] = main(["run", *map(str, args)])
        except BaseException as exc:  # SystemExit from argparse, or a crash: the test reports it
            box["exc"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), f"volley run {' '.join(map(str, args))} hung for {timeout} s"
    out, err = capsys.readouterr()
    if "exc" in box:
        raise AssertionError(f"volley run raised {box['exc']!r}\nstderr: {err}") from box["exc"]
    return box["code"], out, err


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


# ------------------------------------------------------------------ 1. a line whose request cannot be built

TOOLS = [{"type": "function", "function": {"name": n, "parameters": {"type": "object", "properties": {}}}}
         for n in ("lookup", "search")]  # fmt: skip
UNBUILDABLE = {"custom_id": "bad", "prompt": "x", "tools": TOOLS,
               "tool_choice": {"type": "function", "function": {"name": "lookup"}}}  # fmt: skip


def test_a_line_whose_request_cannot_be_built_is_that_lines_error_and_reruns_go_on(fake, tmp_path, capsys):
    """Cohere cannot force one of two tools: that line is refused; the job runs the rest and reruns do not stick."""
    lines = [{"custom_id": "a", "prompt": "one"}, UNBUILDABLE, {"custom_id": "b", "prompt": "two"}]
    inp, out = write_input(tmp_path / "in.jsonl", lines), tmp_path / "out.jsonl"
    args = (inp, "-m", "cohere/command-r", "-o", out, "--api-base", fake.url, "--num-retries", "0", "--json")
    code, stdout, stderr = run(capsys, *args)
    assert code == 1, stderr
    recs = {r["custom_id"]: r for r in records(out)}
    assert set(recs) == {"a", "b", "bad"} and len(fake.requests) == 2
    assert recs["bad"]["error"]["code"] == "invalid_request" and "tool_choice" in recs["bad"]["error"]["message"]
    assert recs["a"]["error"] is None and recs["b"]["error"] is None
    assert f"{inp}:2: " in stderr and "tool_choice" in stderr
    s = json.loads(stdout)
    assert s["done"] == 2 and s["invalid"] == 1 and s["pending"] == 0

    code, stdout, _ = run(capsys, *args)  # the rerun does not stick on that line, nor send anything again
    assert code == 1 and json.loads(stdout)["sent"] == 0 and len(fake.requests) == 2 and len(records(out)) == 3


def test_a_request_that_fails_to_build_when_sent_is_recorded_and_the_job_goes_on(fake, tmp_path, capsys, monkeypatch):
    """A journal from before setup checked every line (the line is pending): the run records it and goes on."""
    monkeypatch.setattr(setup_mod.JobSetup, "_check_buildable", lambda self, item: None)
    lines = [*[{"custom_id": f"a{i}", "prompt": f"p{i}"} for i in range(5)], UNBUILDABLE,
             *[{"custom_id": f"b{i}", "prompt": f"r{i}"} for i in range(5)]]  # fmt: skip
    inp, out = write_input(tmp_path / "in.jsonl", lines), tmp_path / "out.jsonl"
    args = (inp, "-m", "cohere/command-r", "-o", out, "--api-base", fake.url, "--concurrency", "2", "--json")
    code, stdout, stderr = run(capsys, *args)
    assert code == 1, stderr
    s = json.loads(stdout)
    assert s["done"] == 10 and s["invalid"] == 1 and s["pending"] == 0 and len(fake.requests) == 10
    bad = next(r for r in records(out) if r["custom_id"] == "bad")
    assert bad["error"]["code"] == "invalid_request" and "tool_choice" in bad["error"]["message"]
    db = sqlite3.connect(tmp_path / "out.jsonl.journal.sqlite")
    assert db.execute("SELECT state FROM items WHERE custom_id = 'bad'").fetchone() == ("invalid",)
    db.close()
    code, stdout, _ = run(capsys, *args)
    assert code == 1 and json.loads(stdout)["sent"] == 0 and len(fake.requests) == 10


# ------------------------------------------------------------------ 5. the budget holds against long answers


def test_budget_is_not_passed_when_answers_are_long_and_max_tokens_is_not_given(fake, tmp_path, capsys):
    fake.script(MODEL, content=LONG)
    inp, out = write_input(tmp_path / "in.jsonl", simple(40)), tmp_path / "out.jsonl"
    budget = 0.01  # one 2000-token answer costs $0.0012; one request may cost up to 16,384 x $0.6/M = $0.0098
    args = (inp, "-m", MODEL, "-o", out, "--api-base", fake.openai_base, "--concurrency", "20", "--json",
            "--budget-usd", budget)  # fmt: skip
    code, stdout, stderr = run(capsys, *args)
    s = json.loads(stdout)
    assert code == 1 and s["budget_reached"] and s["done"] >= 1
    assert s["job_cost_usd"] <= budget, f"spent ${s['job_cost_usd']} of a ${budget} budget"
    assert len(fake.requests) == s["done"]
    assert "16,384 output tokens" in stderr and "--max-tokens" in stderr  # it says how it reserved
    assert "16,384" in s["budget_note"]


def test_budget_with_max_tokens_reserves_that_and_stops_at_most_one_request_short(fake, tmp_path, capsys):
    fake.script(MODEL, content=LONG)  # cut at max_tokens words by the fake
    inp, out = write_input(tmp_path / "in.jsonl", simple(40)), tmp_path / "out.jsonl"
    budget, one = 0.005, 1000 * 0.60e-6  # one answer: 1000 output tokens
    args = (inp, "-m", MODEL, "-o", out, "--api-base", fake.openai_base, "--concurrency", "20", "--json",
            "--max-tokens", "1000", "--budget-usd", budget)  # fmt: skip
    code, stdout, stderr = run(capsys, *args)
    s = json.loads(stdout)
    assert code == 1 and s["budget_reached"]
    assert s["job_cost_usd"] <= budget
    assert budget - s["job_cost_usd"] < 2 * one  # not far short either: the reservation is close to the real cost
    assert s["budget_note"] is None and "ceiling" not in stderr


def test_library_budget_holds_with_long_answers_and_says_it_reserves_the_ceiling(fake, caplog):
    fake.script(MODEL, content=LONG)
    prompts = [[{"role": "user", "content": f"q {i}"}] for i in range(30)]
    with caplog.at_level(logging.WARNING, logger="volley"):
        out = volley.batch_completion(MODEL, prompts, api_base=fake.openai_base, api_key=OPENAI_KEY,
                                      budget_usd=0.01, max_workers=20)  # fmt: skip
    answered = [r for r in out if isinstance(r, volley.ModelResponse)]
    assert answered and sum(r.cost for r in answered) <= 0.01
    assert len(fake.requests) == len(answered)
    assert any("16,384" in r.getMessage() for r in caplog.records)


def test_output_ceilings_per_model():
    assert cost.model_max_output("gpt-4o-mini-2024-07-18") == (16_384, True)
    assert cost.model_max_output("claude-3-5-haiku-latest") == (8_192, True)
    assert cost.model_max_output("gemini/gemini-2.5-flash") == (65_536, True)
    assert cost.model_max_output("openai/house-model-rel") == (cost.DEFAULT_MAX_OUTPUT_TOKENS, False)
    cost.register_prices({"openai/house-model-rel": {"input": 1, "output": 2, "max_output_tokens": 4096}})
    assert cost.model_max_output("openai/house-model-rel") == (4096, True)
    with pytest.raises(ValueError, match="max_output_tokens"):
        cost.register_prices({"openai/x": {"input": 1, "output": 2, "max_output_tokens": -1}})


def test_a_provider_default_cap_and_n_bound_the_reservation():
    from volley.prepare import Template

    claude = Template("anthropic/claude-sonnet-4-5", {"api_key": ANTHROPIC_KEY})
    assert claude.max_output == 4096  # volley sends max_tokens=4096 to Anthropic when none is given
    gpt = Template(MODEL, {"api_key": OPENAI_KEY, "max_tokens": 100, "n": 3})
    call = gpt.call([{"role": "user", "content": "hi"}])
    out_price = 0.60e-6
    assert reservation(call) >= 300 * out_price  # three answers of up to 100 tokens


# ------------------------------------------------------------------ 6. the input file does not decide where keys go

MIXED = [{"custom_id": "o1", "model": MODEL, "prompt": "to openai"},
         {"custom_id": "a1", "model": "claude-3-5-haiku-latest", "prompt": "to anthropic"},
         {"custom_id": "o2", "model": MODEL, "prompt": "again openai"}]  # fmt: skip


def test_lines_routed_to_another_provider_are_refused_before_sending(fake, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", fake.openai_base)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
    inp, out = write_input(tmp_path / "in.jsonl", MIXED), tmp_path / "out.jsonl"
    code, _, stderr = run(capsys, inp, "-o", out)
    assert code == 2 and "--allow-mixed-providers" in stderr and f"{inp}:2:" in stderr and "Traceback" not in stderr
    assert fake.requests == [] and not out.exists()


def test_api_base_or_key_without_a_named_provider_is_refused(fake, tmp_path, capsys):
    inp, out = write_input(tmp_path / "in.jsonl", MIXED[:1]), tmp_path / "out.jsonl"
    for flags in (("--api-base", fake.openai_base), ("--api-key", "sk-other-key-0123456789")):
        code, _, stderr = run(capsys, inp, "-o", out, *flags)
        assert code == 2 and "--api-provider" in stderr and fake.requests == []
    code, _, stderr = run(capsys, inp, "-o", out, "-m", MODEL, "--api-provider", "anthropic")
    assert code == 2 and "does not match" in stderr


def test_mixed_providers_each_key_goes_only_to_its_own_base(fake, tmp_path, capsys, monkeypatch):
    """--api-base is for --api-provider's lines only; the other provider keeps its own key and base."""
    with FakeServer() as other:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", other.url)
        inp, out = write_input(tmp_path / "in.jsonl", MIXED), tmp_path / "out.jsonl"
        code, _, stderr = run(capsys, inp, "-o", out, "--allow-mixed-providers", "--api-provider", "openai",
                              "--api-base", fake.openai_base)  # fmt: skip
        assert code == 0, stderr
        assert {r.provider for r in fake.requests} == {"openai"} and len(fake.requests) == 2
        assert {r.provider for r in other.requests} == {"anthropic"} and len(other.requests) == 1
        for r in fake.requests:
            assert r.headers.get("authorization") == f"Bearer {OPENAI_KEY}" and "x-api-key" not in r.headers
            assert ANTHROPIC_KEY not in json.dumps(r.headers)
        for r in other.requests:
            assert r.headers.get("x-api-key") == ANTHROPIC_KEY and "authorization" not in r.headers
            assert OPENAI_KEY not in json.dumps(r.headers)


def test_api_key_applies_only_to_the_named_provider(fake, tmp_path, capsys, monkeypatch):
    mine = "sk-ant-cli-given-key-0123456789"
    monkeypatch.setenv("OPENAI_BASE_URL", fake.openai_base)
    inp, out = write_input(tmp_path / "in.jsonl", MIXED), tmp_path / "out.jsonl"
    code, _, stderr = run(capsys, inp, "-o", out, "--allow-mixed-providers", "--api-provider", "anthropic",
                          "--api-base", fake.url, "--api-key", mine)  # fmt: skip
    assert code == 0, stderr
    keys = {r.provider: r.headers.get("x-api-key") or r.headers.get("authorization") for r in fake.requests}
    assert keys == {"anthropic": mine, "openai": f"Bearer {OPENAI_KEY}"}


@pytest.mark.parametrize("verb", ["race", "compare"])
def test_race_and_compare_refuse_one_key_for_several_providers(fake, capsys, verb):
    code = main([verb, "-m", MODEL, "-m", "claude-3-5-haiku-latest", "--api-key", "sk-one-key-0123456789", "hi"])
    err = capsys.readouterr().err
    assert code == 2 and "2 providers" in err and "sk-one-key" not in err and fake.requests == []


def test_batches_list_refuses_one_base_for_every_provider(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["batches", "list", "--api-base", "http://127.0.0.1:9/v1"])
    assert exc.value.code == 2 and "--provider" in capsys.readouterr().err


# ------------------------------------------------------------------ 12. files are private; the cache can be per key


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_job_files_are_created_0600(fake, tmp_path, monkeypatch):
    old = os.umask(0o022)  # the usual umask: files would be world-readable
    try:
        inp, out = write_input(tmp_path / "in.jsonl", simple(3)), tmp_path / "out.jsonl"
        opts = runner_mod.RunOptions(input=inp, output=out, model=MODEL, api_base=fake.openai_base, cache=True,
                                     cache_path=str(tmp_path / "c" / "cache.sqlite"))  # fmt: skip
        job = runner_mod.Job(opts)
        try:
            job.prepare()
            from volley.commands.common import run_cancellable

            assert run_cancellable(job.run).done == 3
            journal = tmp_path / "out.jsonl.journal.sqlite"
            files = [out, journal, f"{journal}-wal", f"{journal}-shm", f"{out}.lock", f"{journal}.lock"]
            cache = tmp_path / "c" / "cache.sqlite"
            files += [cache, f"{cache}-wal", f"{cache}-shm"]
            for f in files:
                assert _mode(f) == 0o600, f"{f}: {oct(_mode(f))}"
            assert _mode(tmp_path / "c") == 0o700
        finally:
            job.close()
        assert _mode(out) == 0o600
    finally:
        os.umask(old)


def test_an_existing_world_readable_journal_is_tightened(fake, tmp_path, capsys):
    inp, out = write_input(tmp_path / "in.jsonl", simple(2)), tmp_path / "out.jsonl"
    args = (inp, "-m", MODEL, "-o", out, "--api-base", fake.openai_base)
    assert run(capsys, *args)[0] == 0
    journal = tmp_path / "out.jsonl.journal.sqlite"
    os.chmod(journal, 0o644)
    os.chmod(out, 0o644)
    assert run(capsys, *args)[0] == 0
    assert _mode(journal) == 0o600 and _mode(out) == 0o600


def test_cache_scope_key_keeps_each_keys_answers_apart(fake, tmp_path):
    path = str(tmp_path / "scoped.sqlite")
    m = [{"role": "user", "content": "same question"}]
    kw = {"api_base": fake.openai_base, "cache": True, "cache_path": path}
    first = "sk-first-key-0123456789abcdef"
    second = "sk-second-key-0123456789abcdef"
    assert not volley.completion(MODEL, m, api_key=first, cache_scope="key", **kw).cache_hit
    assert not volley.completion(MODEL, m, api_key=second, cache_scope="key", **kw).cache_hit  # not first's answer
    assert volley.completion(MODEL, m, api_key=second, cache_scope="key", **kw).cache_hit
    assert len(fake.requests) == 2
    assert volley.completion(MODEL, m, api_key=second, **kw).cache_hit is False  # the shared scope is separate
    assert volley.completion(MODEL, m, api_key=first, **kw).cache_hit  # shared (default): any key's answer
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("scoped"))
    for secret in (first, second, cache_mod.key_fingerprint(first), cache_mod.key_fingerprint(second)):
        assert secret.encode() not in stored
    with pytest.raises(volley.InvalidRequestError, match="cache_scope"):
        volley.completion(MODEL, m, api_key=first, cache_scope="user", **kw)


def test_cli_cache_scope_key(fake, tmp_path, capsys, monkeypatch):
    inp = write_input(tmp_path / "in.jsonl", simple(2))
    base = (inp, "-m", MODEL, "--api-base", fake.openai_base, "--cache", "--cache-scope", "key", "--json")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-scope-one-0123456789")
    assert json.loads(run(capsys, *base, "-o", tmp_path / "a.jsonl")[1])["sent"] == 2
    monkeypatch.setenv("OPENAI_API_KEY", "sk-scope-two-0123456789")
    assert json.loads(run(capsys, *base, "-o", tmp_path / "b.jsonl")[1])["sent"] == 2  # another key: no hits
    assert json.loads(run(capsys, *base, "-o", tmp_path / "c.jsonl")[1])["cache_hits"] == 2  # same key: hits
    assert len(fake.requests) == 4


def test_api_key_help_recommends_the_environment():
    from volley.commands.run import build_parser

    text = " ".join(build_parser().format_help().split())
    assert "prefer the environment" in text and "ps" in text
