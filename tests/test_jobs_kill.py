"""``volley run`` as a real subprocess, killed (SIGKILL) or interrupted (SIGINT/SIGTERM) mid-run, then resumed.

The fake server runs in the test process and records every request. After the resume the output
must hold exactly one valid line per input, and no item committed as done in the journal at kill
time may have been sent again (a request in flight at kill time may legitimately be re-sent).
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

KEY = "sk-test-kill-SECRET-0123456789"
MODEL = "gpt-4o-mini"
N = 40


def write_input(path, n=N):
    lines = [json.dumps({"custom_id": f"q{i}", "messages": [{"role": "user", "content": f"q {i}"}]}) for i in range(n)]
    path.write_text("\n".join(lines) + "\n")


def start(fake, tmp_path, *more):
    env = {**os.environ, "OPENAI_API_KEY": KEY, "VOLLEY_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("OPENAI_BASE_URL", None)
    cmd = [sys.executable, "-m", "volley.cli", "run", str(tmp_path / "in.jsonl"), "-m", MODEL, "-o",
           str(tmp_path / "out.jsonl"), "--api-base", fake.openai_base, "--concurrency", "4", "--json",
           *more]  # fmt: skip
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def lines_in(path):
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def wait_until(cond, proc, timeout=20.0):
    end = time.monotonic() + timeout
    while not cond():
        assert proc.poll() is None, f"volley run ended early: {proc.communicate()}"
        assert time.monotonic() < end, "timed out"
        time.sleep(0.002)


def journal_states(tmp_path):
    path = tmp_path / "out.jsonl.journal.sqlite"
    if not path.exists():
        return {}
    db = sqlite3.connect(path)
    try:
        return dict(db.execute("SELECT custom_id, state FROM items"))
    except sqlite3.OperationalError:  # killed while the job was being created
        return {}
    finally:
        db.close()


def sent_ids(records):
    return [r.json["messages"][-1]["content"].replace("q ", "q") for r in records]


def kill_at(fake, tmp_path, point):
    """Start a run, SIGKILL it at ``point``; return (items done in the journal, requests so far)."""
    proc = start(fake, tmp_path)
    out, journal = tmp_path / "out.jsonl", tmp_path / "out.jsonl.journal.sqlite"
    if point == "journal":
        wait_until(journal.exists, proc)
    else:
        wait_until(lambda: lines_in(out) >= point, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    done = {cid for cid, state in journal_states(tmp_path).items() if state == "done"}
    return done, len(fake.requests)


def finish(fake, tmp_path):
    proc = start(fake, tmp_path)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    return json.loads(stdout)


def check_output(tmp_path, n=N):
    raw = (tmp_path / "out.jsonl").read_text()
    assert raw.endswith("\n")
    recs = [json.loads(line) for line in raw.splitlines()]
    assert sorted(r["custom_id"] for r in recs) == sorted(f"q{i}" for i in range(n))
    for r in recs:
        content = r["response"]["body"]["choices"][0]["message"]["content"]
        assert content == "echo: " + r["custom_id"].replace("q", "q ")
    assert set(journal_states(tmp_path).values()) == {"done"}


@pytest.mark.parametrize("point", ["journal", 1, N // 4, N // 2, N - 2])
def test_sigkill_then_resume_sends_only_unfinished_items(fake, tmp_path, point):
    fake.script(MODEL, latency=(0.005, 0.03), seed=3)
    write_input(tmp_path / "in.jsonl")
    done, before = kill_at(fake, tmp_path, point)
    summary = finish(fake, tmp_path)
    check_output(tmp_path)
    after = sent_ids(fake.requests[before:])
    assert not done & set(after), "an item committed as done was sent again"
    assert summary["sent"] == len(after) == N - len(done)
    assert set(sent_ids(fake.requests)) == {f"q{i}" for i in range(N)}


def test_killed_twice_then_resumed(fake, tmp_path):
    fake.script(MODEL, latency=(0.005, 0.03), seed=4)
    write_input(tmp_path / "in.jsonl")
    done1, before1 = kill_at(fake, tmp_path, 8)
    done2, before2 = kill_at(fake, tmp_path, 20)
    assert done1 <= done2
    assert not done1 & set(sent_ids(fake.requests[before1:before2]))
    finish(fake, tmp_path)
    check_output(tmp_path)
    assert not done2 & set(sent_ids(fake.requests[before2:]))


def test_torn_last_line_after_a_kill_is_repaired(fake, tmp_path):
    fake.script(MODEL, latency=0.01)
    write_input(tmp_path / "in.jsonl")
    done, before = kill_at(fake, tmp_path, N // 2)
    with open(tmp_path / "out.jsonl", "a") as f:  # what a kill in the middle of a write leaves
        f.write('{"id": "batch_req_torn", "custom_id": "q')
    finish(fake, tmp_path)
    check_output(tmp_path)
    assert not done & set(sent_ids(fake.requests[before:]))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_cleanly_and_says_how_to_resume(fake, tmp_path, sig):
    fake.script(MODEL, latency=0.25)
    write_input(tmp_path / "in.jsonl", 20)
    proc = start(fake, tmp_path)
    wait_until(lambda: lines_in(tmp_path / "out.jsonl") >= 4 and fake.in_flight > 0, proc)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "to resume, run the same command:\n    volley run" in stderr
    summary = json.loads(stdout)
    assert summary["interrupted"] and summary["pending"] > 0
    states = journal_states(tmp_path)
    assert "in_flight" not in states.values()
    done = {cid for cid, s in states.items() if s == "done"}
    assert lines_in(tmp_path / "out.jsonl") == len(done)
    time.sleep(0.05)
    assert fake.disconnects >= 1  # the requests in flight were cancelled, not left running
    before = len(fake.requests)
    finish(fake, tmp_path)
    check_output(tmp_path, 20)
    assert not done & set(sent_ids(fake.requests[before:]))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_killed_at_random_moments_then_resumed(fake, tmp_path, seed):
    import random

    rng = random.Random(seed)
    fake.script(MODEL, latency=(0.005, 0.04), seed=seed)
    write_input(tmp_path / "in.jsonl")
    for _ in range(3):  # three kills at random moments, each resumed by the next start
        before = len(fake.requests)
        done_before = {cid for cid, state in journal_states(tmp_path).items() if state == "done"}
        proc = start(fake, tmp_path)
        time.sleep(rng.uniform(0.05, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        assert not done_before & set(sent_ids(fake.requests[before:])), "a finished item was sent again"
    done = {cid for cid, state in journal_states(tmp_path).items() if state == "done"}
    before = len(fake.requests)
    finish(fake, tmp_path)
    check_output(tmp_path)
    assert not done & set(sent_ids(fake.requests[before:]))
