"""The output table rebuilt from a real ``volley run`` journal: one row per input row, in order, after kill -9 too."""

import json
import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

import volley
from _job_env import isolate_job
from volley.cli import main
from volley.jobs import io as jobs_io
from volley.jobs.journal import Journal
from volley.tables import make_template, open_table
from volley.tables.items import table_items
from volley.tables.resume import NOT_FINISHED, rebuild_output

KEY = "sk-test-resume-SECRET-0123456789"
MODEL = "gpt-4o-mini"


def write_jsonl(path, n):
    # volley run's own line format (other keys would be request parameters): custom_id, prompt, metadata
    lines = [{"custom_id": f"q{i}", "prompt": f"question {i}", "metadata": {"i": i}} for i in range(n)]
    text = "".join(json.dumps(x) + "\n" for x in lines)
    path.write_text(text.replace("\n", "\n\n", 1))  # a blank line: volley run numbers items by line, and so must we
    return path


@pytest.fixture
def env(monkeypatch, tmp_path):
    isolate_job(monkeypatch, tmp_path, KEY)


@pytest.mark.parametrize("ext", [".parquet", ".csv", ".jsonl"])
def test_a_finished_run_becomes_a_table_with_every_input_column(fake, tmp_path, env, capsys, ext):
    fake.script(MODEL, failures=[None, None, 500])
    inp = write_jsonl(tmp_path / "in.jsonl", 6)
    code = main(["run", str(inp), "-m", MODEL, "-o", "out.jsonl", "--api-base", fake.openai_base, "--num-retries",
                 "0", "--concurrency", "1", "-q"])  # fmt: skip
    assert code == 1, capsys.readouterr().err  # one failed
    n = rebuild_output(open_table(inp), "out.jsonl.journal.sqlite", f"answers{ext}", provider="openai")
    assert n == 6
    rows = list(open_table(tmp_path / f"answers{ext}").rows())
    assert [r["custom_id"] for r in rows] == [f"q{i}" for i in range(6)]
    assert list(rows[0])[:4] == ["custom_id", "prompt", "metadata", "answer"]
    by_id = {r["custom_id"]: r for r in rows}
    bad = by_id["q2"]
    assert bad["error_type"] == "InternalServerError" and bad["answer"] in (None, "")
    for i in (0, 1, 3, 4, 5):
        r = by_id[f"q{i}"]
        assert r["answer"] == f"echo: question {i}" and r["error_type"] in (None, "")
        assert float(r["cost_usd"]) > 0 and int(r["prompt_tokens"]) > 0 and int(r["attempts"]) == 1
        assert r["provider"] == "openai" and r["model"] == MODEL and r["finish_reason"] == "stop"
        assert r["metadata"] in ({"i": i}, json.dumps({"i": i}))  # CSV holds it as JSON text


def test_kill_9_midway_then_resume_keeps_exactly_one_row_per_input_row(fake, tmp_path):
    n = 60
    fake.script(MODEL, latency=0.03)
    inp = write_jsonl(tmp_path / "in.jsonl", n)
    journal = tmp_path / "out.jsonl.journal.sqlite"
    envv = {**os.environ, "OPENAI_API_KEY": KEY, "VOLLEY_CACHE_DIR": str(tmp_path / "cache")}
    envv.pop("OPENAI_BASE_URL", None)
    cmd = [sys.executable, "-m", "volley.cli", "run", str(inp), "-m", MODEL, "-o", str(tmp_path / "out.jsonl"),
           "--api-base", fake.openai_base, "--concurrency", "2", "-q"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=envv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    out_file = tmp_path / "out.jsonl"
    while not out_file.exists() or out_file.read_bytes().count(b"\n") < 10:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)

    table = open_table(inp)
    assert rebuild_output(table, journal, tmp_path / "mid.parquet") == n
    mid = pq.read_table(tmp_path / "mid.parquet").to_pylist()
    assert [r["custom_id"] for r in mid] == [f"q{i}" for i in range(n)]
    unfinished = [r for r in mid if r["error_type"] == NOT_FINISHED]
    assert 0 < len(unfinished) < n - 9 and all(r["answer"] is None for r in unfinished)
    assert rebuild_output(table, journal, tmp_path / "only.parquet", include_unfinished=False) == n - len(unfinished)

    done = subprocess.run(cmd, env=envv, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert rebuild_output(table, journal, tmp_path / "answers.parquet") == n
    out = pq.read_table(tmp_path / "answers.parquet")
    assert out.num_rows == n and out.column("custom_id").to_pylist() == [f"q{i}" for i in range(n)]
    assert out.column("answer").to_pylist() == [f"echo: question {i}" for i in range(n)]
    assert out.column("error_type").null_count == n
    assert str(out.schema.field("cost_usd").type) == "double" and str(out.schema.field("prompt_tokens").type) == "int64"
    assert all(c > 0 for c in out.column("cost_usd").to_pylist())
    assert stat_mode(tmp_path / "answers.parquet") == 0o600


def stat_mode(path):
    return path.stat().st_mode & 0o777


def test_the_wiring_contract_for_a_csv_input(fake, tmp_path):
    """How ``volley run`` uses the entry points for a table: items → journal → sends → rebuild from the journal."""
    (tmp_path / "in.csv").write_text('id,question\na,"What, exactly?"\nb,\na,dup\nc,third\n')
    table = open_table(tmp_path / "in.csv")
    template = make_template(table.columns, "Q: {question}", id_column="id", first=table.first())
    items = list(table_items(table, template))
    j = Journal(tmp_path / "out.parquet.journal.sqlite")
    rows = []
    for it in items:
        invalid = None if it.error is None else jobs_io.dumps(jobs_io.invalid_record(
            jobs_io.Item(it.line, it.custom_id, error=it.error)))  # fmt: skip
        rows.append((it.line, it.custom_id, invalid, None if it.error is None else "invalid_request"))
    j.create({"settings": {"model": "openai/m"}}, rows)
    to_send = [it for it in items if it.error is None][:2]  # the last row is left unsent, as if interrupted
    kw = {"api_base": fake.openai_base, "api_key": KEY}
    for k, r in volley.iter_batch_completion("openai/m", [it.messages for it in to_send], **kw):
        it = to_send[k]
        j.finish(it.line, ok=True, output=jobs_io.dumps(jobs_io.result_record(it.custom_id, r)), attempts=1,
                 prompt_tokens=r.usage.prompt_tokens, completion_tokens=r.usage.completion_tokens, cost_usd=r.cost,
                 latency_s=r.latency)  # fmt: skip
    j.close()
    rebuild_output(table, tmp_path / "out.parquet.journal.sqlite", tmp_path / "out.parquet", provider="openai")
    out = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert [r["id"] for r in out] == ["a", "b", "a", "c"]
    assert [r["answer"] for r in out] == ["echo: Q: What, exactly?", "echo: Q: ", None, None]
    assert out[2]["error_type"] == "InvalidRequestError" and "duplicate id 'a'" in out[2]["error_message"]
    assert out[3]["error_type"] == NOT_FINISHED and out[3]["model"] == "openai/m"


def test_a_journal_of_another_input_is_refused(fake, tmp_path, env, capsys):
    inp = write_jsonl(tmp_path / "in.jsonl", 2)
    main(["run", str(inp), "-m", MODEL, "-o", "out.jsonl", "--api-base", fake.openai_base, "-q"])
    longer = write_jsonl(tmp_path / "longer.jsonl", 3)
    from volley.tables import TableError

    with pytest.raises(TableError, match="no item for line 4 of"):
        rebuild_output(open_table(longer), "out.jsonl.journal.sqlite", "x.parquet")
    with pytest.raises(TableError, match="no journal at"):
        rebuild_output(open_table(longer), "missing.sqlite", "x.parquet")
