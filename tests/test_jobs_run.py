"""``volley run`` in-process against the fake server: output format, resume, failures, budget, cache, setup errors."""

import json
import sqlite3

import pytest

from _job_env import isolate_job
from volley.cli import main

KEY = "sk-test-jobs-SECRET-0123456789"
MODEL = "gpt-4o-mini"


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    isolate_job(monkeypatch, tmp_path, KEY)


def write_input(path, lines):
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def simple(n, prefix="q"):
    return [{"custom_id": f"{prefix}{i}", "messages": [{"role": "user", "content": f"{prefix} {i}"}]} for i in range(n)]


def run(capsys, *args):
    code = main(["run", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def base(fake, inp, out, *more):
    return (inp, "-m", MODEL, "-o", out, "--api-base", fake.openai_base, "--num-retries", "0", *more)


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def prompts_sent(fake):
    return [r.json["messages"][-1]["content"] for r in fake.requests]


def test_one_batch_output_line_per_input_and_a_json_summary(fake, tmp_path, capsys):
    fake.script(MODEL, latency=(0.0, 0.02), seed=1)
    inp, out = write_input(tmp_path / "in.jsonl", simple(25)), tmp_path / "out.jsonl"
    code, stdout, stderr = run(capsys, *base(fake, inp, out, "--json", "--concurrency", "5"))
    assert code == 0, stderr
    recs = records(out)
    assert sorted(r["custom_id"] for r in recs) == sorted(f"q{i}" for i in range(25))
    for r in recs:
        assert r["error"] is None and r["response"]["status_code"] == 200
        assert r["response"]["body"]["choices"][0]["message"]["content"] == "echo: " + r["custom_id"].replace("q", "q ")
    summary = json.loads(stdout)
    assert summary["done"] == 25 and summary["sent"] == 25 and summary["exit_code"] == 0
    assert summary["cost_usd"] > 0 and summary["prompt_tokens"] > 0 and summary["completion_tokens"] > 0
    assert summary["latency_p50_s"] <= summary["latency_p95_s"]
    assert "volley run: 25 items" in stderr and "p95" in stderr
    assert (tmp_path / "out.jsonl.journal.sqlite").exists()

    code, stdout, _ = run(capsys, *base(fake, inp, out, "--json"))  # finished: a rerun sends nothing
    assert code == 0 and len(fake.requests) == 25 and json.loads(stdout)["sent"] == 0
    assert len(records(out)) == 25


def test_malformed_lines_are_reported_and_the_rest_runs(fake, tmp_path, capsys):
    lines = [*simple(3), "{oops", {"custom_id": "x", "messages": "hi"}, {"prompt": "ok"}]
    inp, out = write_input(tmp_path / "in.jsonl", lines), tmp_path / "out.jsonl"
    code, _, stderr = run(capsys, *base(fake, inp, out))
    assert code == 1
    assert f"{inp}:4: not valid JSON" in stderr and f"{inp}:5: " in stderr
    recs = {r["custom_id"]: r for r in records(out)}
    assert len(recs) == 6 and len(fake.requests) == 4
    assert recs["line-4"]["error"]["code"] == "invalid_request" and recs["x"]["error"]["message"].startswith("line 5")
    assert recs["line-6"]["response"]["body"]["choices"][0]["message"]["content"] == "echo: ok"


def test_strict_stops_before_sending_anything(fake, tmp_path, capsys):
    inp, out = write_input(tmp_path / "in.jsonl", [*simple(3), "{oops"]), tmp_path / "out.jsonl"
    code, _, stderr = run(capsys, *base(fake, inp, out, "--strict"))
    assert code == 2 and "--strict" in stderr and "Traceback" not in stderr
    assert fake.requests == [] and not out.exists() and not (tmp_path / "out.jsonl.journal.sqlite").exists()


def test_failed_items_are_retried_on_rerun_unless_told_not_to(fake, tmp_path, capsys):
    fake.script(MODEL, failures=[400, 500])
    inp, out = write_input(tmp_path / "in.jsonl", simple(6)), tmp_path / "out.jsonl"
    code, stdout, stderr = run(capsys, *base(fake, inp, out, "--concurrency", "1", "--json"))
    assert code == 1
    summary = json.loads(stdout)
    assert summary["failed"] == 2 and summary["errors"] == {"BadRequestError": 1, "InternalServerError": 1}
    assert "to resume, run the same command:\n    volley run" in stderr
    failed = [r for r in records(out) if r["error"]]
    assert {r["error"]["code"] for r in failed} == {"bad_request_error", "internal_server_error"}

    code, stdout, _ = run(capsys, *base(fake, inp, out, "--concurrency", "1", "--no-retry-failed", "--json"))
    assert code == 1 and json.loads(stdout)["sent"] == 0 and len(fake.requests) == 6

    code, stdout, _ = run(capsys, *base(fake, inp, out, "--concurrency", "1", "--json"))
    assert code == 0 and json.loads(stdout)["sent"] == 2 and len(fake.requests) == 8
    recs = records(out)
    assert len(recs) == 6 and all(r["error"] is None for r in recs)
    again = {p for p in prompts_sent(fake)[6:]}
    assert again == {r["custom_id"].replace("q", "q ") for r in failed}  # only the failed ones went again


def test_budget_stops_sending_and_a_larger_budget_continues(fake, tmp_path, capsys):
    inp, out = write_input(tmp_path / "in.jsonl", simple(30)), tmp_path / "out.jsonl"
    one = 3 * 0.15e-6 + 5 * 0.60e-6  # about what one answer costs here (3 prompt, 5 answer tokens)
    args = base(fake, inp, out, "--concurrency", "2", "--max-tokens", "5", "--json")
    code, stdout, stderr = run(capsys, *args, "--budget-usd", f"{one * 8:.10f}")
    s = json.loads(stdout)
    assert code == 1 and s["budget_reached"] and s["pending"] > 0 and s["skipped_budget"] == s["pending"]
    assert s["done"] == len(fake.requests) and 3 <= s["done"] < 30
    assert s["job_cost_usd"] <= one * 8
    assert "budget" in stderr and "larger --budget-usd" in stderr
    assert len(records(out)) == s["done"]

    code, stdout, _ = run(capsys, *args, "--budget-usd", "1")
    s2 = json.loads(stdout)
    assert code == 0 and s2["done"] == 30 and s2["sent"] == 30 - s["done"]
    sent = prompts_sent(fake)
    assert len(sent) == len(set(sent)) == 30  # nothing sent twice
    assert len(records(out)) == 30


def test_budget_needs_a_price(fake, tmp_path, capsys):
    inp, out = write_input(tmp_path / "in.jsonl", simple(2)), tmp_path / "out.jsonl"
    args = (inp, "-m", "openai/house-model", "-o", out, "--api-base", fake.openai_base, "--budget-usd", "1")
    code, _, stderr = run(capsys, *args)
    assert code == 2 and "--prices" in stderr and fake.requests == []
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"openai/house-model": {"input": 1, "output": 2}}))
    code, _, stderr = run(capsys, *args, "--prices", prices)
    assert code == 0, stderr


def test_cache_answers_duplicates_once_and_then_for_free(fake, tmp_path, capsys):
    fake.script(MODEL, latency=0.03)
    lines = [{"custom_id": f"c{i}", "prompt": f"p{i % 3}"} for i in range(9)]
    inp, out = write_input(tmp_path / "in.jsonl", lines), tmp_path / "out.jsonl"
    code, stdout, _ = run(capsys, *base(fake, inp, out, "--cache", "--json"))
    s = json.loads(stdout)
    assert code == 0 and len(fake.requests) == 3 and s["sent"] == 3 and s["cache_hits"] == 6
    code, stdout, _ = run(capsys, *base(fake, inp, out, "--cache", "--json", "--overwrite"))
    s = json.loads(stdout)
    assert code == 0 and len(fake.requests) == 3 and s["cache_hits"] == 9 and s["cost_usd"] == 0
    assert (tmp_path / "cache" / "cache.sqlite").exists()


def test_the_key_is_never_written_anywhere(fake, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    fake.script(MODEL, failures=[401])
    inp, out = write_input(tmp_path / "in.jsonl", simple(5)), tmp_path / "out.jsonl"
    code, stdout, stderr = run(capsys, *base(fake, inp, out, "--api-key", KEY, "--cache", "--json"))
    assert code == 1
    assert KEY not in stdout and KEY not in stderr
    assert "'<key>'" in stderr  # the resume hint masks it
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "in.jsonl"]
    assert any("journal" in p.name for p in files) and any("cache" in p.name for p in files)
    for p in files:
        assert KEY.encode() not in p.read_bytes(), p


def test_output_is_repaired_from_the_journal(fake, tmp_path, capsys):
    inp, out = write_input(tmp_path / "in.jsonl", simple(10)), tmp_path / "out.jsonl"
    assert run(capsys, *base(fake, inp, out))[0] == 0
    good = out.read_text()
    lines = good.splitlines(keepends=True)
    out.write_text(lines[0] + lines[0] + "".join(lines[2:-1]) + lines[-1][:20])  # duplicate, lost and torn lines
    assert run(capsys, *base(fake, inp, out))[0] == 0
    assert sorted(out.read_text().splitlines()) == sorted(good.splitlines())
    assert len(fake.requests) == 10


def test_lines_carry_their_model_and_params_and_the_command_line_wins(fake, tmp_path, capsys):
    lines = [
        {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "temperature": 0.7}},
        {"custom_id": "b", "model": "gpt-4o-mini", "prompt": "y", "seed": 3},
        {"custom_id": "c", "prompt": "no model"},
        {"custom_id": "d", "model": "gpt-4o", "prompt": "z", "bogus_param": 1},
    ]  # fmt: skip
    inp, out = write_input(tmp_path / "in.jsonl", lines), tmp_path / "out.jsonl"
    args = (inp, "-o", out, "--api-base", fake.openai_base, "--api-provider", "openai", "--temperature", "0.1")
    code, _, _ = run(capsys, *args)
    assert code == 1
    sent = {r.json["messages"][0]["content"]: r.json for r in fake.requests}
    assert sent["x"]["model"] == "gpt-4o" and sent["x"]["temperature"] == 0.1
    assert sent["y"]["model"] == "gpt-4o-mini" and sent["y"]["seed"] == 3
    recs = {r["custom_id"]: r for r in records(out)}
    assert "no model" in recs["c"]["error"]["message"] and "bogus_param" in recs["d"]["error"]["message"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-m", "nope-model"], "cannot infer the provider"),
        (["-m", "acme/model"], "unknown provider"),
        (["-m", MODEL, "--temperature", "9"], "temperature"),
    ],
)
def test_bad_model_or_settings_fail_before_sending(fake, tmp_path, capsys, args, message):
    inp, out = write_input(tmp_path / "in.jsonl", simple(3)), tmp_path / "out.jsonl"
    code, _, stderr = run(capsys, inp, "-o", out, "--api-base", fake.openai_base, *args)
    assert code == 2 and message in stderr and stderr.startswith("volley: error:") and "Traceback" not in stderr
    assert fake.requests == [] and not out.exists()


def test_missing_key_fails_before_sending(fake, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    inp, out = write_input(tmp_path / "in.jsonl", simple(3)), tmp_path / "out.jsonl"
    code, _, stderr = run(capsys, *base(fake, inp, out))
    assert code == 2 and "OPENAI_API_KEY" in stderr and fake.requests == []


def test_unwritable_or_existing_output_fails_before_sending(fake, tmp_path, capsys):
    inp = write_input(tmp_path / "in.jsonl", simple(3))
    code, _, stderr = run(capsys, *base(fake, inp, tmp_path / "no" / "such" / "out.jsonl"))
    assert code == 2 and "does not exist" in stderr
    code, _, stderr = run(capsys, *base(fake, inp, tmp_path))
    assert code == 2 and "directory" in stderr
    taken = tmp_path / "taken.jsonl"
    taken.write_text("precious\n")
    code, _, stderr = run(capsys, *base(fake, inp, taken))
    assert code == 2 and "--overwrite" in stderr and taken.read_text() == "precious\n"
    code, _, stderr = run(capsys, *base(fake, tmp_path / "missing.jsonl", tmp_path / "o.jsonl"))
    assert code == 2 and "does not exist" in stderr
    assert fake.requests == []
    assert run(capsys, *base(fake, inp, taken, "--overwrite"))[0] == 0 and len(records(taken)) == 3


def test_resume_refuses_a_changed_input_or_other_settings(fake, tmp_path, capsys):
    inp, out = write_input(tmp_path / "in.jsonl", simple(3)), tmp_path / "out.jsonl"
    assert run(capsys, *base(fake, inp, out))[0] == 0
    write_input(inp, simple(4))
    code, _, stderr = run(capsys, *base(fake, inp, out))
    assert code == 2 and "changed since this job started" in stderr
    write_input(inp, simple(3))
    code, _, stderr = run(capsys, *base(fake, inp, out, "--temperature", "0.5"))
    assert code == 2 and "other settings" in stderr and "temperature" in stderr
    assert len(fake.requests) == 3


def test_journal_records_states_and_attempts(fake, tmp_path, capsys):
    fake.script(MODEL, failures=[500, 500])
    inp, out = write_input(tmp_path / "in.jsonl", simple(4)), tmp_path / "out.jsonl"
    code, _, _ = run(capsys, inp, "-m", MODEL, "-o", out, "--api-base", fake.openai_base, "--concurrency", "1",
                     "--num-retries", "2", "--journal", tmp_path / "j.sqlite")  # fmt: skip
    assert code == 0
    db = sqlite3.connect(tmp_path / "j.sqlite")
    rows = dict(db.execute("SELECT custom_id, attempts FROM items"))
    assert rows == {"q0": 3, "q1": 1, "q2": 1, "q3": 1}
    assert {s for (s,) in db.execute("SELECT state FROM items")} == {"done"}
    costs = [c for (c,) in db.execute("SELECT cost_usd FROM items")]
    assert all(c > 0 for c in costs)


def test_quiet_prints_nothing(fake, tmp_path, capsys):
    inp, out = write_input(tmp_path / "in.jsonl", simple(2)), tmp_path / "out.jsonl"
    code, stdout, stderr = run(capsys, *base(fake, inp, out, "--quiet"))
    assert code == 0 and stdout == "" and stderr == ""


def test_help_lists_the_verbs(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "run" in text and "race" in text and "compare" in text


def test_a_second_run_of_the_same_job_is_refused_while_one_runs(fake, tmp_path, capsys):
    fcntl = pytest.importorskip("fcntl")
    inp, out = write_input(tmp_path / "in.jsonl", simple(2)), tmp_path / "out.jsonl"
    with open(tmp_path / "out.jsonl.journal.sqlite.lock", "a+") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running `volley run` holds it
        code, _, stderr = run(capsys, *base(fake, inp, out))
        assert code == 2 and "another volley run" in stderr and fake.requests == []
    assert run(capsys, *base(fake, inp, out))[0] == 0


def test_batch_api_mode_gives_the_same_output_and_resumes_without_resubmitting(fake, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(fake, "batch_delay", 0.1)
    inp = write_input(tmp_path / "in.jsonl", simple(6))
    online, batched = tmp_path / "online.jsonl", tmp_path / "batched.jsonl"
    assert run(capsys, *base(fake, inp, online))[0] == 0
    code, _, err = run(capsys, *base(fake, inp, batched, "--batch-api", "--poll-interval", "0.02"))
    assert code == 0, err

    def answers(path):
        return {r["custom_id"]: r["response"]["body"]["choices"][0]["message"]["content"] for r in records(path)}

    assert answers(batched) == answers(online) and len(answers(batched)) == 6
    created = [r for r in fake.requests if r.path == "/v1/batches"]
    assert len(created) == 1
    journal = sqlite3.connect(f"{batched}.journal.sqlite")
    assert json.loads(journal.execute("SELECT value FROM meta WHERE key = 'batch_ids'").fetchone()[0]) == []


def test_batch_api_rerun_attaches_to_a_submitted_batch(fake, tmp_path, capsys, monkeypatch):
    import os
    import signal
    import subprocess
    import sys
    import time

    from volley.jobs.journal import Journal

    monkeypatch.setattr(fake, "batch_delay", 1.0)
    inp, out = write_input(tmp_path / "in.jsonl", simple(4)), tmp_path / "out.jsonl"
    args = [str(a) for a in base(fake, inp, out, "--batch-api", "--poll-interval", "0.05", "--quiet")]
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    proc = subprocess.Popen([sys.executable, "-m", "volley.cli", "run", *args], env=env)
    journal_path = f"{out}.journal.sqlite"
    deadline = time.monotonic() + 20
    ids: list[str] = []
    while not ids and time.monotonic() < deadline:
        time.sleep(0.05)
        if os.path.exists(journal_path):
            try:
                ids = Journal(journal_path).meta().get("batch_ids") or []
            except Exception:
                ids = []
    proc.send_signal(signal.SIGKILL)  # dies after submitting, before any result
    proc.wait()
    assert len(ids) == 1
    code, _, err = run(capsys, *base(fake, inp, out, "--batch-api", "--poll-interval", "0.05"))
    assert code == 0, err
    assert len([r for r in fake.requests if r.path == "/v1/batches"]) == 1  # attached, not paid twice
    assert sorted(r["custom_id"] for r in records(out)) == [f"q{i}" for i in range(4)]


def test_batch_api_refuses_budget_and_cache(fake, tmp_path, capsys):
    inp, out = write_input(tmp_path / "in.jsonl", simple(2)), tmp_path / "out.jsonl"
    code, _, err = run(capsys, *base(fake, inp, out, "--batch-api", "--cache"))
    assert code == 2 and "--batch-api" in err
    assert fake.requests == []


def test_batches_verb_lists_and_shows_status(fake, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(fake, "batch_delay", 0.05)
    monkeypatch.setenv("OPENAI_BASE_URL", fake.openai_base)
    inp, out = write_input(tmp_path / "in.jsonl", simple(2)), tmp_path / "out.jsonl"
    assert run(capsys, *base(fake, inp, out, "--batch-api", "--poll-interval", "0.02"))[0] == 0
    batch_id = next(r for r in fake.requests if r.path.startswith("/v1/batches/")).path.split("/")[3]
    assert main(["batches", "list", "--provider", "openai"]) == 0
    listed = capsys.readouterr().out
    assert batch_id in listed
    assert main(["batches", "status", batch_id]) == 0
    assert "completed" in capsys.readouterr().out
