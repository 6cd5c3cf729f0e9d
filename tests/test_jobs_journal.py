"""The journal's writes: one transaction per ready batch of results, nothing written when an item is sent."""

import json
import sqlite3

import pytest

from volley.commands.common import run_cancellable
from volley.jobs import journal as journal_mod
from volley.jobs.journal import Journal, Outcome
from volley.jobs.run import Job, RunOptions

KEY = "sk-test-journal-SECRET-0123456789"
MODEL = "gpt-4o-mini"


def statements(db):
    seen = []
    db.set_trace_callback(seen.append)
    return seen


def test_record_commits_a_batch_in_one_transaction(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    j.create({"settings": {}}, [(n, f"q{n}", None, None) for n in range(1, 101)])
    seen = statements(j.db)
    j.record([Outcome(n, "done", f'{{"n": {n}}}\n', 1, prompt_tokens=3, cost_usd=0.5) for n in range(1, 101)])
    assert [s for s in seen if s in ("BEGIN IMMEDIATE", "COMMIT")] == ["BEGIN IMMEDIATE", "COMMIT"]
    assert j.counts()["done"] == 100 and j.spent() == pytest.approx(50.0)
    assert [json.loads(x)["n"] for x in j.outputs()] == list(range(1, 101))  # output order = commit order
    j.close()


def test_a_failed_batch_commits_nothing(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    j.create({"settings": {}}, [(1, "a", None, None), (2, "b", None, None)])
    bad = Outcome(2, "done", "x\n", 1)
    bad.cost_usd = object()  # not storable: the second row of the batch fails
    with pytest.raises(sqlite3.Error):
        j.record([Outcome(1, "done", "y\n", 1), bad])
    assert j.counts()["pending"] == 2 and list(j.outputs()) == []
    j.record([Outcome(1, "done", "y\n", 1)])  # the journal is still usable, and the sequence did not move
    assert list(j.outputs()) == ["y\n"]
    j.close()


def test_a_run_writes_nothing_when_items_are_sent_and_batches_its_commits(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    n = 300
    fake.script(MODEL, latency=0.02)
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps({"custom_id": f"q{i}", "prompt": f"p{i}"}) + "\n" for i in range(n)))
    job = Job(RunOptions(input=inp, output=tmp_path / "out.jsonl", model=MODEL, api_base=fake.openai_base,
                         concurrency=100))  # fmt: skip
    try:
        job.prepare()
        seen = statements(job.journal.db)
        summary = run_cancellable(job.run)
    finally:
        job.close()
    assert summary.done == n
    assert not [s for s in seen if "in_flight" in s], "an item's send was written to the journal"
    commits = sum(s == "COMMIT" for s in seen)
    assert 1 <= commits < n / 2, f"{commits} commits for {n} results: not batched"
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == n


def test_an_old_journal_with_in_flight_items_resumes_them(tmp_path):
    path = tmp_path / "j.sqlite"
    j = Journal(path)
    j.create({"settings": {}}, [(1, "a", None, None), (2, "b", None, None)])
    j.db.execute("UPDATE items SET state = 'in_flight' WHERE line = 1")  # what volley < this version left
    assert journal_mod.unfinished_lines(path, retry_failed=False) == {1, 2}
    j.resume(retry_failed=True)
    assert j.pending_lines() == {1, 2}
    j.close()
